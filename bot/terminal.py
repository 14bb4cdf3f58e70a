"""The person at the terminal: their login name (the actor of CLI actions in the audit
log) and their language. Cheap to import: the entry point needs it before anything else."""

from __future__ import annotations

import getpass
import os
import sys

from locales import DEFAULT, available, t


def who_ran() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        return None


def terminal_locale() -> str:
    """The language of terminal messages, even when the settings themselves are broken."""
    loc = os.environ.get("DEFAULT_LOCALE", DEFAULT)
    return loc if loc in available() else DEFAULT


def help_text(msg_id: str) -> str:
    """A command-line help text (printed before the settings are loaded)."""
    return t(terminal_locale(), msg_id)


def interrupted() -> int:
    """Ctrl-C (or SIGTERM/SIGHUP outside `run`): one line, and the shell's exit code for it."""
    print(t(terminal_locale(), "cli.interrupted"), file=sys.stderr)
    return 130
