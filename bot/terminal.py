"""Who is at the terminal: the login name recorded as the actor of CLI actions in the audit log."""

from __future__ import annotations

import getpass


def who_ran() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's uid without a passwd entry)
        return None
