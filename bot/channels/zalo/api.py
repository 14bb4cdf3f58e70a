"""HTTP calls to the Zalo OA API: the access token, its refresh, and Zalo's error codes.

The access token lives about 25 hours (`expires_in` 90000). It is refreshed with the refresh
token, which is single-use: every refresh returns a new one, and the old one stops working.
The current refresh token is therefore kept in Redis (`<prefix>:zalo:<app_id>:refresh`),
written in the same round trip as the new access token, *without* a TTL: it must outlive
restarts, and a refresh token that is used at least once every three months never expires.
ZALO_REFRESH_TOKEN only seeds it (and is tried again if the stored one is refused). If the
key is lost (a Redis without persistence, FLUSHALL), issue a new refresh token in the Zalo
developer console and set ZALO_REFRESH_TOKEN. A Redis lock makes one process refresh at a
time, so two workers never spend the same refresh token. (If the answer to a refresh is
lost on the way back, Zalo has rotated the token but we never saw the new one: the next
refresh fails and says so in the log; a new refresh token is needed then too.)

Every answer carries `error` (0 = success); `raise_for` maps the codes to the channel's
send errors. Sources are listed in the package docs (bot/channels/zalo/__init__.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.channels.base import (
    Blocked,
    NotAllowedNow,
    Refused,
    RetryAfter,
    SendError,
    Uncertain,
    Unreachable,
)
from bot.config import Settings

log = logging.getLogger(__name__)

TOKEN_ERRORS = {-216, -220, -124}  # invalid / expired access token (-124: ZNS's code for it)
RATE_LIMITED = {-32}  # "your application reached limit call api" (counted per minute)
OUTSIDE_WINDOW = {-230, -232}  # no interaction in the last 7 days / no interaction yet
OUT_OF_QUOTA = {-211, -218, -234}  # OA quota used up, per-user limit reached, quiet hours
GONE = {-213, -227, -244, -118}  # not following; banned or inactive; refuses this type; no Zalo account
RATE_LIMIT_PAUSE = 60.0  # Zalo sends no Retry-After with -32; its limit is per minute
REFRESH_MARGIN = 600  # refresh this long before Zalo says the token expires
LOCK_SECONDS = 30


class ZaloError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code


def raise_for(body: dict) -> dict:
    """The `data` of a successful answer; otherwise the send error that fits the code."""
    code = body.get("error", 0)
    if not isinstance(code, int):
        raise Unreachable(f"unexpected answer from Zalo: error={code!r}")
    if code == 0:
        data = body.get("data")
        return data if isinstance(data, dict) else {}
    message = str(body.get("message") or body.get("error_name") or "")
    if code in RATE_LIMITED:
        err: SendError = RetryAfter(RATE_LIMIT_PAUSE)
    elif code in OUTSIDE_WINDOW or code in OUT_OF_QUOTA:
        err = NotAllowedNow(f"Zalo error {code}: {message}")
    elif code in GONE:
        err = Blocked(f"Zalo error {code}: {message}")
    elif code in TOKEN_ERRORS:
        err = Unreachable(f"Zalo refuses the access token even after a refresh ({code})")
    else:
        err = Refused(f"Zalo error {code}: {message}")
    err.zalo_code = code  # type: ignore[attr-defined]
    raise err


class ZaloApi:
    """One OA's API client. `session` is owned by the caller when given."""

    def __init__(self, settings: Settings, redis: Redis, session: aiohttp.ClientSession | None = None,
                 timeout: float = 10.0):
        self.settings = settings
        self.redis = redis
        self._session = session
        self._own_session = session is None
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=5.0)
        base = f"{settings.redis_prefix}:zalo:{settings.zalo_app_id}"
        self.k_access, self.k_refresh, self.k_lock = f"{base}:access", f"{base}:refresh", f"{base}:refreshing"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    # ------------------------------------------------------------ calls

    async def call(self, url: str, *, json: Any = None, data: Any = None) -> dict:
        """POST with the access token; refreshes it once and repeats when Zalo rejects it."""
        token = await self.access_token()
        body = await self._post(url, token, json=json, data=data)
        if body.get("error") in TOKEN_ERRORS:
            token = await self.refresh(stale=token)
            body = await self._post(url, token, json=json, data=data)
        return raise_for(body)

    async def _post(self, url: str, token: str, *, json: Any, data: Any) -> dict:
        payload = data() if callable(data) else data  # a FormData can be sent once only
        try:
            async with self.session.post(url, json=json, data=payload, headers={"access_token": token},
                                         timeout=self.timeout) as resp:
                if resp.status == 429:
                    raise RetryAfter(_retry_after(resp.headers.get("Retry-After")))
                if resp.status >= 500:
                    raise Unreachable(f"Zalo answered HTTP {resp.status}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as e:
            raise Unreachable(f"cannot reach Zalo: {type(e).__name__}") from e
        except (TimeoutError, aiohttp.ClientError) as e:  # the request may have arrived
            raise Uncertain(f"no answer from Zalo: {type(e).__name__}") from e
        except ValueError as e:
            raise Unreachable("Zalo's answer is not JSON") from e
        if not isinstance(body, dict):
            raise Unreachable("Zalo's answer is not a JSON object")
        return body

    # ------------------------------------------------------------ tokens

    async def access_token(self) -> str:
        token = await self.redis.get(self.k_access)
        return _text(token) if token else await self.refresh(stale=None)

    async def refresh(self, stale: str | None) -> str:
        """A fresh access token. `stale` is the one Zalo rejected: another process may have
        replaced it already, in which case that one is used and nothing is spent."""
        me = secrets.token_hex(8)
        for _ in range(int(LOCK_SECONDS / 0.05)):
            current = await self.redis.get(self.k_access)
            if current and _text(current) != stale:
                return _text(current)
            if await self.redis.set(self.k_lock, me, nx=True, ex=LOCK_SECONDS):
                try:
                    current = await self.redis.get(self.k_access)
                    if current and _text(current) != stale:
                        return _text(current)
                    return await self._spend_refresh_token()
                finally:
                    if _text(await self.redis.get(self.k_lock) or "") == me:
                        await self.redis.delete(self.k_lock)
            await asyncio.sleep(0.05)  # another process is refreshing
        raise Unreachable("timed out waiting for another process to refresh the Zalo token")

    async def _spend_refresh_token(self) -> str:
        stored = await self.redis.get(self.k_refresh)
        candidates = [_text(stored)] if stored else []
        if self.settings.zalo_refresh_token and self.settings.zalo_refresh_token not in candidates:
            candidates.append(self.settings.zalo_refresh_token)  # an operator's new one
        if not candidates:
            raise Unreachable("no Zalo refresh token: set ZALO_REFRESH_TOKEN")
        for refresh_token in candidates:
            body = await self._oauth(refresh_token)
            access, new_refresh = body.get("access_token"), body.get("refresh_token")
            if access and new_refresh:
                ttl = max(60, _int(body.get("expires_in"), 90000) - REFRESH_MARGIN)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.set(self.k_refresh, new_refresh)  # no TTL on purpose: see the module doc
                    pipe.set(self.k_access, access, ex=ttl)
                    await pipe.execute()
                log.info("zalo access token refreshed")
                return access
            log.error("zalo refused a refresh token: error %s", body.get("error"))
        raise Unreachable("Zalo refused the refresh token: issue a new one and set ZALO_REFRESH_TOKEN")

    async def _oauth(self, refresh_token: str) -> dict:
        url = f"{self.settings.zalo_oauth_url}/v4/oa/access_token"
        form = {"app_id": self.settings.zalo_app_id, "refresh_token": refresh_token, "grant_type": "refresh_token"}
        try:
            async with self.session.post(url, data=form, headers={"secret_key": self.settings.zalo_app_secret},
                                         timeout=self.timeout) as resp:
                if resp.status >= 500:
                    raise Unreachable(f"Zalo OAuth answered HTTP {resp.status}")
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            raise Unreachable(f"cannot refresh the Zalo token: {type(e).__name__}") from e
        return body if isinstance(body, dict) else {}


def _text(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _int(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _retry_after(header: str | None) -> float:
    try:
        return max(1.0, float(header or ""))
    except ValueError:
        return RATE_LIMIT_PAUSE
