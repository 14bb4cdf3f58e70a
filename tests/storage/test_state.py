"""The state store's turn: lease, done marks, outbox, inbox, on a real Redis."""

import asyncio

import pytest

from storage import state as state_mod
from storage.state import Busy, LeaseLost, StateStore

A = "telegram:20"


async def test_roundtrip_and_ttl(store: StateStore, redis):
    assert await store.load(A) == {}
    await store.save(A, {"node": "link.ask_code", "data": {"name": "Nguyễn Thị A"}})
    assert (await store.load(A))["data"]["name"] == "Nguyễn Thị A"
    ttl = await redis.ttl(store.keys.state(A))
    assert 13 * 86400 < ttl <= 14 * 86400
    await store.save(A, {})
    assert await redis.exists(store.keys.state(A)) == 0


async def test_counter_window(store: StateStore, redis):
    assert await store.hit("x", 60) == 1
    assert await store.hit("x", 60) == 2
    assert 0 < await redis.ttl(store.keys.counter("x")) <= 60


async def _turn(store: StateStore, addr: str, event: str | None, new_state=None, replies=()):
    async with store.serial(addr):
        turn = await store.begin(addr, event)
        if not turn.duplicate and new_state is not None:
            turn.save(new_state)
            await store.commit(turn, list(replies))
        await store.ack(turn, len(turn.pending))
        return turn


async def test_an_event_is_done_only_once_its_turn_committed(store: StateStore, redis):
    turn = await store.begin(A, "telegram:41")
    turn.save({"node": "x"})
    await store.release(turn)  # the process "died" before committing: nothing written
    assert await store.load(A) == {}
    again = await store.begin(A, "telegram:41")
    assert not again.duplicate, "an event whose turn never committed must be handled again"
    again.save({"node": "x"})
    await store.commit(again, [])
    await store.ack(again, 0)
    assert await store.load(A) == {"node": "x"}
    assert (await _turn(store, A, "telegram:41")).duplicate
    assert await redis.exists(store.keys.lock(A)) == 0
    assert 0 < await redis.ttl(store.keys.done("telegram:41")) <= state_mod.DEDUP_TTL


async def test_replies_stay_in_the_outbox_until_acknowledged(store: StateStore, redis):
    turn = await store.begin(A, "telegram:50")
    turn.save({"node": "weight"})
    await store.commit(turn, [{"to": A, "m": {"t": "one"}}, {"to": A, "m": {"t": "two"}}])
    await store.ack(turn, 1)  # the first went out, then the process "died"
    assert await store.outbox_waiting(-1) == [A]
    # The same event delivered again: not stepped again, but the unsent reply is handed back.
    again = await store.begin(A, "telegram:50")
    assert again.duplicate and again.pending == [{"to": A, "m": {"t": "two"}}]
    assert again.state == {"node": "weight"}
    await store.ack(again, 1)
    assert await store.outbox_waiting(-1) == []
    assert await redis.exists(store.keys.outbox(A)) == 0


async def test_a_dead_holders_lease_is_taken_over_without_dropping_the_waiter(store: StateStore, redis, monkeypatch):
    monkeypatch.setattr(state_mod, "LEASE_MS", 300)
    dead = await store.begin(A, "telegram:60")  # never released, never renewed: its process died
    store._held.clear()
    waiting = asyncio.ensure_future(store.begin(A, "telegram:61"))
    turn = await asyncio.wait_for(waiting, 10)
    assert not turn.duplicate
    turn.save({"n": 1})
    await store.commit(turn, [])
    await store.ack(turn, 0)
    # The dead holder wakes up: its commit is refused and writes nothing (fencing).
    dead.save({"n": 99})
    with pytest.raises(LeaseLost):
        await store.commit(dead, [])
    assert await store.load(A) == {"n": 1}


async def test_a_live_holder_keeps_its_lease_past_its_length(store: StateStore, redis, monkeypatch):
    monkeypatch.setattr(state_mod, "LEASE_MS", 300)
    monkeypatch.setattr(state_mod, "RENEW_EVERY", 0.05)
    holder = await store.begin(A, "telegram:70")
    other = StateStore(redis, store.keys.prefix, 60)  # another process
    with pytest.raises(Busy):
        await other.begin(A, "telegram:71", wait=0.9)  # three lease lengths
    await store.ack(holder, 0)
    turn = await other.begin(A, "telegram:71", wait=5)
    await other.ack(turn, 0)


async def test_turns_of_one_person_never_overlap_across_processes(redis, redis_prefix):
    a = StateStore(redis, redis_prefix, 60)
    b = StateStore(redis, redis_prefix, 60)
    addr = "zalo:9"

    async def bump(s: StateStore, uid: int):
        async with s.serial(addr):
            turn = await s.begin(addr, f"zalo:{uid}")
            n = turn.state.get("n", 0)
            await asyncio.sleep(0.002)
            turn.save({"n": n + 1})
            await s.commit(turn, [])
            await s.ack(turn, 0)

    await asyncio.gather(*(bump(a if i % 2 else b, 1000 + i) for i in range(20)))
    assert (await a.load(addr))["n"] == 20  # no lost update


async def test_the_inbox_keeps_events_until_their_turn_commits(store: StateStore, redis):
    await store.accept([("telegram:80", '{"update_id": 80}'), ("telegram:81", '{"update_id": 81}')])
    await store.accept([("telegram:80", '{"update_id": 80, "copy": 2}')])  # a second copy keeps the first
    waiting = dict(await store.inbox_waiting(-1))
    assert waiting == {"telegram:80": '{"update_id": 80}', "telegram:81": '{"update_id": 81}'}
    await _turn(store, A, "telegram:80", {"node": "x"})
    assert dict(await store.inbox_waiting(-1)) == {"telegram:81": '{"update_id": 81}'}
    assert await redis.ttl(store.keys.inbox) > 0
