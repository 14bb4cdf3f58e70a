"""The console's aiohttp application: templates, security headers, the pages' routes."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from web import auth, home, imports, residents, tasks
from web.pages import QUARTERS, render

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


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    """Plain-language error pages in the staff member's language, never a traceback."""
    try:
        response = await handler(request)
    except web.HTTPException as e:
        if e.status in ERRORS:
            response = render(request, "error.html", {"msg": ERRORS[e.status]}, status=e.status)
        else:
            raise
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def make_app(rt) -> web.Application:
    app = web.Application(middlewares=[errors, auth.middleware], client_max_size=50 * 1024 * 1024)
    app[auth.RT] = rt
    app[home.LOCKS] = {}
    app[home.TASKS] = set()
    app[home.DRAWN] = {}
    app[QUARTERS] = {}
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
    app.add_routes(home.routes)
    app.add_routes(residents.routes)
    app.add_routes(tasks.routes)
    app.add_routes(imports.routes)
    app.router.add_static("/static", HERE / "static")
    return app
