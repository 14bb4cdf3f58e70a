"""Issue 14 through the conversation: each class of answer sent to the engine's `step` at
its question of a real declaration, and what was stored (or that it was asked again)."""

from __future__ import annotations

import pytest

import dialogs.flows  # noqa: F401 - registers the nodes
from dialogs.core import HOME, Input, Msg, step
from dialogs.draft import DRAFT
from dialogs.nodes import DECLARE_REVIEW, question
from tests.unit.test_answers_corpus import GOOD, at_question
from tests.unit.test_questionnaire import Svc, env, person


async def send(state: dict, text: str, kind: str = "text") -> tuple[dict, list]:
    svc = Svc([person(40, address="45 Lê Lợi, Phường 27", relation="self")])
    return await step(state, Input(kind=kind, text=text), env(svc))


def stored(state: dict, key: str):
    return state[DRAFT]["answers"].get(key, "(nothing)")


async def stored_after(key: str, text: str):
    """What sending `text` at question `key` stored."""
    state, _ = await at_question(key)
    state, _ = await send(state, text)
    return stored(state, key)


async def asked_again(key: str, text: str) -> list:
    """Send `text` at question `key`; it must be refused: nothing stored, same question."""
    state, _ = await at_question(key)
    state, replies = await send(state, text)
    assert state["node"] == question(key) and key not in state[DRAFT]["answers"], (key, text, stored(state, key))
    assert replies[-1].keyboard, "asked again with its buttons"
    return replies


@pytest.mark.parametrize("key, text, msg", [
    ("weight", "-5", "err.weight"), ("weight", "- 65 ký", "err.weight"), ("weight", "50-55 ký", "err.weight"),
    ("weight", "hai ba chục ký", "err.weight"), ("children", "-1", "err.answer_count"),
    ("pregnancies", "hai ba lần", "err.answer_count"), ("height", "1m55-1m60", "err.height"),
    ("blood_pressure", "-120/80", "err.blood_pressure"), ("covid_doses", "2-3 mũi", "err.answer_count"),
])
async def test_a_sign_or_a_range_is_refused_with_an_example(key, text, msg):
    replies = await asked_again(key, text)
    assert replies[-1].msg == msg and replies[-1].vars["example"]


@pytest.mark.parametrize("key, text, value", [
    ("weight", "65 ki lô", 65.0), ("weight", "sáu mươi lăm ký rưỡi", 65.5), ("weight", "dạ năm lăm ký ạ", 55.0),
    ("height", "một mét sáu lăm", 165.0), ("height", "mét sáu", 160.0),
    ("blood_pressure", "một trăm hai mươi trên tám mươi", [120, 80]),
    ("pregnancies", "hai lần", 2), ("children", "dạ 2 đứa ạ", 2), ("covid_doses", "đã tiêm ba mũi rồi", 3),
    ("birth_date", "5 tháng 3 năm 1958", "1958-03-05"), ("birth_date", "ngày 5 tháng 3 năm 1958", "1958-03-05"),
    ("birth_date", "1958-03-05", "1958-03-05"),
])
async def test_numbers_units_and_dates_in_words_are_stored_as_meant(key, text, value):
    assert await stored_after(key, text) == value


@pytest.mark.parametrize("key, text, value", [
    ("smoking", "dạ có", "yes"), ("smoking", "kh", "no"), ("smoking", "không có", "no"), ("smoking", "dạ không ạ", "no"),
    ("smoking", "vâng ạ", "yes"), ("smoking", "khoong", "no"), ("smoking", "bỏ thuốc rồi", "quit"),
    ("allergies", "ko có", "none"), ("allergies", "không bị dị ứng gì", "none"),
    ("insurance", "dạ không có thẻ bhyt ạ", "none"), ("identity", "dạ đúng rồi ạ", "ok"),
    ("occupation", "về hưu rồi", "retired"), ("occupation", "nghỉ hưu rồi", "retired"),
    ("occupation", "đã về hưu", "retired"), ("occupation", "thợ may", "thợ may"),
    ("ethnicity", "người Tày", "Tày"), ("ethnicity", "dân tộc kinh ạ", "kinh"), ("ethnicity", "Khơ-me", "khmer"),
    ("conditions", "chọn Không có", []), ("conditions", "không có bệnh gì", []),
    ("conditions", "tiểu đường và cao huyết áp", ["htn", "diabetes"]),
    ("address", "dạ 12 Nguyễn Trãi, Phường 2 ạ", "12 Nguyễn Trãi, Phường 2"),
])
async def test_everyday_answers_choose_the_button_meant(key, text, value):
    assert await stored_after(key, text) == value


@pytest.mark.parametrize("key, text, msg", [
    ("address", "ko có", "err.address"), ("address", "0912345678", "err.address"),
    ("ethnicity", "1m52", "err.ethnicity"), ("ethnicity", "người Tây", "err.ethnicity"),
    ("occupation", "ko", "err.occupation"), ("allergies", "có", "err.allergies"),
    ("smoking", "có, nhưng bỏ rồi", "err.answer_choose"),  # two buttons named: asked again
    ("smoking", "có không", "err.answer_choose"),
    ("identity", "đúng tên nhưng sai ngày sinh", "err.answer_choose"),
])
async def test_implausible_or_ambiguous_answers_are_asked_again(key, text, msg):
    replies = await asked_again(key, text)
    assert replies[-1].msg == msg


async def test_a_condition_named_with_a_no_is_not_taken():
    state, _ = await at_question("conditions")
    state, replies = await send(state, "không bị tiểu đường")
    assert "conditions" not in state[DRAFT]["answers"] and not state[DRAFT].get("toggled")
    assert state["node"] == question("conditions")


async def test_an_unusual_value_is_confirmed_with_everyday_yes_and_no():
    state, _ = await at_question("weight")  # height 1m58 given
    state, replies = await send(state, "30 ký")  # BMI 12: confirmed once
    assert replies[-1].msg == "decl.sure_bmi" and "weight" not in state[DRAFT]["answers"]
    again, replies = await send(state, "kh")
    assert "weight" not in again[DRAFT]["answers"] and again["node"] == question("weight")
    state, _ = await send(state, "dạ đúng rồi ạ")
    assert stored(state, "weight") == 30.0


async def test_polite_words_work_on_the_review_too():
    state, _ = await at_question("covid_doses")
    state, _ = await send(state, GOOD["covid_doses"])
    assert state["node"] == DECLARE_REVIEW
    svc = Svc([person(40, address="45 Lê Lợi, Phường 27", relation="self")])
    state, _ = await step(state, Input(kind="text", text="dạ xác nhận gửi ạ"), env(svc))
    assert len(svc.declarations.saved) == 1 and DRAFT not in state


# ---------------------------------------------------------------- not text where text is asked

KINDS = ("voice", "sticker", "video", "file", "location", "photo", "other")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key", ["height", "address", "smoking"])
async def test_a_voice_message_or_a_sticker_at_a_question_is_told_what_to_type(kind, key):
    state, _ = await at_question(key)
    state, replies = await send(state, "", kind=kind)
    assert [r.msg for r in replies] == [f"input.{kind}"]
    assert replies[0].vars["hint"] == Msg(f"hint.{key}")
    assert replies[0].keyboard  # the question's buttons stay
    assert state["node"] == question(key) and key not in state[DRAFT]["answers"]


@pytest.mark.parametrize("kind", ("voice", "sticker", "video", "file", "location", "other"))
async def test_a_sticker_at_the_menu_is_told_what_to_press(kind):
    state, replies = await send({"node": HOME}, "", kind=kind)
    assert replies[0].msg == f"input.{kind}" and replies[0].vars["hint"] == Msg("hint.home")
    assert "common.not_understood" not in [r.msg for r in replies]
    assert replies[-1].msg == "home.menu" and state["node"] == HOME


async def test_a_voice_message_at_the_review_says_press_a_button():
    state, _ = await at_question("covid_doses")
    state, _ = await send(state, GOOD["covid_doses"])
    state, replies = await send(state, "", kind="voice")
    assert replies[0].msg == "input.voice" and replies[0].vars["hint"] == Msg("hint.buttons")
    assert state["node"] == DECLARE_REVIEW and replies[-1].msg == "decl.review"
