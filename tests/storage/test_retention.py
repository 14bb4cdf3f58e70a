"""Retention (issue #7): after conversations that touch every kind of Redis key, each key
under the prefix carries a TTL, and no dialog state outlives STATE_TTL_DAYS (README,
"Retention (Redis)")."""

from __future__ import annotations

import locales
from dialogs import codes
from storage.pacing import SharedRate
from storage.state import DEDUP_TTL
from tests.chat import addr
from tests.test_declare import LAN_SCRIPT, run
from tests.test_privacy import decide, link, resident, the_request

MOTHER, SON = 7401, 7402


async def test_every_redis_key_expires(chat_factory, sessions, runtime, api, redis, redis_prefix):
    lan = await resident(sessions)
    mother, son = chat_factory(MOTHER), chat_factory(SON)
    # Attempt counters: an unknown code (miss) and a wrong birth year (per code).
    await mother.command("start", codes.new_code())
    await mother.command("start", lan.code)
    await mother.send("1901")
    await link(mother, lan)
    await link(son, lan, "Con")
    # Declarations in progress (dialog state, the idle set), one finished.
    await son.press("Khai báo ngay")
    await run(son, LAN_SCRIPT[:5])
    await mother.press("Khai báo ngay")
    await run(mother, LAN_SCRIPT)
    await mother.press("Xác nhận gửi")
    # The data rights, and a staff decision that rewrites other people's states.
    await mother.command("dulieucuatoi")
    await mother.command("xoadulieu")
    await mother.press(locales.t("vi", "privacy.btn_erase"))
    assert await decide(runtime, api, "approve", (await the_request(sessions)).id) == 0
    # The broadcast pacing keys, including a 429 pause.
    rate = SharedRate(redis, redis_prefix, 25)
    await rate.acquire()
    await rate.pause(1)

    # What a crash leaves: an accepted event not handled yet, a reply committed but not sent,
    # a declaration waiting for the database.
    await runtime.store.accept([("telegram:999999", '{"update_id": 999999}')])
    turn = await runtime.store.begin("telegram:7403", "telegram:999998")
    turn.save({"node": "home", "retry": "submit"})
    await runtime.store.commit(turn, [{"to": "telegram:7403", "m": {"t": "x"}}], retry="add")
    await runtime.store.ack(turn, 0)

    keys = [k async for k in redis.scan_iter(f"{redis_prefix}:*", count=1000)]
    kinds = {k.split(":")[1] for k in keys}
    # the drive reached them all
    assert {"state", "done", "cnt", "idle", "bcast", "inbox", "inboxq", "out", "outq", "retryq"} <= kinds, kinds
    ttls = {k: await redis.ttl(k) for k in keys}
    assert all(ttl > 0 for ttl in ttls.values()), {k: v for k, v in ttls.items() if v <= 0}
    state_ttl = runtime.settings.state_ttl_seconds
    for k, ttl in ttls.items():
        kind = k.split(":")[1]
        if kind == "state":
            assert ttl <= state_ttl, k
        if kind in ("done", "inbox", "inboxq", "out"):
            assert ttl <= DEDUP_TTL, k
    # The son's draft for her was dropped by the approval, and his state still expires.
    assert "declare" not in await runtime.store.load(addr(SON))
    assert 0 < ttls[runtime.store.keys.state(addr(SON))] <= state_ttl
