"""The engine on its own: commands, back/cancel, never silence."""

from datetime import datetime

import pytest

import dialogs.flows  # noqa: F401
from dialogs.core import Env, Input, step


class FakeAccounts:
    def __init__(self):
        self.locales = {}

    async def set_locale(self, uid, loc):
        self.locales[uid] = loc

    async def touch(self, *a):
        pass


class Svc:
    def __init__(self):
        self.accounts = FakeAccounts()


def env(svc=None):
    return Env(account="test:1", now=datetime(2026, 11, 30), services=svc or Svc(),
               station_name="Trạm Y tế", station_phone="028")


@pytest.mark.parametrize("inp", [
    Input(kind="text", text="xin chào"),
    Input(kind="text", text="🙂" * 4000),
    Input(kind="other"),
    Input(kind="photo"),
    Input(kind="command", command="khongcolenhnay"),
    Input(kind="callback", text="stale:1"),
])
async def test_every_input_gets_an_answer(inp):
    state, replies = await step({}, inp, env())
    assert replies, inp
    assert "at" in state


async def test_language_switch_persists_and_is_told():
    svc = Svc()
    state, replies = await step({}, Input(kind="command", command="ngonngu"), env(svc))
    assert state["locale"] == "en"
    assert svc.accounts.locales["test:1"] == "en"
    assert replies[0].msg == "common.language_set"
    state, _ = await step(state, Input(kind="command", command="ngonngu"), env(svc))
    assert state["locale"] == "vi"


async def test_help_names_the_station_phone():
    _, replies = await step({}, Input(kind="command", command="trogiup"), env())
    assert replies[0].msg == "common.help"
    assert replies[0].vars["phone"] == "028"
