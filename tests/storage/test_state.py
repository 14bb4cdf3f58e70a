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
