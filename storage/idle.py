"""Conversations left mid-way, by last activity: one Redis sorted set (member: the person's
address, score = unix time of the last step).

TTL discipline: a member leaves when its declaration is finished or cancelled (`forget`)
or when it has been reminded (`claim`); members older than the state TTL, whose state
has expired anyway, are pruned; the set itself carries a TTL refreshed on every touch,
so an idle deployment leaves nothing behind.
"""

from __future__ import annotations

from redis.asyncio import Redis


class IdleStore:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int):
        self.redis = redis
        self.name = f"{prefix}:idle"  # the same key as storage.state.KeyBuilder.idle (turns touch it)
        self.ttl = ttl_seconds

    async def touch(self, addr: str, now: float) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            p.zadd(self.name, {addr: now})
            p.expire(self.name, self.ttl + 86400)
            await p.execute()

    async def forget(self, addr: str) -> None:
        await self.redis.zrem(self.name, addr)

    async def idle_since(self, before: float, limit: int = 500) -> list[str]:
        """Conversations whose last step was at or before `before`, oldest first."""
        members = await self.redis.zrangebyscore(self.name, "-inf", before, start=0, num=limit)
        return [m.decode() if isinstance(m, bytes) else m for m in members]

    async def claim(self, addr: str) -> bool:
        """Take a conversation off the set; True for the one process that did (so two
        processes never remind the same person twice). A new step puts it back."""
        return bool(await self.redis.zrem(self.name, addr))

    async def prune(self, before: float) -> int:
        return int(await self.redis.zremrangebyscore(self.name, "-inf", before))
