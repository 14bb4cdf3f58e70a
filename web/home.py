"""Sign-in by a one-time link, sign-out (here or everywhere), language, the overview."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from html import escape

from aiohttp import web
from markupsafe import Markup

from bot.config import TIME_ZONE
from locales import available, t
from storage import audit, console, stats
from storage.audit import entry
from storage.privacy import OVERDUE
from web import charts
from web.auth import COOKIE, RT, SESSION, links, member_of, set_cookie, ward_scope
from web.pages import locale_of, num, pct, render
from web.telegram_login import page

routes = web.RouteTableDef()
LOCKS = web.AppKey("overview_locks", dict)
TASKS = web.AppKey("overview_tasks", set)
DRAWN = web.AppKey("overview_drawn", dict)
OVERVIEW_DAYS = 60
OVERVIEW_FRESH = 60  # seconds: older figures are shown while new ones are computed
OVERVIEW_KEEP = 3600  # figures older than this are not shown at all


@routes.get("/signin/{token}")
async def signin_page(request: web.Request) -> web.Response:
    # Opening the link only shows a button: link previews (Telegram fetches links in
    # messages) must not use up the token.
    ok = await links(request).peek(request.match_info["token"])
    return page(request, "signin.html", {"ok": ok, "refused": False}, status=200 if ok else 410)


@routes.post("/signin/{token}")
async def signin(request: web.Request) -> web.StreamResponse:
    key = await links(request).take(request.match_info["token"])
    rt = request.app[RT]
    if key is None:
        return page(request, "signin.html", {"ok": False, "refused": False}, status=410)
    sess = await links(request).open(key, locale_of(request))
    async with rt.sessions.begin() as s:
        s.add(entry("web_signin", actor_kind="staff", actor_id=key))
    response = web.HTTPSeeOther("/")
    set_cookie(request, response, sess)
    raise response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sess = request[SESSION]
    if form.get("everywhere"):
        await links(request).close_all(sess.staff)
    else:
        await links(request).close(sess)
    async with request.app[RT].sessions.begin() as s:
        s.add(entry("web_signout", actor_kind="staff", actor_id=sess.staff,
                    details={"everywhere": bool(form.get("everywhere"))}))
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    raise response


@routes.post("/lang")
async def set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    loc = str(form.get("locale", ""))
    if loc in available():
        await links(request).set_locale(request[SESSION], loc)
    back = str(form.get("back", "/"))
    raise web.HTTPSeeOther(back if back.startswith("/") and not back.startswith("//") else "/")


async def figures(request: web.Request, ward: str | None, now: datetime) -> dict:
    """The overview's counts (no personal data), kept in Redis. Figures older than a minute
    are still shown while one task per ward and process computes new ones, so only the very
    first view of a ward waits for the query (1M residents: seconds)."""
    rt = request.app[RT]
    name = f"{rt.store.keys.prefix}:web:overview:{ward or '*'}"
    cached = await rt.redis.get(name)
    if cached:
        data = json.loads(cached)
        if now.timestamp() - datetime.fromisoformat(data["at"]).timestamp() > OVERVIEW_FRESH:
            _refresh(request, name, ward, now)
        return data
    lock = request.app[LOCKS].setdefault(name, asyncio.Lock())
    async with lock:  # twenty staff opening a cold page run the query once
        cached = await rt.redis.get(name)
        return json.loads(cached) if cached else await _compute(rt, name, ward, now)


def _refresh(request: web.Request, name: str, ward: str | None, now: datetime) -> None:
    lock = request.app[LOCKS].setdefault(name, asyncio.Lock())
    if lock.locked():
        return

    async def run() -> None:
        async with lock:
            await _compute(request.app[RT], name, ward, now)

    task = asyncio.get_running_loop().create_task(run())
    request.app[TASKS].add(task)  # kept until done, so it is not collected mid-way
    task.add_done_callback(request.app[TASKS].discard)


async def _compute(rt, name: str, ward: str | None, now: datetime) -> dict:
    async with rt.sessions() as s:
        rows = await console.progress(s, ward, now)
        days = await console.per_day(s, ward, now, OVERVIEW_DAYS, TIME_ZONE)
        extras = [(msg, await fn(s, ward, now)) for msg, fn in stats.INDICATORS]
    data = {"rows": [[r.quarter, r.group_name, r.residents, r.linked, r.this_q, r.prev_q, r.ever] for r in rows],
            "days": [(d.isoformat(), n) for d, n in days], "extras": extras, "at": now.isoformat()}
    await rt.redis.set(name, json.dumps(data), ex=OVERVIEW_KEEP)
    return data


def table_rows(rows: list[console.ProgressRow], total: str) -> Markup:
    """The table's body, written here in one piece: a ward has hundreds of tổ, and a
    template call per cell cost more than the query behind the page."""
    out = []
    for r in rows:
        kind = "total" if r.quarter is None else "sub" if r.group_name is None else ""
        label = total if kind == "total" else (r.quarter or "—") if kind == "sub" else ""
        group = (r.group_name or "—") if kind == "" else ""
        cells = (num(r.residents), num(r.linked), num(r.residents - r.linked),
                 f"{num(r.this_q)} <small>{pct(r.this_q, r.residents)}</small>",
                 f"{num(r.prev_q)} <small>{pct(r.prev_q, r.residents)}</small>", num(r.ever))
        out.append(f'<tr class="{kind}"><th scope="row">{escape(label)}</th><td>{escape(group)}</td>'
                   + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return Markup("\n".join(out))


def drawn(request: web.Request, ward: str | None, loc: str, data: dict) -> tuple[Markup, Markup]:
    """The table and the chart of these figures, drawn once per language (every staff
    member of the ward sees the same until the figures are renewed)."""
    cache = request.app[DRAWN]
    key = (ward, loc, data["at"])
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        rows = [console.ProgressRow(*r) for r in data["rows"]]
        days = [(date.fromisoformat(d), n) for d, n in data["days"]]
        cache[key] = (table_rows(rows, t(loc, "web.total")),
                      charts.bars(days, t(loc, "web.overview.chart_label", days=OVERVIEW_DAYS)))
    return cache[key]


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    member = member_of(request)
    ward = ward_scope(request, request.query.get("ward"))
    now = datetime.now(TIME_ZONE)
    data = await figures(request, ward, now)
    loc = locale_of(request)
    table, chart = drawn(request, ward, loc, data)
    rt = request.app[RT]
    async with rt.sessions.begin() as s:
        waiting = await console.requests(s, ward)
        who = await console.names(s, [r.resident_id for r in waiting])
        wards = await rt.services.staff.wards(member) if member.is_admin else []
        await audit.write(s, "web_overview", actor_kind="staff", actor_id=console.staff_key(member),
                          details={"ward": ward, "resident_ids": [r.resident_id for r in waiting]})
    return render(request, "overview.html", {
        "ward": ward, "wards": wards, "table": table, "total": console.ProgressRow(*data["rows"][0]),
        "chart": chart, "share": charts.share, "days_total": sum(n for _, n in data["days"]),
        "q_now": console.quarter_name(console.quarter_start(now)),
        "q_prev": console.quarter_name(console.quarter_start(now, 1)),
        "extras": data["extras"], "waiting": waiting, "who": who, "now": now, "overdue": OVERDUE,
        "computed_at": datetime.fromisoformat(data["at"]),
    })
