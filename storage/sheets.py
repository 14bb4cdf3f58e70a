"""Writing spreadsheets (CSV and XLSX) that are safe to open.

Every text cell that a spreadsheet could take for a formula (it starts with = + - @, a tab
or a carriage return, after any spaces) is written as text with a leading apostrophe, as
the OWASP "CSV injection" guidance says: the person's own words stay readable and nothing
runs. Numbers and dates are never text: CSV writes them in the reader's language
(locales.formatting), XLSX as typed cells.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from locales import formatting

# Full-width forms too: some spreadsheets fold them to the ASCII ones.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
Progress = Callable[[int], None]  # told how many more rows were written


def safe_text(text: str) -> str:
    """The text as a spreadsheet shows it, never run as a formula."""
    return "'" + text if text.lstrip(" ").startswith(FORMULA_START) else text


def csv_cell(value: Any, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return formatting.moment(value, locale)
    if isinstance(value, date):
        return formatting.day(value, locale)
    if isinstance(value, int | float | Decimal):
        return formatting.number(value, locale, digits=2, grouping=False)
    return safe_text(str(value))


def write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]], locale: str,
              progress: Progress | None = None, out=None) -> None:
    """UTF-8 with a byte-order mark, so Excel reads the diacritics. `out`: an open text
    stream to write to instead of `path` (stdout)."""

    def write(f) -> None:
        w = csv.writer(f)
        w.writerow([safe_text(h) for h in headers])
        for i, row in enumerate(rows, 1):
            w.writerow([csv_cell(v, locale) for v in row])
            if progress and i % 500 == 0:
                progress(500)

    if out is not None:
        out.write("\ufeff")
        write(out)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        write(f)


def write_xlsx(path: Path, title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
               progress: Progress | None = None) -> None:
    from openpyxl import Workbook  # noqa: PLC0415 - only spreadsheets need it
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_title(title))

    def cell(v: Any) -> Any:
        if v is None or isinstance(v, bool | int | float):
            return v
        if isinstance(v, Decimal):
            return float(v)
        if isinstance(v, datetime | date):
            c = WriteOnlyCell(ws, value=v)
            c.number_format = "dd/mm/yyyy hh:mm" if isinstance(v, datetime) else "dd/mm/yyyy"
            return c
        c = WriteOnlyCell(ws, value=safe_text(str(v)))
        c.data_type = "s"  # text, whatever it looks like
        return c

    ws.append([cell(h) for h in headers])
    for i, row in enumerate(rows, 1):
        ws.append([cell(v) for v in row])
        if progress and i % 500 == 0:
            progress(500)
    wb.save(path)


def _sheet_title(title: str) -> str:
    """Sheet names: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in title).strip() or "Sheet"
    return cleaned[:31]
