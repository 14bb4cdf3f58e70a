"""`healthbot residents import|list|show|reissue` and `healthbot cards`: the registry at
the terminal, for ward staff.

Text comes from locales (registry.*). Bad input is one line on stderr and exit code 2;
an import with rejected rows exits 1. Codes are masked unless --reveal is given, and
nothing personal goes to the log.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import asyncpg

from bot import cli_links
from bot.card_page import card_url
from bot.progress import Bar
from bot.terminal import audit_read, helps, who_ran
from dialogs import codes
from dialogs.parsers import show_phone
from locales import formatting, t
from storage import registry, security
from storage.db import plain_url
from storage.export import mask_id
from storage.models import RESIDENT_STATUSES

log = logging.getLogger(__name__)

MAX_REJECTIONS_SHOWN = 200
FORMATS = ("pdf", "png", "svg")


_h = helps("registry.help.")


_h2 = helps("registry.help2.")


def register(subparsers, common: argparse.ArgumentParser | None = None) -> None:
    parents = [common] if common else []
    residents = subparsers.add_parser("residents", parents=parents, help=_h("residents"))
    sub = residents.add_subparsers(dest="residents_command", required=True, metavar="ACTION")

    p = sub.add_parser("import", parents=parents, help=_h("import"))
    p.add_argument("file", type=Path, help=_h("file"))
    p.add_argument("--ward", help=_h("import_ward"))
    p.add_argument("--strict", action="store_true", help=_h("strict"))
    p.add_argument("--dry-run", action="store_true", help=_h2("dry_run"))
    p.add_argument("--max-rejected", metavar="PERCENT", help=_h2("max_rejected"))
    p.set_defaults(func=run_import)

    p = sub.add_parser("add", parents=parents, help=_h2("add"))
    p.add_argument("--name", required=True, help=_h2("name"))
    p.add_argument("--born", required=True, help=_h2("born"))
    p.add_argument("--ward", required=True, help=_h("import_ward"))
    p.add_argument("--sex", help=_h2("sex"))
    p.add_argument("--quarter", help=_h("quarter"))
    p.add_argument("--group", help=_h("group"))
    p.add_argument("--insurance", help=_h2("insurance"))
    p.add_argument("--citizen-id", help=_h2("citizen_id"))
    p.add_argument("--phone", help=_h2("phone"))
    p.add_argument("--address", help=_h2("address"))
    p.add_argument("--reveal", action="store_true", help=_h("reveal_new"))
    p.set_defaults(func=run_add)

    p = sub.add_parser("set-status", parents=parents, help=_h2("set_status"))
    p.add_argument("key", metavar="CODE_OR_ID", help=_h("key"))
    p.add_argument("status", metavar="STATUS", help=_h2("status"))
    p.set_defaults(func=run_set_status)

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
    place = p.add_mutually_exclusive_group(required=True)
    place.add_argument("--ward", help=_h("cards_ward"))
    place.add_argument("--code", metavar="CODE_OR_ID", help=_h2("code"))
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
    percent = rt.settings.import_max_rejected_percent
    if args.max_rejected is not None:
        try:
            percent = float(args.max_rejected.replace(",", "."))
        except ValueError:
            percent = -1
        if not 0 <= percent <= 100:
            return _fail(rt, "registry.error.bad_percent")
    conn = await asyncpg.connect(plain_url(rt.database_url))
    try:
        report = await registry.import_file(conn, args.file, ward=args.ward, strict=args.strict, actor=who_ran(),
                                            dry_run=args.dry_run, max_rejected=percent / 100)
    except registry.RegistryFileError as e:
        return _fail(rt, e.msg_id, **e.vars)
    finally:
        await conn.close()
    log.info("import: %d added, %d updated, %d unchanged, %d rejected, stopped: %s", report.added,
             report.updated, report.unchanged, len(report.rejected), report.stopped)
    print_report(rt.settings.default_locale, Path(args.file).name, report, percent=percent)
    return 1 if report.rejected else 0


def print_report(locale: str, file: str, report: registry.ImportReport, out=None, percent: float = 20) -> None:
    out = out or sys.stdout
    say = lambda msg_id, **v: print(t(locale, msg_id, **v), file=out)  # noqa: E731
    counts = dict(added=report.added, updated=report.updated, unchanged=report.unchanged,
                  rejected=len(report.rejected))
    if report.committed:
        say("registry.import.summary", file=file, **counts)
    elif report.stopped == "dry_run":
        say("registry.import.dry_run", file=file, **counts)
    elif report.stopped == "too_many":
        say("registry.import.too_many", rejected=len(report.rejected), rows=report.rows,
            percent=formatting.number(percent, locale))
    else:
        say("registry.import.strict_aborted", rejected=len(report.rejected))
    if report.date_order == "mdy":
        say("registry.import.month_first")
    unknown = [c for c in report.unknown_columns]
    if unknown:
        say("registry.import.unknown", columns=", ".join(unknown))
    known_unused = [c for c in report.ignored_columns if c not in unknown]
    if known_unused:
        say("registry.import.ignored", columns=", ".join(known_unused))
    if report.changes:
        say("registry.import.changes_title", count=report.updated, shown=len(report.changes))
        for c in report.changes:
            fields = "; ".join(t(locale, "registry.import.change_field", field=t(locale, f"registry.show.{SHOWN[f]}"),
                                 old=_value(locale, f, old), new=_value(locale, f, new)) for f, old, new in c.fields)
            say("registry.import.change", line=c.line, code=codes.mask(c.code), name=c.name, fields=fields)
    if report.missing:
        say("registry.import.missing_title", count=report.missing_count)
        for m in report.missing:
            say("registry.import.missing", code=codes.mask(m.code), name=m.name, born=m.birth_year,
                place=" · ".join(p for p in (m.quarter, m.group_name) if p))
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


# registry field -> its label under registry.show.
SHOWN = {"ward": "ward", "quarter": "quarter", "group_name": "group", "full_name": "name", "birth_date": "born",
         "birth_year": "born", "sex": "sex", "insurance_code": "insurance", "citizen_id": "citizen_id",
         "phone": "phone", "address": "address"}


def _value(locale: str, field: str, value) -> str:
    """A registry value in a dry run's list of changes (identifiers masked)."""
    if value is None:
        return t(locale, "registry.import.empty_value")
    if field == "birth_date":
        return formatting.day(value, locale)
    if field == "sex":
        return t(locale, f"registry.show.sex_{value}")
    if field == "phone":
        return show_phone(value)
    if field in ("citizen_id", "insurance_code"):
        return mask_id(value)
    return str(value)


# ---------------------------------------------------------------- add, set-status


async def run_add(args, rt) -> int:
    """One walk-in resident: written as a one-row file and imported, so every check and
    every matching rule of an import applies (someone already listed is updated, not added)."""
    async with rt.sessions() as session:  # the registry's spelling of the ward, when it has one
        ward = await registry.resolve_ward(session, args.ward) or args.ward
    header = ["ho_ten", "ngay_sinh", "phuong", "gioi_tinh", "khu_pho", "to_dan_pho", "ma_bhyt", "cccd",
              "so_dien_thoai", "dia_chi"]
    row = [args.name, args.born, ward, args.sex, args.quarter, args.group, args.insurance, args.citizen_id,
           args.phone, args.address]
    with tempfile.TemporaryDirectory(prefix="healthbot-add-") as folder:
        path = Path(folder) / "walk-in.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header, ["" if v is None else v for v in row]])
        conn = await asyncpg.connect(plain_url(rt.database_url))
        try:
            report = await registry.import_file(conn, path, actor=who_ran(), strict=True)
        finally:
            await conn.close()
    if report.rejected:
        r = report.rejected[0]
        names = dict(zip(header, ["--name", "--born", "--ward", "--sex", "--quarter", "--group", "--insurance",
                                  "--citizen-id", "--phone", "--address"], strict=True))
        reason = t(rt.settings.default_locale, f"registry.reason.{r.reason}", **r.vars)
        return _fail(rt, "registry.add.rejected", field=names.get(r.column, r.column or "--name"), reason=reason)
    async with rt.sessions() as session:
        found = await registry.find_person(session, ward, args.name, args.born)
    if found is None:  # matched by an identifier to someone listed under another name
        return _fail(rt, "registry.error.not_found", code=1, key=args.name)
    code = found.code if args.reveal else codes.mask(found.code)
    _say(rt, "registry.add.added" if report.added else "registry.add.exists", name=found.full_name, code=code)
    return 0


async def run_set_status(args, rt) -> int:
    status = args.status.strip().lower()
    if status not in RESIDENT_STATUSES:
        return _fail(rt, "registry.error.bad_status")
    async with rt.sessions.begin() as session:
        row = await registry.find(session, args.key)
        if row is None:
            return _fail(rt, "registry.error.not_found", code=1, key=_shown_key(args.key))
        await registry.set_status(session, row.id, status, actor=who_ran())
    _say(rt, "registry.status.done", code=codes.mask(row.code), name=row.full_name,
         status=t(rt.settings.default_locale, f"registry.status.{status}"))
    return 0


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
    problem = _out_problem(out, args.format)
    if problem:
        return _fail(rt, problem[0], **problem[1])
    try:
        cards.find_fonts()
        username = await bot_username(rt.settings)
    except cards.CardsError as e:
        return _fail(rt, e.msg_id, **e.vars)
    async with rt.sessions() as session:
        if args.code is not None:  # one person's card
            one = await registry.find(session, args.code)
            if one is None:
                return _fail(rt, "registry.error.not_found", code=1, key=_shown_key(args.code))
            rows = [one]
        else:
            ward = await registry.resolve_ward(session, args.ward) or args.ward
            rows = [r async for r in registry.iter_residents(session, ward=ward, quarter=args.quarter,
                                                              group=args.group)]
    if not rows:
        place = " · ".join(p for p in (args.ward, args.quarter, args.group) if p)
        return _fail(rt, "registry.error.no_residents", code=1, place=place)
    batch = [cards.Card(r.id, r.code, r.full_name, r.birth_year, r.ward, r.quarter, r.group_name,
                        card_url(rt.settings, r.code, cards.deep_link(username, r.code))) for r in rows]
    await audit_read(rt, "cards", [r.id for r in rows], format=args.format)
    with Bar(len(batch), t(rt.settings.default_locale, "registry.cards.progress")) as progress:
        if args.format == "pdf":
            out.parent.mkdir(parents=True, exist_ok=True)
            cards.make_pdf(batch, out, workers=args.workers, progress=progress)
        else:
            cards.make_files(batch, out, args.format, workers=args.workers, progress=progress)
    log.info("made %d cards", len(batch))
    _say(rt, "registry.cards.done", count=len(batch), out=str(out))
    return 0


def _out_problem(out: Path, fmt: str) -> tuple[str, dict] | None:
    """Why cards cannot be written there: PNG/SVG cards need a folder, a PDF a file name."""
    if fmt != "pdf" and out.exists() and not out.is_dir():
        return "registry.error.out_exists", {"out": str(out)}
    if fmt == "pdf" and out.is_dir():
        return "ops.out_is_folder", {"path": out, "example": out / "the.pdf"}
    return None


def runtime(settings, database_url: str, sessions) -> SimpleNamespace:
    """A stand-in for bot.runtime.Runtime with what these commands use (tests, scripts)."""
    return SimpleNamespace(settings=settings, database_url=database_url, sessions=sessions)
