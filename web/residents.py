"""Residents: search, one resident's page (declarations and their versions, linked
accounts, new code, printed card) and adding a walk-in resident."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from html import escape
from pathlib import Path

from aiohttp import web
from markupsafe import Markup

from bot import cards
from bot.card_page import card_url
from bot.config import TIME_ZONE
from dialogs import link
from dialogs.parsers import show_phone
from dialogs.questionnaire import QUESTIONS
from locales import t
from storage import console, registry
from storage.audit import entry
from web.auth import RT, member_of, ward_scope
from web.pages import locale_of, quarters, render, when

routes = web.RouteTableDef()
CARDS_AT_ONCE = 5000  # one PDF from the console (about 40 s of one core)


async def _wards(request: web.Request) -> list[str]:
    member = member_of(request)
    return await request.app[RT].services.staff.wards(member) if member.is_admin else []


@routes.get("/residents")
async def search(request: web.Request) -> web.Response:
    member = member_of(request)
    ward = ward_scope(request, request.query.get("ward"))
    query = request.query.get("q", "")[:100]
    filters = tuple(f for f in request.query.getall("f", []) if f in console.FILTERS)
    status = request.query.get("s", "")
    status = status if status in console.STATUSES else console.STATUSES[0]
    kind, hits = "none", []
    if query.strip() or filters or status != console.STATUSES[0]:
        async with request.app[RT].sessions.begin() as s:
            kind, hits = await console.search(s, member, ward, query, filters, datetime.now(TIME_ZONE), status)
    return render(request, "residents.html", {"quarters": await quarters(request, ward), "q": query,
                                              "filters": filters, "status": status, "statuses": console.STATUSES,
                                              "kind": kind, "hits": hits, "rows": hit_rows(hits, locale_of(request)),
                                              "ward": ward,
                                              "wards": await _wards(request), "limit": console.SEARCH_LIMIT})


def hit_rows(hits: list[console.Hit], loc: str) -> Markup:
    """The results' table body, written here in one piece: a template call per cell of 50
    rows was a third of the CPU a search cost the console."""
    never = escape(t(loc, "web.never"))
    status = {s: escape(t(loc, f"export.status.{s}")) for s in console.STATUSES}
    return Markup("\n".join(
        f'<tr><th scope="row"><a href="/residents/{h.id}">{escape(h.full_name)}</a></th><td>{h.birth_year}</td>'
        f'<td>{escape(h.quarter or "—")}{" · " + escape(h.group_name) if h.group_name else ""}</td>'
        f'<td class="mono">{escape(h.code)}</td><td>{escape(show_phone(h.phone)) if h.phone else "—"}</td>'
        f'<td>{when(h.last_declared) if h.last_declared else never}</td><td>{h.linked}</td>'
        f'<td>{status[h.status]}</td></tr>' for h in hits))


async def _resident(request: web.Request) -> registry.ResidentRow:
    """The resident in the URL, if this staff member may see them; else 404 (the same
    answer as for no such resident, so ids of other wards reveal nothing)."""
    text = request.match_info["id"]
    member = member_of(request)
    rt = request.app[RT]
    async with rt.sessions() as s:
        row = await registry.find(s, text) if text.isdigit() else None
    if row is None or not member.sees(row.ward):
        async with rt.sessions.begin() as s:
            s.add(entry("web_resident_view", actor_kind="staff", actor_id=console.staff_key(member),
                        outcome="refused", details={"asked": text[:20]}))
        raise web.HTTPNotFound()
    return row


@routes.get("/residents/{id:\\d+}")
async def resident(request: web.Request) -> web.Response:
    row = await _resident(request)
    member = member_of(request)
    async with request.app[RT].sessions.begin() as s:
        versions = await console.history(s, row.id)
        linked = await console.links(s, row.id)
        status, status_at = await console.status_of(s, row.id)
        s.add(entry("web_resident_view", actor_kind="staff", actor_id=console.staff_key(member),
                    resident_id=row.id))
    labels = {q.key: f"label.{q.key}" for q in QUESTIONS}
    return render(request, "resident.html", {"r": row, "versions": versions, "links": linked,
                                             "status": status, "status_at": status_at,
                                             "locked": len(await _locks(request, row.id)),
                                             "labels": labels, "done": request.query.get("done")})


async def _locks(request: web.Request, resident_id: int) -> list[str]:
    """Counters of wrong birth years for this card that have locked it for an account
    (dialogs/link.py: MAX_WRONG_YEARS within YEAR_WINDOW)."""
    store = request.app[RT].store
    pattern = store.keys.counter(link._year_key("*", resident_id))
    names = [n async for n in store.redis.scan_iter(match=pattern, count=1000)]
    counts = await store.redis.mget(names) if names else []
    return [n for n, c in zip(names, counts, strict=True) if c is not None and int(c) >= link.MAX_WRONG_YEARS]


@routes.post("/residents/{id:\\d+}/unlock")
async def unlock(request: web.Request) -> web.StreamResponse:
    """The card works again for accounts that typed a wrong birth year too often (the
    person came to the station with their papers)."""
    row = await _resident(request)
    locks = await _locks(request, row.id)
    if locks:
        await request.app[RT].store.redis.delete(*locks)
    async with request.app[RT].sessions.begin() as s:
        s.add(entry("web_unlock", actor_kind="staff", actor_id=console.staff_key(member_of(request)),
                    resident_id=row.id, details={"accounts": len(locks)}))
    raise web.HTTPSeeOther(f"/residents/{row.id}?done=unlocked")


@routes.post("/residents/{id:\\d+}/reissue")
async def reissue(request: web.Request) -> web.StreamResponse:
    row = await _resident(request)
    member = member_of(request)
    async with request.app[RT].sessions.begin() as s:
        await registry.reissue(s, row.id, actor=f"web:{console.staff_key(member)}")
        s.add(entry("web_reissue", actor_kind="staff", actor_id=console.staff_key(member), resident_id=row.id))
    raise web.HTTPSeeOther(f"/residents/{row.id}?done=reissued")


@routes.post("/residents/{id:\\d+}/links/{link:\\d+}/remove")
async def remove_link(request: web.Request) -> web.StreamResponse:
    row = await _resident(request)
    async with request.app[RT].sessions.begin() as s:
        await console.remove_link(s, member_of(request), row.id, int(request.match_info["link"]),
                                  datetime.now(TIME_ZONE))
    raise web.HTTPSeeOther(f"/residents/{row.id}?done=unlinked")


def _card(rt, r: registry.ResidentRow) -> cards.Card:
    username = rt.settings.bot_username or "healthbot"
    return cards.Card(r.id, r.code, r.full_name, r.birth_year, r.ward, r.quarter, r.group_name,
                      card_url(rt.settings, r.code, cards.deep_link(username, r.code)))


async def _pdf(batch: list[cards.Card], name: str) -> web.Response:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cards.pdf"
        await asyncio.to_thread(cards.make_pdf, batch, out, 1)
        body = out.read_bytes()
    return web.Response(body=body, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})


@routes.get("/residents/{id:\\d+}/card.pdf")
async def card(request: web.Request) -> web.Response:
    row = await _resident(request)
    rt = request.app[RT]
    async with rt.sessions.begin() as s:
        s.add(entry("web_card", actor_kind="staff", actor_id=console.staff_key(member_of(request)),
                    resident_id=row.id))
    return await _pdf([_card(rt, row)], f"the-{row.code}.pdf")


@routes.get("/cards.pdf")
async def ward_cards(request: web.Request) -> web.Response:
    """Every card of the ward (or of one khu phố), in card order."""
    ward = ward_scope(request, request.query.get("ward"))
    if ward is None:
        raise web.HTTPBadRequest()
    quarter = request.query.get("quarter") or None
    rt = request.app[RT]
    async with rt.sessions.begin() as s:
        if await console.count_residents(s, ward, quarter) > CARDS_AT_ONCE:
            # made while the staff member waits: a whole large ward goes khu phố by khu phố
            # (or through `healthbot cards`, which uses every core)
            return render(request, "error.html", {"msg": ("web.cards.too_many", "web.cards.by_quarter"),
                                                  "n": CARDS_AT_ONCE}, status=422)
        rows = [r async for r in registry.iter_residents(s, ward=ward, quarter=quarter)]
        s.add(entry("web_cards", actor_kind="staff", actor_id=console.staff_key(member_of(request)),
                    details={"ward": ward, "quarter": quarter, "resident_ids": [r.id for r in rows]}))
    if not rows:
        raise web.HTTPNotFound()
    return await _pdf([_card(rt, r) for r in rows], "the.pdf")


@routes.get("/residents/new")
async def walk_in_form(request: web.Request) -> web.Response:
    return render(request, "walkin.html", {"form": {}, "problems": {}, "wards": await _wards(request),
                                           "ward": ward_scope(request, request.query.get("ward"))})


@routes.post("/residents/new")
async def walk_in(request: web.Request) -> web.StreamResponse:
    form = {k: str(v) for k, v in (await request.post()).items() if k in (*console.WALK_IN_FIELDS, "ward")}
    ward = ward_scope(request, form.get("ward"))
    problems: dict[str, tuple[str, dict]] = {}
    if ward is None:
        problems["ward"] = ("registry.reason.required", {})
    else:
        try:
            async with request.app[RT].sessions.begin() as s:
                row = await console.add_walk_in(s, member_of(request), ward, form, datetime.now(TIME_ZONE).date())
            raise web.HTTPSeeOther(f"/residents/{row.id}?done=added")
        except console.WalkInError as e:
            problems = {name: (msg, vars) for name, msg, vars in e.problems}
    return render(request, "walkin.html", {"form": form, "problems": problems, "wards": await _wards(request),
                                           "ward": ward}, status=422)
