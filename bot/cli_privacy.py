"""`healthbot privacy requests|approve|deny` and `healthbot audit`: ward staff decide
residents' erasure requests and answer "who saw or changed what, when" from the audit log.

Deciding commits first (the erasure and its audit entry together), then drops any
declaration in progress for that person from every dialog state in Redis, then tells the
requester on their messenger; a message that cannot be delivered does not undo the decision.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select

from bot.channels.base import Outgoing, SendError, split
from bot.cli_staff import Bad, _operator, command
from bot.config import TIME_ZONE
from bot.terminal import help_text, helps, sayer
from dialogs import codes
from dialogs.privacy import drop_person
from locales import audit_labels, t
from storage import privacy, sheets, staff
from storage.audit import entry
from storage.models import Resident

SINCE_DAYS = 30  # `audit` without --since looks this far back


_h = helps("privacy.cli.", "help_")


def register(subparsers) -> None:
    p = subparsers.add_parser("privacy", help=_h("privacy"))
    sub = p.add_subparsers(dest="privacy_command", required=True)
    sub.add_parser("requests", help=_h("requests")).set_defaults(func=cmd_requests)
    for name, fn in (("approve", cmd_approve), ("deny", cmd_deny)):
        a = sub.add_parser(name, help=_h(name))
        a.add_argument("id", help=_h("id"))
        a.add_argument("--reason", metavar="CODE", help=help_text(f"security.cli.help_reason_{name}"))
        a.add_argument("--note", help=help_text("security.cli.help_note"))
        a.set_defaults(func=fn)

    p = subparsers.add_parser("audit", help=_h("audit"))
    p.add_argument("--resident", metavar="CODE", help=_h("resident"))
    p.add_argument("--staff", metavar="ID", help=_h("staff"))
    p.add_argument("--since", metavar="DATE", help=_h("since"))
    p.add_argument("--csv", action="store_true", help=_h("csv"))
    p.set_defaults(func=cmd_audit)


_say = sayer("privacy.cli.")


def _when(at: datetime) -> str:
    return at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M")


def _print_table(head: list[str], rows: list[list]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for line in [head, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- privacy requests|approve|deny


def _age(rt, waited: timedelta) -> str:
    hours, minutes = divmod(int(waited.total_seconds()) // 60, 60)
    days, hours = divmod(hours, 24)
    text = _say(rt, "age_days", d=days, h=hours) if days else _say(rt, "age_hours", h=hours, m=minutes)
    return f"{text} {_say(rt, 'overdue')}" if waited > privacy.OVERDUE else text


@command
async def cmd_requests(args, rt) -> int:
    async with rt.sessions() as s:
        rows = await privacy.open_requests(s)
    if not rows:
        print(_say(rt, "requests_none"))
        return 0
    now = datetime.now(TIME_ZONE)
    _print_table(_say(rt, "requests_head").split("|"), [
        [r.id, r.resident_id, r.ward, r.requested_by, _when(r.requested_at), _age(rt, now - r.requested_at)]
        for r in rows])
    return 0


@command
async def cmd_approve(args, rt) -> int:
    return await _decide(args, rt, approve=True)


@command
async def cmd_deny(args, rt) -> int:
    return await _decide(args, rt, approve=False)


async def _decide(args, rt, approve: bool) -> int:
    text = args.id.strip()
    if not text.isdigit() or int(text) <= 0:
        raise Bad(_say(rt, "bad_id"))
    reason = (args.reason or "").strip().lower()
    if reason not in privacy.REASONS[approve]:
        loc = rt.settings.default_locale
        raise Bad(t(loc, "security.cli.bad_reason", codes=", ".join(
            f"{code} ({t(loc, f'security.reason.{code}.short')})" for code in privacy.REASONS[approve])))
    note = " ".join((args.note or "").split()) or None
    async with rt.sessions.begin() as s:
        got = await privacy.decide(s, int(text), approve, reason, actor_kind="cli", actor_id=_operator(),
                                   at=datetime.now(TIME_ZONE), note=note)
    if isinstance(got, str):
        line = _say(rt, "unknown", id=text) if got == "unknown" else _say(rt, "decided", id=text, status=got)
        print(f"healthbot: {line}", file=sys.stderr)
        return 1
    if approve:
        drafts = await privacy.rewrite_states(rt.store, partial(drop_person, resident_id=got.resident_id))
        print(_say(rt, "approved", id=got.id, resident=got.resident_id, drafts=drafts,
                   **{k: got.erased.get(k, 0) for k in ("declarations", "links", "consents")}))
    else:
        print(_say(rt, "denied", id=got.id, resident=got.resident_id))
    await _tell(rt, got, reason, note)
    return 0


def outcome_text(rt, got: privacy.Decided, reason: str, note: str | None) -> str:
    """What the requester is told, in their language: the decision, why (from the reason
    code), what is kept and why, and staff's note if there is one."""
    s, loc = rt.settings, got.locale
    text = t(loc, "security.outcome_approved" if got.approved else "security.outcome_denied",
             id=got.id, date=got.requested_at.astimezone(TIME_ZONE).strftime("%d/%m/%Y"),
             reason=t(loc, f"security.reason.{reason}.text"), station=s.health_station_name,
             phone=s.health_station_phone)
    return f"{text}\n{t(loc, 'security.outcome_note', note=note)}" if note else text


async def _tell(rt, got: privacy.Decided, reason: str, note: str | None) -> None:
    error = await tell(rt, got, reason, note)
    if error:  # the decision stands; staff can tell them another way
        print(_say(rt, "not_notified", error=error), file=sys.stderr)
    else:
        print(_say(rt, "notified"))


async def tell(rt, got: privacy.Decided, reason: str, note: str | None = None) -> str | None:
    """The outcome to the requester's messenger, in their language (also used by the web
    console); marked as notified once sent. None, or the error's type name."""
    text = outcome_text(rt, got, reason, note)
    from bot.run import sending  # noqa: PLC0415

    name, user = split(got.requested_by)
    try:
        async with sending(rt) as channels:
            if name not in channels:
                raise SendError("NoChannel")
            await channels[name].send(user, Outgoing(text))
    except (SendError, OSError) as e:
        return type(e).__name__
    async with rt.sessions.begin() as session:
        await privacy.mark_notified(session, got.id, datetime.now(TIME_ZONE))
    return None


# ---------------------------------------------------------------- audit


def _since(rt, text: str | None) -> datetime:
    now = datetime.now(TIME_ZONE)
    if text is None:
        return (now - timedelta(days=SINCE_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=TIME_ZONE)
        except ValueError:
            continue
    raise Bad(_say(rt, "bad_since", value=text, example=now.strftime("%d/%m/%Y")))


async def _resident(rt, text: str) -> int:
    """A card code, or a resident number (which still finds the trail of a removed row)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    code, _ = codes.check(value)
    if code is None:
        raise Bad(_say(rt, "bad_resident", value=value))
    async with rt.sessions() as s:
        rid = await s.scalar(select(Resident.id).where(Resident.code == code))
    if rid is None:
        raise Bad(_say(rt, "no_resident", value=value))
    return rid


def _details(rt, details: dict) -> str:
    """Compact; a list of residents (an export's) as its size."""
    d = dict(details)
    ids = d.pop("resident_ids", None)
    parts = [f"{k}={v}" for k, v in d.items()]
    if ids is not None:
        parts.append(_say(rt, "residents_n", n=len(ids)))
    return ", ".join(parts)


def _actor(rt, e, names: dict[str, str]) -> str:
    """Who, in words; the address or login name stays, as it is what --staff takes."""
    kind = audit_labels.kind(rt.settings.default_locale, e.actor_kind)
    if not e.actor_id:
        return kind
    if e.actor_id in names:
        return _say(rt, "actor_named", kind=kind, name=names[e.actor_id], id=e.actor_id)
    return _say(rt, "actor", kind=kind, id=e.actor_id)


@command
async def cmd_audit(args, rt) -> int:
    if bool(args.resident) == bool(args.staff):
        raise Bad(_say(rt, "audit_one_of"))
    since = _since(rt, args.since)
    rid = await _resident(rt, args.resident) if args.resident else None
    staff_id = args.staff.strip() if args.staff else None
    async with rt.sessions.begin() as s:
        found = await privacy.trail(s, since=since, resident_id=rid, actor_id=staff_id)
        # Reading the trail is itself a read of who touched whom: it goes in the trail.
        s.add(entry("audit_query", actor_kind="cli", actor_id=_operator(), resident_id=rid,
                    details={"staff": staff_id, "since": since.date().isoformat(), "rows": len(found)}))
        names = await staff.names(s, {e.actor_id for e in found if e.actor_kind == "staff" and e.actor_id})
    loc = rt.settings.default_locale
    head = _say(rt, "audit_head").split("|")
    rows = [[_when(e.at), _actor(rt, e, names), audit_labels.action(loc, e.action), e.resident_id or "",
             audit_labels.outcome(loc, e.outcome), _details(rt, e.details)] for e in found]
    if args.csv:
        sheets.write_csv(None, head, rows, loc, out=sys.stdout)  # spreadsheet-safe, as every export
        return 0
    since_text = since.strftime("%d/%m/%Y")
    if not rows:
        print(_say(rt, "audit_none", since=since_text))
        return 0
    print(_say(rt, "audit_title", since=since_text, n=len(rows)))
    _print_table(head, rows)
    return 0

