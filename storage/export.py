"""The ward's export for the health station: one row per resident with their latest
declaration (empty cells for residents who have not declared), Vietnamese headers.

CSV carries a UTF-8 byte-order mark so Excel shows the diacritics; numbers use the
decimal comma. XLSX keeps numbers as numbers and dates as dates.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dialogs.parsers import show_phone
from dialogs.ports import RELATIONS
from locales import catalog, t
from storage import privacy
from storage.audit import entry
from storage.models import Declaration, Resident
from storage.staff import latest_declarations

FORMATS = ("csv", "xlsx")

RESIDENT_COLUMNS = ("code", "full_name", "birth_year", "sex", "quarter", "group_name", "address", "phone")
DECLARATION_COLUMNS = ("submitted_at", "version", "relation", "height_cm", "weight_kg", "bmi",
                       "systolic", "diastolic", "covid_doses", "pregnancies", "children")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    resident_ids: list[int]


def _header(locale: str, key: str) -> str:
    """Our own columns from staff.export.col.*; questionnaire answers by their review label."""
    cat = catalog(locale)
    for msg in (f"staff.export.col.{key}", f"label.{key}"):
        if msg in cat:
            return cat[msg]
    return key


def _answer(v: Any) -> Any:
    if isinstance(v, list):
        return "; ".join(str(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}={x}" for k, x in v.items())
    return v


async def table(session: AsyncSession, ward: str, locale: str, tz: ZoneInfo) -> Table:
    latest = aliased(Declaration, latest_declarations().subquery())
    q = (
        select(Resident, latest)
        .outerjoin(latest, latest.resident_id == Resident.id)
        .where(Resident.ward == ward)
        .order_by(Resident.quarter, Resident.group_name, Resident.full_name, Resident.id)
    )
    found = (await session.execute(q)).all()
    # Answers not kept in a column of their own get a column each, in first-seen order.
    extra: dict[str, None] = {}
    for _, d in found:
        for k in (d.answers if d is not None else {}):
            if k not in DECLARATION_COLUMNS and k not in RESIDENT_COLUMNS:
                extra.setdefault(k)
    sexes = {"M": t(locale, "staff.export.male"), "F": t(locale, "staff.export.female")}
    # a declaration keeps what the resident is to the declarer; staff read who declared
    declarers = {code: t(locale, f"staff.export.declarer.{code}") for code in RELATIONS.values()}
    rows = []
    for r, d in found:
        row = [r.code, r.full_name, r.birth_year, sexes.get(r.sex or "", ""), r.quarter, r.group_name,
               r.address, show_phone(r.phone) if r.phone else None]
        if d is None:
            row += [None] * (len(DECLARATION_COLUMNS) + len(extra))
        else:
            row += [d.submitted_at.astimezone(tz).replace(tzinfo=None)]
            row += [declarers.get(d.relation, d.relation) if k == "relation" else getattr(d, k)
                    for k in DECLARATION_COLUMNS[1:]]
            row += [_answer(d.answers.get(k)) for k in extra]
        rows.append(row)
    keys = [*RESIDENT_COLUMNS, *DECLARATION_COLUMNS, *extra]
    headers = [_header(locale, k) for k in keys]
    # Privacy (#7): a last column marks declarations given under a consent since withdrawn.
    await privacy.mark_withdrawn(session, headers, rows, [d for _, d in found], locale)
    return Table(headers, rows, [r.id for r, _ in found])


def audit_entry(tbl: Table, ward: str, fmt: str, actor_kind: str, actor_id: str | int | None):
    return entry("staff_export", actor_kind=actor_kind, actor_id=actor_id,
                 details={"ward": ward, "format": fmt, "rows": len(tbl.rows),
                          "resident_ids": tbl.resident_ids})


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%d/%m/%Y %H:%M")
    if isinstance(v, (Decimal, float)):
        return str(v).replace(".", ",")
    return str(v)


def write_csv(tbl: Table, path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(tbl.headers)
        w.writerows([_cell_text(v) for v in row] for row in tbl.rows)


def write_xlsx(tbl: Table, path: Path, title: str) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - only the export needs it
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append(tbl.headers)

    def cell(v: Any) -> Any:
        if isinstance(v, Decimal):
            return float(v)
        if isinstance(v, datetime):
            c = WriteOnlyCell(ws, value=v)
            c.number_format = "dd/mm/yyyy hh:mm"
            return c
        return v

    for row in tbl.rows:
        ws.append([cell(v) for v in row])
    wb.save(path)


def write(tbl: Table, path: Path, fmt: str, title: str) -> None:
    if fmt == "xlsx":
        write_xlsx(tbl, path, title)
    else:
        write_csv(tbl, path)
