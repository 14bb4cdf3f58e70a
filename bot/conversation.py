"""One update = one unit of work: load state, step the engine, save state.

Shared by every channel (Telegram, the console demo); per-user locking and update-id
de-duplication wrap it in the Telegram handler.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import TIME_ZONE
from bot.runtime import Runtime
from dialogs.core import Env, Input, Reply, step
from dialogs.ports import Unavailable
from storage.state import StateKey


async def converse(rt: Runtime, key: StateKey, inp: Input, first_name: str = "") -> tuple[str, list[Reply]]:
    """Returns the language to render in and the replies. On `Unavailable` the saved
    state is left exactly as it was."""
    s = rt.settings
    state = await rt.store.load(key)
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
    await rt.store.save(key, new_state)
    return new_state.get("locale") or s.default_locale, replies
