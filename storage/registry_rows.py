"""Reading a registry file (CSV or XLSX): its header, its rows, and each row's source hash.

A clean CSV (no quotes, every line with the header's number of cells) is never split row
by row: its lines are hashed and, when checked, cut into columns at C speed. Anything
else goes through the csv module or openpyxl. Checking the cells is storage.registry_check.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from operator import itemgetter, methodcaller
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


class MessageError(Exception):
    """Stops a command with one line for the person at the terminal: a message id and its
    placeholders, rendered in their language by the caller."""

    def __init__(self, msg_id: str, **vars: Any):
        super().__init__(msg_id)
        self.msg_id = msg_id
        self.vars = vars


class RegistryFileError(MessageError):
    """A file that cannot be imported at all."""


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


# ---------------------------------------------------------------- reading files

Rows = tuple[list[int], list[list[Any]]]  # line numbers, cells


@dataclass
class PlainCsv:
    """CSV without a single quote character: a line is a row and the delimiter splits it.
    Lines stay bytes until they are checked, so a re-import hashes them as read and
    decodes only the rows it still has to check."""

    raw: list[bytes]  # lines, without line breaks
    delimiter: str

    def rows(self, start: int = 0, stop: int | None = None) -> Rows:
        lines = [line.decode() for line in self.raw[start:stop]]
        return list(range(start + 1, start + len(lines) + 1)), [line.split(self.delimiter) for line in lines]

    def has_blank(self, start: int, width: int) -> bool:
        """Whether some line from start on is empty or holds only delimiters."""
        body = self.raw[start:]
        return not body or b"" in body or (self.delimiter * (width - 1)).encode() in body


def split_columns(text: str, delimiter: str, width: int) -> list[list[str]]:
    """Lines (joined with "\\n") cut into `width` columns. When every line has exactly that
    many cells (the usual export) it is one replace, one split and slicing, all at C speed;
    otherwise each line is padded or cut to the header's width."""
    if not text:
        return [[] for _ in range(width)]
    lines = text.split("\n")
    counts = list(map(methodcaller("count", delimiter), lines))
    if min(counts) == max(counts) == width - 1:
        cells = text.replace("\n", delimiter).split(delimiter)
        return [cells[i::width] for i in range(width)]
    rows = [(line.split(delimiter) + [""] * width)[:width] for line in lines]
    return [list(column) for column in zip(*rows, strict=True)]


def _read_csv(path: Path) -> Rows | PlainCsv:
    """Unquoted lines are split directly; a line with quotes (a comma inside an address, a
    line break inside a cell) goes through the csv module, joined with its continuation
    lines while a quote is open."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    head = next((line for line in data[:65536].splitlines() if line.strip()), b"")
    delimiter = ";" if head.count(b";") > head.count(b",") else ","
    if b'"' not in data:  # decoded chunk by chunk when checked (UnicodeDecodeError then)
        raw = data.split(b"\n")
        if b"\r" in data:
            raw = list(map(methodcaller("rstrip", b"\r"), raw))
        while raw and not raw[-1].strip():
            raw.pop()  # the file's final line break
        return PlainCsv(raw, delimiter)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryFileError("registry.error.not_utf8", file=path.name) from None
    lines = (text.replace("\r\n", "\n") if "\r" in text else text).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
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


READERS: dict[str, Callable[[Path], Rows | PlainCsv]] = {
    ".csv": _read_csv, ".txt": _read_csv, ".xlsx": _read_xlsx, ".xlsm": _read_xlsx,
}


def read_table(path: Path) -> Rows | PlainCsv:
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


def _usable(layout: Layout, numbers: list[int], rows: list[list[Any]]) -> tuple[list[int], list[list[Any]]]:
    """Drop blank rows and pad short ones (a spreadsheet's trailing empty cells)."""
    width = max(layout.index.values()) + 1
    name_at = layout.index["full_name"]
    if min(map(len, rows), default=width) >= width and all(map(itemgetter(name_at), rows)):
        return numbers, rows  # the usual case, checked at C speed
    keep = [i for i, r in enumerate(rows) if len(r) > name_at and r[name_at] or not _blank(r)]
    return [numbers[i] for i in keep], [_pad(rows[i], width) for i in keep]


def _pad(row: list[Any], width: int) -> list[Any]:
    return row if len(row) >= width else row + [""] * (width - len(row))


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """A million rows are millions of lists and tuples, none of them in a cycle: without
    this, Python's cycle collector re-scans them all again and again (quadratic time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


SOURCE_VERSION = b"1"  # bump when checking rules change, so no earlier import is trusted

Column = Callable[[str], list]  # field name → that field's cells, one per row ("" if absent)


@dataclass
class LineChunk:
    """Some lines of a plain CSV, still bytes: decoded, cut into columns and hashed where
    they are checked (possibly another process), all at C speed."""

    layout: Layout
    lines: list[int]
    body: bytes  # the rows' lines joined with b"\n"
    delimiter: str
    width: int
    prefix: bytes  # see _hashes

    def cells(self) -> Column:
        columns = split_columns(self.body.decode(), self.delimiter, self.width)
        empty = [""] * len(self.lines)

        def column(name: str) -> list:
            if name == "import_source":
                return _hashes(self.prefix, self.body.split(b"\n"))
            return columns[self.layout.index[name]] if name in self.layout.index else empty
        return column


@dataclass
class RowChunk:
    """Rows already split into cells (a spreadsheet, or a CSV with quotes), hashed."""

    layout: Layout
    lines: list[int]
    rows: list[list[Any]]
    sources: list[bytes]

    def cells(self) -> Column:
        def column(name: str) -> list:
            if name == "import_source":
                return self.sources
            i = self.layout.index.get(name)
            return list(map(itemgetter(i), self.rows)) if i is not None else [""] * len(self.rows)
        return column


Chunk = LineChunk | RowChunk


@dataclass
class Parsed:
    """A file read and its header found. Each body row has a line number and a source: a
    16-byte hash of the row's cells with the header and the --ward given, so a re-import
    can tell the rows it has already applied without checking them again."""

    layout: Layout
    lines: list[int]
    hash_all: Callable[[], list[bytes]]
    chunk: Callable[[Sequence[int]], Chunk]  # positions → those rows, ready to check

    @cached_property
    def sources(self) -> list[bytes]:
        """Computed only when the registry has rows to compare with."""
        return self.hash_all()

    def chunks(self, positions: Sequence[int] | None, size: int) -> list[Chunk]:
        """The rows at these positions (None: all), in pieces of at most `size` rows."""
        positions = range(len(self.lines)) if positions is None else positions
        return [self.chunk(positions[i : i + size]) for i in range(0, len(positions), size)]

    def split(self, known: set[bytes]) -> tuple[list[int] | None, dict[bytes, int], list[Rejection]]:
        """(positions still to check, None for all; {source: line} of the rows already
        applied; later copies of those rows)."""
        if not known:
            return None, {}, []
        sources = self.sources
        if known.isdisjoint(sources):
            return None, {}, []
        check = [] if known.issuperset(sources) else [i for i, s in enumerate(sources) if s not in known]
        if len(set(sources)) == len(sources):  # the usual case: no row twice, all at C speed
            pairs = zip(sources, self.lines, strict=True)
            return check, dict(pairs) if not check else {s: n for s, n in pairs if s in known}, []
        applied: dict[bytes, int] = {}
        repeats = []
        for source, line in zip(sources, self.lines, strict=True):
            if source in known:
                if source in applied:
                    repeats.append(Rejection(line, "", "duplicate", {"other": applied[source]}))
                else:
                    applied[source] = line
        return check, applied, repeats


def _hashes(prefix: bytes, rows: Iterable[bytes]) -> list[bytes]:
    """MD5 of (prefix + row) for each row, through map() so it stays at C speed. Not for
    secrecy: a 128-bit name for a row, so a changed row is never mistaken for one already
    applied. The prefix is the SHA-256 of the file's signature (see _signature)."""
    return list(map(methodcaller("digest"), map(hashlib.md5, map(prefix.__add__, rows))))


def _signature(*parts: bytes) -> bytes:
    """What makes two equal rows mean the same: checking rules, header, --ward."""
    return hashlib.sha256(b"\x1e".join((SOURCE_VERSION, *parts))).digest()


def parse_file(path: Path, default_ward: str | None) -> Parsed:
    """Read the file and find its header (RegistryFileError when it cannot be used)."""
    with no_gc_pauses():
        return _parse(path, default_ward)


def _parse(path: Path, default_ward: str | None) -> Parsed:
    source = read_table(path)
    ward = (default_ward or "").encode()
    if isinstance(source, PlainCsv):
        numbers, rows = source.rows(stop=HEADER_SEARCH_ROWS * 10)
        header, layout = find_layout(rows, ward_given=bool(default_ward))
        width = len(rows[header])
        prefix = _signature(source.raw[header], ward)
        if not source.has_blank(header + 1, width):
            body = source.raw[header + 1 :]
            first = header + 2  # line numbers count from 1, and the header is one line

            def line_chunk(positions: Sequence[int]) -> LineChunk:
                if isinstance(positions, range):  # a slice of the file: no per-line work
                    lines = list(range(first + positions.start, first + positions.stop))
                    picked = b"\n".join(body[positions.start : positions.stop])
                else:
                    lines = [p + first for p in positions]
                    picked = b"\n".join(map(body.__getitem__, positions))
                return LineChunk(layout, lines, picked, source.delimiter, width, prefix)

            return Parsed(layout, list(range(first, first + len(body))), lambda: _hashes(prefix, body), line_chunk)
        numbers, rows = source.rows(header + 1)
    else:
        numbers, rows = source
        header, layout = find_layout(rows, ward_given=bool(default_ward))
        prefix = _signature(repr(rows[header]).encode(), ward)
        numbers, rows = numbers[header + 1 :], rows[header + 1 :]
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            rows = _spreadsheet_cells(rows, layout)
    numbers, rows = _usable(layout, numbers, rows)
    hashes = _hashes(prefix, (repr(r).encode() for r in rows))

    def row_chunk(positions: Sequence[int]) -> RowChunk:
        return RowChunk(layout, [numbers[p] for p in positions], [rows[p] for p in positions],
                        [hashes[p] for p in positions])

    return Parsed(layout, numbers, lambda: hashes, row_chunk)
