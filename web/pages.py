"""Rendering shared by every page: the template, the language, the CSRF token, numbers
and dates formatted the Vietnamese way (decimal comma, dd/mm/yyyy)."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.config import TIME_ZONE
from dialogs.codes import display
from dialogs.parsers import show_phone
from locales import available, t
from web.auth import MEMBER, RT, SESSION


def locale_of(request: web.Request) -> str:
    sess = request.get(SESSION)
    if sess is not None and sess.locale in available():
        return sess.locale
    return request.app[RT].settings.default_locale


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    loc = locale_of(request)
    sess = request.get(SESSION)
    base = {
        "_": lambda msg, **kw: t(loc, msg, **kw),
        "locale": loc,
        "locales": available(),
        "member": request.get(MEMBER),
        "csrf": sess.csrf if sess else "",
        "path": request.path,
        "when": when,
        "day": day,
        "num": num,
        "code": display,
        "phone": lambda p: show_phone(p) if p else "—",
        "pct": pct,
    }
    base.update(context)
    return aiohttp_jinja2.render_template(template, request, base, status=status)


QUARTERS = web.AppKey("quarters", dict)
QUARTERS_KEEP = 300  # seconds: a ward's khu phố rarely change; listing them reads the whole ward


async def quarters(request: web.Request, ward: str | None) -> list[str]:
    """The ward's khu phố, for the pickers (kept a few minutes in this process)."""
    if ward is None:
        return []
    kept = request.app[QUARTERS].get(ward)
    now = time.monotonic()
    if kept is None or now - kept[0] > QUARTERS_KEEP:
        kept = (now, await request.app[RT].services.staff.quarters(ward))
        request.app[QUARTERS][ward] = kept
    return kept[1]


def when(at: datetime | None) -> str:
    return at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M") if at else "—"


def day(d: date | datetime | None) -> str:
    if d is None:
        return "—"
    if isinstance(d, datetime):
        d = d.astimezone(TIME_ZONE)
    return d.strftime("%d/%m/%Y")


def num(x: Any) -> str:
    """1234567 -> '1.234.567'; 65.5 -> '65,5'."""
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:,}".replace(",", ".")
    return f"{float(x):.1f}".rstrip("0").rstrip(".").replace(".", ",")


def pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole) if whole else 0}%"
