"""Reading a registry file (CSV or XLSX): its header, its rows, and each row's source hash.

A CSV without quotes stays bytes: its header is found, its body cut into spans of whole
lines, and each span is read, decoded, hashed and cut into columns where it is checked,
at C speed. Anything else goes through the csv module or openpyxl. Checking the cells is
storage.registry_check.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache, cached_property
from itertools import compress
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
    The file stays bytes: here only its header is found and its body cut into spans of
    whole lines; each span is read, decoded, hashed and split where it is checked."""

    path: Path
    stamp: tuple[int, int]  # size and modification time when read: the file must not change
    data: bytes
    delimiter: str
    start: int  # where the text starts (after a byte-order mark)

    def head(self, count: int) -> list[bytes]:
        """The first `count` lines (fewer if the file is shorter)."""
        end = self.start
        for _ in range(count):
            end = self.data.find(b"\n", end) + 1
            if not end:
                end = len(self.data)
                break
        return [line.rstrip(b"\r") for line in self.data[self.start : end].split(b"\n")[:count]]


class FileChangedError(Exception):
    """The file's lines moved between reading it and checking a part of it."""


def split_columns(text: str, delimiter: str, width: int) -> list[list[str]]:
    """Lines (joined with "\\n") cut into `width` columns. When every line has exactly that
    many cells (the usual export) it is one replace, one split and slicing, all at C speed;
    otherwise each line is padded or cut to the header's width."""
    if not text:
        return [[] for _ in range(width)]
    count = text.count("\n") + 1
    # Each line break becomes a delimiter and the break, so every line but the first starts
    # a cell with "\n". The lines all have `width` cells when there are count × width cells
    # and the line breaks are all in every width-th cell (a cell holds at most one).
    cells = text.replace("\n", delimiter + "\n").split(delimiter)
    if len(cells) == count * width and "".join(cells[width::width]).count("\n") == count - 1:
        return ["".join(cells[0::width]).split("\n"), *(cells[i::width] for i in range(1, width))]
    rows = [(line.split(delimiter) + [""] * width)[:width] for line in text.split("\n")]
    return [list(column) for column in zip(*rows, strict=True)]


def _read_csv(path: Path) -> Rows | PlainCsv:
    """Unquoted lines are split directly; a line with quotes (a comma inside an address, a
    line break inside a cell) goes through the csv module, joined with its continuation
    lines while a quote is open."""
    stat = path.stat()
    data = path.read_bytes()
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    head = next((line for line in data[start : start + 65536].splitlines() if line.strip()), b"")
    delimiter = ";" if head.count(b";") > head.count(b",") else ","
    if b'"' not in data:  # decoded span by span when checked (UnicodeDecodeError then)
        return PlainCsv(path, (stat.st_size, stat.st_mtime_ns), data, delimiter, start)
    data = data[start:]
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
    """Some lines of a plain CSV, still bytes: read (when given as a span of the file),
    decoded, cut into columns and hashed where they are checked, possibly in another
    process, all at C speed. Blank lines (empty, or only delimiters) are left out."""

    layout: Layout
    lines: Sequence[int]
    delimiter: str
    width: int
    prefix: bytes  # see _hashes
    body: bytes | None = None  # the lines joined with b"\n", or
    span: tuple[str, tuple[int, int], int, int] | None = None  # (path, stamp, start, end) in the file

    def cells(self) -> tuple[Sequence[int], Column]:
        body = self.body if self.body is not None else self._read()
        raw = body.split(b"\n")
        lines = self.lines
        if b"" in raw or (self.delimiter * (self.width - 1)).encode() in raw:
            blank = b" \t" + self.delimiter.encode()
            keep = [bool(line.strip(blank)) for line in raw]
            lines, raw = list(compress(lines, keep)), list(compress(raw, keep))
            body = b"\n".join(raw)
        columns = split_columns(body.decode(), self.delimiter, self.width)
        empty = [""] * len(lines)

        def column(name: str) -> list:
            if name == "import_source":
                return _hashes(self.prefix, raw)
            return columns[self.layout.index[name]] if name in self.layout.index else empty
        return lines, column

    def _read(self) -> bytes:
        path, stamp, start, end = self.span
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            f.seek(start)
            body = f.read(end - start)
        if (st.st_size, st.st_mtime_ns) != stamp or body.count(b"\n") != len(self.lines) - 1:
            raise FileChangedError(path)
        return body.replace(b"\r\n", b"\n").removesuffix(b"\r") if b"\r" in body else body


@dataclass
class RowChunk:
    """Rows already split into cells (a spreadsheet, or a CSV with quotes), hashed."""

    layout: Layout
    lines: list[int]
    rows: list[list[Any]]
    sources: list[bytes]

    def cells(self) -> tuple[Sequence[int], Column]:
        def column(name: str) -> list:
            if name == "import_source":
                return self.sources
            i = self.layout.index.get(name)
            return list(map(itemgetter(i), self.rows)) if i is not None else [""] * len(self.rows)
        return self.lines, column


Chunk = LineChunk | RowChunk


@dataclass
class Parsed:
    """A file read and its header found. Each body row has a line number and a source: a
    16-byte hash of the row's cells with the header and the --ward given, so a re-import
    can tell the rows it has already applied without checking them again."""

    layout: Layout
    all_lines: Callable[[], Sequence[int]]
    hash_all: Callable[[], list[bytes]]
    chunk: Callable[[Sequence[int]], Chunk]  # positions → those rows, ready to check
    whole: Callable[[int], list[Chunk]] | None = None  # all rows in pieces of about n, cheaply

    @cached_property
    def lines(self) -> Sequence[int]:
        return self.all_lines()

    @cached_property
    def sources(self) -> list[bytes]:
        """Computed only when the registry has rows to compare with."""
        return self.hash_all()

    def chunks(self, positions: Sequence[int] | None, size: int) -> list[Chunk]:
        """The rows at these positions (None: all), in pieces of at most `size` rows."""
        if positions is None and self.whole:
            return self.whole(size)
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
        return _plain(source, ward)
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

    return Parsed(layout, lambda: numbers, lambda: hashes, row_chunk)


def _plain(source: PlainCsv, ward: bytes) -> Parsed:
    """A plain CSV: the header from the first lines; the body stays in the file's bytes
    and is cut into spans of whole lines (split into lines here only for a re-import)."""
    head = source.head(HEADER_SEARCH_ROWS * 10)
    rows = [line.decode().split(source.delimiter) for line in head]
    header, layout = find_layout(rows, ward_given=bool(ward))
    width = len(rows[header])
    prefix = _signature(head[header], ward)
    data, path, stamp = source.data, str(source.path), source.stamp
    start = source.start
    for _ in range(header + 1):
        start = data.find(b"\n", start) + 1 or len(data)
    end = len(data)
    while end > start and data[end - 1] in b"\r\n":  # the final line break(s)
        end -= 1
    count = data.count(b"\n", start, end) + 1 if end > start else 0
    first = header + 2  # line numbers count from 1; the body starts after the header line

    def body_lines() -> list[bytes]:
        body = data[start:end]
        return (body.replace(b"\r\n", b"\n") if b"\r" in body else body).split(b"\n") if count else []

    lines_of = cache(body_lines)

    def line_chunk(positions: Sequence[int]) -> LineChunk:
        body = b"\n".join(map(lines_of().__getitem__, positions))
        return LineChunk(layout, [p + first for p in positions], source.delimiter, width, prefix, body=body)

    def spans(size: int) -> list[LineChunk]:
        step = max(1, (end - start) * size // max(count, 1))  # bytes for about `size` lines
        chunks = []
        at, line = start, first
        while at < end:
            stop = data.find(b"\n", min(at + step, end))
            stop = end if stop == -1 or stop > end else stop
            n = data.count(b"\n", at, stop) + 1
            chunks.append(LineChunk(layout, range(line, line + n), source.delimiter, width, prefix,
                                    span=(path, stamp, at, stop)))
            at, line = stop + 1, line + n
        return chunks

    return Parsed(layout, lambda: range(first, first + count), lambda: _hashes(prefix, lines_of()), line_chunk, spans)
