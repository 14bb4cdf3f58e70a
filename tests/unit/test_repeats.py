"""The engine's own guards: a double tap is a repeat, not an answer; a declaration the
database refused is saved by the adapter's `retry` input; a lost draft is said so."""

from datetime import datetime, timedelta

import dialogs.flows  # noqa: F401 - registers the nodes
from dialogs.core import RETRY, Env, Input, step
from dialogs.ports import Unavailable
from dialogs.questionnaire import BY_KEY
from locales import t
from tests.unit.test_questionnaire import Svc, person

T0 = datetime(2026, 11, 30, 9, 0)


def env(svc, seconds: float, **kw) -> Env:
    return Env(account="test:1", now=T0 + timedelta(seconds=seconds), services=svc, station_name="Trạm",
               station_phone="028", **kw)


def keyboard(replies) -> list[str]:
    return [b for r in replies if r.keyboard for row in r.keyboard for b in row]


FREE = {"full_name": "Nguyễn Văn An", "birth_date": "05/03/1986", "phone": "0912345678",
        "address": "45 Lê Lợi", "height": "160", "weight": "55", "blood_pressure": "120/80",
        "pregnancies": "1", "children": "1", "conditions": "Không có"}


def answer_for(node: str) -> str:
    """A valid answer at any question: its first button, or a plausible typed value."""
    key = node.removeprefix("declare.q.")
    q = BY_KEY[key]
    return FREE[key] if key in FREE else t("vi", q.choices[0].label)


async def _walk_to(svc, target: str):
    """Answer every question (one answer each 10 s) until `target` is asked."""
    state, replies = await step({}, Input(kind="command", command="khaibao"), env(svc, 0))
    clock = 0
    while state.get("node") != target:
        clock += 10
        state, replies = await step(state, Input(kind="text", text=answer_for(state["node"])), env(svc, clock))
        assert clock < 600, state.get("node")
    return state, replies, clock


async def test_a_double_tap_on_a_reply_button_does_not_answer_the_next_question():
    svc = Svc([person(40, address="45 Lê Lợi", relation="self")])
    state, replies, clock = await _walk_to(svc, "declare.q.smoking")
    state, replies = await step(state, Input(kind="text", text="Không"), env(svc, clock + 10))
    assert state["node"] == "declare.q.conditions" and state["declare"]["answers"]["smoking"] == "no"
    # "Không" a second later is a repeat of the smoking answer: the conditions question has
    # no such button, so it is not read as "no chronic conditions", and nothing is said.
    again, replies = await step(state, Input(kind="text", text="Không"), env(svc, clock + 11))
    assert replies == [] and again == state
    assert "conditions" not in again["declare"]["answers"]
    # Typed words are never a tap, however close: "khong" a second later is answered.
    _, replies = await step(state, Input(kind="text", text="khong"), env(svc, clock + 11))
    assert replies
    # The same words a minute later are read as an answer to the question on screen.
    later, replies = await step(state, Input(kind="text", text="Không"), env(svc, clock + 70))
    assert replies and later != state


async def test_an_inline_button_pressed_twice_acts_once():
    svc = Svc([person(40, address="45 Lê Lợi", relation="self")])
    first_state, first = await step({}, Input(kind="callback", text="declare:1"), env(svc, 0))
    assert first
    state, replies = await step(first_state, Input(kind="callback", text="declare:1"), env(svc, 1))
    assert replies == [] and state == first_state
    _, replies = await step(first_state, Input(kind="callback", text="declare:1"), env(svc, 20))
    assert replies


class DownThenUp:
    """Declarations that refuse the first `down` submissions (database away)."""

    def __init__(self, down: int):
        self.down = down
        self.saved = []

    async def submit(self, sub):
        if self.down:
            self.down -= 1
            raise Unavailable("ConnectionRefusedError")
        if any(s.submission_key == sub.submission_key for s in self.saved):
            return "duplicate", len(self.saved)
        self.saved.append(sub)
        return "saved", len(self.saved)

    async def latest(self, resident_id):
        return None


async def _review(svc):
    state, replies, clock = await _walk_to(svc, "declare.review")
    return state, clock


async def test_a_declaration_confirmed_while_the_database_is_down_is_saved_once_when_it_returns():
    svc = Svc([person(40, address="45 Lê Lợi", relation="self")])
    svc.declarations = DownThenUp(down=3)
    state, t = await _review(svc)
    state, replies = await step(state, Input(kind="text", text="✅ Xác nhận gửi"), env(svc, t + 10))
    assert [r.msg for r in replies] == ["decl.save_later"] and state[RETRY] == "submit"
    # The adapter's retries while it is still down: quiet, the answers kept.
    for i in range(2):
        state, replies = await step(state, Input(kind=RETRY), env(svc, t + 30 + i))
        assert replies == [] and state[RETRY] == "submit" and "declare" in state
    state, replies = await step(state, Input(kind=RETRY), env(svc, t + 60))
    assert "decl.saved" in [r.msg for r in replies]
    assert RETRY not in state and len(svc.declarations.saved) == 1
    # A retry with nothing to retry says nothing and saves nothing.
    state, replies = await step(state, Input(kind=RETRY), env(svc, t + 70))
    assert replies == [] and len(svc.declarations.saved) == 1


async def test_a_lost_draft_is_said_so_instead_of_misreading_the_answer():
    svc = Svc([person(40, address="45 Lê Lợi", relation="self")])
    state, replies = await step({}, Input(kind="text", text="52,5"), env(svc, 0, draft_lost=True))
    assert replies[0].msg == "decl.lost"
    assert state["node"] == "home"
