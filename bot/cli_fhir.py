"""`healthbot fhir export|push`: the records as HL7 FHIR R4 (storage/fhir).

`healthbot export --format fhir|fhir-bundle` (bot/cli_staff.py) hands over to `export_to`.
Like the other staff commands: bad input is one line and exit code 2; every export and
push is audited (ids and counts) as actor 'cli' with the operating-system user.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.terminal import helps, sayer, who_ran
from storage import staff
from storage.fhir import export as fhir_export
from storage.fhir.push import Checkpoint, Pushed, PushError, push, remaining

# `healthbot export --format X` names for our formats
EXPORT_FORMATS = {"fhir": "ndjson", "fhir-bundle": "bundle"}


_h = helps("fhir.cli.", "help_")


def register(subparsers) -> None:
    p = subparsers.add_parser("fhir", help=_h("fhir"))
    sub = p.add_subparsers(dest="fhir_command", required=True)
    e = sub.add_parser("export", help=_h("export"))
    e.add_argument("--ward", required=True, help=_h("ward"))
    e.add_argument("--format", default="ndjson", help=_h("format"))
    e.add_argument("--out", required=True, help=_h("out"))
    e.set_defaults(func=cmd_export)
    u = sub.add_parser("push", help=_h("push"))
    u.add_argument("--url", required=True, help=_h("url"))
    u.add_argument("--token", help=_h("token"))
    u.add_argument("--ward", help=_h("push_ward"))
    u.add_argument("--restart", action="store_true", help=_h("restart"))
    u.add_argument("--concurrency", default="4", help=_h("concurrency"))
    u.set_defaults(func=cmd_push)


_say = sayer("fhir.cli.")


def _fail(line: str) -> int:
    print(f"healthbot: {line}", file=sys.stderr)
    return 2


async def _ward(rt, name: str | None) -> str | None:
    """The registry's spelling of the ward; raises ValueError with the line to print."""
    if name is None:
        return None
    async with rt.sessions() as s:
        known = await staff.wards(s)
    found = staff.match_name(name, known)
    if found is None:
        raise ValueError(_say(rt, "unknown_ward", ward=name, known=", ".join(known) or "—"))
    return found


async def cmd_export(args, rt) -> int:
    fmt = args.format.lower()
    if fmt not in fhir_export.FORMATS:
        return _fail(_say(rt, "bad_format"))
    return await export_to(rt, args.ward, fmt, Path(args.out))


async def export_to(rt, ward_name: str, fmt: str, out: Path) -> int:
    """Writes the ward into the folder `out` (fmt: ndjson | bundle)."""
    try:
        ward = await _ward(rt, ward_name)
    except ValueError as e:
        return _fail(str(e))
    try:
        done = await fhir_export.export(rt.sessions, ward, out, fmt, rt.settings.default_locale)
    except OSError as e:
        return _fail(_say(rt, "bad_out", path=out, reason=e.strerror or type(e).__name__))
    async with rt.sessions.begin() as s:
        s.add(fhir_export.audit_entry(done, ward, "fhir-" + fmt, "staff_export", "cli", who_ran() or "cli"))
    total = sum(done.resources.values())
    msg = "exported_bundles" if fmt == "bundle" else "exported"
    print(_say(rt, msg, residents=done.residents, resources=total, path=out))
    return 0


async def cmd_push(args, rt) -> int:
    from tqdm import tqdm  # noqa: PLC0415 - only the push shows a bar

    url = args.url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _fail(_say(rt, "bad_url"))
    if not args.concurrency.isdigit() or not 1 <= int(args.concurrency) <= 32:
        return _fail(_say(rt, "bad_concurrency"))
    try:
        ward = await _ward(rt, args.ward)
    except ValueError as e:
        return _fail(str(e))
    token = args.token or os.environ.get("FHIR_TOKEN") or None
    checkpoint = Checkpoint(rt.settings.data_dir, url, ward)
    if args.restart:
        checkpoint.clear()
    after = checkpoint.load()
    if after:
        print(_say(rt, "resuming"), file=sys.stderr)
    total = await remaining(rt.sessions, ward, after)
    bar = tqdm(total=total, unit=_say(rt, "unit"), file=sys.stderr, disable=not sys.stderr.isatty())
    done = Pushed()

    def waiting(why: str, seconds: float) -> None:
        bar.write(_say(rt, "retrying", why=why, seconds=f"{seconds:.0f}"), file=sys.stderr)

    try:
        await push(rt.sessions, url, token, ward, checkpoint, locale=rt.settings.default_locale,
                   concurrency=int(args.concurrency), progress=bar.update, done=done, on_retry=waiting)
    except PushError as e:
        bar.close()
        await _audit(rt, done, ward)  # what the server confirmed before it refused
        line = _say(rt, "push_failed", status=e.status, detail=e.detail) if e.status else \
            _say(rt, "push_unreachable", detail=e.detail)
        print(f"healthbot: {line}", file=sys.stderr)
        return 1
    bar.close()
    await _audit(rt, done, ward)
    print(_say(rt, "pushed", residents=done.residents, created=done.created))
    return 0


async def _audit(rt, done: Pushed, ward: str | None) -> None:
    if not done.residents:
        return
    async with rt.sessions.begin() as s:
        s.add(fhir_export.audit_entry(fhir_export.Written(done.residents, {}, done.resident_ids),
                                      ward, "fhir-push", "fhir_push", "cli", who_ran() or "cli"))
