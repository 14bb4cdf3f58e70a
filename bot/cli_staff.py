"""Staff commands at the terminal: `healthbot staff|broadcast` (`stats` and `export`:
bot/cli_export.py).

Each command is `async fn(args, rt) -> exit code`. Bad input ends with one line on stderr
and exit code 2. The terminal has full access (it is the server's operator); every read of
residents and every broadcast is audited as actor 'cli' with the operating-system user.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta

from bot.broadcaster import duration, tally, worker_loop
from bot.config import TIME_ZONE
from bot.render import text_of
from bot.terminal import helps, sayer, who_ran
from dialogs.core import Reply
from dialogs.ports import Audience
from dialogs.staff import MAX_DAYS, MESSAGE_LIMIT, describe, parse_when
from locales import t
from storage import broadcasts, staff
from storage.audit import entry
from storage.models import Staff
from storage.registry_check import Bad as BadCell

_h = helps("staff.cli.", "help_")


def register(subparsers) -> None:
    p = subparsers.add_parser("staff", help=_h("staff"))
    sub = p.add_subparsers(dest="staff_command", required=True)
    a = sub.add_parser("add", help=_h("staff_add"))
    _who(a)
    a.add_argument("--ward", help=_h("ward"))
    a.add_argument("--role", default="staff", help=_h("role"))
    a.add_argument("--name", help=_h("name"))
    a.set_defaults(func=cmd_staff_add)
    sub.add_parser("list", help=_h("staff_list")).set_defaults(func=cmd_staff_list)
    r = sub.add_parser("remove", help=_h("staff_remove"))
    _who(r)
    r.set_defaults(func=cmd_staff_remove)

    p = subparsers.add_parser("broadcast", help=_h("broadcast"))
    p.add_argument("--ward", help=_h("ward"))
    p.add_argument("--quarter", help=_h("quarter"))
    p.add_argument("--undeclared", action="store_true", help=_h("undeclared"))
    p.add_argument("--older-than", metavar="N", help=_h("older_than"))
    p.add_argument("--all", action="store_true", dest="everyone", help=_h("all"))
    p.add_argument("--message", help=_h("message"))
    p.add_argument("--at", help=_h("at"))
    p.add_argument("--no-wait", action="store_true", help=_h("no_wait"))
    p.add_argument("--yes", action="store_true", help=_h("yes"))
    p.add_argument("--cancel", metavar="ID", help=_h("cancel"))
    p.add_argument("--list", action="store_true", help=_h("list"))
    p.set_defaults(func=cmd_broadcast)
    # `stats` and `export`: bot/cli_export.py


# ---------------------------------------------------------------- shared bits


class Bad(Exception):
    """Bad input: one line, exit code 2."""


_say = sayer("staff.cli.")


def _fail(line: str) -> int:
    print(f"healthbot: {line}", file=sys.stderr)
    return 2


def _decimal(rt, x: float) -> str:
    """One decimal, with the decimal comma in Vietnamese."""
    text = f"{x:.1f}"
    return text.replace(".", ",") if rt.settings.default_locale == "vi" else text


def _operator() -> str:
    return who_ran() or "cli"


def _who(p) -> None:
    """A staff member is named by their messenger account: Telegram's or Zalo's user id."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--telegram-id", help=_h("telegram_id"))
    g.add_argument("--zalo-id", help=_h("zalo_id"))


def _account(rt, args) -> str:
    """The account's address ("telegram:123"), from whichever id was given."""
    if args.zalo_id is not None:
        return f"zalo:{_positive(rt, args.zalo_id, 'bad_zalo_id')}"
    return f"telegram:{_positive(rt, args.telegram_id, 'bad_id')}"


def _positive(rt, text: str | None, msg: str, **vars) -> int:
    if text is None or not text.strip().isdigit() or int(text) <= 0:
        raise Bad(_say(rt, msg, **vars))
    return int(text)


async def _ward(rt, name: str | None) -> str | None:
    """The registry's spelling of a ward typed with or without diacritics."""
    if name is None:
        return None
    async with rt.sessions() as s:
        known = await staff.wards(s)
    found = staff.match_name(name, known)
    if found is None:
        if not known:
            raise Bad(_say(rt, "no_wards"))
        raise Bad(_say(rt, "unknown_ward", ward=name, known=", ".join(known)))
    return found


def command(fn):
    """Turns `Bad` into the one-line exit."""

    async def run(args, rt) -> int:
        try:
            return await fn(args, rt)
        except Bad as e:
            return _fail(str(e))

    run.__name__ = fn.__name__
    return run


# ---------------------------------------------------------------- staff add|list|remove


@command
async def cmd_staff_add(args, rt) -> int:
    tid = _account(rt, args)
    if args.role not in staff.ROLES:
        raise Bad(_say(rt, "bad_role"))
    if args.role == "staff" and not args.ward:
        raise Bad(_say(rt, "ward_needed"))
    name = _name(rt, args.name)
    ward = await _ward(rt, args.ward) if args.ward else None
    async with rt.sessions.begin() as s:
        before = await s.get(Staff, tid)
        if before is None and name is None:
            raise Bad(_say(rt, "name_needed"))
        await staff.add(s, tid, ward, args.role, name)
        # Ids only in the audit log: the name is in the staff table.
        s.add(entry("staff_add", actor_kind="cli", actor_id=_operator(),
                    details={"account": tid, "ward": ward, "role": args.role}))
        if before is not None and name is not None and name != before.full_name:
            s.add(entry("staff_rename", actor_kind="cli", actor_id=_operator(), details={"account": tid}))
    print(_say(rt, "staff_added", id=tid, name=name or before.full_name or "—", role=args.role,
               ward=ward or t(rt.settings.default_locale, "staff.all_wards")))
    return 0


def _name(rt, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return staff.parse_name(text)
    except BadCell as bad:
        reason = t(rt.settings.default_locale, f"registry.reason.{bad.reason}", **bad.vars)
        raise Bad(_say(rt, "bad_name", reason=reason)) from None


@command
async def cmd_staff_list(args, rt) -> int:
    async with rt.sessions() as s:
        members = await staff.all_members(s)
    if not members:
        print(_say(rt, "staff_none"))
    all_wards = t(rt.settings.default_locale, "staff.all_wards")
    for m in members:
        print(_say(rt, "staff_row", id=m.account, name=m.name or "—", role=m.role, ward=m.ward or all_wards))
    return 0


@command
async def cmd_staff_remove(args, rt) -> int:
    tid = _account(rt, args)
    async with rt.sessions.begin() as s:
        gone = await staff.remove(s, tid)
        if gone:
            s.add(entry("staff_remove", actor_kind="cli", actor_id=_operator(), details={"account": tid}))
    if not gone:
        print(f"healthbot: {_say(rt, 'staff_missing', id=tid)}", file=sys.stderr)
        return 1
    print(_say(rt, "staff_removed", id=tid))
    return 0


# ---------------------------------------------------------------- broadcast


async def _audience(args, rt) -> Audience:
    days = None
    if args.older_than is not None:
        days = _positive(rt, args.older_than, "bad_days", max=MAX_DAYS)
        if days > MAX_DAYS:
            raise Bad(_say(rt, "bad_days", max=MAX_DAYS))
    if args.everyone and (args.undeclared or days):
        raise Bad(_say(rt, "all_alone"))
    if not (args.everyone or args.undeclared or days):
        raise Bad(_say(rt, "no_audience"))
    if args.quarter and not args.ward:
        raise Bad(_say(rt, "quarter_without_ward"))
    ward = await _ward(rt, args.ward)
    quarter = None
    if args.quarter:
        quarters = await rt.services.staff.quarters(ward)
        quarter = staff.match_name(args.quarter, quarters)
        if quarter is None:
            raise Bad(_say(rt, "unknown_quarter", ward=ward, quarter=args.quarter, known=", ".join(quarters)))
    return Audience(ward, args.undeclared, days, args.everyone, quarter)


def _when(args, rt) -> datetime | None:
    if args.at is None:
        return None
    now = datetime.now(TIME_ZONE)
    at = parse_when(args.at, now)
    if at is None:
        tomorrow = (now + timedelta(days=1)).replace(hour=8, minute=0)
        raise Bad(_say(rt, "bad_at", example=tomorrow.strftime("%d/%m/%Y %H:%M")))
    return at


def _message(args, rt) -> str | None:
    if args.message is None:
        return None
    text = args.message.strip()
    if not 5 <= len(text) <= MESSAGE_LIMIT:
        raise Bad(_say(rt, "bad_message", max=MESSAGE_LIMIT))
    return text


def _confirmed(rt, yes: bool) -> bool:
    if yes:
        return True
    answer = input(_say(rt, "ask_confirm")).strip().lower()
    return answer in ("c", "co", "có", "y", "yes")


@command
async def cmd_broadcast(args, rt) -> int:
    if args.list:
        return await _list(rt)
    if args.cancel is not None:
        bid = _positive(rt, args.cancel, "cancel_failed", id=args.cancel)
        async with rt.sessions.begin() as s:
            ok = await broadcasts.cancel(s, bid, actor_kind="cli", actor_id=_operator())
        if not ok:
            print(f"healthbot: {_say(rt, 'cancel_failed', id=bid)}", file=sys.stderr)
            return 1
        print(_say(rt, "cancelled", id=bid))
        return 0
    audience = await _audience(args, rt)
    at, message = _when(args, rt), _message(args, rt)
    if not args.yes and not sys.stdin.isatty():
        raise Bad(_say(rt, "need_yes"))
    loc = rt.settings.default_locale
    size = await rt.services.broadcasts.audience_size(audience, datetime.now(TIME_ZONE))
    who = text_of(Reply("staff.remind.describe", describe(audience).vars), loc)
    print(_say(rt, "preview", who=who, chats=size.chats, residents=size.residents), file=sys.stderr)
    if size.chats == 0 and at is None:
        print(_say(rt, "nobody"))
        return 0
    if not _confirmed(rt, args.yes):
        print(_say(rt, "not_confirmed"))
        return 1
    async with rt.sessions.begin() as s:
        bid = await broadcasts.create(s, audience, message, at, actor_kind="cli", actor_id=_operator(), locale=loc)
    if at is None:
        print(_say(rt, "created", id=bid))
    else:
        print(_say(rt, "created_at", id=bid, at=at.strftime("%d/%m/%Y %H:%M")))
    if args.no_wait:
        return 0
    if at is not None:
        print(_say(rt, "waiting", id=bid, at=at.strftime("%d/%m/%Y %H:%M")), file=sys.stderr)
    return await run_until_done(rt, bid)


async def run_until_done(rt, bid: int, worker_kw: dict | None = None) -> int:
    """Run a worker beside a progress bar until broadcast `bid` has finished."""
    from bot.run import sending  # noqa: PLC0415

    async with sending(rt):
        return await _run_until_done(rt, bid, worker_kw)


async def _run_until_done(rt, bid: int, worker_kw: dict | None) -> int:
    stop = asyncio.Event()
    worker = asyncio.create_task(worker_loop(rt, stop, **(worker_kw or {})))
    bar = ProgressBar(rt, sys.stderr)
    try:
        while True:
            async with rt.sessions() as s:
                b = await s.get(broadcasts.Broadcast, bid)
                counts = await broadcasts.counts(s, bid)
            bar.show(b.total or 0, counts)
            if b.finished_at is not None:
                break
            if worker.done():  # the worker stopped on its own: an error it could not survive
                await worker
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(worker, return_exceptions=True)
    bar.end()
    outcome = _say(rt, "outcome_done" if b.status == "done" else "outcome_cancelled")
    print(_say(rt, "final", id=bid, outcome=outcome, duration=duration(b.started_at, b.finished_at),
               **tally(counts)))
    return 0


class ProgressBar:
    """One line on a terminal, redrawn in place; occasional lines when not a terminal."""

    WIDTH = 24

    def __init__(self, rt, stream):
        self.rt = rt
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_line = 0.0
        self.drawn = False

    def show(self, total: int, counts: dict[str, int]) -> None:
        if not total:
            self.started = time.monotonic()  # the rate counts from the start of sending
            return
        done = sum(counts.get(s, 0) for s in broadcasts.FINAL)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        speed = counts.get("sent", 0) / elapsed
        eta = (total - done) / speed if speed > 0 else 0
        filled = self.WIDTH * done // total
        line = _say(self.rt, "bar", bar="█" * filled + "░" * (self.WIDTH - filled), pct=100 * done // total,
                    done=done, total=total, rate=_decimal(self.rt, speed), eta=str(timedelta(seconds=int(eta))), **tally(counts))
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.drawn = True
        elif time.monotonic() - self.last_line >= 5 or done == total:
            self.stream.write(line + "\n")
            self.last_line = time.monotonic()
        self.stream.flush()

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


async def _list(rt) -> int:
    async with rt.sessions() as s:
        rows = await broadcasts.recent(s)
        if not rows:
            print(_say(rt, "list_none"))
        all_wards = t(rt.settings.default_locale, "staff.all_wards")
        for b in rows:
            counts = await broadcasts.counts(s, b.id)
            done = sum(counts.get(x, 0) for x in broadcasts.FINAL)
            place = ", ".join(x for x in (b.ward or all_wards, b.quarter) if x)
            print(_say(rt, "list_row", id=b.id, status=b.status, place=place, done=done, total=b.total or 0,
                       scheduled=b.scheduled_at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M")))
    return 0
