"""Numbers, dates, percentages and plurals in the reader's language, in one place (Babel).

Vietnamese writes 65,5 and 1.234; dates are dd/mm/yyyy in both languages (the health
department's documents use it whatever the language of the screen).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.numbers import format_decimal

from locales import DEFAULT, available, t

BABEL_LOCALES = {"vi": "vi_VN", "en": "en_GB"}
DATE = "%d/%m/%Y"
DATE_TIME = "%d/%m/%Y %H:%M"


@cache
def _locale(locale: str) -> Locale:
    return Locale.parse(BABEL_LOCALES.get(locale if locale in available() else DEFAULT, "vi_VN"))


def number(x: int | float | Decimal, locale: str, digits: int = 1, grouping: bool = True) -> str:
    """65.5 -> '65,5' (vi) / '65.5' (en); at most `digits` decimals, none for whole numbers.
    Without grouping for cells a spreadsheet reads back as numbers."""
    pattern = ("#,##0" if grouping else "0") + ("." + "#" * digits if digits else "")
    return format_decimal(x, format=pattern, locale=_locale(locale))


def percent(part: int | float, whole: int | float, locale: str, digits: int = 1) -> str:
    """12 of 40 -> '30%'; '-' when there is no whole to take a share of."""
    if not whole:
        return "-"
    return number(100 * part / whole, locale, digits) + "%"


def day(d: date, locale: str) -> str:
    return d.strftime(DATE)


def moment(d: datetime, locale: str) -> str:
    return d.strftime(DATE_TIME)


def plural(n: int, locale: str, prefix: str, **vars) -> str:
    """The message `<prefix><form>` for n ("export.exported." + one, other…: the forms CLDR
    names for the language), falling back to `<prefix>other`. Vietnamese has one form;
    English has one and other. `n` is among the message's placeholders."""
    form = _locale(locale).plural_form(abs(n))
    text = t(locale, f"{prefix}{form}", n=n, **vars)
    return text if text != f"{prefix}{form}" else t(locale, f"{prefix}other", n=n, **vars)
