"""Logging set-up. Our own modules log ids, never personal data; libraries that would log
whole requests (names, phone numbers, answers) at DEBUG are held at WARNING."""

from __future__ import annotations

import logging
import sys

# These log request and update bodies at DEBUG/INFO.
QUIET = ("pgserver", "telegram", "httpx", "httpcore", "aiohttp.access", "apscheduler", "asyncio", "sqlalchemy", "alembic")


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper() if level.upper() in logging._nameToLevel else "INFO")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
