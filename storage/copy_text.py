"""Rows as PostgreSQL COPY text format, built a column at a time.

Building the payload in the process that checked the rows means only bytes cross between
processes, and COPY's text format lets PostgreSQL parse every value at C speed.
"""

from __future__ import annotations

from binascii import hexlify
from typing import Any

NULL = b"\\N"
# COPY text format gives these bytes a meaning; a value holding one is escaped
_SPECIAL = (b"\\", b"\t", b"\n", b"\r")
_ESCAPED = (b"\\\\", b"\\t", b"\\n", b"\\r")


def _escape(value: bytes) -> bytes:
    for special, escaped in zip(_SPECIAL, _ESCAPED, strict=True):
        value = value.replace(special, escaped)
    return value


def _needs_escape(values: list[bytes]) -> bool:
    joined = b"".join(values)
    return any(special in joined for special in _SPECIAL)


def column(values: list[Any], repeats: bool = False) -> list[bytes]:
    """Text, numbers or dates (str() of each; None is NULL). With repeats, each distinct
    value is encoded once (names, wards, dates: a few thousand values over a million rows)."""
    if repeats:
        table = {v: str(v).encode() for v in set(values) if v is not None}
        if _needs_escape(list(table.values())):
            table = {v: _escape(b) for v, b in table.items()}
        table[None] = NULL
        return list(map(table.__getitem__, values))
    out = [b"" if v is None else str(v).encode() for v in values]
    if _needs_escape(out):
        out = list(map(_escape, out))
    return [NULL if v is None else b for v, b in zip(values, out, strict=True)] if None in values else out


def bytea_column(values: list[bytes]) -> list[bytes]:
    """bytea values in hex form (\\x…, its backslash escaped for the text format)."""
    return list(map(b"\\\\x".__add__, map(hexlify, values)))


def rows(columns: list[list[bytes]]) -> bytes:
    """Tab-separated columns, one line per row, every line ended."""
    if not columns or not columns[0]:
        return b""
    return b"\n".join(map(b"\t".join, zip(*columns, strict=True))) + b"\n"
