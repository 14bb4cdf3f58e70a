import asyncio

from storage.state import StateKey, StateStore


async def test_roundtrip_and_ttl(store: StateStore, redis):
    key = StateKey(chat_id=10, user_id=20)
    assert await store.load(key) == {}
    await store.save(key, {"node": "link.ask_code", "data": {"name": "Nguyễn Thị A"}})
    assert (await store.load(key))["data"]["name"] == "Nguyễn Thị A"
    ttl = await redis.ttl(store.keys.state(key))
    assert 13 * 86400 < ttl <= 14 * 86400
    await store.save(key, {})
    assert await redis.exists(store.keys.state(key)) == 0


async def test_dedup_once(store: StateStore, redis):
    assert await store.first_delivery(777)
    assert not await store.first_delivery(777)
    assert await redis.ttl(store.keys.update(777)) > 0
    await store.forget_delivery(777)
    assert await store.first_delivery(777)


async def test_user_lock_serialises_across_stores(redis, redis_prefix):
    # two stores stand for two processes: they share only Redis
    a = StateStore(redis, redis_prefix, 60)
    b = StateStore(redis, redis_prefix, 60)
    key = StateKey(1, 1)
    inside = 0
    peak = 0

    async def work(s: StateStore):
        nonlocal inside, peak
        async with s.user_lock(key):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(work(a if i % 2 else b) for i in range(10)))
    assert peak == 1
    assert await redis.exists(a.keys.lock(key)) == 0


async def test_counter_window(store: StateStore, redis):
    assert await store.hit("x", 60) == 1
    assert await store.hit("x", 60) == 2
    assert 0 < await redis.ttl(store.keys.counter("x")) <= 60


async def test_turn_loads_saves_and_dedups(store: StateStore, redis):
    key = StateKey(5, 6)
    async with store.turn(key, update_id=41) as turn:
        assert not turn.duplicate and turn.state == {}
        turn.save({"node": "x"})
    assert (await store.load(key)) == {"node": "x"}
    assert await redis.exists(store.keys.lock(key)) == 0
    async with store.turn(key, update_id=41) as turn:
        assert turn.duplicate
    async with store.turn(key, update_id=42) as turn:
        assert turn.state == {"node": "x"}  # not changed: kept as it was
    assert (await store.load(key)) == {"node": "x"}
    async with store.turn(key, update_id=43) as turn:
        turn.save({})
    assert await redis.exists(store.keys.state(key)) == 0


async def test_turn_saves_even_when_the_work_after_the_step_fails(store: StateStore):
    key = StateKey(7, 8)
    try:
        async with store.turn(key, update_id=50) as turn:
            turn.save({"answers": {"weight": 60}})
            raise ConnectionError("sending the reply failed")
    except ConnectionError:
        pass
    assert (await store.load(key))["answers"] == {"weight": 60}


async def test_turns_of_one_user_never_overlap_across_processes(redis, redis_prefix):
    a = StateStore(redis, redis_prefix, 60)
    b = StateStore(redis, redis_prefix, 60)
    key = StateKey(9, 9)

    async def bump(s: StateStore, uid: int):
        async with s.turn(key, update_id=uid) as turn:
            n = turn.state.get("n", 0)
            await asyncio.sleep(0.002)
            turn.save({"n": n + 1})

    await asyncio.gather(*(bump(a if i % 2 else b, 1000 + i) for i in range(20)))
    assert (await a.load(key))["n"] == 20  # no lost update
