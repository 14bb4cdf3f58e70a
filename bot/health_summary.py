"""The one-page health-book summary (PDF) a resident gets with /dulieucuatoi, and that ward
staff can print: who they are, and what their latest declaration says, in their language.

Made from the dossier (storage/privacy.py) with fpdf2 and the font of the printed cards
(bot/cards.py: Be Vietnam Pro, which has every Vietnamese letter). Long answers are cut
to their line so the page never overflows: it is always exactly one A4 page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from dialogs import codes
from dialogs.privacy import _answer, _label
from dialogs.questionnaire import QUESTIONS, num
from locales import t

PAGE_W, MARGIN = 210.0, 18.0
LABEL_W = 58.0
ROW_H = 7.2
PERSON = ("full_name", "birth_date", "sex", "code", "citizen_id", "insurance_code", "phone", "address",
          "group_name", "quarter", "ward")
NOT_HEALTH = {"identity", "full_name", "birth_date", "sex", "phone", "address", "insurance"}


class HealthSummaries:
    """dialogs.ports.Documents: documents whose layout is the bot's business."""

    def __init__(self, station: str):
        self.station = station

    def health_summary(self, dossier: dict[str, Any], locale: str) -> bytes:
        return health_summary(dossier, locale, self.station)


def _day(v: Any) -> str:
    if isinstance(v, datetime | date):
        return v.strftime("%d/%m/%Y")
    return str(v)


def _person_rows(r: dict[str, Any], locale: str) -> list[tuple[str, str]]:
    rows = []
    for key in PERSON:
        v = r.get(key)
        if key == "birth_date" and v is None:
            key, v = "birth_year", r.get("birth_year")
        if v in (None, ""):
            continue
        if key == "sex":
            v = t(locale, f"privacy.doc.sex.{v}") if v in ("M", "F") else v
        elif key == "code":
            v = codes.display(v)
        elif key == "phone":
            v = _answer(locale, "phone", v)
        rows.append((t(locale, f"privacy.doc.f.{key}"), _day(v)))
    return rows


def _health_rows(d: dict[str, Any], locale: str) -> list[tuple[str, str]]:
    a = d["answers"]
    rows = []
    for q in QUESTIONS:
        if q.key in NOT_HEALTH or q.key not in a:
            continue
        rows.append((_label(locale, q.key), _answer(locale, q.key, a[q.key])))
        if q.key == "weight" and d.get("bmi") is not None:
            rows.append((t(locale, "fhir.summary.bmi"), num(float(d["bmi"]), locale)))
    return rows


def health_summary(dossier: dict[str, Any], locale: str, station: str) -> bytes:
    from fpdf import FPDF  # noqa: PLC0415 - only this document needs it

    from bot.cards import find_fonts  # noqa: PLC0415 - QR code libraries: not at every start

    regular, bold = find_fonts()
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.add_font("body", "", str(regular))
    pdf.add_font("body", "B", str(bold))
    pdf.add_page()
    width = PAGE_W - 2 * MARGIN

    def say(msg: str, **vars: Any) -> str:
        return t(locale, "fhir.summary." + msg, **vars)

    def line(text: str, size: float, style: str = "", h: float = ROW_H, align: str = "L") -> None:
        pdf.set_font("body", style, size)
        pdf.cell(width, h, _fit(pdf, text, width), align=align, new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_fill_color(230, 236, 242)
        pdf.set_font("body", "B", 11)
        pdf.cell(width, 8, _fit(pdf, text, width), fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def rows(items: list[tuple[str, str]], limit_y: float) -> None:
        for label, value in items:
            if pdf.get_y() + ROW_H > limit_y:  # one page, always: the rest is in the other files
                line(say("more"), 9, h=ROW_H)
                return
            pdf.set_font("body", "", 10)
            pdf.cell(LABEL_W, ROW_H, _fit(pdf, label, LABEL_W - 2))
            pdf.set_font("body", "B", 10)
            pdf.cell(width - LABEL_W, ROW_H, _fit(pdf, value, width - LABEL_W), new_x="LMARGIN", new_y="NEXT")
            pdf.set_draw_color(215, 215, 215)
            pdf.line(MARGIN, pdf.get_y(), MARGIN + width, pdf.get_y())

    line(station.upper(), 10, "B", h=6, align="C")
    line(say("title"), 17, "B", h=11, align="C")
    r = dossier["resident"]
    line(r["full_name"], 13, "", h=8, align="C")
    heading(say("person"))
    rows(_person_rows(r, locale), 150)
    declared = dossier["declarations"]
    if declared:
        latest = declared[-1]
        heading(say("latest", at=_day(latest["submitted_at"]), version=latest["version"]))
        rows(_health_rows(latest, locale), 270)
    else:
        heading(say("not_declared"))
    pdf.set_y(276)
    pdf.set_font("body", "", 8)
    pdf.set_text_color(90, 90, 90)
    note = say("note", at=_day(dossier["generated_at"]))
    pdf.multi_cell(width, 4, note, align="C")
    return bytes(pdf.output())


def _fit(pdf, text: str, width: float) -> str:
    """The text, cut with an ellipsis where it would run past `width` mm."""
    text = " ".join(str(text).split())
    if pdf.get_string_width(text) <= width - 1:
        return text
    while text and pdf.get_string_width(text + "…") > width - 1:
        text = text[:-1]
    return text.rstrip() + "…"
