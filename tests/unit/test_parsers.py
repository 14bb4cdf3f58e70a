"""What people type: tables of the forms we accept and refuse, and properties over any text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dialogs import parsers
from dialogs.parsers import Invalid

# ---------------------------------------------------------------- tables


@pytest.mark.parametrize("text, cm", [
    ("1m65", 165), ("1 m 65", 165), ("1m6", 160), ("1 mét 65", 165), ("1,65 m", 165), ("1,65m", 165),
    ("1.65", 165), ("165cm", 165), ("165 cm", 165), ("165", 165), ("cao 1m65", 165),
    ("khoảng 1m50", 150), ("1m65 😊", 165), ("  165  ", 165), ("50,5", 50.5), ("1m", 100), ("40", 40),
    ("250 cm", 250),
    ("một mét sáu", 160),  # numbers in words: see test_parsers_words.py
])
def test_height_forms(text, cm):
    assert parsers.height(text) == cm


@pytest.mark.parametrize("text", ["", "abc", "3m", "39", "251", "1m650", "1,6,5", "165 kg", "٦٥"])
def test_height_refused(text):
    with pytest.raises(Invalid) as e:
        parsers.height(text)
    assert e.value.msg == "err.height" and e.value.vars["example"]


@pytest.mark.parametrize("text, kg", [
    ("65", 65), ("65,5", 65.5), ("65.5", 65.5), ("65kg", 65), ("65 kg", 65), ("65 ký", 65), ("65 kí", 65),
    ("65 ki", 65), ("65 ky", 65), ("65 KG", 65), ("65 kí rưỡi", 65.5), ("3500 g", 3.5), ("nặng 50 ký", 50),
    ("2", 2), ("300", 300), ("65 cân", 65), ("⁶⁵", 65),
])
def test_weight_forms(text, kg):
    assert parsers.weight(text) == kg


@pytest.mark.parametrize("text", ["1", "301", "500kg", "abc", "65 lbs", "", "65/70"])
def test_weight_refused(text):
    with pytest.raises(Invalid) as e:
        parsers.weight(text)
    assert e.value.msg == "err.weight"


@pytest.mark.parametrize("text, bp", [
    ("120/80", (120, 80)), ("120 80", (120, 80)), ("120 trên 80", (120, 80)), ("120 tren 80", (120, 80)),
    ("12/8", (120, 80)), ("13,5/8,5", (135, 85)), ("9/6", (90, 60)), ("120/80 mmHg", (120, 80)),
    ("huyết áp 130/85", (130, 85)), ("120-80", (120, 80)), ("  140 / 90 ", (140, 90)), ("120 over 80", (120, 80)),
])
def test_blood_pressure_forms(text, bp):
    assert parsers.blood_pressure(text) == bp


@pytest.mark.parametrize("text, msg", [
    ("80/120", "err.blood_pressure_range"), ("300/80", "err.blood_pressure_range"),
    ("120/20", "err.blood_pressure_range"), ("120", "err.blood_pressure"), ("abc", "err.blood_pressure"),
    ("120/80/60", "err.blood_pressure"), ("120/80,5", "err.blood_pressure"), ("١٢٠/٨٠", "err.blood_pressure"),
])
def test_blood_pressure_refused(text, msg):
    with pytest.raises(Invalid) as e:
        parsers.blood_pressure(text)
    assert e.value.msg == msg and e.value.vars["example"] == "120/80"


@pytest.mark.parametrize("text, n", [
    ("0", 0), ("2", 2), ("hai", 2), ("2 lần", 2), ("2 đứa", 2), ("không", 0), ("ko", 0), ("chưa có", 0),
    ("20", 20), ("ba con", 3), ("mười", 10),
])
def test_count_forms(text, n):
    assert parsers.count(text) == n


@pytest.mark.parametrize("text", ["21", "-", "abc", "2.5", "", "hai mươi mốt"])
def test_count_refused(text):
    with pytest.raises(Invalid):
        parsers.count(text)


@pytest.mark.parametrize("text, stored", [
    ("0912345678", "+84912345678"), ("0912 345 678", "+84912345678"), ("091.234.5678", "+84912345678"),
    ("+84 912 345 678", "+84912345678"), ("84912345678", "+84912345678"), ("(028) 3899 0000", "+842838990000"),
    ("０９１２３４５６７８", "+84912345678"), ("912345678", "+84912345678"),
])
def test_phone_forms(text, stored):
    assert parsers.phone(text) == stored


@pytest.mark.parametrize("text", ["12345", "0123456789", "+1 650 253 0000", "09123456789", "abc", "09l2345678"])
def test_phone_refused(text):
    with pytest.raises(Invalid):
        parsers.phone(text)


def test_phone_shown_the_vietnamese_way():
    assert parsers.show_phone("+84912345678") == "0912 345 678"
    assert parsers.show_phone("+842838990000") == "028 3899 0000"


@pytest.mark.parametrize("text, code", [
    ("DN4797915410033", "DN4797915410033"), ("dn 479 791 541 0033", "DN4797915410033"),
    ("4797915410", "4797915410"), ("479-791-5410", "4797915410"),
])
def test_insurance_forms(text, code):
    assert parsers.insurance(text) == code


@pytest.mark.parametrize("text", ["DN479791541003", "12345", "D14797915410033", "47979154100"])
def test_insurance_refused(text):
    with pytest.raises(Invalid):
        parsers.insurance(text)


@pytest.mark.parametrize("text, d", [
    ("05/03/1950", date(1950, 3, 5)), ("5-3-1950", date(1950, 3, 5)), ("5.3.1950", date(1950, 3, 5)),
    ("ngày 5/3/1950", date(1950, 3, 5)), ("29/02/2000", date(2000, 2, 29)),
])
def test_birth_date_forms(text, d):
    assert parsers.birth_date(text) == d


@pytest.mark.parametrize("text", ["31/02/1950", "1950", "5/3/50", "00/00/0000", "05/03/1850"])
def test_birth_date_refused(text):
    with pytest.raises(Invalid):
        parsers.birth_date(text)


def test_names_are_written_family_name_first_with_capitals():
    assert parsers.full_name("nguyễn thị  an") == "Nguyễn Thị An"
    assert parsers.full_name("NGUYỄN VĂN A") == "Nguyễn Văn A"
    for bad in ("123", "a", "Nguyễn 2", "🙂"):
        with pytest.raises(Invalid):
            parsers.full_name(bad)


@pytest.mark.parametrize("text, group", [("a", "A"), ("O+", "O"), ("0", "O"), ("nhóm máu AB", "AB"), ("b rh-", "B")])
def test_blood_group_forms(text, group):
    assert parsers.blood_group(text) == group


@pytest.mark.parametrize("bmi, category", [
    (18.4, "underweight"), (18.5, "normal"), (22.9, "normal"), (23.0, "overweight"), (24.9, "overweight"),
    (25.0, "obese"),
])
def test_bmi_categories_use_the_asian_cut_offs(bmi, category):
    assert parsers.bmi_category(bmi) == category


# ---------------------------------------------------------------- properties

PARSERS = [
    parsers.height, parsers.weight, parsers.blood_pressure, parsers.count, parsers.phone, parsers.insurance,
    parsers.birth_date, parsers.full_name, parsers.address, parsers.short_text, parsers.blood_group,
    parsers.ethnicity, parsers.occupation, parsers.allergy,
]


def in_range(parse, value) -> bool:
    if parse is parsers.height:
        return 40 <= value <= 250
    if parse is parsers.weight:
        return 2 <= value <= 300
    if parse is parsers.blood_pressure:
        s, d = value
        return 60 <= s <= 260 and 30 <= d <= 160 and s > d
    if parse is parsers.count:
        return 0 <= value <= 20
    if parse is parsers.phone:
        return value.startswith("+84") and value[3:].isascii() and value[3:].isdigit()
    if parse is parsers.insurance:
        return len(value) in (10, 15) and value.isascii()
    if parse is parsers.birth_date:
        return value.year >= 1900
    return isinstance(value, str) and 0 < len(value) <= 200


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), st.text(max_size=300))
# The forms of issue 14 (numbers, units and dates in words, signs, ranges, polite words).
@example(parsers.weight, "-5")
@example(parsers.weight, "50-55 ký")
@example(parsers.weight, "sáu lăm ký rưỡi")
@example(parsers.weight, "65 ki lô")
@example(parsers.height, "một mét sáu lăm")
@example(parsers.count, "-1")
@example(parsers.count, "hai ba lần")
@example(parsers.blood_pressure, "một trăm hai trên tám mươi")
@example(parsers.birth_date, "ngày 5 tháng 3 năm 1958")
@example(parsers.birth_date, "1958-03-05")
@example(parsers.address, "ko có")
@example(parsers.ethnicity, "1m52")
@example(parsers.occupation, "dạ về hưu rồi ạ")
def test_any_text_is_a_value_in_range_or_a_rejection(parse, text):
    try:
        value = parse(text)
    except Invalid as e:
        assert e.msg.startswith("err.")
        return
    assert in_range(parse, value), (text, value)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(PARSERS), st.text(alphabet="0123456789/.,- mkgtrenMKG", max_size=20))
def test_number_like_text_is_a_value_in_range_or_a_rejection(parse, text):
    try:
        value = parse(text)
    except Invalid:
        return
    assert in_range(parse, value), (text, value)


@given(st.integers(400, 2500), st.sampled_from(["{c} cm", "{c}cm", "{m}", "{m} m", "{c}"]))
def test_heights_in_range_round_trip(tenths, form):
    cm = tenths / 10
    text = form.format(c=f"{cm:g}".replace(".", ","), m=f"{cm / 100:.2f}".replace(".", ","))
    if form in ("{m}", "{m} m") and tenths % 10:
        return  # not written in metres to the centimetre
    if form == "{c}" and cm < 3:
        return
    assert parsers.height(text) == pytest.approx(cm, abs=0.05)


@given(st.integers(20, 3000), st.sampled_from(["{} kg", "{}kg", "{} ký", "{}"]))
def test_weights_in_range_round_trip(tenths, form):
    kg = tenths / 10
    assert parsers.weight(form.format(f"{kg:g}".replace(".", ","))) == kg


@given(st.integers(60, 260), st.integers(30, 160), st.sampled_from(["{}/{}", "{} {}", "{} trên {}"]))
def test_blood_pressure_in_range_round_trips(s, d, form):
    if s > d:
        assert parsers.blood_pressure(form.format(s, d)) == (s, d)


@given(st.text(alphabet="35789", min_size=1, max_size=1), st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_mobile_numbers_round_trip(first, rest):
    local = "0" + first + rest
    assert parsers.phone(local) == "+84" + first + rest
    assert parsers.phone(parsers.show_phone("+84" + first + rest)) == "+84" + first + rest
