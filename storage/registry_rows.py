"""Reading a registry file (CSV, XLSX or XLS): its header, its rows, and each row's source hash.

What a file is comes from its first bytes, not its name: an empty file, a picture, or a
CSV renamed .xlsx is refused with one line saying so. Text files may be UTF-8 (with or
without a byte-order mark), UTF-16 (Excel's "Unicode text") or Windows-1258, separated by
commas, semicolons or tabs.

A UTF-8 CSV without quotes stays bytes: its header is found, its body cut into spans of
whole lines, and each span is read, decoded, hashed and cut into columns where it is
checked, at C speed. Anything else goes through the csv module, openpyxl or xlrd.
Checking the cells is storage.registry_check.
"""

from __future__ import annotations

import codecs
import csv
import gc
import hashlib
import io
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

# Header names as ward spreadsheets write them (Vietnamese, abbreviations, English), after
# fold_header. "Năm sinh" is a birth-date column holding years.
SYNONYMS = {
    # not "Tên" alone: sheets that split "Họ và tên đệm" / "Tên" would import given names only
    "full_name": ("ho_ten", "ho_va_ten", "ho_ten_nguoi_dan", "full_name", "name", "full_names", "resident_name"),
    "birth_date": ("ngay_sinh", "ngay_thang_nam_sinh", "nam_sinh", "ns", "sinh_ngay", "birth_date",
                   "date_of_birth", "dob", "birthday", "year_of_birth", "birth_year", "born"),
    "sex": ("gioi_tinh", "gioi", "phai", "nam_nu", "sex", "gender"),
    "insurance_code": ("ma_bhyt", "ma_the_bhyt", "so_the_bhyt", "the_bhyt", "so_bhyt", "bhyt", "ma_so_bhxh",
                       "so_bhxh", "ma_bhxh", "insurance_code", "insurance", "insurance_number",
                       "health_insurance", "health_insurance_number"),
    "citizen_id": ("cccd", "so_cccd", "cmnd", "so_cmnd", "cmnd_cccd", "so_cmnd_cccd", "so_cccd_cmnd", "cccd_cmnd",
                   "so_dinh_danh", "so_dinh_danh_ca_nhan", "ma_dinh_danh", "citizen_id", "id_number",
                   "national_id", "identity_card"),
    "phone": ("so_dien_thoai", "dien_thoai", "sdt", "so_dt", "dt", "di_dong", "so_di_dong", "phone",
              "phone_number", "mobile", "telephone", "tel"),
    "address": ("dia_chi", "dia_chi_thuong_tru", "dia_chi_thuong_chu", "noi_o", "noi_o_hien_nay",
                "noi_o_hien_tai", "dia_chi_tam_tru", "cho_o", "address", "home_address"),
    "group_name": ("to_dan_pho", "to", "to_dp", "tdp", "so_to", "group", "group_name", "residential_group"),
    "quarter": ("khu_pho", "kp", "khu", "ap", "thon", "quarter", "neighbourhood", "neighborhood"),
    "ward": ("phuong", "phuong_xa", "xa", "xa_phuong", "phuong_xa_thi_tran", "ward", "commune"),
}
HEADERS = {name: field_ for field_, names in SYNONYMS.items() for name in names}
# Columns every ward sheet has that we have no use for: ignored without complaint.
NOT_FOR_US = {"stt", "tt", "so_thu_tu", "no", "ghi_chu", "note", "notes", "chu_thich"}
# The name a field goes by in messages when the file's own header is not known.
COLUMN_NAMES = {
    "full_name": "ho_ten", "birth_date": "ngay_sinh", "sex": "gioi_tinh",
    "insurance_code": "ma_bhyt", "citizen_id": "cccd", "phone": "so_dien_thoai",
    "address": "dia_chi", "group_name": "to_dan_pho", "quarter": "khu_pho", "ward": "phuong",
}
HEADER_SEARCH_ROWS = 20  # ward spreadsheets often have a title block above the header
DATE_SAMPLE_LINES = 5000  # of a large CSV, read to guess the order of day and month
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
    unknown_columns: list[str] = field(default_factory=list)  # of those, the ones not recognised
    committed: bool = False
    stopped: str | None = None  # why nothing was imported: "strict", "too_many", "dry_run"
    rows: int = 0  # body rows read (blank ones included)
    date_order: str = "dmy"  # how d/m/yyyy dates were read: dmy, mdy, or either (see registry_check)
    date_evidence: set[str] = field(default_factory=set)
    changes: list = field(default_factory=list)  # dry run: the first changed residents, field by field
    missing: list = field(default_factory=list)  # dry run: the first residents not in the file
    missing_count: int = 0


@dataclass(frozen=True)
class Layout:
    """Where each field is in a row, and the header text that names it in messages."""

    index: dict[str, int]
    names: dict[str, str]
    ignored: list[str]  # every column not read, as written in the file
    unknown: list[str] = field(default_factory=list)  # of those, the ones we do not recognise

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
    """Unquoted UTF-8 lines are split directly; a line with quotes (a comma inside an
    address, a line break inside a cell), or a file in another encoding, goes through the
    csv module, joined with its continuation lines while a quote is open."""
    stat = path.stat()
    data = path.read_bytes()
    encoding, start = _encoding(data, path)
    if encoding == "utf-8":
        delimiter = _delimiter(data[start : start + 65536].decode("utf-8", "replace"))
        if b'"' not in data:  # decoded span by span when checked (UnicodeDecodeError then)
            return PlainCsv(path, (stat.st_size, stat.st_mtime_ns), data, delimiter, start)
        try:
            text = data[start:].decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryFileError("registry.error.not_utf8", file=path.name) from None
    else:
        try:
            text = unicodedata.normalize("NFC", data[start:].decode(encoding))
        except UnicodeDecodeError:
            raise RegistryFileError("registry.error.encoding", file=path.name) from None
        delimiter = _delimiter(text[:65536])
    return _text_rows(text, delimiter)


def _encoding(data: bytes, path: Path) -> tuple[str, int]:
    """(encoding, where the text starts): by byte-order mark, else UTF-16 by its zero
    bytes, else UTF-8 when the start of the file decodes as UTF-8, else Windows-1258
    (Vietnamese Windows) unless the bytes look like UTF-8 with a few broken bytes."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return name, len(bom)
    head = data[:65536]
    if head.count(0) > len(head) // 4:  # ASCII in UTF-16 is every other byte zero
        return ("utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"), 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) == len(data))
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    high = sum(1 for b in head if b >= 0x80)
    utf8_like = len(_UTF8_SEQUENCE.findall(head))
    if utf8_like * 3 >= high:  # mostly well-formed UTF-8: a damaged UTF-8 file, not 1258
        raise RegistryFileError("registry.error.not_utf8", file=path.name)
    return "cp1258", 0


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")


def _delimiter(head: str) -> str:
    """The separator the header block uses most on one line: tab, semicolon or comma."""
    lines = [line for line in head.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    counts = {d: max((line.count(d) for line in lines), default=0) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _text_rows(text: str, delimiter: str) -> Rows:
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


def _read_xls(path: Path) -> Rows:
    """Excel 97–2003 workbooks, with xlrd (which reads .xls only): dates as dates, numbers
    as numbers, as openpyxl gives them for .xlsx."""
    import xlrd  # noqa: PLC0415

    try:  # its warnings would go to stdout: kept apart
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())
    except Exception as e:  # noqa: BLE001 - xlrd raises many kinds (CompDocError, struct.error…) on a damaged file
        raise RegistryFileError("registry.error.bad_xlsx", file=path.name, detail=type(e).__name__) from None
    try:
        sheet = book.sheet_by_index(0)
        rows = []
        for r in range(sheet.nrows):
            cells: list[Any] = []
            for cell in sheet.row(r):
                if cell.ctype == xlrd.XL_CELL_DATE:
                    try:
                        cells.append(xlrd.xldate_as_datetime(cell.value, book.datemode))
                    except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                        cells.append(cell.value)
                elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    cells.append(None)
                elif cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
                    cells.append(int(cell.value))
                else:
                    cells.append(cell.value)
            rows.append(cells)
    finally:
        book.release_resources()
    return list(range(1, len(rows) + 1)), rows


# What a file's first bytes say it is. Text (anything else) is read as CSV.
MAGIC = (
    (b"PK\x03\x04", "xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"Rar!", "rar"),
    (b"7z\xbc\xaf", "7z"),
)
READERS: dict[str, Callable[[Path], Rows | PlainCsv]] = {"csv": _read_csv, "xlsx": _read_xlsx, "xls": _read_xls}
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls"}
SPREADSHEETS = ("xlsx", "xls")


def kind_of(path: Path) -> str:
    """What the file is by its first bytes: csv, xlsx, xls, or png, pdf… (not a table)."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise RegistryFileError("registry.error.empty", file=path.name)
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), "csv")


def read_table(path: Path) -> tuple[str, Rows | PlainCsv]:
    """(what the file is, every row of it with its line number, header included)."""
    if not path.is_file():
        raise RegistryFileError("registry.error.no_file", file=str(path))
    named = SUFFIXES.get(path.suffix.lower())
    if named is None:
        raise RegistryFileError("registry.error.format", file=path.name, suffix=path.suffix or "-")
    kind = kind_of(path)
    if kind not in READERS:
        raise RegistryFileError("registry.error.not_a_table", file=path.name, kind=kind.upper())
    if kind != named:  # a CSV saved as .xlsx, an .xls renamed .xlsx: the name would mislead
        raise RegistryFileError(f"registry.error.is_{kind}", file=path.name, suffix=path.suffix)
    return kind, READERS[kind](path)


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
    unknown: list[str] = []
    for i, (cell, name) in enumerate(zip(cells, fields, strict=True)):
        text = str(cell).strip() if cell is not None else ""
        if name is None or name in index:
            if text:
                ignored.append(text)
                if name is None and fold_header(text) not in NOT_FOR_US:
                    unknown.append(text)
            continue
        index[name] = i
        names[name] = text
    for name in ("full_name", "birth_date"):
        if name not in index:
            raise RegistryFileError("registry.error.missing_column", column=COLUMN_NAMES[name])
    if "ward" not in index and not ward_given:
        raise RegistryFileError("registry.error.missing_ward")
    return Layout(index, names, ignored, unknown)


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
    dates: list[Any] = field(default_factory=list)  # birth cells (all, or the first lines) to
    # guess the order of day and month before checking; the check confirms it on every row

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
    kind, source = read_table(path)
    ward = (default_ward or "").encode()
    if isinstance(source, PlainCsv):
        return _plain(source, ward)
    numbers, rows = source
    header, layout = find_layout(rows, ward_given=bool(default_ward))
    prefix = _signature(repr(rows[header]).encode(), ward)
    numbers, rows = numbers[header + 1 :], rows[header + 1 :]
    if kind in SPREADSHEETS:
        rows = _spreadsheet_cells(rows, layout)
    numbers, rows = _usable(layout, numbers, rows)
    hashes = _hashes(prefix, (repr(r).encode() for r in rows))
    dates = list(set(map(itemgetter(layout.index["birth_date"]), rows)))

    def row_chunk(positions: Sequence[int]) -> RowChunk:
        return RowChunk(layout, [numbers[p] for p in positions], [rows[p] for p in positions],
                        [hashes[p] for p in positions])

    return Parsed(layout, lambda: numbers, lambda: hashes, row_chunk, dates=dates)


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

    birth = layout.index["birth_date"]
    sample = [line.decode("utf-8", "replace").split(source.delimiter) for line in source.head(DATE_SAMPLE_LINES)]
    dates = list({cells[birth] for cells in sample[header + 1 :] if len(cells) > birth})
    return Parsed(layout, lambda: range(first, first + count), lambda: _hashes(prefix, lines_of()), line_chunk, spans,
                  dates)
