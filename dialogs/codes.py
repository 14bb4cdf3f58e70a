"""Resident codes: 13 random Crockford base32 characters (65 bits) + 1 check character.

The check character is a weighted sum in GF(32): with distinct non-zero weights every
single substitution and every transposition (adjacent or not) changes the sum, so a
typo is caught before any lookup. Pure: no I/O, imported by the dialog engine.
"""

from __future__ import annotations

import re
import secrets
from enum import Enum

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DATA_LENGTH = 13
LENGTH = DATA_LENGTH + 1
MASK_DOT = "•"

_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_POLY = 0b100101  # x^5 + x^2 + 1, primitive: alpha = x has order 31


def _gf_exp() -> list[int]:
    out, x = [], 1
    for _ in range(31):
        out.append(x)
        x <<= 1
        if x & 0b100000:
            x ^= _POLY
    return out


_EXP = _gf_exp()
_LOG = {v: i for i, v in enumerate(_EXP)}


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[(_LOG[a] + _LOG[b]) % 31]


# Data position i carries weight alpha^(i+1); the check character carries weight 1 =
# alpha^0, so a valid code sums to zero. Fourteen distinct powers of alpha (< 31).
_WEIGHTS = [_EXP[i + 1] for i in range(DATA_LENGTH)]
_PRODUCT = [[_mul(w, v) for v in range(32)] for w in _WEIGHTS]

# bytes.translate tables for the bulk path: a random byte keeps its low 5 bits, which is
# uniform because 256 is a multiple of 32.
_BYTE_TO_CHAR = bytes(ord(ALPHABET[b & 31]) for b in range(256))
_BYTE_TO_TERM = [bytes(_PRODUCT[i][b & 31] for b in range(256)) for i in range(DATA_LENGTH)]
_VALUE_TO_CHAR = ALPHABET.encode() + bytes(224)  # translate needs 256 entries

# Typed look-alikes; U stays invalid (Crockford reserves it) and is reported as such.
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-.\u2010-\u2015\u2212]+")
# A Telegram deep link, or the card's own page (one QR for every messenger: bot/card_page.py).
_DEEP_LINK = re.compile(r"(?:https?://)?(?:(?:t|telegram)\.me/[^\s?]+\?start=|[^\s/]+/c/)([^\s&#?/]+)", re.I)


class CodeProblem(Enum):
    WRONG_LENGTH = "wrong_length"
    BAD_CHARACTER = "bad_character"
    CHECK_FAILED = "check_failed"


def _check_value(data: str) -> int:
    total = 0
    for i, c in enumerate(data):
        total ^= _PRODUCT[i][_VALUE[c]]
    return total


def check_character(data: str) -> str:
    """The check character for 13 data characters of the alphabet."""
    return ALPHABET[_check_value(data)]


def new_codes(n: int) -> list[str]:
    """n fresh codes; the per-position sums are done with bytes.translate and one big-int
    XOR per position, so a million codes take well under a second."""
    if n <= 0:
        return []
    raw = secrets.token_bytes(n * DATA_LENGTH)
    total = 0
    for i in range(DATA_LENGTH):
        total ^= int.from_bytes(raw[i::DATA_LENGTH].translate(_BYTE_TO_TERM[i]), "big")
    checks = total.to_bytes(n, "big").translate(_VALUE_TO_CHAR)
    out = bytearray(n * LENGTH)
    chars = raw.translate(_BYTE_TO_CHAR)
    for i in range(DATA_LENGTH):
        out[i::LENGTH] = chars[i::DATA_LENGTH]
    out[DATA_LENGTH::LENGTH] = checks
    text = out.decode("ascii")
    return [text[k : k + LENGTH] for k in range(0, len(text), LENGTH)]


def new_code() -> str:
    return new_codes(1)[0]


def normalise(text: str) -> str:
    """What the person most likely meant: the payload of a pasted deep link, upper-cased,
    separators removed, O→0 and I/L→1. May still be the wrong length or invalid."""
    link = _DEEP_LINK.search(text)
    if link:
        text = link.group(1)
    return _SEPARATORS.sub("", text).upper().translate(_TYPED)


def check(text: str) -> tuple[str | None, CodeProblem | None]:
    code = normalise(text)
    if any(c not in _VALUE for c in code):
        return None, CodeProblem.BAD_CHARACTER
    if len(code) != LENGTH:
        return None, CodeProblem.WRONG_LENGTH
    if _check_value(code[:DATA_LENGTH]) != _VALUE[code[DATA_LENGTH]]:
        return None, CodeProblem.CHECK_FAILED
    return code, None


def display(code: str) -> str:
    """K7QM-3XPA-9TZR-D4: groups of four are easy to read aloud and to copy."""
    return "-".join(code[k : k + 4] for k in range(0, len(code), 4))


def mask(code: str) -> str:
    """K7QM-••••-••••-D4: enough to tell cards apart at a terminal, not enough to use."""
    groups = display(code).split("-")
    hidden = [MASK_DOT * len(g) for g in groups[1:-1]]
    return "-".join([groups[0], *hidden, groups[-1]]) if len(groups) > 2 else MASK_DOT * len(code)
