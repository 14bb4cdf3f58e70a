"""One update = one unit of work: load state, step the engine, save state.

Shared by every channel (Telegram, the console demo). `StateStore.turn` does the loading,
saving, per-user serialisation and update-id de-duplication around it, in one place.
"""

from __future__ import annotations

from datetime import datetime

from bot import idle
from bot.config import TIME_ZONE
from bot.runtime import Runtime
from dialogs.core import Env, Input, Reply, step
from dialogs.ports import Unavailable
from storage.state import StateKey, Turn


async def converse(rt: Runtime, key: StateKey, turn: Turn, inp: Input, first_name: str = "") -> tuple[str, list[Reply]]:
    """Returns the language to render in and the replies, and puts the new state on the
    turn. On `Unavailable` the saved state is left exactly as it was."""
    s = rt.settings
    state = turn.state
    env = Env(
        user_id=key.user_id,
        chat_id=key.chat_id,
        now=datetime.now(TIME_ZONE),
        services=rt.services,
        default_locale=s.default_locale,
        station_name=s.health_station_name,
        station_phone=s.health_station_phone,
        user_first_name=first_name,
    )
    try:
        new_state, replies = await step(state, inp, env)
    except Unavailable:
        return state.get("locale") or s.default_locale, [Reply("common.busy")]
    turn.save(new_state)
    await idle.track(rt, key, state, new_state)  # declarations left mid-way get one reminder
    return new_state.get("locale") or s.default_locale, replies
