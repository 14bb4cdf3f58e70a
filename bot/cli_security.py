"""`healthbot security unlock|locks`: ward staff lift a card's lock (too many wrong birth
answers from any accounts; dialogs/link.py) and see which cards are locked.

A subcommand of its own rather than `residents unlock`: the `residents` group belongs to
bot/cli_residents.py. Unlocking also forgets every attempt counter of the card; a reissue
(`residents reissue`) does the same for the old code. Output names residents by id only.
"""

from __future__ import annotations

import sys

from bot.config import TIME_ZONE
from bot.terminal import helps, sayer, who_ran
from storage import registry, security

_h = helps("security.cli.", "help_")


def register(subparsers) -> None:
    p = subparsers.add_parser("security", help=_h("security"))
    sub = p.add_subparsers(dest="security_command", required=True, metavar="ACTION")
    u = sub.add_parser("unlock", help=_h("unlock"))
    u.add_argument("resident", metavar="CODE_OR_ID", help=_h("resident"))
    u.set_defaults(func=cmd_unlock)
    sub.add_parser("locks", help=_h("locks")).set_defaults(func=cmd_locks)


_say = sayer("security.cli.")


async def cmd_unlock(args, rt) -> int:
    async with rt.sessions.begin() as s:
        row = await registry.find(s, args.resident)
        if row is None:
            print(f"healthbot: {_say(rt, 'unknown')}", file=sys.stderr)
            return 1
        lifted, counters = await security.clear_card(s, rt.store, row.id, who_ran(), "unlock")
    print(_say(rt, "unlocked" if lifted else "not_locked", id=row.id, counters=counters))
    return 0


async def cmd_locks(args, rt) -> int:
    async with rt.sessions() as s:
        rows = await security.locked_cards(s)
    if not rows:
        print(_say(rt, "locks_none"))
        return 0
    print(_say(rt, "locks_head"))
    for rid, ward, at in rows:
        print(_say(rt, "locks_row", id=rid, ward=ward, at=at.astimezone(TIME_ZONE).strftime("%d/%m/%Y %H:%M")))
    return 0
