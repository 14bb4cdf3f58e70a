"""Streams a ward (or every ward) out of PostgreSQL as FHIR: Bulk Data NDJSON, one file per
resource type, or one transaction Bundle per resident.

Residents are read a page at a time (keyset pagination on their id, a thousand with their
declarations per query), and each resident's resources are written before the next page is
read: memory stays flat however large the ward. Residents without a declaration still get their Patient.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Float, Select, Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import privacy
from storage.audit import entry
from storage.fhir.codes import SID_RESOURCE
from storage.fhir.questionnaire import questionnaire
from storage.fhir.resources import TYPES, Builder, Context
from storage.models import Declaration, Resident

PAGE = 1000  # residents per query
YIELD_EVERY = 100  # residents built between two turns of the event loop (a few tens of ms)
FORMATS = ("ndjson", "bundle")

_RESIDENT = (Resident.id, Resident.full_name, Resident.birth_date, Resident.birth_year,
             Resident.sex, Resident.ward, Resident.quarter, Resident.group_name, Resident.address,
             Resident.phone, Resident.insurance_code, Resident.citizen_id)
# Numbers as float8 and answers as JSON text (parsed with orjson by the builder): asyncpg's
# Decimal and the stdlib JSON decoder were a third of the reading time.
_DECLARATION = (Declaration.version, Declaration.submitted_by, Declaration.relation,
                Declaration.questionnaire_version, Declaration.submitted_at,
                cast(Declaration.height_cm, Float).label("height_cm"),
                cast(Declaration.weight_kg, Float).label("weight_kg"), cast(Declaration.bmi, Float).label("bmi"),
                Declaration.systolic, Declaration.diastolic, Declaration.pregnancies, Declaration.children,
                Declaration.covid_doses, cast(Declaration.answers, Text).label("answers"))


def rows_query(ward: str | None, after: int = 0, limit: int | None = None) -> Select:
    """The next `limit` residents after id `after`, each with its declarations (keyset paging:
    every page is an index range, sorted in memory, whatever the ward's size)."""
    page = select(*_RESIDENT).where(Resident.id > after)
    if ward is not None:
        page = page.where(Resident.ward == ward)
    page = page.order_by(Resident.id).limit(limit or PAGE).subquery()
    return (
        select(page, *_DECLARATION, privacy._withdrawn_consent().label("withdrawn"))
        .outerjoin(Declaration, Declaration.resident_id == page.c.id)
        .order_by(page.c.id, Declaration.version)
    )


async def _page(sessions: async_sessionmaker[AsyncSession], ward: str | None, after: int) -> list[Any]:
    async with sessions() as s:
        return list((await s.execute(rows_query(ward, after))).all())


async def residents(sessions: async_sessionmaker[AsyncSession], ward: str | None,
                    after: int = 0) -> AsyncIterator[tuple[Any, list[Any]]]:
    """(resident row, its declarations oldest first), residents in id order after `after`.
    The next page is read while this one is used (PostgreSQL works on the other core); no
    transaction stays open between pages, so a slow consumer (a push) holds nothing.
    Use it inside `contextlib.aclosing` so that a consumer that stops early stops the read."""
    ahead = asyncio.ensure_future(_page(sessions, ward, after))
    try:
        while True:
            rows = await ahead
            if not rows:
                return
            ahead = asyncio.ensure_future(_page(sessions, ward, rows[-1].id))
            current, decls = rows[0], []
            for row in rows:
                if row.id != current.id:
                    yield current, decls
                    current, decls = row, []
                if row.version is not None:
                    decls.append(row)
            yield current, decls
    finally:
        if not ahead.done():
            ahead.cancel()
            with suppress(asyncio.CancelledError):
                await ahead


@dataclass
class Written:
    residents: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    resident_ids: list[int] = field(default_factory=list)


class NdjsonWriter:
    """Bulk Data layout: <Type>.ndjson per resource type, plus Questionnaire.json."""

    def __init__(self, out: Path, locale: str = "vi"):
        out.mkdir(parents=True, exist_ok=True)
        self.files = {kind: (out / f"{kind}.ndjson").open("wb", buffering=1 << 20) for kind in TYPES}
        (out / "Questionnaire.json").write_bytes(orjson.dumps(questionnaire(locale), option=orjson.OPT_INDENT_2))
        self.counts = dict.fromkeys(TYPES, 0)
        self.organizations: set[str] = set()

    def write(self, resources: Iterable[dict]) -> None:
        dumps, files, counts = orjson.dumps, self.files, self.counts
        for res in resources:
            kind = res["resourceType"]
            if kind == "Organization":  # one per ward, not one per resident
                if res["id"] in self.organizations:
                    continue
                self.organizations.add(res["id"])
            files[kind].write(dumps(res, option=orjson.OPT_APPEND_NEWLINE))
            counts[kind] += 1

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _urn(kind: str, rid: str) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SID_RESOURCE}/{kind}/{rid}"))


def _ref(value: Any, urns: dict[str, str]) -> Any:
    if isinstance(value, dict) and "reference" in value:
        return {**value, "reference": urns.get(value["reference"], value["reference"])}
    if isinstance(value, list) and value and isinstance(value[0], dict) and "reference" in value[0]:
        return [_ref(v, urns) for v in value]
    return value


def _rewrite(resource: dict, urns: dict[str, str]) -> dict:
    """The resource without its id, references pointed at the Bundle's entries. Our resources
    hold references only in top-level elements (subject, performer, derivedFrom…); the
    export tests check that every reference in a Bundle resolves inside it."""
    return {k: _ref(v, urns) for k, v in resource.items() if k != "id"}


def transaction(resources: Iterable[dict], known: dict[str, str] | None = None) -> dict:
    """A transaction Bundle: each resource a conditional update on its identifier, so
    sending it again changes nothing; references point at the entries' urn:uuid. Resources
    in `known` ("Organization/hb-station-…" -> the server's "Organization/17") are already
    on the server: they are left out and referred to by the server's id."""
    known = known or {}
    items = [r for r in resources if f"{r['resourceType']}/{r['id']}" not in known]
    urns = {f"{r['resourceType']}/{r['id']}": _urn(r["resourceType"], r["id"]) for r in items} | known
    entries = []
    for r in items:
        kind, rid = r["resourceType"], r["id"]
        body = _rewrite(r, urns)
        entries.append({
            "fullUrl": urns[f"{kind}/{rid}"],
            "resource": body,
            "request": {"method": "PUT", "url": f"{kind}?identifier={SID_RESOURCE}|{rid}"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class BundleWriter:
    """Bundle.ndjson: one transaction Bundle per line, one line per resident; Questionnaire.json."""

    def __init__(self, out: Path, locale: str = "vi"):
        out.mkdir(parents=True, exist_ok=True)
        self.file = (out / "Bundle.ndjson").open("wb", buffering=1 << 20)
        (out / "Questionnaire.json").write_bytes(orjson.dumps(questionnaire(locale), option=orjson.OPT_INDENT_2))
        self.counts = {"Bundle": 0}

    def write(self, resources: Iterable[dict]) -> None:
        self.file.write(orjson.dumps(transaction(resources), option=orjson.OPT_APPEND_NEWLINE))
        self.counts["Bundle"] += 1

    def close(self) -> None:
        self.file.close()


async def export(sessions: async_sessionmaker[AsyncSession], ward: str | None, out: Path, fmt: str,
                 locale: str = "vi") -> Written:
    writer = NdjsonWriter(out, locale) if fmt == "ndjson" else BundleWriter(out, locale)
    build = Builder(Context(locale))
    done = Written()
    try:
        async with aclosing(residents(sessions, ward)) as rows:
            async for r, decls in rows:
                writer.write(build.resident(r, decls))
                done.residents += 1
                done.resident_ids.append(r.id)
                if done.residents % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # the console's server (and webhooks) share this loop
    finally:
        writer.close()
    done.resources = dict(writer.counts)
    return done


def audit_entry(done: Written, ward: str | None, fmt: str, action: str, actor_kind: str, actor_id: str | None):
    """Ids and counts only, like the CSV export's entry (the trail finds a resident in it)."""
    return entry(action, actor_kind=actor_kind, actor_id=actor_id,
                 details={"ward": ward, "format": fmt, "rows": done.residents, "resident_ids": done.resident_ids})
