"""The person at the terminal: their login name or `--operator` (the actor of CLI actions
in the audit log) and their language, and the audit of what they read. Cheap to import:
the entry point needs it before anything else."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable

from locales import DEFAULT, available, t

_operator: str | None = None
OPERATOR_MAX = 64


def set_operator(name: str | None) -> None:
    """`healthbot --operator NAME …`: who is at a shared login (a service account)."""
    global _operator
    cleaned = " ".join("".join(c for c in (name or "") if c.isprintable()).split())[:OPERATOR_MAX]
    _operator = cleaned or None


def who_ran() -> str | None:
    if _operator:
        return _operator
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        return None


async def audit_read(rt, command: str, resident_ids: list[int] | None = None, **details) -> None:
    """Record that the terminal showed or wrote out personal data: who (login name or
    --operator), what (the command, the residents' ids, flags such as reveal) and when.
    `healthbot audit --staff NAME` and `--resident CODE` show it."""
    from storage.audit import entry  # noqa: PLC0415 - the entry point stays cheap

    ids = list(resident_ids or ())
    details = {"command": command, **details}
    if len(ids) > 1:
        details["resident_ids"] = ids
    async with rt.sessions.begin() as s:
        s.add(entry("cli_read", actor_kind="cli", actor_id=who_ran() or "cli",
                    resident_id=ids[0] if len(ids) == 1 else None, details=details))


def terminal_locale() -> str:
    """The language of terminal messages, even when the settings themselves are broken."""
    loc = os.environ.get("DEFAULT_LOCALE", DEFAULT)
    return loc if loc in available() else DEFAULT


def help_text(msg_id: str) -> str:
    """A command-line help text (printed before the settings are loaded)."""
    return t(terminal_locale(), msg_id)


def helps(section: str, lead: str = "") -> Callable[[str], str]:
    """A command module's help texts: `helps("fhir.cli.", "help_")("ward")` reads
    fhir.cli.help_ward (`section` ends with a dot: the catalog test reads it as a prefix)."""
    return lambda key: help_text(section + lead + key)


def sayer(prefix: str) -> Callable[..., str]:
    """A command module's messages, in the configured language: `sayer("fhir.cli.")(rt, "done", n=3)`."""
    return lambda rt, msg, **vars: t(rt.settings.default_locale, prefix + msg, **vars)


def interrupted() -> int:
    """Ctrl-C (or SIGTERM/SIGHUP outside `run`): one line, and the shell's exit code for it.
    Another Ctrl-C from here on (uv forwards one the program also got) is ignored: it would
    only interrupt the exit itself, in a finalizer, with a traceback."""
    import signal  # noqa: PLC0415

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    print(t(terminal_locale(), "cli.interrupted"), file=sys.stderr)
    return 130
