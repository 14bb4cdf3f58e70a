"""A local stand-in for the Zalo OA API, its OAuth endpoint and ZNS, and a person who writes to the OA.

`ZaloApi` answers like Zalo does (sources in bot/channels/zalo/__init__.py): it checks the
`access_token` header, rotates the refresh token on every refresh (the old one stops
working), checks the shape of every message against the documented limits, applies the
7-day consultation window from the person's last interaction, records every call, and lets
a test inject any error code. `signed(...)` builds a webhook request the way Zalo signs it.

    api = ZaloApi(); runner, url = await serve(api)   # ZALO_API_URL = ZALO_OAUTH_URL = ZALO_ZNS_URL = url
    person = ZaloPerson(api, "<bot>/zalo", "8837001", session)
    await person.says("bắt đầu")  # -> the messages the bot sent back (waits for them)

Fixtures for tests: `zalo_api`, `zalo_settings`, `zalo_channel`, `zalo_hook` (import them).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

APP_ID = "1234567890123456789"
APP_SECRET = "app-secret-for-the-stand-in"
OA_SECRET = "oa-secret-for-the-stand-in"
OA_ID = "579745863508352884"
FIRST_REFRESH = "RT-0"
TEMPLATE_ID = "248079"  # the one approved ZNS template
WINDOW = 7 * 86400
BUTTON_TYPES = {"oa.query.show", "oa.query.hide", "oa.open.url", "oa.open.phone", "oa.open.sms"}


@dataclass
class Call:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class ZaloApi:
    def __init__(self):
        self.calls: list[Call] = []
        self.refresh_token = FIRST_REFRESH
        self.access_tokens: set[str] = set()
        self._n = itertools.count(1)
        self._tokens = itertools.count(1)
        self.interacted: dict[str, float] = {}  # user id → time of their last interaction
        self.unfollowed: set[str] = set()
        self.files: dict[str, bytes] = {}  # served at /img/<name>
        self.uploads: dict[str, tuple[str, bytes]] = {}  # token → (file name, content)
        # (path, body) → (error code, message) to answer instead, or None
        self.fault: Callable[[str, dict], tuple[int, str] | None] | None = None
        self.http_status: int | None = None  # answer every API call with this HTTP status instead
        self.changed = asyncio.Event()

    # ------------------------------------------------------------ test helpers

    def interact(self, user: str, at: float | None = None) -> None:
        self.interacted[user] = time.time() if at is None else at
        self.unfollowed.discard(user)

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working, as after 25 hours."""
        self.access_tokens.clear()

    def sent(self, user: str | None = None) -> list[dict]:
        """The `message` objects accepted for a person, in order."""
        return [c.body["message"] for c in self.calls if c.path == "/v3.0/oa/message/cs"
                and c.body.get("_ok") and (user is None or c.body["recipient"]["user_id"] == user)]

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    # ------------------------------------------------------------ the fake server

    def _record(self, path: str, body: dict, headers) -> Call:
        call = Call(path, body, {k.lower(): v for k, v in headers.items()})
        self.calls.append(call)
        self.changed.set()
        return call

    def oauth(self, form: dict, headers) -> dict:
        self._record("/v4/oa/access_token", dict(form), headers)
        if headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return {"error": -14002, "error_name": "Invalid app", "error_description": "app_id or secret_key"}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return {"error": -14014, "error_name": "Invalid refresh token", "error_description": "refresh token is invalid"}
        n = next(self._tokens)
        access, self.refresh_token = f"AT-{n}", f"RT-{n}"  # single use: the old one is dead now
        self.access_tokens.add(access)
        return {"access_token": access, "refresh_token": self.refresh_token, "expires_in": "90000"}

    def api(self, path: str, body: dict, headers) -> dict:
        self._record(path, body, headers)
        if headers.get("access_token") not in self.access_tokens:
            return {"error": -216, "message": "Access token is invalid"}
        if self.fault is not None:
            injected = self.fault(path, body)
            if injected is not None:
                return {"error": injected[0], "message": injected[1]}
        if path == "/v3.0/oa/message/cs":
            answer = self._cs(body)
        elif path == "/message/template":
            answer = self._zns(body)
        else:
            return {"error": -209, "message": "Not supported this api"}
        body["_ok"] = answer.get("error") == 0
        return answer

    def _cs(self, body: dict) -> dict:
        user = str((body.get("recipient") or {}).get("user_id") or "")
        message = body.get("message")
        if not user or not isinstance(message, dict):
            return {"error": -201, "message": "recipient or message is invalid"}
        problem = _check_message(message, self.uploads)
        if problem:
            return {"error": -201, "message": problem}
        if user in self.unfollowed:
            return {"error": -213, "message": "User has not followed OA"}
        last = self.interacted.get(user)
        if last is None:
            return {"error": -232, "message": "User has not interacted with the OA"}
        if time.time() - last > WINDOW:
            return {"error": -230, "message": "User has not interacted with the OA in the past 7 days"}
        return {"error": 0, "message": "Success", "data": {"message_id": f"m{next(self._n)}", "user_id": user}}

    def _zns(self, body: dict) -> dict:
        phone, template, data = body.get("phone"), body.get("template_id"), body.get("template_data")
        if not isinstance(phone, str) or not re.fullmatch(r"84\d{9,10}", phone):
            return {"error": -108, "message": "Phone number is invalid"}
        if template != TEMPLATE_ID:
            return {"error": -131, "message": "Template is not approved"}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return {"error": -201, "message": "template_data is invalid"}
        if not isinstance(body.get("tracking_id"), str) or not body["tracking_id"]:
            return {"error": -201, "message": "tracking_id is invalid"}
        return {"error": 0, "message": "Success", "data": {
            "msg_id": f"z{next(self._n)}", "sent_time": str(int(time.time() * 1000)),
            "quota": {"dailyQuota": "500", "remainingQuota": "499"}}}

    def upload(self, name: str, content: bytes, headers) -> dict:
        self._record("/v2.0/oa/upload/file", {"name": name, "size": len(content)}, headers)
        if headers.get("access_token") not in self.access_tokens:
            return {"error": -216, "message": "Access token is invalid"}
        if not name.lower().endswith((".pdf", ".doc", ".docx")) or len(content) > 5 * 1024 * 1024:
            return {"error": -201, "message": "file type or size is invalid"}
        token = f"file-{next(self._n)}"
        self.uploads[token] = (name, content)
        return {"error": 0, "message": "Success", "data": {"token": token}}


def _check_message(m: dict, uploads: dict) -> str | None:
    text, attachment = m.get("text"), m.get("attachment")
    if text is None and attachment is None:
        return "message needs text or attachment"
    if text is not None and (not isinstance(text, str) or not text or len(text) > 2000):
        return "text must be 1-2000 characters"
    if attachment is None:
        return None
    kind, payload = attachment.get("type"), attachment.get("payload") or {}
    if kind == "file":
        return None if payload.get("token") in uploads else "file token is invalid"
    if kind != "template":
        return "attachment type is invalid"
    if payload.get("template_type") == "request_user_info":
        elements = payload.get("elements") or []
        ok = 1 <= len(elements) <= 5 and all(0 < len(e.get("title", "")) <= 100 for e in elements) \
            and 0 < len(elements[0].get("subtitle", "")) <= 500
        return None if ok else "request_user_info elements are invalid"
    buttons = payload.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 4 or text is None:
        return "a message with buttons needs text and 1-4 buttons"
    for b in buttons:
        if b.get("type") not in BUTTON_TYPES or not 0 < len(b.get("title", "")) <= 100:
            return "button type or title is invalid"
        if b["type"].startswith("oa.query.") and not (isinstance(b.get("payload"), str) and 0 < len(b["payload"]) <= 1000):
            return "query button payload must be 1-1000 characters"
    return None


def make_web_app(api: ZaloApi) -> web.Application:
    async def oauth(request: web.Request) -> web.Response:
        return web.json_response(api.oauth(dict(await request.post()), request.headers))

    async def json_api(request: web.Request) -> web.Response:
        if api.http_status is not None:
            return web.Response(status=api.http_status, text="stand-in fault")
        try:
            body = await request.json()
        except ValueError:
            body = {}
        return web.json_response(api.api(request.path, body if isinstance(body, dict) else {}, request.headers))

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        f = form.get("file")
        if not isinstance(f, web.FileField):
            return web.json_response({"error": -201, "message": "file is missing"})
        return web.json_response(api.upload(f.filename, f.file.read(), request.headers))

    async def image(request: web.Request) -> web.Response:
        data = api.files.get(request.match_info["name"])
        return web.Response(body=data, content_type="image/png") if data is not None else web.Response(status=404)

    app = web.Application(client_max_size=20 * 1024 * 1024)
    app.router.add_post("/v4/oa/access_token", oauth)
    app.router.add_post("/v3.0/oa/message/cs", json_api)
    app.router.add_post("/message/template", json_api)
    app.router.add_post("/v2.0/oa/upload/file", upload)
    app.router.add_get("/img/{name}", image)
    return app


async def serve(api: ZaloApi, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(make_web_app(api), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, f"http://{host}:{site._server.sockets[0].getsockname()[1]}"


# ------------------------------------------------------------ webhook events, signed as Zalo signs them

_msg_ids = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


def event(name: str, user: str, timestamp: int | None = None, **fields) -> dict:
    """A user_* event from `user` to the OA."""
    return {"app_id": APP_ID, "user_id_by_app": f"app{user}", "event_name": name,
            "sender": {"id": user}, "recipient": {"id": OA_ID},
            "timestamp": str(timestamp if timestamp is not None else now_ms()), **fields}


def text_event(user: str, text: str, **kw) -> dict:
    return event("user_send_text", user, message={"msg_id": f"msg{next(_msg_ids)}", "text": text}, **kw)


def image_event(user: str, url: str) -> dict:
    return event("user_send_image", user, message={"msg_id": f"msg{next(_msg_ids)}", "text": "", "attachments": [
        {"type": "image", "payload": {"url": url, "thumbnail": url}}]})


def attachment_event(name: str, user: str, kind: str, payload: dict) -> dict:
    return event(name, user, message={"msg_id": f"msg{next(_msg_ids)}", "attachments": [{"type": kind, "payload": payload}]})


def follow_event(name: str, user: str) -> dict:
    """follow / unfollow: the person is in `follower`, not `sender`."""
    return {"app_id": APP_ID, "user_id_by_app": f"app{user}", "event_name": name, "oa_id": OA_ID,
            "follower": {"id": user}, "source": "oa_profile", "timestamp": str(now_ms())}


def signed(body: dict, oa_secret: str = OA_SECRET, app_id: str = APP_ID) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    mac = hashlib.sha256(app_id.encode() + raw + str(body["timestamp"]).encode() + oa_secret.encode()).hexdigest()
    return raw, {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}


async def serve_routes(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    """The bot's side: serve webhook routes on a free local port."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


# ------------------------------------------------------------ pytest fixtures (import them into a test module)


def zalo_settings_for(redis_prefix: str, url: str, **overrides):
    from bot.config import Settings  # noqa: PLC0415

    values = dict(redis_prefix=redis_prefix, zalo_app_id=APP_ID, zalo_app_secret=APP_SECRET,
                  zalo_oa_secret=OA_SECRET, zalo_refresh_token=FIRST_REFRESH, zalo_oa_id=OA_ID,
                  zalo_api_url=url, zalo_oauth_url=url, zalo_zns_url=url)
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def zalo_api():
    """The stand-in, served; yields (api, base URL)."""
    api = ZaloApi()
    runner, url = await serve(api)
    yield api, url
    await runner.cleanup()


@pytest.fixture
def zalo_settings(zalo_api, redis_prefix):
    return zalo_settings_for(redis_prefix, zalo_api[1])


@pytest.fixture
async def zalo_channel(zalo_settings, redis):
    from bot.channels.zalo import ZaloChannel  # noqa: PLC0415

    channel = ZaloChannel(zalo_settings, redis)
    yield channel
    await channel.close()


class Webhook:
    """The bot's webhook route served alone, with an on_event that records what arrives."""

    def __init__(self, url: str, api: ZaloApi):
        self.url = url
        self.api = api
        self.events: list = []  # Inbound
        self.answer = True
        self.session = aiohttp.ClientSession()

    async def on_event(self, inbound) -> bool:
        self.events.append(inbound)
        return self.answer

    async def post(self, body: dict | None = None, *, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> int:
        if raw is None:
            raw, signed_headers = signed(body)
            headers = {**signed_headers, **(headers or {})}
        async with self.session.post(self.url + "/zalo", data=raw, headers=headers or {}) as resp:
            return resp.status

    async def says(self, body: dict):
        """The person does something in Zalo: the window opens on Zalo's side, the event arrives."""
        self.api.interact(body["sender"]["id"])
        before = len(self.events)
        assert await self.post(body) == 200
        assert len(self.events) == before + 1
        return self.events[-1]


class ZaloPerson:
    """Someone chatting with the OA through the stand-in: what they do reaches the bot's webhook
    as Zalo would post it, and what the bot sends them is read back from the stand-in."""

    def __init__(self, api: ZaloApi, webhook_url: str, user: str, session: aiohttp.ClientSession):
        self.api, self.url, self.user, self.session = api, webhook_url, user, session
        self.seen = 0  # messages to this person already returned

    async def post(self, body: dict) -> int:
        raw, headers = signed(body)
        async with self.session.post(self.url, data=raw, headers=headers) as resp:
            return resp.status

    async def _do(self, body: dict, expect: int, timeout: float) -> list[dict]:
        self.api.interact(self.user)
        status = await self.post(body)
        assert status == 200, f"the webhook answered {status}"
        return await self.replies(expect, timeout)

    async def replies(self, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        """The messages sent to this person since the last look; waits (on the stand-in's
        calls, not the clock) until at least `expect` have arrived."""
        async def enough() -> None:
            while len(self.api.sent(self.user)) < self.seen + expect:
                self.api.changed.clear()
                await self.api.changed.wait()

        await asyncio.wait_for(enough(), timeout)
        new = self.api.sent(self.user)[self.seen:]
        self.seen += len(new)
        return new

    async def says(self, text: str, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        return await self._do(text_event(self.user, text), expect, timeout)

    async def presses(self, title: str, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        """Taps the button with this title on the last message that had buttons."""
        for message in reversed(self.api.sent(self.user)):
            buttons = ((message.get("attachment") or {}).get("payload") or {}).get("buttons") or []
            for b in buttons:
                if b["title"] == title:
                    return await self._do(text_event(self.user, b["payload"]), expect, timeout)
        raise AssertionError(f"no button {title!r} was offered")

    async def sends_photo(self, png: bytes, base_url: str, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        """`base_url`: the stand-in's, which serves the photo as Zalo's CDN would."""
        name = f"photo{next(_msg_ids)}.png"
        self.api.files[name] = png
        return await self._do(image_event(self.user, f"{base_url}/img/{name}"), expect, timeout)

    async def follows(self, expect: int = 1, timeout: float = 10.0) -> list[dict]:
        self.api.interact(self.user)
        assert await self.post(follow_event("follow", self.user)) == 200
        return await self.replies(expect, timeout)

    async def unfollows(self) -> None:
        self.api.unfollowed.add(self.user)
        assert await self.post(follow_event("unfollow", self.user)) == 200


def text_of(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def buttons_of(message: dict) -> list[str]:
    return [b["title"] for b in ((message.get("attachment") or {}).get("payload") or {}).get("buttons") or []]


@pytest.fixture
async def zalo_hook(zalo_settings, zalo_api, redis):
    """The bot's webhook route, served alone with a recording on_event."""
    from bot.channels.zalo import make_routes  # noqa: PLC0415

    hook = Webhook("", zalo_api[0])
    runner, hook.url = await serve_routes(make_routes(zalo_settings, redis, hook.on_event))
    yield hook
    await hook.session.close()
    await runner.cleanup()


def main() -> None:  # pragma: no cover - manual trials
    """uv run python -m tests.zalo_standin --bot http://127.0.0.1:8080/zalo"""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Zalo OA API stand-in")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--bot", default="http://127.0.0.1:8080/zalo", help="the bot's Zalo webhook URL")
    args = parser.parse_args()

    async def run() -> None:
        api = ZaloApi()
        _, url = await serve(api, port=args.port)
        print(f"Zalo stand-in at {url}. For the bot: ZALO_APP_ID={APP_ID} ZALO_APP_SECRET={APP_SECRET} "
              f"ZALO_OA_SECRET={OA_SECRET} ZALO_REFRESH_TOKEN={FIRST_REFRESH} ZALO_OA_ID={OA_ID} "
              f"ZALO_API_URL={url} ZALO_OAUTH_URL={url} ZALO_ZNS_URL={url}")
        print("Type a message to send it as Zalo user 8837001.")
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            person = ZaloPerson(api, args.bot, "8837001", session)
            while True:
                try:
                    line = await loop.run_in_executor(None, input, "> ")
                except EOFError:
                    return
                try:
                    for m in await person.says(line, timeout=10):
                        print("bot:", m.get("text", ""), buttons_of(m) or "")
                except (TimeoutError, AssertionError, aiohttp.ClientError) as e:
                    print("no answer:", e)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
