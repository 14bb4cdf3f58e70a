"""What the link flow reads from free text: years and code-shaped text."""

import pytest

from dialogs import codes
from dialogs.link import looks_like_code, parse_year


@pytest.mark.parametrize("text,year", [
    ("1956", 1956), ("năm 1956", 1956), ("12/03/1956", 1956), (" 2020 ", 2020),
    ("56", None), ("1956 1957", None), ("2099", None), ("19560", None), ("không nhớ", None),
])
def test_parse_year(text, year):
    assert parse_year(text, 2026) == year


def test_code_shapes():
    code = codes.new_code()
    for text in (code, codes.display(code).lower(), f"https://t.me/x_bot?start={code}", code[:-1]):
        assert looks_like_code(text), text
    no_digits = "ABCDEFGHJKMNP"
    assert looks_like_code(no_digits + codes.check_character(no_digits))  # rare, but valid
    for text in ("xin chào", "xin chao ban nhe", "1956", "0903 123 456", "079156012345", "🔗 Liên kết thẻ"):
        assert not looks_like_code(text), text
