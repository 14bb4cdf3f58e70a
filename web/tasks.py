"""Reminders, privacy requests, the audit log, staff accounts and exports."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from bot.config import TIME_ZONE
from dialogs.draft import drop_person
from dialogs.ports import Audience
from dialogs.staff import parse_when
from locales import audit_labels, t
from storage import broadcasts, console, export, privacy, staff
from storage.audit import entry
from storage.models import Broadcast, DeletionRequest
from storage.registry_check import Bad as BadCell
from web.auth import RT, Forbidden, member_of, ward_scope
from web.pages import locale_of, quarters, render

routes = web.RouteTableDef()
WEEKS_MAX = 12
# The fixed reason codes of an erasure decision (storage.privacy.REASONS), approve ones first.
REASONS = (*privacy.REASONS[True], *privacy.REASONS[False])


def _actor(request: web.Request) -> str:
    return console.staff_key(member_of(request))


# ---------------------------------------------------------------- reminders


def _audience(form, ward: str | None) -> Audience:
    who = str(form.get("who", "undeclared"))
    days = str(form.get("days", "90"))
    return Audience(ward=ward, undeclared=who in ("undeclared", "stale"),
                    older_than_days=int(days) if who == "stale" and days in ("30", "60", "90") else None,
                    everyone=who == "everyone", quarter=str(form.get("quarter") or "") or None)


async def _list(request: web.Request, ward: str | None) -> list[tuple[Broadcast, dict[str, int]]]:
    async with request.app[RT].sessions() as s:
        q = select(Broadcast).order_by(Broadcast.id.desc()).limit(30)
        if ward is not None:
            q = q.where(Broadcast.ward == ward)
        rows = list((await s.execute(q)).scalars())
        return [(b, await broadcasts.counts(s, b.id)) for b in rows]


@routes.get("/reminders")
async def reminders(request: web.Request) -> web.Response:
    ward = ward_scope(request, request.query.get("ward"))
    return render(request, "reminders.html", {
        "ward": ward, "items": await _list(request, ward), "form": {}, "size": None,
        "quarters": await quarters(request, ward), "done": request.query.get("done"), "error": None})


@routes.post("/reminders")
async def compose(request: web.Request) -> web.StreamResponse:
    """'preview' shows who would get it; 'send' queues it (now, at a time, or weekly)."""
    form = await request.post()
    ward = ward_scope(request, str(form.get("ward") or "") or None)
    member = member_of(request)
    rt = request.app[RT]
    now = datetime.now(TIME_ZONE)
    audience = _audience(form, ward)
    message = str(form.get("message", "")).strip()[:1000] or None
    error = None
    at = None
    if form.get("when") == "later":
        at = parse_when(str(form.get("at", "")), now)
        error = None if at else "web.reminders.bad_time"
    weeks = 1
    if form.get("repeat") == "weekly":
        text = str(form.get("weeks", ""))
        weeks = int(text) if text.isdigit() and 1 <= int(text) <= WEEKS_MAX else 0
        error = error or (None if weeks else "web.reminders.bad_weeks")
    if form.get("action") == "send" and error is None:
        first = at or now
        for week in range(weeks):
            await rt.services.broadcasts.create(member, audience, message, first + timedelta(weeks=week) if week or at
                                                else None, None, locale_of(request))
        raise web.HTTPSeeOther(f"/reminders?done=queued{'&ward=' + ward if ward and member.is_admin else ''}")
    async with rt.sessions() as s:
        size = await broadcasts.audience_size(s, audience, now)
        by_quarter = await console.audience_by_quarter(s, audience, now)
    return render(request, "reminders.html", {
        "ward": ward, "items": await _list(request, ward), "form": form, "size": size, "by_quarter": by_quarter,
        "quarters": await quarters(request, ward), "done": None, "error": error})


@routes.post("/reminders/{id:\\d+}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    member = member_of(request)
    await request.app[RT].services.broadcasts.cancel(member, int(request.match_info["id"]))
    raise web.HTTPSeeOther("/reminders?done=cancelled")


# ---------------------------------------------------------------- privacy requests


@routes.get("/privacy")
async def privacy_requests(request: web.Request) -> web.Response:
    ward = ward_scope(request, request.query.get("ward"))
    async with request.app[RT].sessions.begin() as s:
        waiting = await console.requests(s, ward)
        who = await console.names(s, [r.resident_id for r in waiting])
        s.add(entry("web_privacy_list", actor_kind="staff", actor_id=_actor(request),
                    details={"ward": ward, "resident_ids": [r.resident_id for r in waiting]}))
    return render(request, "privacy_requests.html", {"waiting": waiting, "who": who, "reasons": REASONS,
                                            "now": datetime.now(TIME_ZONE), "overdue": privacy.OVERDUE,
                                            "done": request.query.get("done")})


@routes.post("/privacy/{id:\\d+}")
async def decide(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    approve = form.get("decision") == "approve"
    reason = str(form.get("reason", ""))
    if reason not in privacy.REASONS[approve]:
        raise web.HTTPSeeOther("/privacy?done=need_reason")
    rid = int(request.match_info["id"])
    rt = request.app[RT]
    member = member_of(request)
    async with rt.sessions.begin() as s:
        req = await s.get(DeletionRequest, rid)
        if req is None or not member.sees(req.ward):
            raise web.HTTPNotFound()
        got = await privacy.decide(s, rid, approve, reason, actor_kind="staff", actor_id=_actor(request),
                                   at=datetime.now(TIME_ZONE))
    if isinstance(got, str):
        raise web.HTTPSeeOther(f"/privacy?done={got}")
    if approve:
        await privacy.rewrite_states(rt.store, partial(drop_person, resident_id=got.resident_id))
    await _tell(rt, got, reason)
    raise web.HTTPSeeOther(f"/privacy?done={'approved' if approve else 'denied'}")


async def _tell(rt, got: privacy.Decided, reason: str) -> None:
    """As `healthbot privacy approve` tells them; with no messenger configured (the demo)
    nobody is told, and the request stays marked as not notified."""
    from bot.cli_privacy import tell  # noqa: PLC0415

    await tell(rt, got, reason)


# ---------------------------------------------------------------- audit log


def _date(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=TIME_ZONE)
    except ValueError:
        return None


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    member = member_of(request)
    q = request.query
    resident_text, staff_text = q.get("resident", "").strip()[:20], q.get("staff", "").strip()[:40]
    since, until = _date(q.get("since", "")), _date(q.get("until", ""))
    rows, searched = [], bool(resident_text or staff_text)
    if searched:
        rt = request.app[RT]
        async with rt.sessions.begin() as s:
            rid = None
            if resident_text:
                from storage import registry  # noqa: PLC0415

                found = await registry.find(s, resident_text)
                if found is None or not member.sees(found.ward):
                    found = None
                rid = found.id if found else -1
            # A staff member reads the trail of their ward's residents, and their own.
            if staff_text and not member.is_admin and staff_text != console.staff_key(member):
                raise Forbidden()
            rows = await privacy.trail(s, since=since, resident_id=rid, actor_id=staff_text or None)
            if until is not None:
                rows = [r for r in rows if r.at < until + timedelta(days=1)]
            s.add(entry("web_audit", actor_kind="staff", actor_id=_actor(request), resident_id=rid if rid and rid > 0
                        else None, details={"staff": staff_text or None}))
    rows = rows[-500:][::-1]
    async with request.app[RT].sessions() as s:
        names = await staff.names(s, {r.actor_id for r in rows if r.actor_kind == "staff" and r.actor_id})
        # The staff picker: an admin picks anyone, a staff member only themselves (as the check above).
        members = await staff.all_members(s) if member.is_admin else [member]
    loc = locale_of(request)
    return render(request, "audit.html", {
        "rows": rows, "q": q, "searched": searched, "names": names, "staff_text": staff_text,
        "groups": _by_ward(members), "key": console.staff_key, "label": partial(audit_labels.label, loc)})


def _by_ward(members: list) -> list[tuple[str | None, list]]:
    """Staff grouped by ward in the order given (admins, with no ward, last)."""
    return [(ward, list(group)) for ward, group in groupby(members, key=lambda m: m.ward)]


# ---------------------------------------------------------------- staff accounts (admins)


def _admin(request: web.Request) -> None:
    if not member_of(request).is_admin:
        raise Forbidden()


async def _staff_page(request: web.Request, error: tuple[str, dict] | None = None, form=None,
                      status: int = 200) -> web.Response:
    """The staff accounts; `error` (message id, vars) above the form, which keeps what was typed."""
    async with request.app[RT].sessions() as s:
        members = await staff.all_members(s)
        wards = await staff.wards(s)
    return render(request, "staff_accounts.html", {"members": members, "wards": wards, "roles": staff.ROLES,
                                                   "key": console.staff_key, "error": error, "form": form or {}},
                  status=status)


@routes.get("/staff")
async def staff_list(request: web.Request) -> web.Response:
    _admin(request)
    return await _staff_page(request, ("web.staff.bad", {}) if request.query.get("error") else None)


def staff_address(typed: str) -> str | None:
    """A staff member's messenger account as typed: "zalo:123…", "telegram:123…", or the bare
    Telegram user id."""
    channel, _, user = typed.rpartition(":")
    channel = channel.lower() or "telegram"
    if channel not in ("telegram", "zalo") or not user.isdigit() or len(user) > 20:
        return None
    return f"{channel}:{user}"


def _name(request: web.Request, typed: str) -> str | tuple[str, dict[str, str]]:
    """The name, or the message (id, vars) saying why it cannot be used."""
    try:
        return staff.parse_name(typed)
    except BadCell as bad:
        return "web.staff.bad_name", {"reason": t(locale_of(request), f"registry.reason.{bad.reason}", **bad.vars)}


@routes.post("/staff")
async def staff_add(request: web.Request) -> web.StreamResponse:
    _admin(request)
    form = await request.post()
    key, role, ward = str(form.get("key", "")).strip(), str(form.get("role", "")), str(form.get("ward", "")) or None
    key = staff_address(key)
    if key is None or role not in staff.ROLES or (role == "staff" and ward is None):
        return await _staff_page(request, ("web.staff.bad", {}), form, status=400)
    name = _name(request, str(form.get("name", "")))
    if isinstance(name, tuple):
        return await _staff_page(request, name, form, status=400)
    async with request.app[RT].sessions.begin() as s:
        await staff.add(s, key, None if role == "admin" else ward, role, name)
        # Ids only in the audit log: the name is in the staff table.
        s.add(entry("staff_add", actor_kind="staff", actor_id=_actor(request),
                    details={"staff": key, "ward": ward, "role": role}))
    raise web.HTTPSeeOther("/staff")


def _member_key(request: web.Request) -> str:
    """The staff member a /staff/{key}/… action is about (admins only)."""
    _admin(request)
    key = staff_address(request.match_info["key"])
    if key is None:
        raise web.HTTPNotFound()
    return key


@routes.post("/staff/{key}/name")
async def staff_rename(request: web.Request) -> web.StreamResponse:
    key = _member_key(request)
    name = _name(request, str((await request.post()).get("name", "")))
    if isinstance(name, tuple):
        return await _staff_page(request, name, status=400)
    async with request.app[RT].sessions.begin() as s:
        if not await staff.rename(s, key, name):
            raise web.HTTPNotFound()
        s.add(entry("staff_rename", actor_kind="staff", actor_id=_actor(request), details={"staff": key}))
    raise web.HTTPSeeOther("/staff")


@routes.post("/staff/{key}/remove")
async def staff_remove(request: web.Request) -> web.StreamResponse:
    key = _member_key(request)
    async with request.app[RT].sessions.begin() as s:
        await staff.remove(s, key)
        s.add(entry("staff_remove", actor_kind="staff", actor_id=_actor(request), details={"staff": key}))
    await request.app[RT].services.console.close_all(key)
    raise web.HTTPSeeOther("/staff")


# ---------------------------------------------------------------- exports


@routes.get("/export.{fmt:(csv|xlsx)}")
async def download(request: web.Request) -> web.StreamResponse:
    ward = ward_scope(request, request.query.get("ward"))
    if ward is None:
        raise web.HTTPBadRequest()
    fmt = request.match_info["fmt"]
    loc = locale_of(request)
    async with request.app[RT].sessions.begin() as s:
        tbl = await export.table(s, ward, loc, TIME_ZONE)
        s.add(export.audit_entry(tbl, ward, fmt, "staff", _actor(request)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export.{fmt}"
        export.write(tbl, path, fmt, ward)
        body = path.read_bytes()
    kind = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return web.Response(body=body, content_type=kind,
                        headers={"Content-Disposition": f'attachment; filename="khai-bao.{fmt}"'})
