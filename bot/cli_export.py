"""`healthbot export` and `healthbot stats`: what a district office takes away.

Both write through storage.sheets (safe to open in a spreadsheet; CSV with a byte-order
mark; XLSX with typed numbers and dates). Bad input, including an --out that is a folder
or inside a folder that does not exist, is one line and exit code 2, checked before any
work. Every export and every statistics read is audited as actor 'cli'.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from bot.cli_staff import Bad, _operator, _say, _ward, command
from bot.config import TIME_ZONE
from bot.progress import Bar
from bot.terminal import help_text
from locales import formatting, t
from storage import export, sheets, stats
from storage.audit import entry
from storage.registry_rows import fold_header


def register(subparsers) -> None:
    p = subparsers.add_parser("stats", help=help_text("staff.cli.help_stats"))
    p.add_argument("--ward", help=help_text("staff.cli.help_ward"))
    p.add_argument("--csv", action="store_true", help=help_text("staff.cli.help_csv"))
    p.add_argument("--out", help=help_text("stats.help_out"))
    p.set_defaults(func=cmd_stats)

    p = subparsers.add_parser("export", help=help_text("staff.cli.help_export"))
    p.add_argument("--ward", required=True, help=help_text("staff.cli.help_ward"))
    p.add_argument("--format", help=help_text("staff.cli.help_format"))
    p.add_argument("--out", required=True, help=help_text("staff.cli.help_out"))
    p.add_argument("--reveal", action="store_true", help=help_text("export.help_reveal"))
    p.set_defaults(func=cmd_export)


def _line(rt, msg: str, **vars) -> str:
    return t(rt.settings.default_locale, msg, **vars)


def writable_file(rt, out: Path, example: str) -> None:
    """Raise Bad (one line) unless `out` can be created or replaced as a file."""
    if out.is_dir():
        raise Bad(_line(rt, "ops.out_is_folder", path=out, example=out / example))
    folder = out.parent
    if not folder.is_dir():
        raise Bad(_line(rt, "ops.out_no_folder", folder=folder))


# ---------------------------------------------------------------- export


def ward_file(ward: str) -> str:
    """'Phường 27' -> 'phuong-27', a file name to suggest."""
    return fold_header(ward).replace("_", "-") or "export"


@command
async def cmd_export(args, rt) -> int:
    out = Path(args.out)
    fmt = (args.format or out.suffix.lstrip(".") or "csv").lower()
    if fmt in ("fhir", "fhir-bundle"):  # HL7 FHIR: a folder, written by bot/cli_fhir.py
        from bot.cli_fhir import EXPORT_FORMATS, export_to  # noqa: PLC0415

        return await export_to(rt, args.ward, EXPORT_FORMATS[fmt], out)
    if fmt not in export.FORMATS:
        raise Bad(_say(rt, "bad_format"))
    writable_file(rt, out, f"{ward_file(args.ward)}.{fmt}")
    ward = await _ward(rt, args.ward)
    loc = rt.settings.default_locale
    try:
        # Audited only once the file is written: the entry commits with the read.
        async with rt.sessions.begin() as s:
            tbl = await export.table(s, ward, loc, TIME_ZONE, reveal=args.reveal)
            with Bar(len(tbl.rows), _line(rt, "export.progress")) as bar:
                await asyncio.to_thread(export.write, tbl, out, fmt, ward, loc, bar.advance)
            s.add(export.audit_entry(tbl, ward, fmt, "cli", _operator(), reveal=args.reveal))
    except OSError as e:
        raise Bad(_line(rt, "ops.out_not_writable", path=out, reason=e.strerror or type(e).__name__)) from None
    print(formatting.plural(len(tbl.rows), rt.settings.default_locale, "export.exported.", path=out))
    if args.reveal:
        print(_line(rt, "export.revealed"), file=sys.stderr)
    return 0


# ---------------------------------------------------------------- stats


def stats_table(rt, lines: list[stats.Figures], days: int) -> tuple[list[str], list[list]]:
    """Headers and rows: one column per level of place, then numbers (a rate in percent,
    as a number; None when there is nobody to count)."""
    say = lambda msg, **v: _line(rt, msg, **v)  # noqa: E731
    head = [say("stats.col.ward"), say("stats.col.quarter"), say("stats.col.group"), say("stats.col.residents"),
            say("stats.col.linked"), say("stats.col.declared"), say("stats.col.recent", days=days),
            say("stats.col.rate", days=days)]
    rows = []
    for f in lines:
        names = [f.ward, f.quarter, f.group]
        if f.level == 0:
            places = [say("stats.total"), None, None]
        else:
            places = [n or say("stats.none") if n is not None else None for n in names]
            if f.level < 3:  # the line of a ward or a khu phố: its total
                places[f.level] = say("stats.subtotal", place=places[f.level - 1])
                places[f.level + 1:] = [None] * (2 - f.level)
        rate = round(100 * f.recent / f.residents, 1) if f.residents else None
        rows.append([*places, f.residents, f.linked, f.declared, f.recent, rate])
    return head, rows


@command
async def cmd_stats(args, rt) -> int:
    out = Path(args.out) if args.out else None
    if out is not None:
        writable_file(rt, out, "thong-ke.xlsx")
        if out.suffix.lower() not in (".csv", ".xlsx"):
            raise Bad(_line(rt, "ops.bad_suffix"))
    ward = await _ward(rt, args.ward)
    now = datetime.now(TIME_ZONE)
    loc = rt.settings.default_locale
    async with rt.sessions.begin() as s:
        lines = await stats.breakdown(s, ward, now)
        report = await stats.report(s, ward, now)  # its ward-level notices
        s.add(entry("staff_stats", actor_kind="cli", actor_id=_operator(), details={"ward": ward}))
    head, rows = stats_table(rt, lines, stats.DAYS)
    notices = [_line(rt, "stats.notice", label=t(loc, msg), value=value) for msg, value in report.extras]
    title = ward or t(loc, "staff.all_wards")
    if out is not None or args.csv:
        # notices are not rows of the table: they go to the terminal
        for notice in notices:
            print(notice, file=sys.stderr)
        try:
            if out is not None and out.suffix.lower() == ".xlsx":
                await asyncio.to_thread(sheets.write_xlsx, out, title, head, rows)
            else:
                await asyncio.to_thread(sheets.write_csv, out, head, rows, loc, None,
                                        None if out is not None else sys.stdout)
        except OSError as e:
            raise Bad(_line(rt, "ops.out_not_writable", path=out, reason=e.strerror or type(e).__name__)) from None
        return 0
    print(f"{title} · {formatting.moment(now, loc)}")
    shown = [[" / ".join(p for p in r[:3] if p), *(formatting.number(v, loc) for v in r[3:7]),
              formatting.percent(r[6], r[3], loc)] for r in rows]
    header = [" / ".join(head[:3]), *head[3:]]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *shown, strict=True)]
    for line in [header, *shown]:
        cells = [str(line[0]).ljust(widths[0])] + [str(x).rjust(w) for x, w in zip(line[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
    for notice in notices:
        print(notice)
    return 0

