"""The console's aiohttp application: templates, security headers, the pages' routes.

`make_app` is the console on its own (`healthbot web`); `mount` adds the same pages to the
messenger server of `healthbot run --webhook` (WEB_CONSOLE=1). There the server's own
routes (the webhooks, /c/<code>, /healthz, /metrics) are marked `FOREIGN`: the console's
middlewares and headers leave them exactly as they are without the console.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from redis.exceptions import RedisError

from dialogs.ports import Unavailable
from storage.db import UNREACHABLE
from web import auth, fhir_download, home, imports, residents, tasks, telegram_login
from web.auth import FOREIGN, is_console
from web.pages import QUARTERS, render

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
# No inline scripts or styles, nothing from elsewhere; no Referer (a sign-in link's token
# must not leak to another site), no framing.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
ERRORS = {400: ("web.error.400.title", "web.error.400.text"), 401: ("web.error.401.title", "web.error.401.text"),
          403: ("web.error.403.title", "web.error.403.text"), 404: ("web.error.404.title", "web.error.404.text"),
          405: ("web.error.400.title", "web.error.400.text")}
MAX_UPLOAD = 50 * 1024 * 1024  # a registry file
# PostgreSQL or Redis away; not every OSError: a browser that hung up mid-download is not one.
STORES_AWAY = (Unavailable, RedisError, ConnectionRefusedError, *(e for e in UNREACHABLE if e is not OSError))

@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    """Plain-language error pages in the staff member's language, never a traceback."""
    if not is_console(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status in ERRORS:
            return render(request, "error.html", {"msg": ERRORS[e.status]}, status=e.status)
        raise
    except STORES_AWAY as e:  # PostgreSQL or Redis away: say so, nothing was changed half-way
        log.warning("console page not served, a store is away: %s", type(e).__name__)
        return render(request, "error.html", {"msg": ("web.error.503.title", "web.error.503.text")}, status=503)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every console response, streamed downloads too (a page may set its own CSP first)."""
    if is_console(request):
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def setup(app: web.Application, rt, bot_username: str = "") -> None:
    app[auth.RT] = rt
    app[home.LOCKS] = {}
    app[home.TASKS] = set()
    app[home.DRAWN] = {}
    app[QUARTERS] = {}
    app[telegram_login.WIDGET] = telegram_login.widget_bot(rt.settings, bot_username)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
    app.on_response_prepare.append(security_headers)
    for module in (home, residents, tasks, imports, fhir_download, telegram_login):
        app.add_routes(module.routes)
    app.router.add_static("/static", HERE / "static")


def make_app(rt) -> web.Application:
    app = web.Application(middlewares=[errors, auth.middleware], client_max_size=MAX_UPLOAD)
    setup(app, rt)
    app.router.add_get("/healthz", healthz)
    return app


def first_segments(app: web.Application) -> set[str]:
    """The console's paths by their first segment ("" for "/"); a dynamic one by its fixed
    start ("export." for /export.{fmt})."""
    out = set()
    for resource in app.router.resources():
        if resource in app.get(FOREIGN, ()):
            continue
        out.add(resource.canonical.lstrip("/").split("/")[0].split("{")[0])
    return out


def clashes(app: web.Application, path: str) -> bool:
    """Whether a messenger route at `path` would shadow a console page or be shadowed by one."""
    first = path.lstrip("/").split("/")[0]
    return any(first == seg or (seg.endswith(".") and first.startswith(seg)) for seg in first_segments(app))


def mount(rt, bot_username: str = "") -> web.Application:
    """An application holding the console at the root, for the messenger server to add its
    own routes to (then marked FOREIGN by it, after checking `clashes`)."""
    app = web.Application(middlewares=[errors, auth.middleware], client_max_size=MAX_UPLOAD)
    setup(app, rt, bot_username)
    app[FOREIGN] = set()
    return app
