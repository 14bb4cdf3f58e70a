"""Who is asking: the session cookie, the staff member behind it, CSRF, ward scope.

Every page and action goes through `middleware`: no session, no page (except sign-in and
static files); every POST carries the session's CSRF token; the staff member is read
again from the staff table on every request, so removing someone ends their access at once.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from dialogs.ports import StaffMember
from storage.console import SESSION_TTL, ConsoleLinks, Session

COOKIE = "hb_console"
PUBLIC = ("/signin/", "/login/")  # a session is read but not needed
OPEN = ("/static/", "/healthz")  # no session needed, none read
MEMBER = web.RequestKey("member", object)
SESSION = web.RequestKey("session", object)
RT = web.AppKey("rt", object)
# The messenger server's own routes when the console is mounted in it (web.app.mount).
FOREIGN = web.AppKey("foreign_resources", set)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def staff_of(rt, key: str) -> StaffMember | None:
    """The staff member a session belongs to: the only code that knows what the key is."""
    return await rt.services.staff.member(key)  # a messenger address (storage.console.staff_key)


def links(request: web.Request) -> ConsoleLinks:
    return request.app[RT].services.console


def set_cookie(request: web.Request, response: web.StreamResponse, sess: Session) -> None:
    secure = request.app[RT].settings.web_url.startswith("https://")
    response.set_cookie(COOKIE, sess.id, max_age=SESSION_TTL, httponly=True, samesite="Strict",
                        secure=secure, path="/")


class Forbidden(web.HTTPForbidden):
    pass


def is_console(request: web.Request) -> bool:
    """Not one of the messenger server's own routes (an unknown path gets the console's 404)."""
    foreign = request.app.get(FOREIGN)
    return not foreign or request.match_info.route.resource not in foreign


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(OPEN) or not is_console(request):
        return await handler(request)
    sess = await links(request).get(request.cookies.get(COOKIE, ""))
    member = await staff_of(request.app[RT], sess.staff) if sess else None
    if sess is not None and member is None:  # no longer staff: the session ends here
        await links(request).close(sess)
        sess = None
    request[SESSION], request[MEMBER] = sess, member
    if request.path.startswith(PUBLIC):
        return await handler(request)
    if member is None:
        if request.method == "GET" and request.path == "/":
            from web.telegram_login import page  # noqa: PLC0415

            return page(request, "signed_out.html", {}, status=401)
        raise web.HTTPUnauthorized()
    if request.method == "POST":
        form = await request.post()
        sent = str(form.get("csrf", ""))
        if not hmac.compare_digest(sent.encode(), sess.csrf.encode()):
            raise Forbidden()
    return await handler(request)


def member_of(request: web.Request) -> StaffMember:
    return request[MEMBER]


def ward_scope(request: web.Request, wanted: str | None) -> str | None:
    """The ward a page works on: a staff member's own (asking for another is refused); an
    admin's choice, or None for every ward."""
    member = member_of(request)
    wanted = (wanted or "").strip() or None
    if member.is_admin:
        return wanted
    if wanted is not None and wanted != member.ward:
        raise Forbidden()
    return member.ward
