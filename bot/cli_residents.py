"""`healthbot residents import|list|show|reissue` and `healthbot cards`: the registry at
the terminal, for ward staff.

Text comes from locales (registry.*). Bad input is one line on stderr and exit code 2;
an import with rejected rows exits 1. Codes are masked unless --reveal is given, and
nothing personal goes to the log.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import asyncpg

from bot import cli_links
from bot.terminal import audit_read, help_text, who_ran
from dialogs import codes
from dialogs.parsers import show_phone
from locales import t
from storage import registry, security
from storage.db import plain_url

log = logging.getLogger(__name__)

MAX_REJECTIONS_SHOWN = 200
FORMATS = ("pdf", "png", "svg")


def _h(key: str) -> str:
    return help_text(f"registry.help.{key}")


def register(subparsers, common: argparse.ArgumentParser | None = None) -> None:
    parents = [common] if common else []
    residents = subparsers.add_parser("residents", parents=parents, help=_h("residents"))
    sub = residents.add_subparsers(dest="residents_command", required=True, metavar="ACTION")

    p = sub.add_parser("import", parents=parents, help=_h("import"))
    p.add_argument("file", type=Path, help=_h("file"))
    p.add_argument("--ward", help=_h("import_ward"))
    p.add_argument("--strict", action="store_true", help=_h("strict"))
    p.set_defaults(func=run_import)

    p = sub.add_parser("list", parents=parents, help=_h("list"))
    p.add_argument("--ward", help=_h("ward"))
    p.add_argument("--quarter", help=_h("quarter"))
    p.set_defaults(func=run_list)

    p = sub.add_parser("show", parents=parents, help=_h("show"))
    p.add_argument("key", metavar="CODE_OR_ID", help=_h("key"))
    p.add_argument("--reveal", action="store_true", help=_h("reveal"))
    p.set_defaults(func=run_show)

    p = sub.add_parser("reissue", parents=parents, help=_h("reissue"))
    p.add_argument("key", metavar="CODE_OR_ID", help=_h("key"))
    p.add_argument("--reveal", action="store_true", help=_h("reveal_new"))
    p.set_defaults(func=run_reissue)

    cli_links.add_unlink(sub)  # `residents unlink`: ends every Telegram link (linking area)

    p = subparsers.add_parser("cards", parents=parents, help=_h("cards"))
    p.add_argument("--ward", required=True, help=_h("cards_ward"))
    p.add_argument("--quarter", help=_h("quarter"))
    p.add_argument("--group", help=_h("group"))
    p.add_argument("--out", type=Path, required=True, help=_h("out"))
    p.add_argument("--format", choices=FORMATS, default="pdf", help=_h("format"))
    p.add_argument("--workers", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=run_cards)


def _say(rt, msg_id: str, **vars) -> None:
    print(t(rt.settings.default_locale, msg_id, **vars))


def _fail(rt, msg_id: str, code: int = 2, **vars) -> int:
    print(f"healthbot: {t(rt.settings.default_locale, msg_id, **vars)}", file=sys.stderr)
    return code


# ---------------------------------------------------------------- import


async def run_import(args, rt) -> int:
    conn = await asyncpg.connect(plain_url(rt.database_url))
    try:
        report = await registry.import_file(conn, args.file, ward=args.ward, strict=args.strict,
                                            actor=who_ran())
    except registry.RegistryFileError as e:
        return _fail(rt, e.msg_id, **e.vars)
    finally:
        await conn.close()
    log.info("import: %d added, %d updated, %d unchanged, %d rejected", report.added,
             report.updated, report.unchanged, len(report.rejected))
    print_report(rt.settings.default_locale, Path(args.file).name, report)
    return 1 if report.rejected else 0


def print_report(locale: str, file: str, report: registry.ImportReport, out=None) -> None:
    out = out or sys.stdout
    say = lambda msg_id, **v: print(t(locale, msg_id, **v), file=out)  # noqa: E731
    if report.committed:
        say("registry.import.summary", file=file, added=report.added, updated=report.updated,
            unchanged=report.unchanged, rejected=len(report.rejected))
    else:
        say("registry.import.strict_aborted", rejected=len(report.rejected))
    if report.ignored_columns:
        say("registry.import.ignored", columns=", ".join(report.ignored_columns))
    if report.rejected:
        say("registry.import.rejected_title")
    for r in report.rejected[:MAX_REJECTIONS_SHOWN]:
        reason = t(locale, f"registry.reason.{r.reason}", **r.vars)
        if r.column:
            say("registry.import.rejected_line", line=r.line, column=r.column, reason=reason)
        else:
            say("registry.import.rejected_row", line=r.line, reason=reason)
    if len(report.rejected) > MAX_REJECTIONS_SHOWN:
        say("registry.import.more", count=len(report.rejected) - MAX_REJECTIONS_SHOWN)


# ---------------------------------------------------------------- list, show, reissue


def format_birth(row: registry.ResidentRow) -> str:
    return row.birth_date.strftime("%d/%m/%Y") if row.birth_date else str(row.birth_year)


async def run_list(args, rt) -> int:
    locale = rt.settings.default_locale
    label = lambda key: t(locale, f"registry.show.{key}")  # noqa: E731
    print(t(locale, "registry.list.row", id=label("id"), code=label("code"), born=label("born"),
            quarter=label("quarter"), group=label("group"), name=label("name")))
    count, ids = 0, []
    async with rt.sessions() as session:
        ward = await registry.resolve_ward(session, args.ward) if args.ward else None
        async for row in registry.iter_residents(session, ward=ward or args.ward, quarter=args.quarter):
            count += 1
            ids.append(row.id)
            print(t(locale, "registry.list.row", id=row.id, code=codes.mask(row.code), born=format_birth(row),
                    quarter=row.quarter or "", group=row.group_name or "", name=row.full_name))
    _say(rt, "registry.list.total", count=count)
    await audit_read(rt, "residents list", ids, ward=args.ward, quarter=args.quarter)
    return 0


async def run_show(args, rt) -> int:
    locale = rt.settings.default_locale
    async with rt.sessions() as session:
        row = await registry.find(session, args.key)
    if row is None:
        return _fail(rt, "registry.error.not_found", code=1, key=_shown_key(args.key))
    await audit_read(rt, "residents show", [row.id], reveal=bool(args.reveal))
    none = t(locale, "registry.show.none")
    fields = [
        ("code", row.code if args.reveal else codes.mask(row.code)),
        ("id", row.id),
        ("name", row.full_name),
        ("born", format_birth(row)),
        ("sex", t(locale, f"registry.show.sex_{row.sex}") if row.sex else None),
        ("ward", row.ward),
        ("quarter", row.quarter),
        ("group", row.group_name),
        ("address", row.address),
        ("phone", show_phone(row.phone) if row.phone else None),
        ("insurance", row.insurance_code),
        ("citizen_id", row.citizen_id),
    ]
    width = max(len(t(locale, f"registry.show.{k}")) for k, _ in fields)
    for key, value in fields:
        print(f"{t(locale, f'registry.show.{key}'):<{width}}  {none if value is None else value}")
    return 0


async def run_reissue(args, rt) -> int:
    async with rt.sessions.begin() as session:
        row = await registry.find(session, args.key)
        if row is None:
            return _fail(rt, "registry.error.not_found", code=1, key=_shown_key(args.key))
        code = await registry.reissue(session, row.id, actor=who_ran())
        await security.clear_card(session, rt.store, row.id, who_ran(), "reissue")  # the old code's lock and counters
    log.info("reissued the code of resident %d", row.id)
    _say(rt, "registry.reissue.done", id=row.id, code=code if args.reveal else codes.mask(code))
    return 0


def _shown_key(key: str) -> str:
    """A code typed at the terminal is echoed masked, an id as is."""
    code, _ = codes.check(key)
    return codes.mask(code) if code else key.strip()


# ---------------------------------------------------------------- cards


async def bot_username(settings) -> str:
    """BOT_USERNAME, else the Bot API's getMe; CardsError when neither is available."""
    from bot.cards import CardsError  # noqa: PLC0415

    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if not settings.bot_token:
        raise CardsError("registry.error.no_bot_username")
    import aiohttp  # noqa: PLC0415

    url = f"{settings.bot_api_base}{settings.bot_token}/getMe"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async with http.get(url) as response:
                body = await response.json(content_type=None)
        return body["result"]["username"]
    except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as e:
        # the URL holds the token: name the error's type only
        raise CardsError("registry.error.bot_unreachable", detail=type(e).__name__) from None


async def run_cards(args, rt) -> int:
    from bot import cards  # noqa: PLC0415

    out = Path(args.out)
    if _not_a_folder(out, args.format):
        return _fail(rt, "registry.error.out_exists", out=str(out))
    try:
        cards.find_fonts()
        username = await bot_username(rt.settings)
    except cards.CardsError as e:
        return _fail(rt, e.msg_id, **e.vars)
    async with rt.sessions() as session:
        ward = await registry.resolve_ward(session, args.ward) or args.ward
        rows = [r async for r in registry.iter_residents(session, ward=ward, quarter=args.quarter,
                                                          group=args.group)]
    if not rows:
        place = " · ".join(p for p in (args.ward, args.quarter, args.group) if p)
        return _fail(rt, "registry.error.no_residents", code=1, place=place)
    batch = [cards.Card(r.id, r.code, r.full_name, r.birth_year, r.ward, r.quarter, r.group_name,
                        cards.deep_link(username, r.code)) for r in rows]
    await audit_read(rt, "cards", [r.id for r in rows], format=args.format)
    progress = cards.Progress(len(batch), t(rt.settings.default_locale, "registry.cards.progress"))
    if args.format == "pdf":
        out.parent.mkdir(parents=True, exist_ok=True)
        cards.make_pdf(batch, out, workers=args.workers, progress=progress)
    else:
        cards.make_files(batch, out, args.format, workers=args.workers, progress=progress)
    log.info("made %d cards", len(batch))
    _say(rt, "registry.cards.done", count=len(batch), out=str(out))
    return 0


def _not_a_folder(out: Path, fmt: str) -> bool:
    return fmt != "pdf" and out.exists() and not out.is_dir()


def runtime(settings, database_url: str, sessions) -> SimpleNamespace:
    """A stand-in for bot.runtime.Runtime with what these commands use (tests, scripts)."""
    return SimpleNamespace(settings=settings, database_url=database_url, sessions=sessions)
