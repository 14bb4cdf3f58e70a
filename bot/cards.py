"""Printed cards: A4 sheets of 8 cards (2 × 4) with cut marks, or one PNG/SVG per card.

Each card carries a QR code of the bot's deep link with the resident's code, the code in
large print, name, birth year, ward, and three lines of instructions in Vietnamese.

Building QR codes is most of the work, so worker processes (one per core) build them and
hand back ready-made PDF path operators; the parent lays out the pages meanwhile.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import segno

from locales import t
from storage.registry_rows import MessageError

if TYPE_CHECKING:  # workers import this module: rich is the parent's business
    from bot.progress import Bar as Progress

# Page and card geometry, millimetres. 95 × 68 mm cards fill A4 with 10/12.5 mm margins.
PAGE_W, PAGE_H = 210.0, 297.0
COLS, ROWS = 2, 4
CARD_W, CARD_H = 95.0, 68.0
MARGIN_X = (PAGE_W - COLS * CARD_W) / 2
MARGIN_Y = (PAGE_H - ROWS * CARD_H) / 2
PER_PAGE = COLS * ROWS
QR_X, QR_Y, QR_MM = 4.0, 9.0, 36.0  # within the card; white card edge is the quiet zone
TEXT_X = QR_X + QR_MM + 3.0
TEXT_W = CARD_W - TEXT_X - 4.0
PT = 72 / 25.4  # points per millimetre
CARD_LOCALE = "vi"  # the cards are for residents: always Vietnamese
SMALL_RUN = 64  # fewer cards than this are made in-process: a pool costs more than it saves
PNG_DPI = 300


@dataclass(frozen=True)
class Line:
    key: str
    x: float  # mm from the card's left edge
    y: float  # baseline, mm from the card's top edge
    size: float  # pt, shrunk when the text is too wide
    width: float  # mm available
    bold: bool = False
    grey: bool = False


LAYOUT = (
    Line("step1", QR_X, 52.5, 8, CARD_W - 8),
    Line("step2", QR_X, 57.1, 8, CARD_W - 8),
    Line("step3", QR_X, 61.7, 8, CARD_W - 8),
    Line("born", TEXT_X, 33.0, 9, TEXT_W),
    Line("place", TEXT_X, 39.0, 9, TEXT_W),
    Line("title", QR_X, 6.0, 8, CARD_W - 8, bold=True, grey=True),
    Line("name", TEXT_X, 27.0, 11, TEXT_W, bold=True),
    Line("code", TEXT_X, 17.0, 14, TEXT_W, bold=True),
)
GREY = 90

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


class CardsError(MessageError):
    """No font, or no bot username: cards cannot be made."""


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    code: str
    full_name: str
    birth_year: int
    ward: str
    quarter: str | None
    group_name: str | None
    link: str


def deep_link(bot_username: str, code: str) -> str:
    """t.me link that opens the bot with /start <code>; the payload is 14 of A-Z 0-9."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


@cache
def find_fonts() -> tuple[Path, Path]:
    """(regular, bold) TTF with Vietnamese letters: the packaged Be Vietnam Pro, else the
    system's DejaVu Sans."""
    try:
        import fontpkg_be_vietnam_pro as bvp  # noqa: PLC0415

        files = bvp.ROOT / "files"
        regular, bold = files / "BeVietnamPro-Regular.ttf", files / "BeVietnamPro-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    except ImportError:
        pass
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise CardsError("registry.error.no_font")


# ---------------------------------------------------------------- QR codes (worker side)

_DARK_RUNS = re.compile(b"\x01+")


def qr_matrix(link: str) -> tuple[bytes, ...]:
    """Rows of the symbol (no quiet zone), 1 = dark. segno takes the smallest version and
    then the strongest error correction that still fits it (3-L or better for our links):
    a larger symbol would print smaller modules in the same 36 mm."""
    return tuple(bytes(row) for row in segno.make(link, micro=False).matrix)


def dark_runs(rows: tuple[bytes, ...]) -> list[tuple[int, int, int]]:
    """(x, y, length) of each horizontal run of dark modules."""
    return [(m.start(), y, m.end() - m.start()) for y, row in enumerate(rows) for m in _DARK_RUNS.finditer(row)]


def qr_path(link: str) -> tuple[int, str]:
    """(modules per side, PDF path of the dark modules in module units, y downwards):
    one rectangle per run, filled once."""
    rows = qr_matrix(link)
    return len(rows), " ".join(f"{x} {y} {w} 1 re" for x, y, w in dark_runs(rows)) + " f"


def qr_paths(links: list[str]) -> list[tuple[int, str]]:
    return [qr_path(link) for link in links]


# ---------------------------------------------------------------- card text


def card_lines(card: Card) -> dict[str, str]:
    place = " · ".join(p for p in (card.ward, card.quarter, card.group_name) if p)
    return {
        "title": t(CARD_LOCALE, "registry.cards.title"),
        "code": display_code(card.code),
        "name": card.full_name,
        "born": t(CARD_LOCALE, "registry.cards.born", year=card.birth_year),
        "place": place,
        **{f"step{i}": t(CARD_LOCALE, f"registry.cards.step{i}") for i in (1, 2, 3)},
    }


def display_code(code: str) -> str:
    from dialogs.codes import display  # noqa: PLC0415

    return display(code)


# ---------------------------------------------------------------- PDF


class Sheets:
    """An fpdf2 document of A4 pages, eight cards each, with cut marks."""

    def __init__(self):
        from fpdf import FPDF  # noqa: PLC0415

        regular, bold = find_fonts()
        self.pdf = FPDF(unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margin(0)
        self.pdf.add_font("card", "", str(regular))
        self.pdf.add_font("card", "B", str(bold))
        self.count = 0

    def add(self, card: Card, qr: tuple[int, str]) -> None:
        slot = self.count % PER_PAGE
        if slot == 0:
            self.pdf.add_page()
            self._cut_marks()
        x = MARGIN_X + (slot % COLS) * CARD_W
        y = MARGIN_Y + (slot // COLS) * CARD_H
        self._qr(x + QR_X, y + QR_Y, qr)
        self._text(x, y, card_lines(card))
        self.count += 1

    def _qr(self, x: float, y: float, qr: tuple[int, str]) -> None:
        # fpdf2 has no public call for a prebuilt path; one raw operator string per code is
        # ~50x faster than a rect() per run. Scale modules to mm, flip y to PDF's upwards axis.
        size, path = qr
        m = QR_MM / size * PT
        self.pdf._out(f"q 0 g {m:.4f} 0 0 {-m:.4f} {x * PT:.2f} {(PAGE_H - y) * PT:.2f} cm {path} Q")

    def _text(self, x: float, y: float, lines: dict) -> None:
        pdf = self.pdf
        for line in LAYOUT:  # ordered so that consecutive lines mostly share a font
            text = lines[line.key]
            pdf.set_text_color(GREY if line.grey else 0)
            pdf.set_font("card", "B" if line.bold else "", line_size(line, text))
            pdf.text(x + line.x, y + line.y, text)

    def _cut_marks(self) -> None:
        pdf = self.pdf
        pdf.set_draw_color(0)
        pdf.set_line_width(0.2)
        gap, length = 2.0, 6.0  # marks stop short of the cards so none shows after cutting
        for i in range(COLS + 1):
            x = MARGIN_X + i * CARD_W
            pdf.line(x, MARGIN_Y - gap - length, x, MARGIN_Y - gap)
            pdf.line(x, PAGE_H - MARGIN_Y + gap, x, PAGE_H - MARGIN_Y + gap + length)
        for j in range(ROWS + 1):
            y = MARGIN_Y + j * CARD_H
            pdf.line(MARGIN_X - gap - length, y, MARGIN_X - gap, y)
            pdf.line(PAGE_W - MARGIN_X + gap, y, PAGE_W - MARGIN_X + gap + length, y)

    def save(self, out: Path) -> None:
        self.pdf.output(str(out))


# ---------------------------------------------------------------- PNG and SVG (worker side)


def card_svg(card: Card) -> str:
    rows = qr_matrix(card.link)
    path = "".join(f"M{x} {y}h{w}v1h-{w}z" for x, y, w in dark_runs(rows))
    lines = card_lines(card)

    def text(line: Line) -> str:
        s = lines[line.key]
        size = line_size(line, s)
        weight = ' font-weight="bold"' if line.bold else ""
        fill = f' fill="#{GREY:02x}{GREY:02x}{GREY:02x}"' if line.grey else ""
        return f'<text x="{line.x:.2f}" y="{line.y:.2f}" font-size="{size / PT:.3f}"{weight}{fill}>{escape(s)}</text>'

    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CARD_W}mm" height="{CARD_H}mm" '
        f'viewBox="0 0 {CARD_W} {CARD_H}">',
        f'<rect width="{CARD_W}" height="{CARD_H}" fill="#fff"/>',
        f'<path transform="translate({QR_X} {QR_Y}) scale({QR_MM / len(rows):.5f})" d="{path}"/>',
        """<g font-family="'Be Vietnam Pro', 'DejaVu Sans', sans-serif">""",
        *map(text, LAYOUT),
        "</g></svg>",
    ])


def line_size(line: Line, text: str) -> float:
    if line.key == "code":  # unique on every card: measured from cached letter widths
        return _code_size(text, line.size, line.width)
    return fitted_size(text, line.size, line.width, line.bold)


@cache
def _letter_widths() -> dict[str, float]:
    """mm per pt of each character a grouped code can hold, in the bold card font."""
    from dialogs.codes import ALPHABET  # noqa: PLC0415

    font = _png_font(100, True)
    return {c: font.getlength(c) / 100 / PT for c in ALPHABET + "-"}


def _code_size(code: str, size_pt: float, width_mm: float) -> float:
    widths = _letter_widths()
    per_pt = sum(widths[c] for c in code)
    while size_pt > 5.5 and per_pt * size_pt > width_mm:
        size_pt -= 0.5
    return size_pt


@lru_cache(maxsize=4096)  # the same instructions, years and places recur on every card
def fitted_size(text: str, size_pt: float, width_mm: float, bold: bool = False) -> float:
    """The largest size (at most size_pt, at least 5.5 pt, in half points) at which the
    text fits the width, measured with the card font."""
    per_pt = _png_font(100, bold).getlength(text) / 100 / PT  # mm at 1 pt
    while size_pt > 5.5 and per_pt * size_pt > width_mm:
        size_pt -= 0.5
    return size_pt


@cache
def _png_font(size_px: int, bold: bool):
    from PIL import ImageFont  # noqa: PLC0415

    regular, heavy = find_fonts()
    return ImageFont.truetype(str(heavy if bold else regular), size_px)


STATIC = frozenset({"title", "step1", "step2", "step3"})  # the same on every card


def _draw_lines(image, lines: dict[str, str], keys: Iterable[str], dpi: int) -> None:
    from PIL import ImageDraw  # noqa: PLC0415

    px = dpi / 25.4
    draw = ImageDraw.Draw(image)
    for line in LAYOUT:
        if line.key in keys:
            s = lines[line.key]
            font = _png_font(round(line_size(line, s) * px / PT), line.bold)
            draw.text((line.x * px, line.y * px), s, font=font, fill=GREY if line.grey else 0, anchor="ls")


@cache
def _png_blank(dpi: int):
    """A white card with the lines every card shares: drawing text is most of a PNG card's
    cost, so those are drawn once per process."""
    from PIL import Image  # noqa: PLC0415

    px = dpi / 25.4
    image = Image.new("L", (round(CARD_W * px), round(CARD_H * px)), 255)
    sample = Card(0, "0" * 14, "", 0, "", None, None, "")
    _draw_lines(image, card_lines(sample), STATIC, dpi)
    return image


def card_png(card: Card, dpi: int = PNG_DPI):
    """The card as a greyscale PIL image, laid out like the PDF."""
    from PIL import Image  # noqa: PLC0415

    px = dpi / 25.4
    image = _png_blank(dpi).copy()
    rows = qr_matrix(card.link)
    symbol = Image.frombytes("L", (len(rows), len(rows)), b"".join(rows).translate(_INK))
    side = round(QR_MM * px)
    image.paste(symbol.resize((side, side), Image.NEAREST), (round(QR_X * px), round(QR_Y * px)))
    _draw_lines(image, card_lines(card), {line.key for line in LAYOUT} - STATIC, dpi)
    return image


_INK = bytes([255, 0]) + bytes(254)  # matrix 0 → white, 1 → black


def write_card_files(batch: list[tuple[str, Card]], fmt: str) -> int:
    """Write each card of the batch to its path; runs in a worker."""
    for path, card in batch:
        if fmt == "svg":
            Path(path).write_text(card_svg(card), encoding="utf-8")
        else:
            card_png(card).save(path, dpi=(PNG_DPI, PNG_DPI), compress_level=1)
    return len(batch)


# ---------------------------------------------------------------- running


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _pool(workers: int | None) -> ProcessPoolExecutor:
    # spawn, not fork: the parent holds database connections and an event loop
    return ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=get_context("spawn"))


def make_pdf(cards: list[Card], out: Path, workers: int | None = None, progress: Progress | None = None) -> None:
    # fontTools logs every subset at INFO, listing the glyphs the residents' names use
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    sheets = Sheets()
    links = [c.link for c in cards]
    if len(cards) < SMALL_RUN:
        paths: Iterable[list] = (qr_paths(links),)
        pool = None
    else:
        pool = _pool(workers)
        paths = pool.map(qr_paths, _batches(links, 32))
    try:
        position = 0
        for batch in paths:
            for qr in batch:
                sheets.add(cards[position], qr)
                position += 1
            if progress:
                progress.advance(len(batch))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    sheets.save(out)


def make_files(cards: list[Card], out_dir: Path, fmt: str, workers: int | None = None,
               progress: Progress | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{n:05d}_{c.id}.{fmt}" for n, c in enumerate(cards, start=1)]
    jobs = list(_batches([(str(p), c) for p, c in zip(paths, cards, strict=True)], 16))
    if len(cards) < SMALL_RUN:
        done: Iterable[int] = map(write_card_files, jobs, [fmt] * len(jobs))
        pool = None
    else:
        pool = _pool(workers)
        done = pool.map(write_card_files, jobs, [fmt] * len(jobs))
    try:
        for n in done:
            if progress:
                progress.advance(n)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return paths
