"""The product's Redis client (storage/redis_client.py) against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError, ResponseError

from storage.redis_client import Batched, PackedConnection

ECHO = "if ARGV[1] == 'bad' then return redis.error_reply('refused') end return ARGV[1] .. KEYS[1]"


@pytest.mark.parametrize("args", [
    ("GET", "k"),
    ("SCRIPT LOAD", "return 1"),
    (b"CLIENT SETNAME", "x"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 1796131478.488527, 10, "Nguyễn Thị Hoa", b"\x00\xffraw", 0.5, 1e-7, -3),
    ("SET", "k", "x" * 20_000),
])
def test_hiredis_packs_what_redis_py_packs(args):
    assert b"".join(PackedConnection().pack_command(*args)) == b"".join(Connection().pack_command(*args))


def test_a_value_redis_cannot_take_is_a_data_error_as_before():
    for conn in (Connection(), PackedConnection()):
        with pytest.raises(DataError):
            conn.pack_command("SET", "k", None)


async def test_concurrent_calls_share_one_round_trip_and_keep_their_own_results(redis, monkeypatch):
    script, batched = redis.register_script(ECHO), Batched(redis)
    rounds = []
    pipeline = redis.pipeline
    monkeypatch.setattr(redis, "pipeline", lambda **kw: rounds.append(1) or pipeline(**kw))  # counts, still real
    results = await asyncio.gather(*(batched(script, [f"k{i}"], [str(i)]) for i in range(50)))
    assert results == [f"{i}k{i}" for i in range(50)]
    assert len(rounds) == 1


async def test_an_error_goes_to_the_call_it_belongs_to(redis):
    script, batched = redis.register_script(ECHO), Batched(redis)
    results = await asyncio.gather(batched(script, ["a"], ["1"]), batched(script, ["b"], ["bad"]),
                                   batched(script, ["c"], ["3"]), return_exceptions=True)
    assert results[0] == "1a" and results[2] == "3c"
    assert isinstance(results[1], ResponseError) and "refused" in str(results[1])


async def test_scripts_the_server_lost_are_loaded_again(redis):
    script, batched = redis.register_script(ECHO + " -- lost"), Batched(redis)
    assert await batched(script, ["k"], ["1"]) == "1k"
    await redis.script_flush()  # as after a Redis restart
    assert await asyncio.gather(batched(script, ["k"], ["2"]), batched(script, ["j"], ["3"])) == ["2k", "3j"]
