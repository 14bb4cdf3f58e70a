"""Text forms for matching what people type: no diacritics, lower case, plain spaces."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Emoji, symbols and punctuation that carry no meaning in an answer.
_NOISE = re.compile(r"[^\w\s/.,:+\-]", re.UNICODE)


def strip_diacritics(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def fold(text: str) -> str:
    """'  Đồng Ý 👍 ' -> 'dong y'. Used only for matching, never shown."""
    text = strip_diacritics(unicodedata.normalize("NFKC", text)).lower()
    text = _NOISE.sub(" ", text)
    return _SPACES.sub(" ", text).strip(" .,!?:-")


def clean(text: str, limit: int = 200) -> str:
    """A free-text answer as it will be stored: NFC, single spaces, bounded length."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == " ")
    return _SPACES.sub(" ", text).strip()[:limit]
