"""The resident registry: import from CSV/XLSX, look-up, listing and code reissue.

An import is one transaction. File rows the registry has already applied (same source
hash, row not changed since) are set aside unread; the others are checked and normalised
in chunks (storage.registry_workers: by one worker process per core for a large file) and
streamed into COPY as they come: straight into residents when the registry is empty,
else into a temporary table merged with a few set-based statements. A resident is matched
by social-insurance number, else citizen id, else (ward, name, birth year, compatible
birth date); a matched row is updated in place and keeps its code, because that code is
already printed on a card.
"""

from __future__ import annotations

import asyncio
import itertools
from array import array
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import asyncpg
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateIndex

from dialogs import codes
from storage import audit, code_vault, failpoints
from storage.audit import entry
from storage.models import Resident
from storage.registry_check import Checker, clean, date_order, order_evidence, parse_birth
from storage.registry_rows import (
    FileChangedError,
    ImportReport,
    Layout,
    RegistryFileError,
    Rejection,
    fold_header,
    no_gc_pauses,
    parse_file,
)
from storage.registry_workers import CHUNK_ROWS, COLUMNS, Checked, Setup, Workers, checked

__all__ = [
    "ImportReport",
    "Rejection",
    "RegistryFileError",
    "ResidentRow",
    "find",
    "find_by_code",
    "import_file",
    "iter_residents",
    "reissue",
    "resolve_ward",
]

# ---------------------------------------------------------------- staging and merging

_STAGING = """
CREATE TEMP TABLE import_rows (
    line integer NOT NULL,
    ward text NOT NULL,
    quarter text,
    group_name text,
    full_name text NOT NULL,
    birth_date date,
    birth_year smallint NOT NULL,
    sex text,
    insurance_code text,
    citizen_id text COLLATE "C",
    phone text,
    address text,
    import_source bytea NOT NULL,
    -- drawn for every staged row, used only if the row is someone new (storage/code_vault.py)
    code_hash bytea NOT NULL,
    code_sealed bytea NOT NULL,
    -- residents.insurance_key's expression and collation, so the keys compare equal
    insurance_key text COLLATE "C" GENERATED ALWAYS AS (right(insurance_code, 10)) STORED
) ON COMMIT DROP
"""
# One row per staged line: whom it is for (NULL: someone new), or why it cannot load.
_MATCH_BY_ID = """
CREATE TEMP TABLE import_match ON COMMIT DROP AS
SELECT s.line,
       coalesce(ri.id, rc.id) AS resident_id,
       CASE
           -- the insurance number is someone's, the citizen id someone else's
           WHEN ri.id <> rc.id THEN 'citizen_id_taken'
           -- found by citizen id, but that person has another insurance number: a typo or
           -- another person; the insurance number is for life, so do not overwrite it
           WHEN ri.id IS NULL AND rc.insurance_key <> s.insurance_key THEN 'insurance_differs'
       END AS problem,
       NULL::bigint AS candidates
FROM import_rows s
LEFT JOIN residents ri ON ri.insurance_key = s.insurance_key
LEFT JOIN residents rc ON rc.citizen_id = s.citizen_id
"""
# Lines without a known identifier: same ward, name and birth year, and nothing that
# contradicts (another day of birth, another insurance number or citizen id).
_MATCH_BY_NATURAL_KEY = """
WITH found AS (
    SELECT m.line, min(r.id) AS id, count(*) AS candidates
    FROM import_match m
    JOIN import_rows s USING (line)
    JOIN residents r
      ON r.ward = s.ward AND lower(r.full_name) = lower(s.full_name) AND r.birth_year = s.birth_year
    WHERE m.resident_id IS NULL AND m.problem IS NULL
      AND (r.birth_date = s.birth_date OR r.birth_date IS NULL OR s.birth_date IS NULL)
      AND (r.insurance_key = s.insurance_key OR r.insurance_key IS NULL OR s.insurance_key IS NULL)
      AND (r.citizen_id = s.citizen_id OR r.citizen_id IS NULL OR s.citizen_id IS NULL)
    GROUP BY m.line
)
UPDATE import_match m
SET resident_id = CASE WHEN f.candidates = 1 THEN f.id END,
    problem = CASE WHEN f.candidates > 1 THEN 'ambiguous' END,
    candidates = f.candidates
FROM found f
WHERE m.line = f.line
"""
_ANY_UNMATCHED = """
SELECT EXISTS (SELECT FROM import_match WHERE resident_id IS NULL AND problem IS NULL)
   AND EXISTS (SELECT FROM residents)
"""
_PROBLEMS = """
SELECT line, problem, candidates, NULL::integer AS other FROM import_match WHERE problem IS NOT NULL
UNION ALL
SELECT m.line, 'matched_twice', NULL, f.first
FROM import_match m
JOIN (SELECT resident_id, min(line) AS first FROM import_match
      WHERE resident_id IS NOT NULL AND problem IS NULL
      GROUP BY resident_id HAVING count(*) > 1) f USING (resident_id)
WHERE m.line > f.first AND m.problem IS NULL
"""
# Blank optional cells keep what the registry has; a bare year keeps a known day when the
# year agrees. The code is never touched.
_NEW_VALUES = """
    s.ward, coalesce(s.quarter, r.quarter), coalesce(s.group_name, r.group_name), s.full_name,
    CASE WHEN s.birth_date IS NULL AND s.birth_year = r.birth_year THEN r.birth_date
         ELSE s.birth_date END,
    s.birth_year, coalesce(s.sex, r.sex), coalesce(s.insurance_code, r.insurance_code),
    coalesce(s.citizen_id, r.citizen_id), coalesce(s.phone, r.phone),
    coalesce(s.address, r.address)
"""
_UPDATE = f"""
WITH changed AS (
    UPDATE residents r
    SET (ward, quarter, group_name, full_name, birth_date, birth_year, sex, insurance_code,
         citizen_id, phone, address) = ({_NEW_VALUES}),
        import_source = s.import_source,
        updated_at = now()
    FROM import_match m JOIN import_rows s USING (line)
    WHERE r.id = m.resident_id AND m.problem IS NULL
      AND (r.ward, r.quarter, r.group_name, r.full_name, r.birth_date, r.birth_year, r.sex,
           r.insurance_code, r.citizen_id, r.phone, r.address)
          IS DISTINCT FROM ({_NEW_VALUES})
    RETURNING 1
)
SELECT count(*) FROM changed
"""
# Unchanged rows remember the file row that confirmed them, so the next run can skip it.
_REMEMBER_SOURCES = """
UPDATE residents r SET import_source = s.import_source
FROM import_match m JOIN import_rows s USING (line)
WHERE r.id = m.resident_id AND m.problem IS NULL
  AND r.import_source IS DISTINCT FROM s.import_source
"""
_APPLIED_BEFORE = """
SELECT m.line, r.import_source FROM import_match m JOIN residents r ON r.id = m.resident_id
WHERE m.problem IS NULL AND r.import_source IS NOT NULL
"""
_INSERT = """
INSERT INTO residents (code_hash, code_sealed, ward, quarter, group_name, full_name, birth_date, birth_year,
                       sex, insurance_code, citizen_id, phone, address, import_source)
SELECT s.code_hash, s.code_sealed, s.ward, s.quarter, s.group_name, s.full_name, s.birth_date, s.birth_year, s.sex,
       s.insurance_code, s.citizen_id, s.phone, s.address, s.import_source
FROM import_rows s JOIN import_match m USING (line)
WHERE m.resident_id IS NULL AND m.problem IS NULL
"""
_REDRAW = """
UPDATE import_rows s SET code_hash = n.hash, code_sealed = n.sealed
FROM unnest($1::integer[], $2::bytea[], $3::bytea[]) AS n(line, hash, sealed)
WHERE s.line = n.line
"""
T = TypeVar("T")
# A chunk's payload goes to COPY in pieces of this size: handed over whole (megabytes), it
# would sit in the transport's buffer, moved up after every partial socket write.
COPY_PIECE = 1 << 18
_REPEATED_CODES = """
SELECT coalesce(array_agg(id), '{}') FROM (
    SELECT id, row_number() OVER (PARTITION BY code_hash ORDER BY id) AS n FROM residents
    WHERE code_hash IN (SELECT code_hash FROM residents GROUP BY code_hash HAVING count(*) > 1)) AS t
WHERE n > 1
"""
_REDRAW_RESIDENTS = """
UPDATE residents r SET code_hash = n.hash, code_sealed = n.sealed
FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS n(id, hash, sealed) WHERE r.id = n.id
"""
CODE_CONSTRAINT = "residents_code_hash_key"
CODE_ATTEMPTS = 3  # a clash of 65-bit random codes is ~1e-8 per million: retry, never loop
# Adding at least this many rows to a registry that holds no more than that rebuilds the
# secondary indexes after the insert instead of updating them row by row (several times
# faster). The table is then locked for the rest of that one transaction.
BULK_MIN_ROWS = 50_000


class _Rollback(Exception):
    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class _Reorder(Exception):
    """The whole file's dates show another order of day and month than its first lines."""

    def __init__(self, evidence: set[str]):
        super().__init__(evidence)
        self.evidence = evidence


# An import that rejects more than this share of the file's rows imports nothing (a wrong
# file, or a file read the wrong way): at least this many rows, so that one typo in a
# short list is reported rather than holding up the rest.
MAX_REJECTED = 0.20
MIN_REJECTED_TO_STOP = 10
SHOWN_CHANGES = 20  # a dry run lists this many changed and missing residents
_RUNS = itertools.count(1)  # numbers each import's checking (Setup.run)


async def import_file(conn: asyncpg.Connection, path: Path | str, ward: str | None = None,
                      strict: bool = False, actor: str | None = None,
                      today: date | None = None, *, dry_run: bool = False,
                      max_rejected: float = MAX_REJECTED, shown: int = SHOWN_CHANGES) -> ImportReport:
    """Check, load and merge one file in one transaction. Raises RegistryFileError when the
    file cannot be read at all; rows that are wrong are reported, never raised. Nothing is
    imported (report.stopped says why) under `strict` with a bad row or an unknown column,
    when more than `max_rejected` of the rows are bad, or for a `dry_run`, which reports
    what would change instead."""
    path = Path(path)
    workers = Workers.for_file(path)
    if workers and await _looks_empty(conn):
        workers.start()  # a first load checks every row: have them ready before the file is read
    options = _Options(ward, strict, actor, today or date.today(), dry_run, max_rejected, shown)
    try:
        with no_gc_pauses():
            try:
                return await _import(conn, path, options, workers)
            except _Reorder as e:  # rare: read it again, the right way round
                return await _import(conn, path, options, workers, evidence=e.evidence)
    except UnicodeDecodeError:  # a plain CSV is decoded chunk by chunk, as it is checked
        raise RegistryFileError("registry.error.not_utf8", file=path.name) from None
    except FileChangedError:  # and read again by the workers
        raise RegistryFileError("registry.error.changed", file=path.name) from None
    except BrokenProcessPool:  # a worker was killed (out of memory?): the transaction is undone
        raise RegistryFileError("registry.error.workers_stopped", file=path.name) from None
    finally:
        if workers:
            workers.close()


@dataclass(frozen=True)
class _Options:
    ward: str | None
    strict: bool
    actor: str | None
    today: date
    dry_run: bool
    max_rejected: float
    shown: int


async def _import(conn: asyncpg.Connection, path: Path, o: _Options, workers: Workers | None,
                  evidence: set[str] | None = None) -> ImportReport:
    parsed = parse_file(path, o.ward)
    if o.strict and parsed.layout.unknown:
        raise RegistryFileError("registry.error.unknown_columns", columns=", ".join(parsed.layout.unknown))
    # the order of day and month, as the dates read first show it; the check sees them all
    if evidence is None:
        evidence = {e for e in map(order_evidence, parsed.dates) if e}
    order = date_order(evidence)
    checker = Checker(parsed.layout, o.ward, o.today, order)
    report = ImportReport(ignored_columns=parsed.layout.ignored, unknown_columns=parsed.layout.unknown,
                          date_order=order)
    try:
        async with conn.transaction():
            # one import at a time, and no other writer meanwhile; readers are not blocked
            await conn.execute("LOCK TABLE residents IN SHARE ROW EXCLUSIVE MODE")
            await conn.execute("SET LOCAL work_mem = '256MB'")
            await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            empty = await _looks_empty(conn)
            known = set() if empty else await _known_sources(conn)
            positions, applied, repeats = parsed.split(known)
            report.unchanged = len(applied)
            report.rejected = repeats
            report.rows = len(parsed.lines)
            chunks = parsed.chunks(positions, CHUNK_ROWS)
            setup = Setup(parsed.layout, o.ward, o.today, with_line=not empty, order=order, run=next(_RUNS))
            rows = checked(chunks, setup, workers)
            if empty:
                report.added = await _first_load(conn, rows, checker, report)
            elif chunks:
                await _merge(conn, rows, checker, report, parsed.layout, applied, o.shown if o.dry_run else 0)
            if not report.date_evidence <= evidence:
                raise _Reorder(evidence | report.date_evidence)
            if o.strict and report.rejected:
                raise _Rollback("strict")
            if len(report.rejected) >= MIN_REJECTED_TO_STOP and len(report.rejected) > o.max_rejected * report.rows:
                raise _Rollback("too_many")
            if o.dry_run:
                if not empty:
                    await _missing(conn, report, o.ward, applied, bool(chunks), o.shown)
                raise _Rollback("dry_run")
            await _audit(conn, report, o.strict, o.actor)
        report.committed = True
    except _Rollback as e:
        report.stopped = e.why
        if e.why != "dry_run":
            report.added = report.updated = report.unchanged = 0
    report.rejected.sort(key=lambda r: r.line)
    return report


async def _looks_empty(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval("SELECT EXISTS (SELECT FROM residents)")


async def _known_sources(conn: asyncpg.Connection) -> set[bytes]:
    """The file rows that set or last confirmed each resident, as 16-byte hashes: fetched as
    one value, not a million rows (a city of five million is an 80 MB read)."""
    blob = await conn.fetchval(
        "SELECT string_agg(import_source, ''::bytea) FROM residents WHERE import_source IS NOT NULL")
    if not blob:
        return set()
    return set(map(blob.__getitem__, map(slice, range(0, len(blob), 16), range(16, len(blob) + 16, 16))))


@dataclass
class _Loaded:
    """What COPY took in: the good rows' lines and codes, in line order, and the marks of
    their duplicate-check keys; the rows that repeat an earlier one are found afterwards."""

    lines: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # the chunks' codes, each a run of codes
    marks: defaultdict[str, array] = field(default_factory=lambda: defaultdict(lambda: array("q")))

    def add(self, chunk: Checked) -> None:
        self.lines += chunk.lines
        self.codes.append(chunk.codes)
        for name, packed in chunk.marks.items():
            self.marks[name].frombytes(packed)

    def codes_at(self, positions: list[int]) -> list[str]:
        text = "".join(self.codes)
        return [text[p * codes.LENGTH : (p + 1) * codes.LENGTH] for p in positions]

    def repeated(self, checker: Checker, report: ImportReport) -> list[int]:
        """Positions of the rows that repeat an earlier row of the file (reported)."""
        found = checker.repeats(self.lines, self.marks)
        report.rejected += found
        if not found:
            return []
        at = {line: i for i, line in enumerate(self.lines)}
        return [at[r.line] for r in found]


async def _copy_in(conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: AsyncIterator[Checked],
                   report: ImportReport) -> _Loaded:
    """Stream each checked chunk into COPY as soon as it is ready (the workers check the
    next ones meanwhile)."""
    loaded = _Loaded()

    async def payloads() -> AsyncIterator[memoryview]:
        async for chunk in rows:
            report.rejected += chunk.rejected
            report.date_evidence |= chunk.evidence
            loaded.add(chunk)
            failpoints.hit("import.copying")
            payload = memoryview(chunk.payload)  # pieces without copies (asyncpg copies them once)
            for start in range(0, len(payload), COPY_PIECE):
                yield payload[start : start + COPY_PIECE]

    await conn.copy_to_table(table, source=payloads(), columns=columns, format="text")
    return loaded


async def _first_load(conn: asyncpg.Connection, rows: AsyncIterator[Checked], checker: Checker,
                      report: ImportReport) -> int:
    """An empty registry has no one to match: COPY straight into it, without its indexes
    (a sorted build after is several times faster than a million inserts). The file-wide
    duplicate check runs in a thread meanwhile PostgreSQL builds the indexes; a repeated
    identifier stops a unique index, which is then built again once the repeats are out."""
    indexes = await _Indexes.of_residents(conn)
    await indexes.drop_all(conn)
    keys = await _drop_keys(conn)
    loaded = await _copy_in(conn, "residents", COLUMNS[1:], rows, report)
    finding = asyncio.ensure_future(asyncio.to_thread(loaded.repeated, checker, report))
    try:
        await indexes.build(conn, keys)
        await _code_constraint(conn, indexes.code)
        await indexes.build(conn, indexes.create)
        try:
            async with conn.transaction():
                await indexes.build(conn, indexes.create_unique)
            unique_built = True
        except asyncpg.UniqueViolationError:
            unique_built = False
    finally:
        repeated = await finding
    if repeated:
        await conn.execute("DELETE FROM residents WHERE code_hash = any($1::bytea[])",
                           list(map(code_vault.digest, loaded.codes_at(repeated))))
    if not unique_built:
        await indexes.build(conn, indexes.create_unique)
    return len(loaded.lines) - len(repeated)


async def _merge(conn: asyncpg.Connection, rows: AsyncIterator[Checked], checker: Checker, report: ImportReport,
                 layout: Layout, applied: dict[bytes, int], shown: int = 0) -> None:
    await conn.execute(_STAGING)
    loaded = await _copy_in(conn, "import_rows", COLUMNS, rows, report)
    repeated = loaded.repeated(checker, report)
    if repeated:
        await conn.execute("DELETE FROM import_rows WHERE line = any($1::int[])", [loaded.lines[i] for i in repeated])
    await conn.execute("ANALYZE import_rows")
    await conn.execute(_MATCH_BY_ID)
    if await conn.fetchval(_ANY_UNMATCHED):
        await conn.execute(_MATCH_BY_NATURAL_KEY)
    await _reject_conflicts(conn, report, layout, applied)
    matched = await conn.fetchval(
        "SELECT count(*) FROM import_match WHERE resident_id IS NOT NULL AND problem IS NULL")
    if shown:
        report.changes = await _changes(conn, shown)
    report.updated = await conn.fetchval(_UPDATE)
    report.unchanged += matched - report.updated
    await conn.execute(_REMEMBER_SOURCES)
    report.added = await _insert_new(conn)


# The fields a dry run compares, in the order it lists them.
FIELDS = ("ward", "quarter", "group_name", "full_name", "birth_date", "birth_year", "sex", "insurance_code",
          "citizen_id", "phone", "address")
_CHANGES = f"""
SELECT m.line, r.id, r.code_sealed AS code, r.full_name AS name,
       {", ".join(f"r.{f} AS old_{f}" for f in FIELDS)},
       {_NEW_VALUES}
FROM residents r JOIN import_match m ON r.id = m.resident_id JOIN import_rows s USING (line)
WHERE m.problem IS NULL
  AND (r.ward, r.quarter, r.group_name, r.full_name, r.birth_date, r.birth_year, r.sex,
       r.insurance_code, r.citizen_id, r.phone, r.address) IS DISTINCT FROM ({_NEW_VALUES})
ORDER BY m.line
LIMIT $1
"""


@dataclass(frozen=True)
class Change:
    """One resident a file row would change: (field, before, after) for each field."""

    line: int
    resident_id: int
    code: str
    name: str
    fields: list[tuple[str, object, object]]


@dataclass(frozen=True)
class Missing:
    """A resident of the file's wards whom the file does not list (moved away? died?)."""

    resident_id: int
    code: str
    name: str
    birth_year: int
    quarter: str | None
    group_name: str | None


async def _changes(conn: asyncpg.Connection, limit: int) -> list[Change]:
    out = []
    for row in await conn.fetch(_CHANGES, limit):
        values = list(row.values())
        old, new = values[4 : 4 + len(FIELDS)], values[4 + len(FIELDS) :]
        fields = [(f, a, b) for f, a, b in zip(FIELDS, old, new, strict=True) if a != b]
        out.append(Change(row["line"], row["id"], code_vault.unseal(row["code"]), row["name"], fields))
    return out


_MISSING = """
SELECT r.id, r.code_sealed, r.full_name, r.birth_year, r.quarter, r.group_name, count(*) OVER () AS total
FROM residents r
WHERE r.status = 'active' AND r.ward = any($1::text[])
  AND (r.import_source IS NULL OR NOT r.import_source = any($2::bytea[]))
  {not_in_file}
ORDER BY r.quarter NULLS FIRST, r.group_name NULLS FIRST, r.full_name, r.id
LIMIT $3
"""


async def _missing(conn: asyncpg.Connection, report: ImportReport, ward: str | None, applied: dict[bytes, int],
                   staged: bool, limit: int) -> None:
    """Residents of the wards this file covers that it does not list (a dry run's last part)."""
    sources = list(applied)
    wards = {ward} if ward else set()
    if sources:
        wards |= {w for (w,) in await conn.fetch(
            "SELECT DISTINCT ward FROM residents WHERE import_source = any($1::bytea[])", sources)}
    if staged:
        wards |= {w for (w,) in await conn.fetch("SELECT DISTINCT ward FROM import_rows")}
    # matched by a row of the file, or added from one (within this transaction)
    not_in_file = ("AND NOT EXISTS (SELECT FROM import_match m WHERE m.resident_id = r.id) "
                   "AND NOT EXISTS (SELECT FROM import_rows s WHERE s.code_hash = r.code_hash)") if staged else ""
    rows = await conn.fetch(_MISSING.format(not_in_file=not_in_file), sorted(wards), sources, limit)
    report.missing = [Missing(r[0], code_vault.unseal(r[1]), *r[2:6]) for r in rows]
    report.missing_count = rows[0]["total"] if rows else 0


async def _reject_conflicts(conn: asyncpg.Connection, report: ImportReport, layout: Layout,
                            applied: dict[bytes, int]) -> None:
    columns = {"citizen_id_taken": layout.name("citizen_id"), "insurance_differs": layout.name("insurance_code")}
    found = [Rejection(line, columns.get(problem, ""), problem,
                       {"count": candidates} if candidates else {"other": other} if other else {})
             for line, problem, candidates, other in await conn.fetch(_PROBLEMS)]
    if applied:  # a row for someone whom a row set aside as already applied stands for
        found += [Rejection(line, "", "matched_twice", {"other": applied[source]})
                  for line, source in await conn.fetch(_APPLIED_BEFORE) if source in applied]
    if found:
        report.rejected += found
        await conn.execute("UPDATE import_match SET problem = 'matched_twice' "
                           "WHERE line = any($1::int[]) AND problem IS NULL", [r.line for r in found])


async def _insert_new(conn: asyncpg.Connection) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM import_match WHERE resident_id IS NULL AND problem IS NULL")
    if not count:
        return 0
    existing = await conn.fetchval("SELECT count(*) FROM residents")
    bulk = count >= max(existing, BULK_MIN_ROWS)
    for attempt in range(CODE_ATTEMPTS):
        try:
            async with conn.transaction():  # a savepoint: a code clash retries this step only
                await (_without_indexes(conn, lambda: conn.execute(_INSERT)) if bulk else conn.execute(_INSERT))
            return count
        except asyncpg.UniqueViolationError as e:
            if e.constraint_name != CODE_CONSTRAINT or attempt == CODE_ATTEMPTS - 1:
                raise
            lines = [r[0] for r in await conn.fetch("SELECT line FROM import_rows")]
            await conn.execute(_REDRAW, lines, *code_vault.issue(len(lines))[1:])
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class _Indexes:
    """Statements to drop and rebuild every index of residents but the primary key, from
    the model and the database, so this cannot drift from the schema. Only the unique indexes on
    identifiers can be broken by a row that repeats another; they are built last."""

    drop: list[str]
    code: str  # the unique constraint on codes
    create: list[str]
    create_unique: list[str]

    @classmethod
    async def of_residents(cls, conn: asyncpg.Connection) -> _Indexes:
        dialect = postgresql.dialect()
        drop = [f"ALTER TABLE residents DROP CONSTRAINT {CODE_CONSTRAINT}"]
        create, unique = [], []
        for index in sorted(Resident.__table__.indexes, key=lambda i: i.name):
            drop.append(f"DROP INDEX {index.name}")
            (unique if index.unique else create).append(str(CreateIndex(index).compile(dialect=dialect)))
        # Indexes a migration adds outside the model (0013's on expressions of name_folded):
        # as the database has them.
        known = {i.name for i in Resident.__table__.indexes} | {"residents_pkey", CODE_CONSTRAINT}
        for name, definition in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'residents' ORDER BY indexname"):
            if name not in known:
                drop.append(f"DROP INDEX {name}")
                (unique if definition.startswith("CREATE UNIQUE") else create).append(definition)
        return cls(drop, f"ALTER TABLE residents ADD CONSTRAINT {CODE_CONSTRAINT} UNIQUE (code_hash)", create,
                   unique)

    async def drop_all(self, conn: asyncpg.Connection) -> None:
        await conn.execute("LOCK TABLE residents IN ACCESS EXCLUSIVE MODE")
        for statement in self.drop:
            await conn.execute(statement)

    @staticmethod
    async def build(conn: asyncpg.Connection, statements: list[str]) -> None:
        for statement in statements:
            await conn.execute(statement)


async def _without_indexes(conn: asyncpg.Connection, load: Callable[[], Awaitable[T]]) -> T:
    indexes = await _Indexes.of_residents(conn)
    await indexes.drop_all(conn)
    result = await load()
    await indexes.build(conn, [indexes.code, *indexes.create, *indexes.create_unique])
    return result


# The primary key and the foreign keys that point at it, as the database has them: dropped
# for a first load (keeping the key up row by row was a third of PostgreSQL's COPY work)
# and added back after. With no residents, nothing can reference one: the foreign keys are
# checked against empty tables.
_KEYS = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
FROM pg_constraint
WHERE (confrelid = 'residents'::regclass AND contype = 'f') OR (conrelid = 'residents'::regclass AND contype = 'p')
ORDER BY contype, conrelid::regclass::text
"""


async def _drop_keys(conn: asyncpg.Connection) -> list[str]:
    """Drop the primary key of residents and the foreign keys to it; the statements that
    add them back, primary key first."""
    keys = await conn.fetch(_KEYS)  # foreign keys ('f') sort before the primary key ('p')
    for drop, _ in keys:
        await conn.execute(drop)
    return [add for _, add in reversed(keys)]


async def _code_constraint(conn: asyncpg.Connection, statement: str) -> None:
    """Add the unique constraint on codes; rows sharing a code (drawn by different
    workers, ~1e-8 for a million) get new ones first."""
    for attempt in range(CODE_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute(statement)
            return
        except asyncpg.UniqueViolationError:
            if attempt == CODE_ATTEMPTS - 1:
                raise
            ids = await conn.fetchval(_REPEATED_CODES)
            await conn.execute(_REDRAW_RESIDENTS, ids, *code_vault.issue(len(ids))[1:])


async def _audit(conn: asyncpg.Connection, report: ImportReport, strict: bool, actor: str | None) -> None:
    details = {"added": report.added, "updated": report.updated, "unchanged": report.unchanged,
               "rejected": len(report.rejected), "strict": strict}
    await audit.insert(conn, "import", actor_kind="cli", actor_id=actor, details=details)


# ---------------------------------------------------------------- reading one resident


@dataclass(frozen=True, slots=True)
class ResidentRow:
    id: int
    code: str
    ward: str
    quarter: str | None
    group_name: str | None
    full_name: str
    birth_date: date | None
    birth_year: int
    sex: str | None
    insurance_code: str | None
    citizen_id: str | None
    phone: str | None
    address: str | None


# The code is read sealed and opened here; the rest as stored.
_ROW = [Resident.code_sealed if f == "code" else getattr(Resident, f) for f in ResidentRow.__slots__]


def _resident_row(row) -> ResidentRow:
    return ResidentRow(row[0], code_vault.unseal(row[1]), *row[2:])


async def find_by_code(session: AsyncSession, code: str) -> ResidentRow | None:
    """The resident holding this code now (typed forms are normalised first)."""
    row = (await session.execute(select(*_ROW).where(Resident.code == codes.normalise(code)))).first()
    return _resident_row(row) if row else None


async def find(session: AsyncSession, code_or_id: str) -> ResidentRow | None:
    """By code when the text is a valid code, else by numeric id."""
    code, _ = codes.check(code_or_id)
    if code:
        return await find_by_code(session, code)
    text = code_or_id.strip().lstrip("#")
    if text.isdigit() and len(text) <= 18:
        row = (await session.execute(select(*_ROW).where(Resident.id == int(text)))).first()
        return _resident_row(row) if row else None
    return None


async def find_person(session: AsyncSession, ward: str, name: str, born: str) -> ResidentRow | None:
    """The resident of this ward with this name and birth date or year (as typed for
    `residents add`), the most recently changed if several."""
    birth_date, birth_year = parse_birth(born, date.today())
    query = (select(*_ROW)
             .where(func.lower(Resident.ward) == clean(ward).lower(),
                    func.lower(Resident.full_name) == clean(name).lower(), Resident.birth_year == birth_year)
             .order_by(Resident.updated_at.desc(), Resident.id.desc()).limit(1))
    if birth_date is not None:
        query = query.where(or_(Resident.birth_date == birth_date, Resident.birth_date.is_(None)))
    row = (await session.execute(query)).first()
    return _resident_row(row) if row else None


async def set_status(session: AsyncSession, resident_id: int, status: str, actor: str | None = None) -> None:
    """Mark a resident as moved away, deceased, or active again (audited). Moved and
    deceased residents leave statistics and reminders; their records stay."""
    await session.execute(update(Resident).where(Resident.id == resident_id)
                          .values(status=status, status_changed_at=func.now()))
    session.add(entry("resident_status", actor_kind="cli", actor_id=actor, resident_id=resident_id,
                      details={"status": status}))


async def resolve_ward(session: AsyncSession, typed: str) -> str | None:
    """The registry's spelling of a ward typed with or without diacritics or capitals."""
    wanted = fold_header(typed)
    wards = (await session.execute(select(Resident.ward).distinct())).scalars().all()
    return next((w for w in wards if fold_header(w) == wanted), None)


async def iter_residents(session: AsyncSession, ward: str | None = None, quarter: str | None = None,
                         group: str | None = None) -> AsyncIterator[ResidentRow]:
    """Residents in card order (quarter, group, name), streamed."""
    query = select(*_ROW).order_by(Resident.ward, Resident.quarter, Resident.group_name,
                                   Resident.full_name, Resident.id)
    for column, value in ((Resident.ward, ward), (Resident.quarter, quarter), (Resident.group_name, group)):
        if value is not None:
            query = query.where(func.lower(column) == value.strip().lower())
    result = await session.stream(query.execution_options(yield_per=2000))
    async for row in result:
        yield _resident_row(row)


async def reissue(session: AsyncSession, resident_id: int, actor: str | None = None) -> str | None:
    """Give one resident a new code (None: no such resident); the old code stops working
    when the session commits."""
    for attempt in range(CODE_ATTEMPTS):
        (code,), (hashed,), (sealed,) = code_vault.issue(1)
        try:
            async with session.begin_nested():
                found = await session.scalar(
                    update(Resident).where(Resident.id == resident_id)
                    .values(code_hash=hashed, code_sealed=sealed, updated_at=func.now()).returning(Resident.id))
            break
        except IntegrityError:
            if attempt == CODE_ATTEMPTS - 1:
                raise
    if found is None:
        return None
    session.add(entry("reissue", actor_kind="cli", actor_id=actor, resident_id=resident_id))
    return code
