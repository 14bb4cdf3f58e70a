"""Ward staff in the bot: /thongke (numbers), /nhacnho (the reminder wizard), /tracuu
(look-up), the stop button on a broadcast's progress message; and, for everyone,
/tatnhacnho and /batnhacnho.

To anyone who is not staff, every staff command answers exactly as an unknown command
does: the bot does not reveal that staff commands exist. A staff member works on their
own ward; an admin on any ward. Storage checks the same scope again and audits each read.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any

from dialogs import nodes
from dialogs.codes import mask
from dialogs.core import HOME, NAV, Ctx, Msg, Reply, callback, command, node, unknown_command
from dialogs.core import _reprompt as reprompt
from dialogs.naming import who
from dialogs.ports import Audience, Found, Person, StaffMember, StatsReport
from dialogs.text import clean, fold

LOOKUP_LIMIT = 8
MESSAGE_LIMIT = 1000  # room left for the names and buttons within Telegram's 4096
DAY_CHOICES = ("30", "60", "90")
MAX_DAYS = 3650
SCHEDULE_AHEAD = timedelta(days=30)
NO_VALUE = "—"

# ---------------------------------------------------------------- access


def staff_only(fn: Callable[[Ctx, StaffMember], Awaitable[None]]):
    """A staff command: non-staff get exactly the unknown-command answer."""

    @wraps(fn)
    async def run(ctx: Ctx) -> None:
        member = await ctx.svc.staff.member(ctx.env.account)
        if member is None:
            await unknown_command(ctx)
            return
        await fn(ctx, member)

    return run


# ---------------------------------------------------------------- small formatting helpers


def num(x: Any) -> str:
    """Decimal comma, no trailing zeros: 65.50 -> '65,5'."""
    if x is None:
        return NO_VALUE
    text = f"{float(x):.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def dmy_hm(at: datetime, tz) -> str:
    return at.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def listed(items: list[Any], line: str) -> Any:
    """Several values as one nested Msg, each through the message `line` ({item}{more})."""
    out: Any = ""
    for item in reversed(items):
        out = Msg(line, {"item": item, "more": out})
    return out


_WHEN = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2})[:hg](\d{2})\s*$", re.ASCII | re.I)


def parse_when(text: str, now: datetime) -> datetime | None:
    """'dd/mm/yyyy HH:MM' in now's time zone; None unless a real time after now."""
    m = _WHEN.match(text[:40])
    if not m:
        return None
    d, mo, y, h, mi = (int(g) for g in m.groups())
    try:
        at = datetime(y, mo, d, h, mi, tzinfo=now.tzinfo)
    except ValueError:
        return None
    return at if at > now else None


# ---------------------------------------------------------------- /thongke


def stats_table(report: StatsReport) -> str:
    """Numbers first, right-aligned with figure spaces (as wide as a digit in proportional
    fonts too), the label last: lines stay short and line up on a small phone."""
    pad = "\u2007"
    cols = [(r.residents, r.linked, r.declared, r.recent,
             f"{round(100 * r.recent / r.residents) if r.residents else 0}%") for r in report.rows]
    widths = [max(len(str(c[i])) for c in cols) for i in range(5)]
    lines = []
    for r, c in zip(report.rows, cols, strict=True):
        nums = pad.join(str(v).rjust(w, pad) for v, w in zip(c, widths, strict=True))
        label = "∑" if r.label is None else (r.label or "?")[:16]
        lines.append(f"{nums}{pad}{label}")
    return "\n".join(lines)


async def _ward_arg(ctx: Ctx, member: StaffMember) -> str | None:
    """The ward named after the command, if the member may see it; with no name, their
    own ward (an admin's: every ward). Says so when the name is not one they may see."""
    wanted = fold(ctx.inp.text)
    default = None if member.is_admin else member.ward
    if not wanted:
        return default
    for w in await ctx.svc.staff.wards(member):
        if fold(w) == wanted:
            return w
    ctx.say("staff.not_your_ward")
    return default


@command("thongke", "stats")
@staff_only
async def show_stats(ctx: Ctx, member: StaffMember) -> None:
    ward = await _ward_arg(ctx, member)
    report = await ctx.svc.staff.stats(member, ward, ctx.env.now)
    extras = [Msg("staff.stats.extra", {"label": Msg(m), "value": v}) for m, v in report.extras]
    ctx.say(
        "staff.stats.report",
        place=ward if ward is not None else Msg("staff.all_wards"),
        at=ctx.env.now.strftime("%d/%m/%Y %H:%M"),
        days=report.days,
        table=stats_table(report),
        extras=listed(extras, "staff.line"),
    )


# ---------------------------------------------------------------- /tracuu


def _found_line(f: Found, tz) -> Msg:
    p = f.person
    last = (Msg("staff.lookup.declared_on", {"at": dmy_hm(f.declaration.submitted_at, tz)})
            if f.declaration else Msg("staff.lookup.never"))
    return Msg("staff.lookup.item", {"name": p.full_name, "year": p.birth_year, "quarter": p.quarter or NO_VALUE,
                                     "code": mask(p.code), "last": last})


def _found_detail(f: Found, tz) -> Reply:
    p, d = f.person, f.declaration
    head = {"name": p.full_name, "year": p.birth_year, "quarter": p.quarter or NO_VALUE, "code": mask(p.code),
            "sex": Msg("staff.sex." + (p.sex or "none"))}
    if d is None:
        return Reply("staff.lookup.none_yet", head)
    bp = f"{d.systolic}/{d.diastolic}" if d.systolic and d.diastolic else NO_VALUE
    values = {
        "at": dmy_hm(d.submitted_at, tz), "version": d.version, "height": num(d.height_cm),
        "weight": num(d.weight_kg), "bmi": num(d.bmi), "bp": bp,
        "doses": NO_VALUE if d.covid_doses is None else d.covid_doses,
    }
    return Reply("staff.lookup.detail", {**head, **values})


@command("tracuu", "lookup")
@staff_only
async def lookup(ctx: Ctx, member: StaffMember) -> None:
    query = ctx.inp.text.strip()
    if not query:
        ctx.say("staff.lookup.usage")
        return
    found = await ctx.svc.staff.lookup(member, query, LOOKUP_LIMIT + 1)
    tz = ctx.env.now.tzinfo
    if not found:
        ctx.say("staff.lookup.not_found")
    elif len(found) == 1:
        ctx.send(_found_detail(found[0], tz))
    else:
        more = Msg("staff.lookup.more") if len(found) > LOOKUP_LIMIT else ""
        items = [_found_line(f, tz) for f in found[:LOOKUP_LIMIT]]
        ctx.say("staff.lookup.several", items=listed(items, "staff.line"), more=more)


# ---------------------------------------------------------------- /tatnhacnho, /batnhacnho (everyone)


async def _set_reminders(ctx: Ctx, enabled: bool) -> None:
    await ctx.svc.broadcasts.set_reminders(ctx.env.account, ctx.locale, enabled)
    ctx.say("staff.optout.on" if enabled else "staff.optout.off")
    await reprompt(ctx)


@command("tatnhacnho", "stopreminders")
async def reminders_off(ctx: Ctx) -> None:
    await _set_reminders(ctx, False)


@command("batnhacnho", "startreminders")
async def reminders_on(ctx: Ctx) -> None:
    await _set_reminders(ctx, True)


# ---------------------------------------------------------------- the reminder itself


def reminder_reply(message: str | None, names: list[Any], station: str) -> Reply:
    """What a family receives: the staff's text (or the template) and who still needs to
    declare, each named as `naming.who` does. The adapter adds one "Khai báo ngay" button
    per person (callback data declare:<resident id>)."""
    listing = listed(names, "staff.reminder.name")
    if message:
        return Reply("staff.reminder.custom", {"text": message, "names": listing})
    return Reply("staff.reminder.default", {"station": station, "names": listing})


def names_of(people: list[Person], today: date) -> list[Msg]:
    return [who(p, today) for p in people]


# The preview shows the reminder for an example person, never a real resident.
SAMPLE = Msg("title.named", {"title": Msg("title.ba"), "name": Msg("staff.remind.sample_name")})


# ---------------------------------------------------------------- /nhacnho: the wizard

AUDIENCES = {
    "staff.remind.aud_undeclared": {"undeclared": True},
    "staff.remind.aud_stale": {"stale": True},
    "staff.remind.aud_both": {"undeclared": True, "stale": True},
    "staff.remind.aud_all": {"everyone": True},
}


def audience_of(data: dict[str, Any]) -> Audience:
    return Audience(
        ward=data.get("ward"),
        undeclared=bool(data.get("undeclared")),
        older_than_days=data.get("days") if data.get("stale") else None,
        everyone=bool(data.get("everyone")),
        quarter=data.get("quarter"),
    )


def describe(a: Audience) -> Msg:
    if a.everyone:
        kind = Msg("staff.remind.desc_all")
    elif a.undeclared and a.older_than_days is not None:
        kind = Msg("staff.remind.desc_both", {"days": a.older_than_days})
    elif a.undeclared:
        kind = Msg("staff.remind.desc_undeclared")
    else:
        kind = Msg("staff.remind.desc_stale", {"days": a.older_than_days})
    place = a.ward if a.ward is not None else Msg("staff.all_wards")
    if a.quarter:
        place = Msg("staff.remind.place_quarter", {"ward": place, "quarter": a.quarter})
    return Msg("staff.remind.describe", {"kind": kind, "place": place})


def _typed(ctx: Ctx, options: list[str]) -> str | None:
    """A button whose label is data (a ward, a quarter), matched without diacritics."""
    f = fold(ctx.inp.text)
    return next((o for o in options if fold(o) == f), None)


async def _still_staff(ctx: Ctx) -> StaffMember | None:
    """Checked again where it matters (choosing a ward, sending): someone removed from
    staff mid-way is simply stopped."""
    member = await ctx.svc.staff.member(ctx.env.account)
    if member is None:
        ctx.reset()
        await ctx.go(HOME, remember=False)
    return member


@command("nhacnho", "remind")
@staff_only
async def remind(ctx: Ctx, member: StaffMember) -> None:
    ctx.reset()
    if member.is_admin:
        await ctx.go(nodes.NHACNHO_WARD)
    else:
        ctx.data["ward"] = member.ward
        await ctx.go(nodes.NHACNHO_AUDIENCE)


@node(nodes.NHACNHO_WARD)
class PickWard:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        member = await _still_staff(ctx)
        if member is None:
            return
        wards = await ctx.svc.staff.wards(member)
        ctx.say("staff.remind.ask_ward", keyboard=[["staff.all_wards"], *([w] for w in wards), *NAV])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        member = await _still_staff(ctx)
        if member is None:
            return
        if ctx.pressed("staff.all_wards"):
            ctx.data["ward"] = None
        else:
            ward = _typed(ctx, await ctx.svc.staff.wards(member))
            if ward is None:
                ctx.say("common.not_understood")
                await PickWard.enter(ctx)
                return
            ctx.data["ward"] = ward
        await ctx.go(nodes.NHACNHO_AUDIENCE)


@node(nodes.NHACNHO_AUDIENCE)
class PickAudience:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        ctx.say("staff.remind.ask_audience", keyboard=[[k] for k in AUDIENCES] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        choice = ctx.choice(list(AUDIENCES))
        if choice is None:
            ctx.say("common.not_understood")
            await PickAudience.enter(ctx)
            return
        for k in ("undeclared", "stale", "everyone", "days"):
            ctx.data.pop(k, None)
        ctx.data.update(AUDIENCES[choice])
        await ctx.go(nodes.NHACNHO_DAYS if ctx.data.get("stale") else nodes.NHACNHO_QUARTER)


@node(nodes.NHACNHO_DAYS)
class PickDays:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        ctx.say("staff.remind.ask_days", keyboard=[list(DAY_CHOICES), *NAV])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        m = re.fullmatch(r"\s*(\d{1,4})\s*(?:ngay|days?|d|n)?\s*", fold(ctx.inp.text), re.ASCII)
        days = int(m.group(1)) if m else 0
        if not 1 <= days <= MAX_DAYS:
            ctx.say("staff.remind.bad_days", max=MAX_DAYS)
            await PickDays.enter(ctx)
            return
        ctx.data["days"] = days
        await ctx.go(nodes.NHACNHO_QUARTER)


@node(nodes.NHACNHO_QUARTER)
class PickQuarter:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        ward = ctx.data.get("ward")
        quarters = await ctx.svc.staff.quarters(ward) if ward else []
        if not quarters:  # every ward at once, or a ward without quarters: nothing to choose
            ctx.data["quarter"] = None
            await ctx.go(nodes.NHACNHO_MESSAGE, remember=False)
            return
        ctx.say("staff.remind.ask_quarter", keyboard=[["staff.remind.whole_ward"], *([q] for q in quarters), *NAV])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.pressed("staff.remind.whole_ward"):
            ctx.data["quarter"] = None
        else:
            ward = ctx.data.get("ward")
            quarter = _typed(ctx, await ctx.svc.staff.quarters(ward)) if ward else None
            if quarter is None:
                ctx.say("common.not_understood")
                await PickQuarter.enter(ctx)
                return
            ctx.data["quarter"] = quarter
        await ctx.go(nodes.NHACNHO_MESSAGE)


@node(nodes.NHACNHO_MESSAGE)
class WriteMessage:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        ctx.say("staff.remind.ask_message", keyboard=[["staff.remind.use_template"], *NAV])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.pressed("staff.remind.use_template"):
            ctx.data["message"] = None
        else:
            text = "\n".join(clean(line, MESSAGE_LIMIT) for line in ctx.inp.text.splitlines()).strip()
            if len(text) < 5 or len(ctx.inp.text) > MESSAGE_LIMIT:
                ctx.say("staff.remind.bad_message", max=MESSAGE_LIMIT)
                await WriteMessage.enter(ctx)
                return
            ctx.data["message"] = text
        await ctx.go(nodes.NHACNHO_PREVIEW)


@node(nodes.NHACNHO_PREVIEW)
class Preview:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        audience = audience_of(ctx.data)
        size = await ctx.svc.broadcasts.audience_size(audience, ctx.env.now)
        sample = reminder_reply(ctx.data.get("message"), [SAMPLE], ctx.env.station_name)
        ctx.say("staff.remind.preview", who=describe(audience), chats=size.chats, residents=size.residents)
        ctx.send(sample)
        ctx.data["chats"] = size.chats
        if size.chats == 0:
            ctx.say("staff.remind.nobody", keyboard=NAV)
            return
        ctx.say("staff.remind.confirm",
                keyboard=[["staff.remind.send_now"], ["staff.remind.schedule"], *NAV])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if not ctx.data.get("chats"):
            await Preview.enter(ctx)
        elif ctx.pressed("staff.remind.send_now"):
            await _create(ctx, None)
        elif ctx.pressed("staff.remind.schedule"):
            await ctx.go(nodes.NHACNHO_WHEN)
        else:
            ctx.say("common.not_understood")
            ctx.say("staff.remind.confirm",
                    keyboard=[["staff.remind.send_now"], ["staff.remind.schedule"], *NAV])


@node(nodes.NHACNHO_WHEN)
class PickTime:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        example = (ctx.env.now + timedelta(days=1)).replace(hour=8, minute=0)
        ctx.say("staff.remind.ask_when", example=example.strftime("%d/%m/%Y %H:%M"), keyboard=NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        at = parse_when(ctx.inp.text, ctx.env.now)
        if at is None or at > ctx.env.now + SCHEDULE_AHEAD:
            ctx.say("staff.remind.bad_when", days=SCHEDULE_AHEAD.days)
            await PickTime.enter(ctx)
            return
        await _create(ctx, at)


async def _create(ctx: Ctx, at: datetime | None) -> None:
    member = await _still_staff(ctx)
    if member is None:
        return
    audience = audience_of(ctx.data)
    bid = await ctx.svc.broadcasts.create(member, audience, ctx.data.get("message"), at,
                                          ctx.env.account, ctx.locale)
    if at is None:
        ctx.say("staff.remind.started", id=bid)
    else:
        ctx.say("staff.remind.scheduled", id=bid, at=at.strftime("%d/%m/%Y %H:%M"))
    ctx.reset()
    await ctx.go(HOME, remember=False)


@callback("bcancel")
async def stop_broadcast(ctx: Ctx, rest: str) -> None:
    member = await ctx.svc.staff.member(ctx.env.account)
    if member is None or not rest.isdigit():
        ctx.say("err.button_expired")
        return
    stopped = await ctx.svc.broadcasts.cancel(member, int(rest))
    ctx.say("staff.remind.cancelled" if stopped else "staff.remind.not_running", id=rest)


@command("canbo", "staff")
@staff_only
async def staff_help(ctx: Ctx, member: StaffMember) -> None:
    ctx.say("staff.help", place=member.ward if not member.is_admin else Msg("staff.all_wards"))



@command("web")
@staff_only
async def web_console(ctx: Ctx, member: StaffMember) -> None:
    """A one-time link to the staff web console (web/)."""
    link = await ctx.svc.console.sign_in_link(member)
    ctx.say("web.bot.link", url=link.url, minutes=link.minutes)
