"""Understanding what people type: numbers with units, blood pressure, phone numbers, dates.

Every parser takes the raw text and returns a value in range or raises `Invalid` naming
the message that says what is expected (with an example). Nothing else ever escapes:
any Unicode, any length. Digits are ASCII only (`re.ASCII`), so exotic digits are refused
rather than stored.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from dialogs.text import clean, fold


class Invalid(Exception):
    """A rejected answer: `msg` is the message id telling what is expected."""

    def __init__(self, msg: str, **vars: Any):
        super().__init__(msg)
        self.msg = msg
        self.vars = vars


def _f(text: str) -> str:
    return fold(text[:400])  # nothing we parse is longer; bounds the regex work


# Words people wrap around a number: "cao khoảng 1m65", "nặng tầm 50 ký".
_FILLER = re.compile(
    r"\b(?:chieu cao|can nang|huyet ap|cao|nang|khoang|tam|chung|duoc|la|co|hien tai|"
    r"about|around|approx|height|weight|bp|is)\b",
    re.ASCII,
)
_NUM = r"[0-9]{1,4}(?:[.,][0-9]{1,2})?"


def _strip_filler(f: str) -> str:
    return re.sub(r"\s+", " ", _FILLER.sub(" ", f)).strip()


def _num(s: str) -> float:
    return float(s.replace(",", "."))  # decimal comma, the Vietnamese way


# ---------------------------------------------------------------- body measures

HEIGHT_CM = (40.0, 250.0)
WEIGHT_KG = (2.0, 300.0)

_M_CM = re.compile(r"([0-9])\s*(?:m|met)\s*([0-9]{1,2})", re.ASCII)  # 1m65, 1 met 6
_HEIGHT = re.compile(rf"({_NUM})\s*(m|met|cm|phan|centimet)?", re.ASCII)


def height(text: str) -> float:
    """'1m65', '1,65 m', '165cm', '1.65', '165' -> 165.0 (cm)."""
    f = _strip_filler(_f(text))
    cm: float | None = None
    if m := _M_CM.fullmatch(f):
        tail = m.group(2)
        cm = int(m.group(1)) * 100 + int(tail) * (10 if len(tail) == 1 else 1)  # 1m6 = 160
    elif m := _HEIGHT.fullmatch(f):
        n, unit = _num(m.group(1)), m.group(2)
        # A bare number under 3 can only be metres; "m" means metres whatever the size.
        cm = n * 100 if unit in ("m", "met") or (unit is None and n < 3) else n
    if cm is None or not HEIGHT_CM[0] <= cm <= HEIGHT_CM[1]:
        raise Invalid("err.height", example="1m65")
    return round(cm, 1)


_WEIGHT = re.compile(
    rf"({_NUM})\s*(kg|kgs|ky|ki|kilo|kilogram|can|g|gr|gam|gram)?(?:\s*(ruoi))?", re.ASCII
)


def weight(text: str) -> float:
    """'65,5', '65kg', '65 ký', '65 kí rưỡi', '3500 g' -> kg."""
    f = _strip_filler(_f(text))
    m = _WEIGHT.fullmatch(f)
    kg: float | None = None
    if m:
        n = _num(m.group(1)) + (0.5 if m.group(3) else 0)
        kg = n / 1000 if m.group(2) in ("g", "gr", "gam", "gram") else n
    if kg is None or not WEIGHT_KG[0] <= kg <= WEIGHT_KG[1]:
        raise Invalid("err.weight", example="65,5")
    return round(kg, 1)


def bmi(height_cm: float, weight_kg: float) -> float:
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def bmi_category(value: float) -> str:
    """WHO cut-offs for Asian populations (WHO expert consultation, Lancet 2004)."""
    if value < 18.5:
        return "underweight"
    if value < 23:
        return "normal"
    if value < 25:
        return "overweight"
    return "obese"


SYSTOLIC = (60, 260)
DIASTOLIC = (30, 160)
_BP = re.compile(rf"({_NUM})\s*(?:/|\\|tren|over|-|:|\s)\s*({_NUM})", re.ASCII)


def blood_pressure(text: str) -> tuple[int, int]:
    """'120/80', '120 80', '120 trên 80', '12/8' (said in cmHg: 120/80), '13,5/8,5'."""
    f = _strip_filler(_f(text))
    f = re.sub(r"\s*(?:mm\s*hg|mmhg|mm)$", "", f)
    m = _BP.fullmatch(f)
    if not m:
        raise Invalid("err.blood_pressure", example="120/80")
    sys_, dia = _num(m.group(1)), _num(m.group(2))
    if sys_ < 30 and dia < 20:  # "12/8": people say blood pressure in cmHg
        sys_, dia = sys_ * 10, dia * 10
    if sys_ != int(sys_) or dia != int(dia):
        raise Invalid("err.blood_pressure", example="120/80")
    s, d = int(sys_), int(dia)
    if not (SYSTOLIC[0] <= s <= SYSTOLIC[1] and DIASTOLIC[0] <= d <= DIASTOLIC[1] and s > d):
        raise Invalid("err.blood_pressure_range", example="120/80")
    return s, d


# ---------------------------------------------------------------- counts

_WORDS = {
    "khong": 0, "ko": 0, "k": 0, "chua": 0, "none": 0, "zero": 0,
    "mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5, "sau": 6, "bay": 7,
    "tam": 8, "chin": 9, "muoi": 10,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
}
_COUNT = re.compile(
    r"([0-9]{1,3}|[a-z]+)\s*(?:lan|con|dua|be|chau|nguoi|mui|lieu|times|kids|children|doses?)?",
    re.ASCII,
)


def count(text: str, hi: int = 20) -> int:
    """'2', 'hai', '2 lần', 'không', 'chưa có' -> 2 / 0; 0..hi."""
    f = _f(text)
    m = _COUNT.fullmatch(f)
    n = 0 if f in ("khong co", "chua co", "ko co", "k co") else None
    if m:
        word = m.group(1)
        n = int(word) if word.isdigit() else _WORDS.get(word)
    if n is None or not 0 <= n <= hi:
        raise Invalid("err.answer_count", hi=hi, example="2")
    return n


# ---------------------------------------------------------------- identity and contact


def phone(text: str) -> str:
    """A Vietnamese number, stored as +84…: '0912 345 678', '+84 912345678', '(028) 3899 0000'."""
    raw = unicodedata.normalize("NFKC", text[:60])  # full-width digits, no-break spaces
    if re.search(r"[^0-9+\s().\-]", raw, re.ASCII):
        raise Invalid("err.phone", example="0912 345 678")
    digits = re.sub(r"[^0-9]", "", raw, flags=re.ASCII)
    if raw.strip().startswith("+"):
        if not digits.startswith("84"):
            raise Invalid("err.phone", example="0912 345 678")
        nsn = digits[2:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        nsn = digits[2:]
    elif digits.startswith("0"):
        nsn = digits[1:]
    else:
        nsn = digits
    # Mobile: 9 digits after the 0 (3x, 5x, 7x, 8x, 9x); fixed lines: 10 digits starting with 2.
    ok = (len(nsn) == 9 and nsn[0] in "35789") or (len(nsn) == 10 and nsn[0] == "2")
    if not ok:
        raise Invalid("err.phone", example="0912 345 678")
    return "+84" + nsn


def show_phone(stored: str) -> str:
    """'+84912345678' -> '0912 345 678' (as Vietnamese write it)."""
    if not stored.startswith("+84"):
        return stored
    local = "0" + stored[3:]
    if len(local) == 10:
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return f"{local[:3]} {local[3:7]} {local[7:]}"


_INSURANCE_15 = re.compile(r"[A-Z]{2}[0-9]{13}", re.ASCII)
_INSURANCE_10 = re.compile(r"[0-9]{10}", re.ASCII)


def insurance(text: str) -> str:
    """The health-insurance card code (2 letters + 13 digits) or the 10-digit number."""
    code = re.sub(r"[\s\-.]", "", text[:60]).upper()
    if _INSURANCE_15.fullmatch(code) or _INSURANCE_10.fullmatch(code):
        return code
    raise Invalid("err.insurance", example="DN4797915410033")


_DATE = re.compile(r"([0-9]{1,2})\s*[/.\- ]\s*([0-9]{1,2})\s*[/.\- ]\s*([0-9]{4})", re.ASCII)


def birth_date(text: str) -> date:
    """dd/mm/yyyy (also with '-', '.' or spaces)."""
    f = _f(text)
    f = re.sub(r"^(?:ngay|sinh ngay|sinh)\s*", "", f)
    m = _DATE.fullmatch(f)
    if m:
        try:
            d = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            d = None
        if d is not None and d.year >= 1900:
            return d
    raise Invalid("err.birth_date", example="05/03/1950")


_NAME_CHARS = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*\.?")


def full_name(text: str) -> str:
    """'nguyễn thị  an' -> 'Nguyễn Thị An': letters only, family name first as typed."""
    words = clean(text, 120).split(" ")
    if not words or not all(_NAME_CHARS.fullmatch(w) for w in words) or len("".join(words)) < 2:
        raise Invalid("err.full_name", example="Nguyễn Thị An")
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)[:100]


def free_text(text: str, minimum: int = 2, limit: int = 200) -> str:
    """A short answer in the person's own words: cleaned, bounded, with some letters in it."""
    value = clean(text, limit)
    if len(value) < minimum or not re.search(r"[^\W_]", value):
        raise Invalid("err.answer_text", example="")
    return value


def address(text: str) -> str:
    try:
        return free_text(text, minimum=5, limit=200)
    except Invalid:
        raise Invalid("err.address", example="12 Nguyễn Trãi, Phường 2") from None


def short_text(text: str) -> str:
    try:
        return free_text(text, minimum=2, limit=100)
    except Invalid:
        raise Invalid("err.answer_text", example="") from None


_BLOOD = re.compile(r"(?:nhom\s*mau\s*)?(ab|a|b|o|0)\s*(?:\+|-|rh\s*[+-]?|duong|am)?", re.ASCII)


def blood_group(text: str) -> str:
    """'A', 'nhóm máu O', 'O+', '0' (a zero for O) -> 'A' | 'B' | 'AB' | 'O'."""
    m = _BLOOD.fullmatch(_f(text))
    if not m:
        raise Invalid("err.blood_group", example="O")
    g = m.group(1).upper()
    return "O" if g == "0" else g
