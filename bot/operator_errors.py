"""What went wrong for the operator at the terminal, in one line: which server could not be
reached (PostgreSQL or Redis), a database that does not exist, a password refused, a file
or folder that cannot be used. Never the URL itself (it may hold a password), never a
traceback; exit code 2, as for any other setting to fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import redis.exceptions
import sqlalchemy.exc

from locales import t

EXIT = 2

# Errors that end a command with one line (see bot.cli): anything in here is described.
HANDLED: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.RedisError, sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.InterfaceError, sqlalchemy.exc.OperationalError,
)


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = getattr(e, "orig", None) or e.__cause__ or e.__context__


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "?"


def describe(e: BaseException, locale: str, database_url: str = "") -> str:
    """The line to print for an error that stopped a command."""
    chain = list(_chain(e))
    for err in chain:
        if isinstance(err, redis.exceptions.RedisError):
            return t(locale, "ops.redis_unreachable", error=type(err).__name__)
        if isinstance(err, asyncpg.InvalidCatalogNameError):
            return t(locale, "ops.no_database", name=_database_name(database_url))
        if isinstance(err, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
            return t(locale, "ops.database_refused", error=type(err).__name__)
        if isinstance(err, ConnectionError | TimeoutError | socket.gaierror | asyncpg.PostgresConnectionError
                      | asyncpg.CannotConnectNowError | asyncpg.InterfaceError):
            return t(locale, "ops.database_unreachable", error=type(err).__name__)
    root = chain[-1]
    if isinstance(root, OSError) and not isinstance(root, ConnectionError):
        # a file or folder (an --out, a data folder): its name and what the system said
        return t(locale, "ops.file_problem", path=root.filename or "?", reason=root.strerror or type(root).__name__)
    return t(locale, "ops.database_error", error=type(root).__name__)
