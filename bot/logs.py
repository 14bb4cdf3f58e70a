"""Logging set-up. Our own modules log ids, never personal data; libraries that would log
whole requests (names, phone numbers, answers) at DEBUG are held at WARNING.

Belt and braces for secrets: every log record, whoever logs it, passes through `redact`
when it is made (a log-record factory, so no handler can see it first). A bot token in a
message, an argument, a traceback or a stack (PTB puts the token in every request URL)
becomes `<BOT_TOKEN>`, and the configured secrets (`setup(secrets=…)`) become `<SECRET>`.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable

# These log request and update bodies at DEBUG/INFO.
QUIET = ("pgserver", "telegram", "httpx", "httpcore", "aiohttp.access", "apscheduler", "asyncio", "sqlalchemy", "alembic")

# A Telegram bot token: the bot's numeric id, a colon, ~35 characters of base64url.
TOKEN = re.compile(r"\d{5,15}:[A-Za-z0-9_-]{20,}")
_secrets: tuple[str, ...] = ()


def redact(text: str) -> str:
    """`text` without bot tokens or the configured secrets."""
    for secret in _secrets:
        text = text.replace(secret, "<SECRET>")
    return TOKEN.sub("<BOT_TOKEN>", text)


def _redacted_record(factory):
    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later, as it would
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            # formatted (and redacted) here: handlers use exc_text when exc_info is gone
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    make.redacting = True
    return make


def protect(secrets: Iterable[str] = ()) -> None:
    """Redact every log record from now on (idempotent); `secrets` are literal values
    (tokens, keys) to hide besides anything shaped like a bot token."""
    global _secrets
    _secrets = tuple(sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True))
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacting", False):
        logging.setLogRecordFactory(_redacted_record(factory))


class NoTracebacks(logging.Filter):
    """Outside DEBUG, an exception logged with its traceback (asyncpg's pool while PostgreSQL
    is away, asyncio's "never retrieved") becomes one line with the exception's type: its
    message and frames may quote values (names, codes), and the fault tests require a log
    without tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.exc_text or ""
        if record.exc_info and record.exc_info[1] is not None:
            kind = type(record.exc_info[1]).__name__
        elif text:
            kind = text.rstrip().splitlines()[-1].split(":", 1)[0].rsplit(".", 1)[-1]
        else:
            return True
        record.msg, record.args = f"{record.getMessage()} ({kind})", None
        record.exc_info, record.exc_text = None, None
        return True


def setup(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    protect(secrets)
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
