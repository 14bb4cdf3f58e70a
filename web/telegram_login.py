"""Signing in with the Telegram Login Widget (optional, beside the bot's one-time links).

Shown only when the console has a public address (PUBLIC_URL) and the bot's username is
known (BOT_USERNAME, or Telegram's getMe when mounted in `healthbot run`): the widget needs
the domain linked to the bot with @BotFather's /setdomain. The script comes from
telegram.org, which is Telegram's own requirement; the sign-in pages that show it are the
only ones whose Content-Security-Policy allows that script and Telegram's frame.

The widget sends the browser to /login/telegram with id, first_name, last_name, username,
photo_url, auth_date and hash. As https://core.telegram.org/widgets/login ("Checking
authorization") documents it, the data is genuine when `hash` is the hexadecimal
HMAC-SHA-256 of the data-check-string (every received field but `hash`, sorted by name, as
"key=value" lines joined by "\\n") keyed with SHA256(bot token); `auth_date` (Unix time) is
checked so that outdated data is refused. Beyond that page: each signed set of data works
once (its hash is remembered in Redis while it is fresh), and only a staff member's
Telegram address gets a session. Names and photos are not kept.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from aiohttp import web

from storage.audit import entry
from web.auth import RT, links, set_cookie, staff_of
from web.pages import locale_of, render

routes = web.RouteTableDef()
WIDGET = web.AppKey("telegram_widget", str)  # the bot's username; "" = no widget
PATH = "/login/telegram"
FRESH = 300  # seconds: older widget data is refused
SKEW = 60  # seconds: a clock a little ahead of ours
SCRIPT = "https://telegram.org/js/telegram-widget.js?22"
CSP = ("default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "script-src https://telegram.org; frame-src https://oauth.telegram.org")


def widget_bot(settings, bot_username: str = "") -> str:
    """The bot the widget signs in with, or "" when the widget is not to be shown."""
    username = (bot_username or settings.bot_username).lstrip("@")
    return username if settings.public_url and settings.bot_token and username else ""


def check(data: Mapping[str, str], bot_token: str, now: float) -> int | None:
    """The Telegram user id this widget data vouches for; None if it is not genuine or fresh."""
    fields = {k: v for k, v in data.items() if k != "hash"}
    check_string = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hashlib.sha256(bot_token.encode()).digest()
    want = hmac.new(secret, check_string.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), data.get("hash", "").encode()):
        return None
    try:
        at, uid = int(fields.get("auth_date", "")), int(fields.get("id", ""))
    except ValueError:
        return None
    return uid if now - FRESH <= at <= now + SKEW and uid > 0 else None


def page(request: web.Request, template: str, context: dict, status: int = 200) -> web.Response:
    """A sign-in page, with the widget when it is configured."""
    bot = request.app[WIDGET]
    url = f"{request.app[RT].settings.web_url}{PATH}"
    response = render(request, template, {**context, "widget": bot, "widget_url": url, "widget_script": SCRIPT},
                      status=status)
    if bot:
        response.headers["Content-Security-Policy"] = CSP
    return response


@routes.get(PATH)
async def signed_by_telegram(request: web.Request) -> web.Response:
    rt = request.app[RT]
    if not request.app[WIDGET]:
        raise web.HTTPNotFound()
    uid = check(request.query, rt.settings.bot_token, time.time())
    member = await staff_of(rt, f"telegram:{uid}") if uid else None
    # Each signed set of data once: a copied URL (history, a screen share) opens nothing.
    if member is None or not await links(request).once(request.query.get("hash", ""), FRESH + SKEW):
        async with rt.sessions.begin() as s:
            s.add(entry("web_signin", actor_kind="staff", actor_id=f"telegram:{uid}" if uid else None,
                        outcome="refused", details={"via": "telegram"}))
        return page(request, "signin.html", {"ok": False, "refused": True}, status=403)
    sess = await links(request).open(member.account, locale_of(request))
    async with rt.sessions.begin() as s:
        s.add(entry("web_signin", actor_kind="staff", actor_id=member.account, details={"via": "telegram"}))
    # A page of ours that moves on to the overview, not a redirect: the browser arrives here
    # from telegram.org, and a SameSite=Strict cookie is not sent on a redirect from a
    # navigation another site started.
    response = render(request, "signed_in.html", {})
    set_cookie(request, response, sess)
    return response
