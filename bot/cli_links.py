"""`healthbot residents unlink CODE_OR_ID`: staff end every Telegram link of a resident.

The `residents` group belongs to bot/cli_residents.py; the CLI wiring calls `add_unlink`
on it. Output and audit carry the resident's id only, never the name or the code.
"""

from __future__ import annotations

import sys
from datetime import datetime
from functools import partial

from bot.config import TIME_ZONE
from bot.terminal import help_text, who_ran
from dialogs.draft import drop_person
from locales import t
from storage import registry
from storage.people import transaction


def add_unlink(residents_subparsers) -> None:
    p = residents_subparsers.add_parser("unlink", help=help_text("cli.help_unlink"))
    p.add_argument("resident", metavar="CODE_OR_ID", help=help_text("cli.help_unlink_resident"))
    p.set_defaults(func=run_unlink)


async def run_unlink(args, rt) -> int:
    async with transaction(rt.sessions) as s:
        row = await registry.find(s, args.resident)
    loc = rt.settings.default_locale
    if row is None:
        print(t(loc, "cli.unlink_unknown"), file=sys.stderr)
        return 1
    holders = await rt.services.people.holders(row.id)
    ended = await rt.services.people.unlink_all(row.id, datetime.now(TIME_ZONE), "cli", who_ran())
    # their declarations in progress about this person go too (they could not send them)
    await rt.services.drafts.rewrite(holders, partial(drop_person, resident_id=row.id))
    print(t(loc, "cli.unlink_done", count=ended, id=row.id))
    return 0
