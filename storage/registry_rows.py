"""Reading and checking a registry file (CSV or XLSX) into staging records.

Speed matters (a city's registry is millions of rows), so the checks run a column at a
time: values that repeat (names, dates, wards, groups) go through a memo, values that
do not (identifiers, phones, addresses) through one compiled pattern for the usual
spelling, and only what misses both takes the slow, careful path that explains itself.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- columns and headers

# Vietnamese header names (as the ward's spreadsheets write them) and English aliases,
# after fold_header.
HEADERS = {
    "ho_ten": "full_name", "ho_va_ten": "full_name", "full_name": "full_name",
    "ngay_sinh": "birth_date", "ngay_thang_nam_sinh": "birth_date", "birth_date": "birth_date",
    "gioi_tinh": "sex", "sex": "sex",
    "ma_bhyt": "insurance_code", "ma_the_bhyt": "insurance_code", "so_the_bhyt": "insurance_code",
    "insurance_code": "insurance_code",
    "cccd": "citizen_id", "so_cccd": "citizen_id", "citizen_id": "citizen_id",
    "so_dien_thoai": "phone", "sdt": "phone", "phone": "phone",
    "dia_chi": "address", "address": "address",
    "to_dan_pho": "group_name", "to": "group_name", "group": "group_name",
    "khu_pho": "quarter", "quarter": "quarter",
    "phuong": "ward", "ward": "ward",
}
# The name a field goes by in messages when the file's own header is not known.
COLUMN_NAMES = {
    "full_name": "ho_ten", "birth_date": "ngay_sinh", "sex": "gioi_tinh",
    "insurance_code": "ma_bhyt", "citizen_id": "cccd", "phone": "so_dien_thoai",
    "address": "dia_chi", "group_name": "to_dan_pho", "quarter": "khu_pho", "ward": "phuong",
}
HEADER_SEARCH_ROWS = 20  # ward spreadsheets often have a title block above the header
MIN_BIRTH_YEAR = 1890
MAX_TEXT = 500


def fold_header(text: str) -> str:
    """'Số điện thoại (*)' → 'so_dien_thoai': no diacritics, lower case, underscores."""
    text = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return "_".join(re.findall(r"[a-z0-9]+", text))


class RegistryFileError(Exception):
    """A file that cannot be imported at all; `msg_id` and `vars` make the one-line message."""

    def __init__(self, msg_id: str, **vars: Any):
        super().__init__(msg_id)
        self.msg_id = msg_id
        self.vars = vars


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    column: str  # the header as written in the file; "" when the whole row is at fault
    reason: str  # message id under registry.reason.
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    committed: bool = False


@dataclass(frozen=True)
class Layout:
    """Where each field is in a row, and the header text that names it in messages."""

    index: dict[str, int]
    names: dict[str, str]
    ignored: list[str]

    def name(self, field_: str) -> str:
        return self.names.get(field_) or COLUMN_NAMES[field_]


@dataclass
class Checked:
    records: list[tuple]  # staging rows, see registry.STAGING_COLUMNS
    rejected: list[Rejection]
    layout: Layout


# ---------------------------------------------------------------- reading files

Rows = tuple[list[int], list[list[Any]]]  # line numbers, cells


def _read_csv(path: Path) -> Rows:
    """Unquoted lines are split directly; a line with quotes (a comma inside an address, a
    line break inside a cell) goes through the csv module, joined with its continuation
    lines while a quote is open."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryFileError("registry.error.not_utf8", file=path.name) from None
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # the file's final line break
    head = next((line for line in lines if line.strip()), "")
    delimiter = ";" if head.count(";") > head.count(",") else ","
    if '"' not in text:
        return list(range(1, len(lines) + 1)), [line.split(delimiter) for line in lines]
    numbers: list[int] = []
    rows: list[list[str]] = []
    i = 0
    while i < len(lines):
        numbers.append(i + 1)
        line = lines[i]
        i += 1
        if '"' in line:
            while line.count('"') % 2 and i < len(lines):
                line += "\n" + lines[i]
                i += 1
            rows.append(next(csv.reader([line], delimiter=delimiter), []))
        else:
            rows.append(line.split(delimiter))
    return numbers, rows


def _read_xlsx(path: Path) -> Rows:
    import openpyxl  # noqa: PLC0415 - only XLSX imports pay for it
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise RegistryFileError("registry.error.bad_xlsx", file=path.name, detail=type(e).__name__) from None
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some exporters write a wrong <dimension>; read what is there
        rows = [list(r) for r in sheet.iter_rows(min_row=1, values_only=True)]
    finally:
        book.close()
    return list(range(1, len(rows) + 1)), rows


READERS: dict[str, Callable[[Path], Rows]] = {
    ".csv": _read_csv, ".txt": _read_csv, ".xlsx": _read_xlsx, ".xlsm": _read_xlsx,
}


def read_table(path: Path) -> Rows:
    """Every row of the file, header included, with its line number."""
    if not path.is_file():
        raise RegistryFileError("registry.error.no_file", file=str(path))
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise RegistryFileError("registry.error.format", file=path.name, suffix=path.suffix or "-")
    return reader(path)


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def find_layout(rows: list[list[Any]], ward_given: bool) -> tuple[int, Layout]:
    """(index of the header row, layout): the first row, among the first non-blank ones,
    that names ho_ten."""
    seen = 0
    for position, cells in enumerate(rows):
        if _blank(cells):
            continue
        fields = [HEADERS.get(fold_header(str(c))) if c is not None else None for c in cells]
        if "full_name" in fields:
            return position, _layout(cells, fields, ward_given)
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    raise RegistryFileError("registry.error.no_header", column=COLUMN_NAMES["full_name"])


def _layout(cells: list[Any], fields: list[str | None], ward_given: bool) -> Layout:
    index: dict[str, int] = {}
    names: dict[str, str] = {}
    ignored: list[str] = []
    for i, (cell, name) in enumerate(zip(cells, fields, strict=True)):
        text = str(cell).strip() if cell is not None else ""
        if name is None or name in index:
            if text:
                ignored.append(text)
            continue
        index[name] = i
        names[name] = text
    for name in ("full_name", "birth_date"):
        if name not in index:
            raise RegistryFileError("registry.error.missing_column", column=COLUMN_NAMES[name])
    if "ward" not in index and not ward_given:
        raise RegistryFileError("registry.error.missing_ward")
    return Layout(index, names, ignored)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _spreadsheet_cells(rows: list[list[Any]], layout: Layout) -> list[list[Any]]:
    """Cells → the text a CSV would hold; date cells stay dates, and a citizen id that
    Excel stored as a number gets back the leading 0 that every id has."""
    birth, citizen = layout.index["birth_date"], layout.index.get("citizen_id")
    out = []
    for cells in rows:
        text = [_cell_text(c) for c in cells]
        if birth < len(cells) and isinstance(cells[birth], date | int | float):
            text[birth] = cells[birth]
        if citizen is not None and citizen < len(cells) and isinstance(cells[citizen], int | float):
            digits = text[citizen]
            text[citizen] = "0" + digits if len(digits) == 11 else digits
        out.append(text)
    return out


# ---------------------------------------------------------------- one value


class Bad(Exception):
    """A cell that cannot be used: the reason's message id and its placeholders. Also kept
    as a value in the column memos, so a bad spelling is explained once."""

    def __init__(self, reason: str, **vars: Any):
        super().__init__(reason)
        self.reason = reason
        self.vars = vars


def clean(value: str) -> str:
    """Trim, collapse inner whitespace, compose diacritics (NFC)."""
    value = " ".join(value.split())
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    if len(value) > MAX_TEXT:
        raise Bad("too_long", limit=MAX_TEXT)
    return value


def parse_name(value: str) -> str:
    value = clean(value)
    if not value:
        raise Bad("required")
    if any(c.isdigit() for c in value):
        raise Bad("name_digits")
    return value


_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]0{1,2}:00(?::00)?)?")
_NUMBER = re.compile(r"(\d{1,5})(?:\.0*)?")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01, after Excel's leap-year bug


def parse_birth(value: Any, today: date) -> tuple[date | None, int]:
    """(birth date, or None when only the year is known; birth year)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        born = value
    elif isinstance(value, int | float):
        born = _EXCEL_EPOCH + timedelta(days=int(value))
    else:
        text = value.strip()
        if m := _DMY.fullmatch(text):
            born = _date(int(m[3]), int(m[2]), int(m[1]))
        elif m := _YMD.fullmatch(text):
            born = _date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _NUMBER.fullmatch(text):
            number = int(m[1])
            if len(m[1]) == 4 and MIN_BIRTH_YEAR <= number <= today.year:
                return None, number  # the year alone: elderly residents whose day is unknown
            born = _EXCEL_EPOCH + timedelta(days=number)  # an Excel serial day number
        elif not text:
            raise Bad("required")
        else:
            raise Bad("date_format")
    if born > today:
        raise Bad("date_future")
    if born.year < MIN_BIRTH_YEAR:
        raise Bad("date_too_old", year=MIN_BIRTH_YEAR)
    return born, born.year


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise Bad("date_invalid") from None


SEXES = {"nam": "M", "m": "M", "male": "M", "nữ": "F", "nu": "F", "f": "F", "female": "F"}


def parse_sex(value: str) -> str | None:
    value = clean(value).lower()
    if not value:
        return None
    if value not in SEXES:
        raise Bad("sex")
    return SEXES[value]


def optional_text(value: str) -> str | None:
    return clean(value) or None


_SEPARATORS = re.compile(r"[\s.()\-]+")
_INSURANCE = re.compile(r"[A-Z]{2}\d{13}|\d{10}")  # card code, or the bare BHXH number
_CITIZEN = re.compile(r"\d{12}")
_MOBILE = re.compile(r"0[35789]\d{8}")
_PLAIN_TEXT = re.compile(r"\S+(?: \S+)*")  # already trimmed, single spaces


def parse_insurance(value: str) -> str | None:
    value = _SEPARATORS.sub("", value).upper()
    if not value:
        return None
    if not _INSURANCE.fullmatch(value):
        raise Bad("insurance")
    return value


def parse_citizen_id(value: str) -> str | None:
    value = _SEPARATORS.sub("", value)
    if not value:
        return None
    if len(value) == 11 and value.isdigit():
        raise Bad("citizen_id_zero")  # Excel turned it into a number and dropped the 0
    if not _CITIZEN.fullmatch(value):
        raise Bad("citizen_id")
    return value


def parse_phone(value: str) -> str | None:
    """Vietnamese numbers in any usual spelling → +84 and the 9- or 10-digit national number."""
    digits = _SEPARATORS.sub("", value)
    if not digits:
        return None
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        national = digits  # Excel dropped the leading 0
    mobile = len(national) == 9 and national[0] in "35789"
    landline = len(national) == 10 and national[0] == "2"
    if not national.isdigit() or not (mobile or landline):
        raise Bad("phone")
    return "+84" + national


# ---------------------------------------------------------------- one column


def _careful(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except Bad as bad:
        return bad.with_traceback(None)  # kept in memos: do not keep the frames alive


_MISSING = object()


class _Memo(dict):
    """raw cell → parsed value (or the Bad explaining it), parsed once per distinct cell."""

    def __init__(self, parse: Callable[[Any], Any]):
        super().__init__()
        self.parse = parse

    def __missing__(self, raw: Any) -> Any:
        value = self[raw] = _careful(self.parse, raw)
        return value

    def column(self, cells: list) -> list:
        out = list(map(self.get, cells, repeat(_MISSING, len(cells))))
        if _MISSING in out:  # identity test first: parsed values may not compare
            for i, v in enumerate(out):
                if v is _MISSING:
                    out[i] = self[cells[i]]
        return out


def _nfc(text: str) -> bool:
    return text.isascii() or unicodedata.is_normalized("NFC", text)


def _identifier_column(cells: tuple, usual: re.Pattern, parse: Callable[[str], Any]) -> list:
    match = usual.fullmatch
    return [c if match(c) else _careful(parse, c) for c in cells]


def _phone_column(cells: tuple) -> list:
    match = _MOBILE.fullmatch
    return ["+84" + c[1:] if match(c) else _careful(parse_phone, c) for c in cells]


def _text_column(cells: tuple) -> list:
    match = _PLAIN_TEXT.fullmatch
    return [c if match(c) and len(c) <= MAX_TEXT and _nfc(c) else _careful(optional_text, c) or None
            for c in cells]


# ---------------------------------------------------------------- a whole file


def _compatible(a: Any, b: Any) -> bool:
    return a is None or b is None or a == b


class Checker:
    """Turns rows into staging records and rejections, a column at a time, and remembers
    each person's keys so that a second row for the same person is reported."""

    def __init__(self, layout: Layout, default_ward: str | None, today: date):
        self.layout = layout
        self.today = today
        self.default_ward = clean(default_ward) if default_ward else None
        self.names = _Memo(parse_name)
        self.births = _Memo(lambda v: parse_birth(v, today))
        self.wards = _Memo(self._parse_ward)
        self.sexes = _Memo(parse_sex)
        self.groups = _Memo(optional_text)  # quarter and group share it: few distinct values

    def _parse_ward(self, value: str) -> str:
        ward = clean(value)
        if not ward:
            if self.default_ward:
                return self.default_ward
            raise Bad("required")
        if self.default_ward:
            if ward.casefold() != self.default_ward.casefold():
                raise Bad("ward_mismatch", ward=self.default_ward)
            return self.default_ward
        return ward

    def _column(self, rows: list[list[Any]], name: str) -> list:
        i = self.layout.index.get(name)
        return list(map(itemgetter(i), rows)) if i is not None else [""] * len(rows)

    def _usable(self, numbers: list[int], rows: list[list[Any]]) -> tuple[list[int], list[list[Any]]]:
        """Drop blank rows and pad short ones (a spreadsheet's trailing empty cells)."""
        width = max(self.layout.index.values()) + 1
        name_at = self.layout.index["full_name"]
        if min(map(len, rows), default=width) >= width and all(map(itemgetter(name_at), rows)):
            return numbers, rows  # the usual case, checked at C speed
        keep = [i for i, r in enumerate(rows) if len(r) > name_at and r[name_at] or not _blank(r)]
        return [numbers[i] for i in keep], [_pad(rows[i], width) for i in keep]

    def check(self, numbers: list[int], rows: list[list[Any]]) -> tuple[list[tuple], list[Rejection]]:
        lines, rows = self._usable(numbers, rows)
        col = self._column
        births = self.births.column(col(rows, "birth_date"))
        values = {
            "full_name": self.names.column(col(rows, "full_name")),
            "birth_date": [b[0] if type(b) is tuple else b for b in births],
            "ward": self.wards.column(col(rows, "ward")),
            "quarter": self.groups.column(col(rows, "quarter")),
            "group_name": self.groups.column(col(rows, "group_name")),
            "sex": self.sexes.column(col(rows, "sex")),
            "insurance_code": _identifier_column(col(rows, "insurance_code"), _INSURANCE, parse_insurance),
            "citizen_id": _identifier_column(col(rows, "citizen_id"), _CITIZEN, parse_citizen_id),
            "phone": _phone_column(col(rows, "phone")),
            "address": _text_column(col(rows, "address")),
        }
        years = [b[1] if type(b) is tuple else b for b in births]
        rejected = self._bad_cells(lines, values)
        rejected += self._repeats(lines, values, years, {r.line for r in rejected})
        records = zip(lines, values["ward"], values["quarter"], values["group_name"],
                      values["full_name"], values["birth_date"], years, values["sex"],
                      values["insurance_code"], values["citizen_id"], values["phone"],
                      values["address"], strict=True)
        if rejected:
            bad_lines = {r.line for r in rejected}
            return [r for r in records if r[0] not in bad_lines], rejected
        return list(records), rejected

    def _bad_cells(self, lines: list[int], values: dict[str, list]) -> list[Rejection]:
        """The first bad cell of each row, in column order."""
        found: dict[int, Rejection] = {}
        for name, column in values.items():
            if Bad not in map(type, column):
                continue
            for line, v in zip(lines, column, strict=True):
                if type(v) is Bad and line not in found:
                    found[line] = Rejection(line, self.layout.name(name), v.reason, v.vars)
        return list(found.values())

    def _repeats(self, lines: list[int], values: dict[str, list], years: list, bad: set[int]) -> list[Rejection]:
        """Second and later rows for one person: the same insurance number or citizen id, or
        the same ward, name and birth year with nothing that tells them apart. Only rows
        that share a key with another row are looked at one by one."""
        codes, citizens, born = values["insurance_code"], values["citizen_id"], values["birth_date"]
        keys = [c[-10:] if type(c) is str else None for c in codes]
        names = [n.lower() if type(n) is str else n for n in values["full_name"]]
        people = list(zip(values["ward"], names, years, strict=True))
        suspects = _shared(keys) | _shared(citizens) | _shared(list(zip(people, born, strict=True)))
        undated = {p for p, b in zip(people, born, strict=True) if b is None}
        if undated:  # a bare year can be anyone's birthday that year
            suspects |= _shared([p if p in undated else None for p in people])
        if not suspects:
            return []
        by_key: dict[str, int] = {}
        by_citizen: dict[str, int] = {}
        by_person: dict[tuple, list[tuple]] = {}
        found = []
        for i in sorted(suspects):
            line, key, citizen = lines[i], keys[i], citizens[i]
            if line in bad:
                continue
            if key and key in by_key:
                found.append(Rejection(line, self.layout.name("insurance_code"), "duplicate",
                                       {"other": by_key[key]}))
                continue
            if citizen and citizen in by_citizen:
                found.append(Rejection(line, self.layout.name("citizen_id"), "duplicate",
                                       {"other": by_citizen[citizen]}))
                continue
            earlier = by_person.setdefault(people[i], [])
            same = next((o for o in earlier if _compatible(born[i], o[0]) and _compatible(key, o[1])
                         and _compatible(citizen, o[2])), None)
            if same:
                found.append(Rejection(line, "", "duplicate_person", {"other": same[3]}))
                continue
            earlier.append((born[i], key, citizen, line))
            if key:
                by_key[key] = line
            if citizen:
                by_citizen[citizen] = line
        return found


def _pad(row: list[Any], width: int) -> list[Any]:
    return row if len(row) >= width else row + [""] * (width - len(row))


def _shared(values: list) -> set[int]:
    """Positions of the values that occur more than once (None and Bad never count)."""
    distinct = set(values)
    nones = values.count(None)
    if len(distinct) == len(values) - nones + (nones > 0):
        return set()  # the usual case: one set, no counting
    counts = Counter(values)
    shared = {v for v, n in counts.items() if n > 1 and v is not None and type(v) is not Bad}
    return {i for i, v in enumerate(values) if v in shared} if shared else set()


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """A million rows are millions of lists and tuples, none of them in a cycle: without
    this, Python's cycle collector re-scans them all again and again (quadratic time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_file(path: Path, default_ward: str | None, today: date) -> Checked:
    """Read and check the whole file (RegistryFileError if it cannot be read at all)."""
    with _no_gc_pauses():
        return _check_file(path, default_ward, today)


def _check_file(path: Path, default_ward: str | None, today: date) -> Checked:
    numbers, rows = read_table(path)
    header, layout = find_layout(rows, ward_given=bool(default_ward))
    numbers, rows = numbers[header + 1 :], rows[header + 1 :]
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _spreadsheet_cells(rows, layout)
    records, rejected = Checker(layout, default_ward, today).check(numbers, rows)
    return Checked(records, rejected, layout)


# ---------------------------------------------------------------- fingerprints

# Must stay byte-for-byte the residents.fingerprint expression (migration 0002): fields in
# staging order, '\x1f' between them, '\x1e' for NULL, the birth date as days since 1900.
_NULL, _SEP = "\x1e", "\x1f"
_DAY_ZERO = date(1900, 1, 1).toordinal()


def fingerprint(record: tuple) -> bytes:
    _, ward, quarter, group_name, name, born, year, sex, code, citizen, phone, address = record
    days = str(born.toordinal() - _DAY_ZERO) if born else _NULL
    text = _SEP.join((ward, quarter or _NULL, group_name or _NULL, name, days, str(year),
                      sex or _NULL, code or _NULL, citizen or _NULL, phone or _NULL, address or _NULL))
    return hashlib.md5(text.encode(), usedforsecurity=False).digest()[:8]


def fingerprints(records: list[tuple]) -> Iterator[bytes]:
    return map(fingerprint, records)
