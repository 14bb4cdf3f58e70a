"""Text forms for matching what people type: no diacritics, lower case, plain spaces."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# Characters that change how text around them is shown without being seen themselves:
# bidirectional embeddings, overrides and isolates, zero-width spaces and joiners, the
# byte-order mark. A name holding U+202E shows reversed on a button or a card.
INVISIBLE = re.compile("[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
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


def visible(text: str) -> str:
    """Text without the invisible characters above: for registry values on import and
    wherever registry text is shown, and for typed answers (clean)."""
    return INVISIBLE.sub("", text)


def clean(text: str, limit: int = 200) -> str:
    """A free-text answer as it will be stored: NFC, single spaces, bounded length."""
    text = unicodedata.normalize("NFC", visible(text))
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == " ")
    return _SPACES.sub(" ", text).strip()[:limit]
