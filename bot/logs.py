"""Logging set-up. Our own modules log ids, never personal data; libraries that would log
whole requests (names, phone numbers, answers) at DEBUG are held at WARNING."""

from __future__ import annotations

import logging
import sys

# These log request and update bodies at DEBUG/INFO.
QUIET = ("pgserver", "telegram", "httpx", "httpcore", "aiohttp.access", "apscheduler", "asyncio", "sqlalchemy", "alembic")


class NoTracebacks(logging.Filter):
    """A library that logs an exception with its traceback (asyncpg's pool while PostgreSQL
    is away, asyncio's "never retrieved") is reduced to one line with the exception's type:
    its message and frames may quote values (names, codes) and tokens. DEBUG keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({type(record.exc_info[1]).__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    if level.upper() != "DEBUG":
        handler.addFilter(NoTracebacks())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper() if level.upper() in logging._nameToLevel else "INFO")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
