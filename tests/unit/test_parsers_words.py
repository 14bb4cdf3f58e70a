"""The forms of issue 14: numbers in words, units in words, polite words, chat shorthand,
signs and ranges refused, dates in words, plausible free text. Tables of examples, then
properties over generated answers (the hypothesis tests of test_parsers.py still hold)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs import parsers
from dialogs.parsers import Invalid
from dialogs.text import answer, pick

# ---------------------------------------------------------------- the matching form


@pytest.mark.parametrize("text, form", [
    ("Dạ, khoong có ạ!", "khong co"), ("dạ có", "co"), ("da co", "co"), ("vâng ạ", "vang"), ("dạ", "da"),
    ("kh", "khong"), ("hok", "khong"), ("ko", "khong"), ("k", "khong"), ("dc r", "duoc roi"), ("đc", "duoc"),
    ("cos", "co"), ("ddungs", "dung"), ("khongggg", "khong"), ("da bo", "da bo"),  # "đã bỏ", not "dạ"
    ("nhóm máu A", "nhom mau a"), ("A ạ", "a"), ("65 ki lô nhé", "65 ki lo"), ("Khơ-me", "kho me"),
    ("120-80", "120-80"), ("-5", "-5"), ("hẻm 5", "hem 5"),  # "hẻm" (alley) is not "hem" (không)
])
def test_the_matching_form(text, form):
    assert answer(text) == form


def test_pick_takes_one_button_with_everyday_words_around_it_or_none():
    options = [("no", {"khong", "khong co"}), ("yes", {"co"}), ("quit", {"da bo", "bo"})]
    assert pick("không có", options) == "no"  # the longer form holds "có"
    assert pick("tôi chọn Không có", options) == "no"
    assert pick("dạ có ạ", options) == "yes"
    assert pick("có, nhưng đã bỏ", options) is None  # two buttons named
    assert pick("có không", options) is None
    assert pick("không biết", options) is None  # "biết" is not an everyday word around a button
    assert pick("rồi", [("yes", {"roi"})]) == "yes"
    assert pick("bỏ thuốc rồi", [("yes", {"roi"}), ("quit", {"bo thuoc"})]) == "quit"


# ---------------------------------------------------------------- numbers in words

@pytest.mark.parametrize("text, kg", [
    ("65 ki lô", 65), ("65 kí lô gam", 65), ("65 ký lô", 65), ("65 kilogam", 65), ("65 ki-lô", 65),
    ("sáu mươi lăm", 65), ("sáu mươi lăm ký", 65), ("sáu lăm", 65), ("sáu lăm ký rưỡi", 65.5),
    ("năm mươi mốt", 51), ("năm mốt ký", 51), ("bốn tư", 44), ("bốn mươi tư", 44), ("bảy mươi", 70),
    ("một trăm", 100), ("một trăm hai mươi", 120), ("một trăm hai", 120), ("trăm rưỡi", 150),
    ("một trăm linh năm", 105), ("một trăm lẻ năm", 105), ("hai chục", 20), ("mười lăm", 15),
    ("sáu lăm phẩy năm", 65.5), ("65 phẩy 5", 65.5), ("tám mươi", 80), ("tầm 60 ký", 60), ("tam 60 ky", 60),
    ("3 ký 2 lạng", 3.2), ("dạ 65 ký ạ", 65), ("65kg nhé", 65), ("sau muoi lam", 65),
])
def test_weight_in_words(text, kg):
    assert parsers.weight(text) == kg


@pytest.mark.parametrize("text", [
    "-5", "- 65", "−65", "âm 65", "cân nặng -65 kg",  # a sign is never dropped
    "50-55 ký", "50 - 55", "50 đến 55", "từ 50 đến 55 ký", "50 hoặc 55", "50 hay 55",  # ranges
    "hai ba", "bốn năm ký", "năm hai ký",  # "two or three", "four or five": not 23, 45, 52
    "tam muoi", "tam muoi lam",  # tám mươi (80) or tầm mười (about 10), typed without diacritics
    "hơn 60 ký", "gần 60", "dưới 50", "vài chục ký", "năm 1958",
])
def test_weight_refused(text):
    with pytest.raises(Invalid) as e:
        parsers.weight(text)
    assert e.value.msg == "err.weight" and e.value.vars["example"]


@pytest.mark.parametrize("text, cm", [
    ("một mét sáu", 160), ("một mét sáu lăm", 165), ("một mét sáu mươi lăm", 165), ("mét sáu lăm", 165),
    ("một mét sáu hai", 162), ("mét rưỡi", 150), ("một mét rưỡi", 150), ("một mét linh năm", 105),
    ("1 thước 6", 160), ("165 phân", 165), ("một trăm sáu mươi lăm", 165), ("dạ 1m65 ạ", 165),
])
def test_height_in_words(text, cm):
    assert parsers.height(text) == cm


@pytest.mark.parametrize("text", ["-165", "1m6-1m7", "hơn 1m6", "hai", "tầm 1m5 1m6", "1m65 hoặc 1m70"])
def test_height_refused(text):
    with pytest.raises(Invalid):
        parsers.height(text)


@pytest.mark.parametrize("text, bp", [
    ("một trăm hai mươi trên tám mươi", (120, 80)), ("một trăm hai trên tám mươi", (120, 80)),
    ("120 - 80", (120, 80)), ("dạ 130/85 ạ", (130, 85)), ("đo được 140/90", (140, 90)),
])
def test_blood_pressure_in_words(text, bp):
    assert parsers.blood_pressure(text) == bp


@pytest.mark.parametrize("text", ["-120/80", "120/80 hoặc 130/85", "hơn 140/90", "120/-80"])
def test_blood_pressure_refused(text):
    with pytest.raises(Invalid):
        parsers.blood_pressure(text)


@pytest.mark.parametrize("text, n", [
    ("mang thai 3 lần", 3), ("đã tiêm 2 mũi rồi", 2), ("dạ 2 đứa ạ", 2), ("có 2 đứa", 2), ("ko có", 0),
    ("chưa bao giờ", 0), ("chưa tiêm", 0), ("mười hai", 12), ("hai mươi", 20), ("tư", 4),
])
def test_counts(text, n):
    assert parsers.count(text) == n


@pytest.mark.parametrize("text", ["-1", "- 1", "1-2", "2 hoặc 3", "hai ba lần", "bốn năm lần", "vài lần", "hơn 2",
                                  "không nhớ", "không 2 lần", "2 trai 1 gái", "mấy lần"])
def test_counts_refused(text):
    with pytest.raises(Invalid) as e:
        parsers.count(text)
    assert e.value.vars["example"] == "2"


# ---------------------------------------------------------------- dates

@pytest.mark.parametrize("text", [
    "5 tháng 3 năm 1958", "ngày 5 tháng 3 năm 1958", "ngay 5 thang 3 nam 1958", "mùng 5 tháng 3 năm 1958",
    "ngày mồng năm tháng ba năm 1958", "1958-03-05", "1958/3/5", "dạ 05/03/1958 ạ", "sinh ngày 5/3/1958",
    "5 March 1958", "March 5, 1958", "5 tháng 3, 1958", "05.03.1958 dương lịch",
])
def test_birth_dates_in_words_and_iso(text):
    assert parsers.birth_date(text) == date(1958, 3, 5)


@pytest.mark.parametrize("text", [
    "sinh năm 1958", "tháng 3 năm 1958", "mồng 5 tháng giêng năm 1958", "5/3/1958 âm lịch", "30 tháng 2 năm 1958",
    "5 tháng 13 năm 1958", "hai ba tháng 3 năm 1958",
])
def test_birth_dates_refused(text):
    with pytest.raises(Invalid):
        parsers.birth_date(text)


# ---------------------------------------------------------------- free text

@pytest.mark.parametrize("text, stored", [
    ("12 Nguyễn Trãi, Phường 2", "12 Nguyễn Trãi, Phường 2"), ("dạ 12 Nguyễn Trãi ạ", "12 Nguyễn Trãi"),
    ("hẻm 5 Nguyễn Trãi", "hẻm 5 Nguyễn Trãi"), ("ấp Tân Phú, xã Tân Hòa", "ấp Tân Phú, xã Tân Hòa"),
])
def test_addresses(text, stored):
    assert parsers.address(text) == stored


@pytest.mark.parametrize("text", ["ko có", "không", "không biết", "123", "1m52", "0912345678", "Đà Nẵng", "ok",
                                  "không có nhà 5"])
def test_not_addresses(text):
    with pytest.raises(Invalid) as e:
        parsers.address(text)
    assert e.value.msg == "err.address"


@pytest.mark.parametrize("text, group", [
    ("tày", "Tày"), ("tay", "Tày"), ("người Mường", "Mường"), ("dân tộc Nùng", "Nùng"), ("H'Mông", "Mông"),
    ("Mèo", "Mông"), ("ede", "Ê-đê"), ("Ê Đê", "Ê-đê"), ("bana", "Ba-na"), ("Vân Kiều", "Bru-Vân Kiều"),
    ("dân tộc Co", "Co"), ("K'Ho", "Cơ-ho"), ("khác: Pháp", "Khác: Pháp"), ("Khác: người Nhật", "Khác: người Nhật"),
])
def test_ethnic_groups(text, group):
    assert parsers.ethnicity(text) == group


@pytest.mark.parametrize("text", ["1m52", "người Tây", "có", "Co", "không", "không phải Tày", "người Pháp", "khác", "123"])
def test_not_ethnic_groups(text):
    with pytest.raises(Invalid) as e:
        parsers.ethnicity(text)
    assert e.value.msg == "err.ethnicity"


def test_the_list_has_the_54_groups_with_distinct_names():
    groups = parsers.ethnic_groups()
    assert len(groups) == 54 and len({name for name, _ in groups}) == 54
    for name, _ in groups:  # each official name reads as itself, but "Co" alone is also "có"
        assert parsers.ethnicity(name if name != "Co" else "dân tộc Co") == name


@pytest.mark.parametrize("parse, text", [
    (parsers.occupation, "ko"), (parsers.occupation, "có"), (parsers.occupation, "123"), (parsers.occupation, "1m52"),
    (parsers.allergy, "có"), (parsers.allergy, "co"), (parsers.allergy, "12"),
])
def test_free_text_that_is_no_answer(parse, text):
    with pytest.raises(Invalid):
        parse(text)


# ---------------------------------------------------------------- properties

UNITS = ["", "tư", "lăm", "mốt"]


def spoken(n: int) -> str:
    """0 < n < 1000 as Vietnamese say it (written independently of the parser)."""
    digits = ["", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
    h, t, u = n // 100, n // 10 % 10, n % 10
    out = []
    if h:
        out += [digits[h], "trăm"]
        if t == 0 and u:
            return " ".join(out + ["linh", digits[u]])
    if t == 1:
        out += ["mười"] + (["lăm"] if u == 5 else [digits[u]] if u else [])
    elif t > 1:
        out += [digits[t], "mươi"] + (["mốt"] if u == 1 else ["lăm"] if u == 5 else [digits[u]] if u else [])
    elif u and not h:
        out.append(digits[u])
    return " ".join(out)


@given(st.integers(2, 300), st.sampled_from(["{}", "{} ký", "{} ki lô", "{} cân", "dạ {} ạ", "nặng {} kí lô gam"]))
def test_weights_said_in_words_round_trip(kg, form):
    assert parsers.weight(form.format(spoken(kg))) == kg


@given(st.integers(0, 20), st.sampled_from(["{}", "{} lần", "dạ {} ạ", "{} đứa"]))
def test_counts_said_in_words_round_trip(n, form):
    assert parsers.count(form.format(spoken(n) if n else "không")) == n


@given(st.integers(100, 199))
def test_heights_said_in_words_round_trip(cm):
    rest = cm - 100  # "một mét linh năm" 105, "một mét một" is 110 like 1m1
    said = "một mét" if not rest else f"một mét linh {spoken(rest)}" if rest < 10 else f"một mét {spoken(rest)}"
    assert parsers.height(said) == cm
    assert parsers.height(spoken(cm) + " phân") == cm


@given(st.integers(20, 3000), st.sampled_from(["-{}", "- {}", "−{}", "âm {}", "-{} kg", "nặng -{} ký"]))
def test_a_negative_weight_is_never_stored(tenths, form):
    with pytest.raises(Invalid):
        parsers.weight(form.format(f"{tenths / 10:g}".replace(".", ",")))


@given(st.integers(2, 300), st.integers(1, 30), st.sampled_from(["{}-{} ký", "{} - {}", "{} đến {} kg", "{} hoặc {}",
                                                                  "{} hay {} ký", "{}, {} ký"]))
def test_a_range_of_weights_is_never_stored(low, gap, form):
    with pytest.raises(Invalid):
        parsers.weight(form.format(low, low + gap))


@given(st.integers(0, 20), st.integers(1, 5), st.sampled_from(["{}-{}", "{} hoặc {} lần", "{} đến {} mũi"]))
def test_a_range_of_counts_is_never_stored(n, gap, form):
    with pytest.raises(Invalid):
        parsers.count(form.format(n, n + gap))


POLITE = [("dạ ", ""), ("", " ạ"), ("dạ ", " ạ"), ("vâng ", " nhé"), ("", " nha"), ("Dạ, ", " ạ!")]


@settings(deadline=None)
@given(st.sampled_from([
    (parsers.weight, "65,5 kg"), (parsers.height, "1m65"), (parsers.blood_pressure, "120/80"), (parsers.count, "2 lần"),
    (parsers.birth_date, "05/03/1958"), (parsers.ethnicity, "Tày"), (parsers.address, "12 Lê Lợi, Phường 2"),
    (parsers.occupation, "thợ may"), (parsers.allergy, "tôm cua"),
]), st.sampled_from(POLITE))
def test_polite_words_never_change_an_answer(case, polite):
    parse, text = case
    assert parse(polite[0] + text + polite[1]) == parse(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(
    ["một", "hai", "ba", "bốn", "tư", "năm", "lăm", "sáu", "bảy", "tám", "tam", "chín", "mười", "mươi", "muoi",
     "trăm", "linh", "lẻ", "rưỡi", "mốt", "phẩy", "ký", "lần", "-", "5", "60", "hơn", "tầm"]), min_size=1, max_size=6))
def test_any_number_words_are_a_value_in_range_or_a_rejection(ws):
    text = " ".join(ws)
    for parse, lo, hi in ((parsers.weight, 2, 300), (parsers.count, 0, 20), (parsers.height, 40, 250)):
        try:
            value = parse(text)
        except Invalid:
            continue
        assert lo <= value <= hi, (text, value)
        assert not text.startswith("-"), (text, value)
