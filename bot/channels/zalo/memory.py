"""What the Zalo adapter remembers per person, in Redis, every key with a TTL.

- `seen`: the person's last interaction with the OA. Its TTL is Zalo's consultation window,
  so "the key exists" means "Zalo lets us send a consultation message now".
- `offer`: the buttons last offered as numbered lines, so a typed "2" means the second one
  (as the console demo does). It lives as long as dialog state does.

Shared by the webhook (which writes `seen` and reads `offer`) and the sender (which reads
`seen` and writes `offer`), so two processes behind one webhook agree.
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

WINDOW_SECONDS = 7 * 86400  # consultation window after the person's last interaction (see __init__)

Offer = list[tuple[str, str | None]]  # (label, callback data or None for a reply button)


class Memory:
    def __init__(self, redis: Redis, prefix: str, offer_ttl: int):
        self.redis = redis
        self.prefix = f"{prefix}:zalo"
        self.offer_ttl = offer_ttl

    def _seen(self, user: str) -> str:
        return f"{self.prefix}:seen:{user}"

    def _offer(self, user: str) -> str:
        return f"{self.prefix}:offer:{user}"

    async def note_interaction(self, user: str) -> None:
        await self.redis.set(self._seen(user), int(time.time()), ex=WINDOW_SECONDS)

    async def in_window(self, user: str) -> bool:
        return bool(await self.redis.exists(self._seen(user)))

    async def close_window(self, user: str) -> None:
        """Zalo said the window is closed (or the person left): stop trying until they write."""
        await self.redis.delete(self._seen(user))

    async def forget(self, user: str) -> None:
        await self.redis.delete(self._seen(user), self._offer(user))

    async def save_offer(self, user: str, offer: Offer) -> None:
        await self.redis.set(self._offer(user), json.dumps(offer, ensure_ascii=False), ex=self.offer_ttl)

    async def clear_offer(self, user: str) -> None:
        await self.redis.delete(self._offer(user))

    async def offer(self, user: str) -> Offer:
        raw = await self.redis.get(self._offer(user))
        if not raw:
            return []
        return [(label, data) for label, data in json.loads(raw)]
