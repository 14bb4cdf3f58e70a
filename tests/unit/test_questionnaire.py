"""The questionnaire definition, its conditions, and the engine driving it with any input."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dialogs.flows  # noqa: F401 - registers the nodes
import locales
from dialogs.core import Env, Input, step
from dialogs.parsers import Invalid
from dialogs.ports import Person
from dialogs.questionnaire import (
    BY_KEY,
    NO_CONDITIONS,
    QUESTIONS,
    VERSION,
    Facts,
    interpret,
    live,
    typed_columns,
    walk,
)
from storage.models import Declaration

TODAY = date(2026, 11, 30)


def person(age: int, sex: str = "F", **kw) -> Person:
    b = date(TODAY.year - age, 1, 15)
    return Person(id=1, code="X", full_name="Nguyễn Thị A", birth_year=b.year, birth_date=b, sex=sex, **kw)


def asked(p: Person, answers: dict | None = None) -> list[str]:
    return [q.key for q, _ in walk(p, answers or {}, TODAY)]


# ---------------------------------------------------------------- the definition


def test_keys_unique_and_version_set():
    assert len(BY_KEY) == len(QUESTIONS) and VERSION


def test_every_question_has_prompt_label_and_buttons_in_every_locale():
    for loc in locales.available():
        cat = locales.catalog(loc)
        for q in QUESTIONS:
            assert f"q.{q.key}" in cat and f"label.{q.key}" in cat, (loc, q.key)
            for c in q.choices:
                assert c.label in cat, (loc, c.label)
                if q.multi:
                    assert c.label + "_on" in cat, (loc, c.label)
        assert NO_CONDITIONS.label in cat


def test_typed_columns_are_declaration_columns():
    answers = {"height": 160.0, "weight": 64.0, "blood_pressure": [130, 85], "pregnancies": 2, "children": 1,
               "covid_doses": 3}
    cols = typed_columns(answers)
    assert cols == {"height_cm": 160.0, "weight_kg": 64.0, "bmi": 25.0, "systolic": 130, "diastolic": 85,
                    "pregnancies": 2, "children": 1, "covid_doses": 3}
    assert set(cols) <= set(Declaration.__table__.columns.keys())
    assert typed_columns({"blood_pressure": "unknown", "height": None}) == {}


# ---------------------------------------------------------------- conditions


def test_a_woman_of_forty_is_asked_about_pregnancies_not_childhood_or_flu_vaccines():
    keys = asked(person(40))
    assert {"pregnancies", "children", "blood_pressure", "smoking", "occupation", "insurance"} <= set(keys)
    assert not {"epi_complete", "flu_shot", "full_name", "birth_date", "sex"} & set(keys)


def test_a_small_child_gets_the_expanded_programme_question_only():
    keys = asked(person(3, "M", insurance_code="TE1797915410044"))
    assert "epi_complete" in keys
    assert not {"pregnancies", "children", "smoking", "blood_pressure", "occupation", "insurance", "flu_shot"} & set(keys)


def test_an_old_man_gets_the_flu_question_not_pregnancies():
    keys = asked(person(70, "M"))
    assert "flu_shot" in keys and "pregnancies" not in keys


def test_corrections_are_asked_and_change_what_follows():
    p = person(40)
    keys = asked(p, {"identity": "fix", "sex": "M"})
    assert keys[:4] == ["identity", "full_name", "birth_date", "sex"]
    assert "pregnancies" not in keys
    # An answer to a question that no longer applies does not count.
    answers = {"identity": "ok", "sex": "M", "pregnancies": 2}
    assert live(p, answers, TODAY) == {"identity": "ok", "pregnancies": 2}


def test_sex_missing_from_the_register_is_asked():
    assert "sex" in asked(person(30, None))


def test_order_follows_the_tuple():
    keys = asked(person(40))
    assert keys == [q.key for q in QUESTIONS if q.key in keys]


# ---------------------------------------------------------------- understanding answers


def facts(key: str, p: Person | None = None, answers: dict | None = None) -> Facts:
    p = p or person(40, address="45 Lê Lợi")
    return next(f for q, f in walk(p, answers or {}, TODAY) if q.key == key)


@pytest.mark.parametrize("key, text, value", [
    ("identity", "dung", "ok"), ("identity", "Đúng rồi", "ok"), ("identity", "sai", "fix"),
    ("smoking", "ko", "no"), ("smoking", "k", "no"), ("smoking", "co", "yes"), ("smoking", "u", "yes"),
    ("smoking", "da bo", "quit"), ("smoking", "Đã bỏ 👍", "quit"),
    ("address", "dung", "45 Lê Lợi"), ("address", "12  Nguyễn Trãi ", "12 Nguyễn Trãi"),
    ("blood_group", "khong biet", "unknown"), ("blood_group", "o", "O"),
    ("conditions", "tiểu đường, huyết áp", ["htn", "diabetes"]), ("conditions", "hen va tim", ["heart", "lung"]),
    ("covid_doses", "4+", 4), ("covid_doses", "5 mũi", 4), ("covid_doses", "hai", 2),
    ("allergies", "không", "none"), ("allergies", "tôm cua", "tôm cua"),
    ("insurance", "khong co the", "none"), ("ethnicity", "Tày", "Tày"), ("occupation", "huu tri", "retired"),
    ("pregnancies", "2 lần", 2),
])
def test_typed_answers(key, text, value):
    assert interpret(BY_KEY[key], text, facts(key)) == value


def test_birth_date_in_the_future_is_refused():
    f = facts("birth_date", answers={"identity": "fix", "full_name": "Nguyễn Thị A"})
    with pytest.raises(Invalid):
        interpret(BY_KEY["birth_date"], f"01/01/{TODAY.year + 1}", f)
    assert interpret(BY_KEY["birth_date"], "05/03/1950", f) == "1950-03-05"


def test_unusual_values_are_flagged():
    w = BY_KEY["weight"]
    assert w.unusual(30.0, facts("weight", answers={"height": 158.0}))[0] == "decl.sure_bmi"
    assert w.unusual(60.0, facts("weight", answers={"height": 158.0})) is None
    c = BY_KEY["children"]
    assert c.unusual(3, facts("children", answers={"pregnancies": 1})) is not None
    assert c.unusual(1, facts("children", answers={"pregnancies": 1})) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(QUESTIONS), st.text(max_size=200))
def test_any_text_at_any_question_is_a_value_or_a_rejection(q, text):
    f = Facts(person(40, address="1 Lê Lợi"), {"identity": "fix", "height": 150.0, "pregnancies": 1}, TODAY)
    try:
        interpret(q, text, f)
    except Invalid as e:
        assert e.msg.startswith("err.") and e.msg in locales.catalog("vi")


# ---------------------------------------------------------------- the engine, any input


class People:
    def __init__(self, people):
        self.people = people

    async def linked(self, account_id):
        return self.people

    async def get_linked(self, account_id, resident_id):
        return next((p for p in self.people if p.id == resident_id), None)


class Declarations:
    def __init__(self):
        self.saved = []

    async def submit(self, sub):
        self.saved.append(sub)
        return "saved", len(self.saved)

    async def latest(self, resident_id):
        return None


class Accounts:
    async def set_locale(self, *a):
        pass


class Svc:
    def __init__(self, people):
        self.people = People(people)
        self.declarations = Declarations()
        self.accounts = Accounts()


_TICKS = itertools.count()


def env(svc) -> Env:
    """A person answering at a human pace: each step 10 s after the one before (a second
    tap within a few seconds is a double tap, tested in test_repeats.py)."""
    now = datetime(2026, 11, 30, 9, 0) + timedelta(seconds=10 * next(_TICKS))
    return Env(account="test:1", now=now, services=svc, station_name="Trạm Y tế", station_phone="028")


BUTTONS = ["✅ Đúng", "✏️ Sửa", "Có", "Không", "Xong", "Không có", "↩️ Giữ nguyên", "Bỏ qua", "⬅️ Quay lại",
           "✅ Xác nhận gửi", "Tăng huyết áp", "0", "4+", "Kinh", "O", "Không biết", "▶️ Tiếp tục", "🔄 Làm lại",
           "1m60", "55", "120/80", "0912345678", "12 Lê Lợi, Phường 2", "Nam", "Nữ", "05/03/1980", "2",
           "📝 Khai báo sức khỏe", "▶️ Tiếp tục khai báo", "✏️ Sửa", "Cân nặng", "Chiều cao"]

inputs = st.one_of(
    st.builds(lambda t: Input(kind="text", text=t), st.sampled_from(BUTTONS)),
    st.builds(lambda t: Input(kind="text", text=t), st.text(min_size=1, max_size=300)),
    st.builds(lambda p: Input(kind="contact", phone=p), st.sampled_from(["", "84912345678", "+15550100"])),
    st.sampled_from([Input(kind="other"), Input(kind="photo"), Input(kind="voice"), Input(kind="sticker"),
                     Input(kind="video"), Input(kind="file"), Input(kind="location"), Input(kind="command", command="khaibao"),
                     Input(kind="command", command="capnhat"), Input(kind="command", command="hoso"),
                     Input(kind="callback", text="declare:1"), Input(kind="callback", text="declare:x"),
                     Input(kind="command", command="huy")]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inputs, min_size=1, max_size=40), st.sampled_from([40, 3, 70]))
def test_any_sequence_of_inputs_is_always_answered(seq, age):
    svc = Svc([person(age, address="45 Lê Lợi", relation="self")])

    async def go():
        state, _ = await step({}, Input(kind="command", command="khaibao"), env(svc))
        for inp in seq:
            state, replies = await step(state, inp, env(svc))
            assert replies, inp
        for sub in svc.declarations.saved:  # whatever was saved is in range and consistent
            assert sub.answers and set(sub.answers) <= set(BY_KEY)
            assert set(sub.columns) <= set(Declaration.__table__.columns.keys())

    asyncio.run(go())


def test_random_walks_over_the_buttons_reach_the_review_and_save_consistent_rows():
    """Seeded walks pressing any button: every node is reached, every step answered, and
    whatever is saved holds only answers to questions that applied."""

    async def walk_once(seed: int, seen: set) -> int:
        rnd = random.Random(seed)
        age = rnd.choice([40, 3, 70])
        svc = Svc([person(age, address="45 Lê Lợi", relation="self")])
        state, _ = await step({}, Input(kind="command", command="khaibao"), env(svc))
        for _ in range(200):
            state, replies = await step(state, Input(kind="text", text=rnd.choice(BUTTONS)), env(svc))
            assert replies
            seen.add(state.get("node"))
        for sub in svc.declarations.saved:
            p = person(age, address="45 Lê Lợi")
            assert sub.answers == live(p, sub.answers, TODAY)
        return len(svc.declarations.saved)

    async def go():
        seen: set = set()
        saved = sum([await walk_once(seed, seen) for seed in range(80)])
        assert saved > 0 and "declare.review" in seen and "declare.edit" in seen
        assert {f"declare.q.{q.key}" for q in QUESTIONS} <= seen

    asyncio.run(go())
