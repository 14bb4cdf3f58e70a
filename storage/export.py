"""The ward's export for the health station: one row per resident with their latest
declaration (empty cells for residents who have not declared), headers and values in the
chosen language.

The columns are the questionnaire's (dialogs.questionnaire.QUESTIONS), in its order, one
per fact: a question with typed storage columns (Stored) gives those columns, typed; any
other question one column of its readable answer; a question that restates a registry
fact (name, birth date, phone…) one column holding the declared value, else the
registry's. Around them, what only the registry knows (code, ward, khu phố, tổ, citizen
id, status) and who declared when. Card codes and citizen ids are masked unless the
export is asked to reveal them (the audit entry says which).

Writing goes through storage.sheets: safe to open in a spreadsheet, typed XLSX cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dialogs import codes
from dialogs.parsers import show_phone
from dialogs.ports import RELATIONS
from dialogs.questionnaire import NO_CONDITIONS, QUESTIONS, Question, label_of
from locales import t
from storage import privacy, sheets
from storage.audit import entry
from storage.models import Declaration, Resident
from storage.staff import latest_declarations

FORMATS = ("csv", "xlsx")
MASK_DOT = codes.MASK_DOT

# What only the registry knows, before the questionnaire's facts; who declared, after.
REGISTRY_COLUMNS = ("code", "ward", "quarter", "group_name", "citizen_id")
DECLARATION_COLUMNS = ("submitted_at", "version", "relation", "status")


@dataclass(frozen=True)
class Column:
    key: str  # registry field, question key or Stored column name
    header: str  # message id
    question: Question | None = None


def question_columns() -> list[Column]:
    """The questionnaire's facts as export columns, in questionnaire order."""
    out: list[Column] = []
    for q in QUESTIONS:
        if not q.exported:
            continue
        if q.stored:
            out += [Column(c.name, f"export.col.{c.name}", q) for c in q.stored]
        else:
            out.append(Column(q.key, f"label.{q.key}", q))
    return out


def columns() -> list[Column]:
    return ([Column(k, f"export.col.{k}") for k in REGISTRY_COLUMNS] + question_columns()
            + [Column(k, f"export.col.{k}") for k in DECLARATION_COLUMNS])


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    resident_ids: list[int]


def mask_id(value: str) -> str:
    """079050000001 -> ••••••••0001: enough to tell people apart, not to use."""
    return MASK_DOT * (len(value) - 4) + value[-4:] if len(value) > 4 else MASK_DOT * len(value)


class _Readable:
    """Answers and registry values as the reader of the export reads them."""

    def __init__(self, locale: str):
        self.locale = locale
        self.sexes = {"M": t(locale, "opt.male"), "F": t(locale, "opt.female")}

    def answer(self, q: Question, value: Any) -> Any:
        if value is None:
            return t(self.locale, "decl.v.skipped")
        if q.multi:
            if not value:
                return t(self.locale, NO_CONDITIONS.label)  # "Không có", not blank
            return ", ".join(t(self.locale, label_of(q, v) or str(v)) for v in value)
        label = label_of(q, value)
        if label is not None:
            return t(self.locale, label)
        if isinstance(value, list):
            return "/".join(str(v) for v in value)
        return value

    def fact(self, q: Question, declared: dict[str, Any] | None, r: Resident) -> Any:
        """A question restating a registry fact: the declared value, else the registry's."""
        if declared is not None and q.key in declared and declared[q.key] is not None:
            value = declared[q.key]
            if q.registry == "birth_date":
                return date.fromisoformat(value)
            if q.registry == "phone":
                return show_phone(value)
            if q.registry == "sex":
                return self.sexes.get(value, value)
            return self.answer(q, value)
        if q.registry == "birth_date":
            return r.birth_date or r.birth_year  # a bare year when the day is not known
        if q.registry == "sex":
            return self.sexes.get(r.sex or "")
        if q.registry == "phone":
            return show_phone(r.phone) if r.phone else None
        return getattr(r, q.registry)


async def table(session: AsyncSession, ward: str, locale: str, tz: ZoneInfo, reveal: bool = False,
                progress: Callable[[int], None] | None = None) -> Table:
    latest = aliased(Declaration, latest_declarations().subquery())
    q = (
        select(Resident, latest)
        .outerjoin(latest, latest.resident_id == Resident.id)
        .where(Resident.ward == ward)
        .order_by(Resident.quarter, Resident.group_name, Resident.full_name, Resident.id)
    )
    found = (await session.execute(q)).all()
    cols = columns()
    readable = _Readable(locale)
    declarers = {code: t(locale, f"export.declarer.{code}") for code in RELATIONS.values()}
    statuses = {s: t(locale, f"export.status.{s}") for s in ("active", "moved", "deceased")}
    rows = []
    for r, d in found:
        answers = dict(d.answers) if d is not None else None
        row = []
        for c in cols:
            if c.question is not None:
                row.append(_question_cell(c, readable, r, d, answers))
            elif c.key == "code":
                row.append(r.code if reveal else codes.mask(r.code))
            elif c.key == "citizen_id":
                row.append(None if r.citizen_id is None else r.citizen_id if reveal else mask_id(r.citizen_id))
            elif c.key == "status":
                row.append(statuses.get(r.status, r.status))
            elif c.key in ("submitted_at", "version", "relation"):
                if d is None:
                    row.append(None)
                elif c.key == "submitted_at":
                    row.append(d.submitted_at.astimezone(tz).replace(tzinfo=None))
                elif c.key == "relation":
                    row.append(declarers.get(d.relation, d.relation))
                else:
                    row.append(d.version)
            else:
                row.append(getattr(r, c.key))
        rows.append(row)
        if progress and len(rows) % 500 == 0:
            progress(500)
    headers = [t(locale, c.header) for c in cols]
    # Privacy (#7): a last column marks declarations given under a consent since withdrawn.
    await privacy.mark_withdrawn(session, headers, rows, [d for _, d in found], locale)
    return Table(headers, rows, [r.id for r, _ in found])


def _question_cell(c: Column, readable: _Readable, r: Resident, d: Declaration | None,
                   answers: dict[str, Any] | None) -> Any:
    q = c.question
    if q.registry:
        return readable.fact(q, answers, r)
    if d is None or q.key not in answers:
        return None  # not declared, or not asked of this person
    if q.stored:
        value = getattr(d, c.key)
        if value is not None:
            return value
        # no number to store ("Không biết"): the first of its columns says so in words
        if c.key == q.stored[0].name and all(getattr(d, s.name) is None for s in q.stored):
            return readable.answer(q, answers[q.key])
        return None
    return readable.answer(q, answers[q.key])


def audit_entry(tbl: Table, ward: str, fmt: str, actor_kind: str, actor_id: str | int | None,
                reveal: bool = False):
    return entry("staff_export", actor_kind=actor_kind, actor_id=actor_id,
                 details={"ward": ward, "format": fmt, "rows": len(tbl.rows), "revealed": reveal,
                          "resident_ids": tbl.resident_ids})


def write(tbl: Table, path: Path, fmt: str, title: str, locale: str = "vi",
          progress: Callable[[int], None] | None = None) -> None:
    if fmt == "xlsx":
        sheets.write_xlsx(path, title, tbl.headers, tbl.rows, progress)
    else:
        sheets.write_csv(path, tbl.headers, tbl.rows, locale, progress)
