"""Resident codes: format, randomness, the check character, and typed input."""

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialogs import codes
from dialogs.codes import ALPHABET, CodeProblem

# random codes plus the two extremes, where a weak check would most likely slip
SAMPLE = codes.new_codes(300) + [c * 13 + codes.check_character(c * 13) for c in "0Z"]


def _gf_mul_reference(a: int, b: int) -> int:
    """Carry-less multiply then reduce by x^5+x^2+1: independent of the module's tables."""
    product = 0
    for bit in range(5):
        if b >> bit & 1:
            product ^= a << bit
    for bit in range(8, 4, -1):
        if product >> bit & 1:
            product ^= 0b100101 << (bit - 5)
    return product


def _reference_check(data: str) -> str:
    total, weight = 0, 1
    for c in data:
        weight = _gf_mul_reference(weight, 2)  # alpha^(i+1)
        total ^= _gf_mul_reference(weight, ALPHABET.index(c))
    return ALPHABET[total]


def test_shape_and_alphabet():
    batch = codes.new_codes(5000)
    assert len(batch) == 5000 == len(set(batch))
    for code in batch:
        assert len(code) == 14
        assert set(code) <= set(ALPHABET)
        assert not set(code) & set("ILOU")
    assert len(codes.new_code()) == 14
    assert codes.new_codes(0) == []


def test_check_character_matches_reference_field_arithmetic():
    for code in codes.new_codes(2000):
        assert code[13] == _reference_check(code[:13])


def test_characters_are_uniform():
    # 65 bits of entropy need each data character uniform over 32 symbols.
    counts = Counter("".join(c[:13] for c in codes.new_codes(20000)))
    expected = 20000 * 13 / 32
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in ALPHABET)
    assert len(counts) == 32
    assert chi2 < 80  # 31 degrees of freedom: p < 1e-6 to fail by chance


def test_every_single_substitution_is_caught():
    for code in SAMPLE:
        assert codes.check(code) == (code, None)
        for pos in range(14):
            for c in ALPHABET:
                if c != code[pos]:
                    typo = code[:pos] + c + code[pos + 1 :]
                    assert codes.check(typo) == (None, CodeProblem.CHECK_FAILED), (code, pos, c)


def test_every_adjacent_transposition_is_caught():
    for code in SAMPLE:
        for pos in range(13):
            a, b = code[pos], code[pos + 1]
            if a != b:
                swapped = code[:pos] + b + a + code[pos + 2 :]
                assert codes.check(swapped)[1] is CodeProblem.CHECK_FAILED, (code, pos)


def test_even_distant_transpositions_are_caught():
    for code in SAMPLE[:50]:
        for i in range(14):
            for j in range(i + 1, 14):
                if code[i] != code[j]:
                    s = list(code)
                    s[i], s[j] = s[j], s[i]
                    assert codes.check("".join(s))[1] is CodeProblem.CHECK_FAILED


@given(st.integers(0, 13), st.sampled_from(ALPHABET))
def test_substitution_property(pos, c):
    code = SAMPLE[0]
    typo = code[:pos] + c + code[pos + 1 :]
    assert (codes.check(typo)[0] is not None) == (typo == code)


def test_typed_input_is_normalised():
    code = SAMPLE[0]
    shown = codes.display(code)
    assert codes.check(shown.lower()) == (code, None)
    assert codes.check(" " + shown.replace("-", " ") + " ") == (code, None)
    assert codes.check(shown.replace("-", ".")) == (code, None)
    assert codes.check(shown.replace("-", "–")) == (code, None)  # an en dash from a phone keyboard
    assert codes.normalise("o0 i1 l1") == "001111"
    assert codes.normalise("k7qm-3xpa") == "K7QM3XPA"


def test_look_alike_letters_map_to_digits():
    code = "0" * 13 + codes.check_character("0" * 13)
    assert codes.check("O" * 13 + code[13]) == (code, None)
    ones = "1" * 13 + codes.check_character("1" * 13)
    assert codes.check("I" * 6 + "l" * 7 + ones[13]) == (ones, None)


def test_problems():
    code = SAMPLE[0]
    assert codes.check(code[:-1]) == (None, CodeProblem.WRONG_LENGTH)
    assert codes.check(code + "0") == (None, CodeProblem.WRONG_LENGTH)
    assert codes.check("") == (None, CodeProblem.WRONG_LENGTH)
    assert codes.check("U" + code[1:]) == (None, CodeProblem.BAD_CHARACTER)
    assert codes.check(code[:5] + "#" + code[6:]) == (None, CodeProblem.BAD_CHARACTER)
    assert codes.check("mã của tôi") == (None, CodeProblem.BAD_CHARACTER)


@pytest.mark.parametrize(
    "text",
    [
        "https://t.me/hb_ward27_bot?start={c}",
        "http://t.me/hb_ward27_bot?start={c}",
        "t.me/hb_ward27_bot?start={c}",
        "Mở link này: https://t.me/hb_ward27_bot?start={c} nhé",
        "https://telegram.me/hb_ward27_bot?start={c}",
    ],
)
def test_deep_links_are_accepted(text):
    code = SAMPLE[1]
    assert codes.check(text.format(c=code)) == (code, None)


def test_deep_link_payload_obeys_telegram_rules():
    for code in codes.new_codes(1000):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", code)


def test_display_and_mask():
    code = "K7QM3XPA9TZRD4"
    assert codes.display(code) == "K7QM-3XPA-9TZR-D4"
    assert codes.mask(code) == "K7QM-••••-••••-D4"
    assert code[4:12] not in codes.mask(code)
