"""The input side: Zalo's webhook events, verified and decoded into `Inbound`.

Zalo POSTs one JSON event per request and signs it in the `X-ZEvent-Signature` header:
"mac=" + hex(sha256(app_id + raw body + timestamp + OA secret key)), where `timestamp` is
the event's own `timestamp` field (milliseconds) and the key is the OA's secret, not the
app's. Anything else is answered 403 before it is decoded. Zalo retries an event that was
not answered 200 (for about two hours, the same body each time), so an event is "stale"
only beyond `MAX_AGE`; replays inside it are caught by the de-duplication key (msg_id).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.channels.base import Inbound
from bot.channels.zalo.channel import CALLBACK
from bot.channels.zalo.memory import Memory
from bot.config import Settings
from dialogs.core import Input
from dialogs.text import fold

log = logging.getLogger(__name__)

SIGNATURE = "X-ZEvent-Signature"
MAX_AGE = 3 * 3600  # seconds: longer than Zalo's retries (30 s, 5, 15, 30 min, 1 h)
MAX_AHEAD = 300  # seconds an event's clock may run ahead of ours
MAX_TEXT = 4096
MAX_PHOTO_BYTES = 10 * 1024 * 1024
START_WORDS = {"start", "bat dau", "batdau"}  # typed by people who do not know slash commands
KINDS = {  # event → Input kind, for events that carry no answer the engine can read
    "user_send_sticker": "sticker", "user_send_audio": "voice", "user_send_video": "video",
    "user_send_file": "file", "user_send_location": "location", "user_send_gif": "other",
    "user_send_link": "other",
}

Fetch = Callable[[str], Awaitable[bytes | None]]
OnEvent = Callable[[Inbound], Awaitable[bool]]


def signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    raw = app_id.encode() + body + timestamp.encode() + oa_secret.encode()
    return "mac=" + hashlib.sha256(raw).hexdigest()


def verify(settings: Settings, body: bytes, event: dict, header: str, now: float | None = None) -> bool:
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | str) or not str(timestamp).isdigit():
        return False
    if not settings.zalo_oa_secret:
        return False
    expected = signature(settings.zalo_app_id, body, str(timestamp), settings.zalo_oa_secret)
    header = header.strip().lower()
    given = header if header.startswith("mac=") else "mac=" + header
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return False
    age = (now if now is not None else time.time()) - int(timestamp) / 1000
    return -MAX_AHEAD <= age <= MAX_AGE


def make_routes(settings: Settings, redis: Redis, on_event: OnEvent, *, fetch: Fetch | None = None
                ) -> list[web.RouteDef]:
    """`POST settings.zalo_webhook_path`: 403 for a bad or stale signature, 400 for a body
    that is not a JSON object, otherwise `await on_event(inbound)`: True answers 200, False
    503 (Zalo sends the event again), as does a Redis that cannot be reached. Events that
    need no answer get 200 at once. `fetch(url) -> bytes | None` downloads a photo (tests)."""
    memory = Memory(redis, settings.redis_prefix, settings.state_ttl_seconds)
    fetch = fetch or fetch_image

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return web.Response(status=400, text="expected a JSON object")
        if not verify(settings, body, event, request.headers.get(SIGNATURE, "")):
            return web.Response(status=403, text="bad signature")
        try:
            inbound = await decode(event, memory, fetch)
            if inbound is None:
                return web.Response(text="ok")
            if inbound.blocked:
                await memory.forget(inbound.user)
            else:
                await memory.note_interaction(inbound.user)
        except RedisError as e:  # as bot.turns does: nothing done, Zalo sends it again
            log.warning("zalo event not taken, Redis unavailable: %s", type(e).__name__)
            return web.Response(status=503, text="try again")
        handled = await on_event(inbound)
        return web.Response(text="ok") if handled else web.Response(status=503, text="try again")

    return [web.post(settings.zalo_webhook_path, handle)]


async def decode(event: dict, memory: Memory, fetch: Fetch) -> Inbound | None:
    """None for events nobody answers (delivery receipts, the OA's own messages, anonymous chats)."""
    name = str(event.get("event_name", ""))
    stamp = str(event.get("timestamp", ""))
    if name in ("follow", "unfollow"):
        user = _id(event.get("follower"))
        if not user:
            return None
        key = f"{name}:{user}:{stamp}"
        if name == "unfollow":
            return Inbound("zalo", user, key, None, blocked=True)
        return Inbound("zalo", user, key, Input(kind="command", command="start"))
    if not name.startswith("user_") or name in ("user_received_message", "user_seen_message"):
        return None
    user = _id(event.get("sender"))
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    if not user:
        return None
    key = str(message.get("msg_id") or f"{name}:{user}:{stamp}")
    if name == "user_send_text":
        inp = text_input(str(message.get("text") or "")[:MAX_TEXT], await memory.offer(user))
    elif name == "user_send_image":
        inp = Input(kind="photo", qr=await read_qr(_attachment_url(message), fetch))
    elif name == "user_submit_info":
        info = event.get("info") if isinstance(event.get("info"), dict) else {}
        inp = Input(kind="contact", phone=str(info.get("phone") or ""))  # the sender's own details
    elif name == "user_send_business_card":
        inp = Input(kind="contact", phone="")  # someone else's card: not the person's own number
    elif name in KINDS:
        inp = Input(kind=KINDS[name])
    elif name.startswith("user_send_"):
        inp = Input(kind="other")
    else:
        return None  # user_click_chatnow, reactions, ...: nothing to answer
    return Inbound("zalo", user, key, inp)


def text_input(text: str, offer: list[tuple[str, str | None]]) -> Input:
    if text.startswith(CALLBACK):  # anyone can type this; callback data is untrusted on Telegram too
        return Input(kind="callback", text=text[len(CALLBACK):])
    if text.startswith("/") and len(text) > 1:
        head, _, rest = text[1:].partition(" ")
        return Input(kind="command", command=head.lower(), text=rest.strip())
    if fold(text) in START_WORDS:
        return Input(kind="command", command="start")
    stripped = text.strip()
    numbered = bool(offer) and not any(label[:1].isdigit() for label, _ in offer)
    if numbered and stripped.isdigit() and 1 <= int(stripped) <= len(offer):
        label, data = offer[int(stripped) - 1]
        return Input(kind="callback", text=data) if data is not None else Input(kind="text", text=label)
    for label, data in offer:  # an inline button's label typed out
        if data is not None and fold(label) == fold(text):
            return Input(kind="callback", text=data)
    return Input(kind="text", text=text)


async def read_qr(url: str | None, fetch: Fetch) -> tuple[str, ...]:
    if not url:
        return ()
    data = await fetch(url)
    if not data:
        return ()
    from bot.inputs import decode_qr  # noqa: PLC0415 - loads the native QR reader on first photo

    return await asyncio.to_thread(decode_qr, data)


async def fetch_image(url: str) -> bytes | None:
    """The photo Zalo stores for us; None (read as "no QR code found") when it cannot be had."""
    if not url.startswith(("https://", "http://")):
        return None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            async with session.get(url) as resp:
                if resp.status != 200 or (resp.content_length or 0) > MAX_PHOTO_BYTES:
                    return None
                data = await resp.content.read(MAX_PHOTO_BYTES + 1)
                return data if len(data) <= MAX_PHOTO_BYTES else None
    except (TimeoutError, aiohttp.ClientError) as e:
        log.warning("zalo photo download failed: %s", type(e).__name__)
        return None


def _id(party: object) -> str:
    return str(party.get("id") or "") if isinstance(party, dict) else ""


def _attachment_url(message: dict) -> str | None:
    for a in message.get("attachments") or ():
        if isinstance(a, dict) and isinstance(a.get("payload"), dict) and a["payload"].get("url"):
            return str(a["payload"]["url"])
    return None
