"""The person at the terminal: their login name (the actor of CLI actions in the audit
log) and the language of the command line's help."""

from __future__ import annotations

import getpass


def who_ran() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        return None


def help_text(msg_id: str) -> str:
    """A command-line help text, in the language of DEFAULT_LOCALE (help is printed before
    the settings are loaded, so even when they are broken)."""
    from bot.config import terminal_locale  # noqa: PLC0415 - config imports much more
    from locales import t  # noqa: PLC0415

    return t(terminal_locale(), msg_id)
