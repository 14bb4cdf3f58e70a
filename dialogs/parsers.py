"""Understanding what people type: numbers with units, blood pressure, phone numbers, dates.

Every parser takes the raw text and returns a value in range or raises `Invalid` naming
the message that says what is expected (with an example). Nothing else ever escapes:
any Unicode, any length. Digits are ASCII only (`re.ASCII`), so exotic digits are refused
rather than stored.

The rule for every number, date and yes/no: the value exactly as meant, or a refusal.
Nothing is repaired into another value: "-5" is not 5, "50-55 ký" is not 50 or 55,
"hai ba lần" (two or three times) is not 23, "tam muoi" typed without diacritics (tám
mươi, 80, or tầm mười, about 10) is not guessed. Numbers may be written in words up to
the hundreds ("sáu mươi lăm", "sáu lăm", "một trăm hai mươi", "trăm rưỡi").
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from datetime import date
from functools import cache
from typing import Any

from dialogs.text import Word, answer, clean, fold, form, pick, spelled, words


class Invalid(Exception):
    """A rejected answer: `msg` is the message id telling what is expected."""

    def __init__(self, msg: str, **vars: Any):
        super().__init__(msg)
        self.msg = msg
        self.vars = vars


def _f(text: str) -> str:
    return fold(text[:400])  # nothing we parse is longer; bounds the regex work


class _Unclear(Exception):
    """Number words that do not say one number ("hai ba", "tam muoi" without diacritics)."""


# A minus sign before a number that does not follow another ("-5", "nặng -5"; "120 - 80"
# is blood pressure), or "âm" (negative): never a value we store.
_MINUS = re.compile(r"\s*[\-\u2212\u2013\u2014\ufe63\uff0d]\s*")
_NEGATIVE = re.compile(r"(?:^|[^0-9])-[0-9]|(?:^|\s)(?:âm|am)\s+[0-9]")
# Bounds and guesses are not values: "hơn 60", "gần 1m6", "vài lần", "mấy mũi".
_NOT_A_VALUE = frozenset({"hon", "gan", "duoi", "ngoai", "vai", "may", "it", "nhieu", "toi", "tren", "hoac", "hay",
                          "den", "tu", "or", "to"})


def _numbers(text: str, metre_digits: bool = False) -> str | None:
    """The matching form with number words written in digits, or None when the text
    holds a negative number or number words that do not say one number."""
    raw = _MINUS.sub("-", unicodedata.normalize("NFKC", text[:400]))
    if _NEGATIVE.search(raw.lower()):
        return None
    try:
        return " ".join(_spell(words(raw, 400), metre_digits))
    except _Unclear:
        return None


# ---------------------------------------------------------------- numbers in words

# (kind, value) of a number word as typed with diacritics. D a digit, U a digit said only
# after tens ("hai mốt" 21, "ba tư" 34, "năm lăm" 55), TEN "mười", TENS "mươi".
_TYPED = {
    "một": ("D", 1), "hai": ("D", 2), "ba": ("D", 3), "bốn": ("D", 4), "năm": ("D", 5), "sáu": ("D", 6),
    "bảy": ("D", 7), "bẩy": ("D", 7), "tám": ("D", 8), "chín": ("D", 9), "mốt": ("U", 1), "tư": ("U", 4),
    "lăm": ("U", 5), "nhăm": ("U", 5), "mười": ("TEN", 10), "mươi": ("TENS", 10), "trăm": ("TRAM", 100),
    "linh": ("LINH", 0), "lẻ": ("LINH", 0), "chục": ("CHUC", 10), "phẩy": ("PHAY", 0), "rưỡi": ("HALF", 50),
}
# Typed without diacritics. "muoi" is mười or mươi by its place; "lam" (làm), "tu" (từ)
# and "tam" (tầm, about) have other meanings and count only where a number must be.
_PLAIN = {
    "mot": ("D", 1), "hai": ("D", 2), "ba": ("D", 3), "bon": ("D", 4), "nam": ("D", 5), "sau": ("D", 6),
    "bay": ("D", 7), "tam": ("D", 8), "chin": ("D", 9), "muoi": ("TEN", 10), "tram": ("TRAM", 100),
    "linh": ("LINH", 0), "le": ("LINH", 0), "chuc": ("CHUC", 10), "phay": ("PHAY", 0), "lam": ("U", 5),
    "nham": ("U", 5), "tu": ("U", 4), "ruoi": ("HALF", 50),
}
_HAS_DIGIT = re.compile(r"[0-9]", re.ASCII)


def _kind(w: Word) -> tuple[str, int] | None:
    return _TYPED.get(w.typed) or (_PLAIN.get(w.form) if w.plain else None)


def _below_100(run: list[tuple[str, int]]) -> int:
    kinds = [k for k, _ in run]
    v = [n for _, n in run]
    if kinds == ["D"]:
        return v[0]
    if kinds in (["TEN"], ["TENS"]):
        return 10
    if kinds[0] in ("TEN", "TENS") and len(run) == 2 and kinds[1] in ("D", "U"):
        return 10 + v[1]  # mười hai, mười lăm
    if kinds[0] == "D" and len(run) == 2 and kinds[1] == "CHUC":
        return 10 * v[0]  # hai chục
    if kinds[0] == "D" and v[0] >= 2:
        if len(run) == 2 and kinds[1] in ("TEN", "TENS"):
            return 10 * v[0]
        if len(run) == 2 and kinds[1] == "U":
            return 10 * v[0] + v[1]  # năm lăm, hai mốt
        if len(run) == 3 and kinds[1] in ("TEN", "TENS") and kinds[2] in ("D", "U"):
            return 10 * v[0] + v[2]
    raise _Unclear  # "hai ba" (two or three), "bốn năm" (four or five), …


def _value(run: list[tuple[str, int]]) -> int:
    kinds = [k for k, _ in run]
    if "TRAM" not in kinds:
        return _below_100(run)
    i = kinds.index("TRAM")
    head, tail = run[:i], run[i + 1 :]
    if head and [k for k, _ in head] != ["D"]:
        raise _Unclear
    hundreds = 100 * (head[0][1] if head else 1)
    tk = [k for k, _ in tail]
    if not tail:
        return hundreds
    if tk == ["HALF"]:
        return hundreds + 50
    if tk in (["LINH", "D"], ["LINH", "U"]):
        return hundreds + tail[1][1]  # một trăm linh năm: 105
    if tk == ["D"]:
        return hundreds + 10 * tail[0][1]  # một trăm hai: 120, as it is said
    return hundreds + _below_100(tail)


def _metre_digits(run: list[tuple[str, int]]) -> str:
    """After "mét": centimetres said digit by digit ("một mét sáu hai": 162)."""
    kinds = [k for k, _ in run]
    if kinds == ["D"]:
        return str(run[0][1])  # "mét sáu": 60, like 1m6
    if kinds == ["D", "D"]:
        return f"{run[0][1]}{run[1][1]}"
    if kinds in (["LINH", "D"], ["LINH", "U"]):
        return f"0{run[1][1]}"
    return f"{_below_100(run):02d}"


def _spell(ws: list[Word], metre_digits: bool) -> list[str]:
    """Word forms with every run of number words replaced by its digits."""
    out: list[str] = []
    i = 0
    while i < len(ws):
        w = ws[i]
        k = _kind(w)
        nxt = ws[i + 1] if i + 1 < len(ws) else None
        plain_tam = w.plain and w.form == "tam"
        nk = _kind(nxt) if nxt is not None else None
        if k is not None and k[0] == "LINH" and metre_digits and out and out[-1] in ("m", "met", "thuoc") \
                and nk is not None and nk[0] in ("D", "U") and i + 2 == len(ws):
            out.append(f"0{nk[1]}")  # một mét linh năm: 105
            i += 2
            continue
        if k is None or k[0] in ("HALF", "LINH") or plain_tam and nxt is not None and _HAS_DIGIT.search(nxt.form):
            out.append(w.form)  # tầm (about) typed plainly before digits: "tam 50"
            i += 1
            continue
        if k[0] == "PHAY":
            out.append("phay")
            i += 1
            continue
        if k[0] == "U":  # cannot start a number: plain "lam" is làm, "tu" is từ
            out.append("4" if w.typed == "tư" and (nxt is None or _kind(nxt) is None) else w.form)
            i += 1
            continue
        j, run = i, []
        while j < len(ws) and (kk := _kind(ws[j])) is not None and kk[0] != "PHAY":
            if kk[0] == "HALF":
                if run and run[-1][0] == "TRAM":  # trăm rưỡi: 150
                    run.append(kk)
                    j += 1
                break
            if run and ws[j].plain and ws[j].form == "tam":
                raise _Unclear  # "hai tam": two or eight?
            run.append(kk)
            j += 1
        if plain_tam and len(run) > 1:
            raise _Unclear  # "tam muoi": tám mươi (80) or tầm mười (about 10)
        before = out[-1] if out else ""
        after = ws[j].form if j < len(ws) else ""
        if _HAS_DIGIT.search(after) or (_HAS_DIGIT.search(before) and before != "phay"):
            raise _Unclear  # "năm 1958", "hai 2"
        if metre_digits and before in ("m", "met", "thuoc"):
            out.append(_metre_digits(run))
        else:
            out.append(str(_value(run)))
        i = j
    # "65 phay 5" -> "65,5"
    joined: list[str] = []
    for tok in out:
        if len(joined) >= 2 and joined[-1] == "phay" and joined[-2].isdigit() and tok.isdigit():
            joined[-2:] = [joined[-2] + "," + tok]
        else:
            joined.append(tok)
    return joined

# Words people wrap around a number: "cao khoảng 1m65", "nặng tầm 50 ký", "đo được 120/80", "60 ký thôi".
_FILLER = re.compile(
    r"\b(?:chieu cao|can nang|huyet ap|cao|nang|khoang|tam|chung|co|do|duoc|la|hien tai|hien nay|thoi|"
    r"about|around|approx|height|weight|bp|is)\b",
    re.ASCII,
)
_NUM = r"[0-9]{1,4}(?:[.,][0-9]{1,2})?"


def _strip_filler(f: str) -> str:
    return re.sub(r"\s+", " ", _FILLER.sub(" ", f)).strip()


def _num(s: str) -> float:
    return float(s.replace(",", "."))  # decimal comma, the Vietnamese way


def _measure(text: str, bounds: frozenset[str] = _NOT_A_VALUE, metre_digits: bool = False) -> str | None:
    """A number answer's form, digits for words, fillers gone; None for a negative
    number, unclear number words, or a bound rather than a value ("hơn 60")."""
    f = _numbers(text, metre_digits)
    if f is None or bounds & set(f.split()):
        return None
    return _strip_filler(f)


# ---------------------------------------------------------------- body measures

HEIGHT_CM = (40.0, 250.0)
WEIGHT_KG = (2.0, 300.0)

_M_CM = re.compile(r"([0-9])\s*(?:m|met)\s*([0-9]{1,2})", re.ASCII)  # 1m65, 1 met 6
_HEIGHT = re.compile(rf"({_NUM})\s*(m|met|cm)?", re.ASCII)
_CM = re.compile(r"\b(?:phan|centimet|xentimet|xen ti met|cen ti met|centimeters?|cms?)\b", re.ASCII)
_HALF_METRE = re.compile(r"^(?:1\s*)?(?:m|met)\s*ruoi$", re.ASCII)  # mét rưỡi: 150


def height(text: str) -> float:
    """'1m65', '1,65 m', '165cm', '1.65', '165', 'một mét sáu lăm', 'mét sáu', '165 phân' -> cm."""
    f = _measure(text, metre_digits=True)
    cm: float | None = None
    if f is not None:
        f = _CM.sub("cm", re.sub(r"\bthuoc\b", "met", f))
        if _HALF_METRE.fullmatch(f):
            f = "1 met 50"
        elif re.match(r"(?:m|met)\s+[0-9]", f):
            f = "1 " + f  # "mét sáu lăm": one metre is understood
    if f is None:
        pass
    elif m := _M_CM.fullmatch(f):
        tail = m.group(2)
        cm = int(m.group(1)) * 100 + int(tail) * (10 if len(tail) == 1 else 1)  # 1m6 = 160
    elif m := _HEIGHT.fullmatch(f):
        n, unit = _num(m.group(1)), m.group(2)
        # A bare number under 3 can only be metres; "m" means metres whatever the size.
        # Said in words ("hai") it is no height: metres are said with "mét".
        if unit is None and n < 3 and not re.search(r"[0-9]", text):
            raise Invalid("err.height", example="1m65")
        cm = n * 100 if unit in ("m", "met") or (unit is None and n < 3) else n
    if cm is None or not HEIGHT_CM[0] <= cm <= HEIGHT_CM[1]:
        raise Invalid("err.height", example="1m65")
    return round(cm, 1)


_KG = re.compile(
    r"\b(?:(?:ki|ky|kil|kilo)\s*lo\s*(?:gam|gram)?|kilo\s*(?:gam|gram)|kilogam|kilograms?|kgs|ki|ky|kilo|can)\b",
    re.ASCII,
)
_WEIGHT = re.compile(rf"({_NUM})\s*(kg|g|gr|gam|gram)?(?:\s*(ruoi))?", re.ASCII)
_KG_LANG = re.compile(r"([0-9]{1,3})\s*kg\s*([0-9])\s*lang", re.ASCII)  # 5 ký 3 lạng: 5,3 kg


def weight(text: str) -> float:
    """'65,5', '65kg', '65 ký', '65 ki lô', '65 kí rưỡi', 'sáu lăm ký', '3500 g', '3 ký 2 lạng' -> kg."""
    f = _measure(text)
    kg: float | None = None
    if f is not None:
        f = _KG.sub("kg", f)
        if m := _KG_LANG.fullmatch(f):
            kg = int(m.group(1)) + int(m.group(2)) / 10
        elif m := _WEIGHT.fullmatch(f):
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
    """'120/80', '120 80', '120 trên 80', '12/8' (said in cmHg: 120/80), '13,5/8,5',
    'một trăm hai mươi trên tám mươi'."""
    f = _measure(text, _NOT_A_VALUE - {"tren"})
    if f is None:
        raise Invalid("err.blood_pressure", example="120/80")
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

_ZERO = frozenset({"khong", "chua", "none", "zero", "no", "never"})
# Words around a count that do not change it: "đã tiêm 2 mũi rồi", "sinh 3 lần", "2 đứa còn sống".
_COUNTED = frozenset(
    "lan con dua be chau nguoi mui lieu times time kids kid children child dose doses mang thai sinh de tiem da "
    "duoc co roi thoi tat ca hien nay song vac xin covid tong cong la em toi tui minh chi ba nao gi het ai bao gio "
    "lan nua deu".split()
)


def count(text: str, hi: int = 20) -> int:
    """'2', 'hai', '2 lần', 'đã tiêm 2 mũi rồi', 'không', 'chưa có', 'chưa bao giờ' -> 2 / 0; 0..hi.
    Two numbers ("2-3", "hai ba lần") or a bound ("hơn 2") are refused."""
    f = _measure(text)
    n: int | None = None
    if f is not None:
        said = f.split()
        nums = [w for w in said if _HAS_DIGIT.search(w)]
        rest = [w for w in said if not _HAS_DIGIT.search(w)]
        if all(w in _COUNTED or w in _ZERO for w in rest):
            if len(nums) == 1 and nums[0].isdigit() and not _ZERO & set(rest):
                n = int(nums[0])
            elif not nums and _ZERO & set(rest):
                n = 0
    if n is None or not 0 <= n <= hi:
        raise Invalid("err.answer_count", hi=hi, example="2")
    return n


# ---------------------------------------------------------------- identity and contact


_PHONE_LABEL = re.compile(r"^\s*(?:sđt|sdt|số điện thoại|so dien thoai|số đt|so dt|đt|dt|phone|tel)\s*[:.]?\s*", re.I)


def phone(text: str) -> str:
    """A Vietnamese number, stored as +84…: '0912 345 678', '+84 912345678', '(028) 3899 0000'."""
    raw = unicodedata.normalize("NFKC", _own_words(text, 60))  # full-width digits, no-break spaces
    raw = _PHONE_LABEL.sub("", raw)
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
    code = re.sub(r"[\s\-.]", "", _own_words(text, 60)).upper()
    if _INSURANCE_15.fullmatch(code) or _INSURANCE_10.fullmatch(code):
        return code
    raise Invalid("err.insurance", example="DN4797915410033")


_DATE = re.compile(r"([0-9]{1,2})\s*[/.\- ]\s*([0-9]{1,2})\s*[/.\- ]\s*([0-9]{4})", re.ASCII)
_ISO = re.compile(r"([0-9]{4})\s*[/.\-]\s*([0-9]{1,2})\s*[/.\-]\s*([0-9]{1,2})", re.ASCII)
_IN_WORDS = re.compile(r"(.+?)\s*thang\s*(.+?)\s*(?:nam|,|/)?\s*([0-9]{4})", re.ASCII)  # 5 tháng 3 năm 1958
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                "october", "november", "december")
_EN = re.compile(r"([0-9]{1,2})\s*([a-z]{3,9})\s*,?\s*([0-9]{4})|([a-z]{3,9})\s*([0-9]{1,2})\s*,?\s*([0-9]{4})", re.ASCII)
# "tháng Giêng", "tháng Chạp", "âm lịch": a lunar date, which is a different day.
_LUNAR = re.compile(r"\b(?:am lich|al|gieng|chap|lunar)\b", re.ASCII)
_DATE_OPENING = re.compile(r"^(?:(?:ngay\s*)?sinh(?:\s*ngay)?|ngay\s*sinh|ngay|dob|born(?:\s*on)?)\s*(?:la\s*)?(?:mung|mong)?\s*")


def _day_or_month(part: str) -> int | None:
    """'5', '05', 'năm', 'mười hai', 'tư' (tháng tư) -> the number."""
    part = part.strip()
    if part.isdigit() and len(part) <= 2:
        return int(part)
    if part in ("tu", "bon"):
        return 4
    try:
        spelled = _spell(words(part), False)
    except _Unclear:
        return None
    return int(spelled[0]) if len(spelled) == 1 and spelled[0].isdigit() else None


def _month_name(name: str) -> int | None:
    for i, m in enumerate(_MONTH_NAMES, 1):
        if m.startswith(name) and len(name) >= 3:
            return i
    return None


def birth_date(text: str) -> date:
    """dd/mm/yyyy (also with '-', '.' or spaces), '5 tháng 3 năm 1958', 'ngày mùng năm
    tháng ba năm 1958', ISO '1958-03-05', '5 March 1958'. A lunar date is refused."""
    f = " ".join(w.form for w in words(text[:200]))
    f = _DATE_OPENING.sub("", re.sub(r"\b(?:duong lich|dl)\b", " ", f)).strip()
    f = re.sub(r"\s+", " ", f)
    ymd: tuple[int | None, int | None, int] | None = None
    if _LUNAR.search(f):
        ymd = None
    elif m := _DATE.fullmatch(f):
        ymd = int(m.group(3)), int(m.group(2)), int(m.group(1))
    elif m := _ISO.fullmatch(f):
        ymd = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _IN_WORDS.fullmatch(f):
        day = re.sub(r"^(?:ngay\s*)?(?:mung|mong)\s*", "", m.group(1))
        ymd = int(m.group(3)), _day_or_month(m.group(2)), _day_or_month(day)
    elif m := _EN.fullmatch(f):
        if m.group(1):
            ymd = int(m.group(3)), _month_name(m.group(2)), int(m.group(1))
        else:
            ymd = int(m.group(6)), _month_name(m.group(4)), int(m.group(5))
    if ymd is not None and ymd[1] is not None and ymd[2] is not None:
        try:
            d = date(ymd[0], ymd[1], ymd[2])
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


_POLITE_OPEN = frozenset({"dạ", "vâng", "thưa", "dạ,", "vâng,"})
_POLITE_CLOSE = frozenset({"ạ", "nhé", "nha", "nhá", "ạh"})


def _own_words(text: str, limit: int) -> str:
    """The answer as stored: cleaned, without polite words at its ends ("dạ …ạ")."""
    tokens = clean(text, limit).split(" ")
    while len(tokens) > 1 and tokens[0].lower().strip(".,!?") in _POLITE_OPEN:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1].lower().strip(".,!?") in _POLITE_CLOSE:
        tokens.pop()
    return " ".join(tokens).strip(" ,;")


_LETTERS = re.compile(r"[^\W\d_]")
# Words that make text an address even without a house number.
_PLACE = re.compile(
    r"\b(?:duong|pho|ngo|hem|kiet|ngach|to|khu|khom|ap|thon|xom|ban|buon|phuong|xa|quan|huyen|tinh|lo|block|"
    r"tang|chung cu|can ho|so|kp|tdp|dai lo|cu xa|thi tran|thi xa|thanh pho|street|st|road|ward|district|lane|"
    r"alley|village|hamlet|apartment)\b",
    re.ASCII,
)
# Answers that say "no", "I don't know" or "yes" rather than give the thing asked.
_NOT_AN_ANSWER = frozenset(
    {"khong", "khong co", "chua", "chua co", "co", "u", "ok", "vang", "da", "roi", "dung", "sai", "khong biet",
     "khong nho", "khong ro", "chua biet", "no", "yes", "none", "nothing", "khong a", "co a", "gi", "sao", "kg", "n",
     "y"}
)
_NEGATION_OPENING = re.compile(r"^(?:khong|chua)(?:\s+(?:co|biet|nho|ro|phai))?\b")


def _letters(text: str) -> int:
    return len(_LETTERS.findall(text))


def address(text: str) -> str:
    """An address: letters and a house number or a place word (đường, hẻm, phường, ấp …);
    not a bare "no", a number, a phone number or a measurement."""
    value = _own_words(text, 200)
    said = " ".join(w.form for w in words(text, 200))
    plausible = (
        len(value) >= 5
        and _letters(value) >= 3
        and (re.search(r"[0-9]", value) or _PLACE.search(said))
        and not _NEGATION_OPENING.match(said)
        and not re.search(r"[0-9]{9,}", re.sub(r"[\s.\-]", "", value))  # a phone number
    )
    if not plausible:
        raise Invalid("err.address", example="12 Nguyễn Trãi, Phường 2")
    return value


def short_text(text: str) -> str:
    try:
        return free_text(text, minimum=2, limit=100)
    except Invalid:
        raise Invalid("err.answer_text", example="") from None


def _words_not_numbers(text: str, msg: str, example: str, limit: int = 100) -> str:
    value = _own_words(text, limit)
    said = " ".join(w.form for w in words(text, limit))
    if _letters(value) < 3 or said in _NOT_AN_ANSWER or _letters(value) < 2 * len(re.findall(r"[0-9]", value)):
        raise Invalid(msg, example=example)
    return value


def occupation(text: str) -> str:
    """What the person does, in their words: letters, not a number or a bare yes/no
    ("không có việc làm" is an answer)."""
    return _words_not_numbers(text, "err.occupation", "thợ may")


# Words that name no allergen: "hình như có", "có bị dị ứng", "không rõ lắm".
_VAGUE = frozenset("hinh nhu co le chac the thi vay khong biet ro lam nho gi u chua bi di ung hay it nhieu "
                   "phai roi da thay cung".split())


def allergy(text: str) -> str:
    """What the person is allergic to: a name, not a bare "có" or a number. Words opening
    with "không"/"chưa" that are not the «Không» button ("ko bít", "không dị ứng thuốc
    nhưng …"), or naming nothing ("hình như có"), are asked again, not stored."""
    said = " ".join(w.form for w in words(text, 100))
    if _NEGATION_OPENING.match(said) or set(said.split()) <= _VAGUE:
        raise Invalid("err.allergies", example="penicillin, tôm")
    return _words_not_numbers(text, "err.allergies", "penicillin, tôm")


# ---------------------------------------------------------------- ethnic groups


@cache
def ethnic_groups() -> tuple[tuple[str, frozenset[str]], ...]:
    """(official name, matching forms) of the 54 groups, from locales/ethnic_groups.toml."""
    from locales import HERE  # noqa: PLC0415 - data beside the catalogs

    out = []
    for g in tomllib.loads((HERE / "ethnic_groups.toml").read_text("utf-8"))["groups"]:
        forms: set = set()
        for name in [g["name"], *g["also"]]:
            forms.add(spelled(name))
            if " " in form(name):
                forms.add(form(name).replace(" ", ""))  # "Ba-na" typed "bana"
        if form(g["name"]) in _NOT_AN_ANSWER:  # "Co" is also "có": only "dân tộc Co", "người Co"
            forms.discard(spelled(g["name"]))
            forms |= {spelled("dân tộc " + g["name"]), spelled("người " + g["name"])}
        out.append((g["name"], frozenset(forms)))
    return tuple(out)


_OTHER = re.compile(r"^\s*(?:dan\s*toc\s*)?(?:khac|other)\s*[:,\-]?\s*", re.ASCII)


def ethnicity(text: str) -> str:
    """One of the 54 groups ('tày', 'người Mường', 'H'Mông' -> 'Tày', 'Mường', 'Mông'),
    or 'Khác: …' with the person's words."""
    said = answer(text, 100)
    picked = pick(text[:100], ethnic_groups(), frozenset({"dan", "toc", "nguoi", "la"}))
    if picked is not None:
        return picked
    if _OTHER.match(said):
        rest = _OTHER.sub("", fold(text[:100]), count=1)
        own = clean(text, 100)
        tail = own[len(own) - len(rest):].strip(" :,-") if rest else ""
        if _letters(tail) >= 2 and not re.search(r"[0-9]", tail):
            return "Khác: " + tail
    raise Invalid("err.ethnicity", example="Tày")


_BLOOD = re.compile(r"(?:nhom\s*mau\s*)?(ab|a|b|o|0)\s*(?:\+|-|rh\s*[+-]?|duong|am)?", re.ASCII)


def blood_group(text: str) -> str:
    """'A', 'nhóm máu O', 'O+', '0' (a zero for O) -> 'A' | 'B' | 'AB' | 'O'."""
    m = _BLOOD.fullmatch(_f(text))
    if not m:
        raise Invalid("err.blood_group", example="O")
    g = m.group(1).upper()
    return "O" if g == "0" else g
