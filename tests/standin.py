"""A local stand-in for the Telegram Bot API, and a person who chats through it.

`BotApi` holds the fake server's state and answers method calls; it is served over HTTP
(`serve()`, for the real `healthbot run` process and the benchmarks) or called directly by
`RecordingRequest` (a python-telegram-bot request class for in-process tests). Either way
every call is recorded, and faults (latency, 429, 403) can be injected.

Run alone for manual trials:  uv run python -m tests.standin --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from telegram.request import BaseRequest, RequestData

TOKEN = "123456:TEST-token-for-the-stand-in"
BOT_ID = 123456
BOT_USERNAME = "healthbot_test_bot"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class BotApi:
    def __init__(self, delay: float = 0.0):
        self.delay = delay  # seconds added to every call: a network round trip
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self.files: dict[str, bytes] = {}
        self.blocked: set[int] = set()  # chats that answer 403
        self.fault: Callable[[str, dict], tuple[int, dict] | None] | None = None
        self.changed = asyncio.Event()  # set on every new call or update
        self.webhook: dict[str, Any] | None = None
        self.closing = False  # ends pending long polls so the server can stop at once

    # ------------------------------------------------------------ the fake server

    async def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        if self.delay:
            await asyncio.sleep(self.delay)
        if method != "getUpdates":
            self.calls.append(Call(method, params))
            self._poke()
        if self.fault is not None:
            injected = self.fault(method, params)
            if injected is not None:
                return injected
        chat = params.get("chat_id")
        if chat is not None and int(chat) in self.blocked:
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        handler = getattr(self, "api_" + method, None)
        if handler is None:
            return 200, {"ok": True, "result": True}
        result = handler(params) if not asyncio.iscoroutinefunction(handler) else await handler(params)
        return 200, {"ok": True, "result": result}

    def api_getMe(self, p):
        return {"id": BOT_ID, "is_bot": True, "first_name": "Health bot", "username": BOT_USERNAME,
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def api_getUpdates(self, p):
        offset = int(p.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while not self.updates and not self.closing and time.monotonic() < deadline:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return self.updates[: int(p.get("limit") or 100)]

    def _message(self, p, **extra):
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": int(p["chat_id"]), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Health bot"}, **extra}

    def api_sendMessage(self, p):
        return self._message(p, text=p.get("text", ""))

    def api_editMessageText(self, p):
        return self._message(p, text=p.get("text", "")) if p.get("chat_id") else True

    def api_sendDocument(self, p):
        return self._message(p, document={"file_id": "doc", "file_unique_id": "doc", "file_name": p.get("_filename", "file")})

    def api_sendPhoto(self, p):
        return self._message(p, photo=[{"file_id": "ph", "file_unique_id": "ph", "width": 1, "height": 1}])

    def api_getFile(self, p):
        fid = p["file_id"]
        if fid not in self.files:
            return None
        return {"file_id": fid, "file_unique_id": fid, "file_size": len(self.files[fid]), "file_path": f"photos/{fid}.jpg"}

    def api_setWebhook(self, p):
        self.webhook = p
        return True

    def api_deleteWebhook(self, p):
        self.webhook = None
        return True

    # ------------------------------------------------------------ feeding updates

    def _poke(self) -> None:
        self.changed.set()

    def close(self) -> None:
        self.closing = True
        self._poke()

    def push(self, update: dict) -> dict:
        self.updates.append(update)
        self._poke()
        return update

    def new_update(self, **payload) -> dict:
        return {"update_id": next(self._update_ids), **payload}

    def add_file(self, content: bytes) -> str:
        fid = f"file{next(self._file_ids)}"
        self.files[fid] = content
        return fid

    # ------------------------------------------------------------ reading what was sent

    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[Call]:
        return [
            c for c in self.calls
            if c.method in (("sendMessage", "sendDocument", "editMessageText") if method is None else (method,))
            and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]


def user_payload(user_id: int, first_name: str = "Lan") -> dict:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "vi"}


def message_update(api: BotApi, user_id: int, **content) -> dict:
    msg = {"message_id": next(api._message_ids), "date": int(time.time()),
           "chat": {"id": user_id, "type": "private"}, "from": user_payload(user_id), **content}
    if "text" in content and content["text"].startswith("/"):
        length = len(content["text"].split(" ", 1)[0])
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return api.new_update(message=msg)


def callback_update(api: BotApi, user_id: int, data: str, message_id: int = 1) -> dict:
    return api.new_update(callback_query={
        "id": str(next(api._message_ids)), "from": user_payload(user_id), "chat_instance": "ci",
        "data": data,
        "message": {"message_id": message_id, "date": int(time.time()), "chat": {"id": user_id, "type": "private"}},
    })


# ------------------------------------------------------------ python-telegram-bot plumbing


def _decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in raw.items():
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


class RecordingRequest(BaseRequest):
    """Refuses the network: every call goes straight to a BotApi in this process."""

    def __init__(self, api: BotApi):
        self.api = api

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url, method, request_data: RequestData | None = None, *args, **kwargs):
        if "/file/bot" in url:
            fid = url.rsplit("/", 1)[-1].removesuffix(".jpg")
            return (200, self.api.files[fid]) if fid in self.api.files else (404, b"")
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data and request_data.contains_files:
            for key, f in request_data.multipart_data.items():
                params["_filename"] = f[0]
                params["_file:" + key] = f[1]
        status, body = await self.api.handle(name, _decode_params(params))
        return status, json.dumps(body).encode()


# ------------------------------------------------------------ over HTTP


def make_web_app(api: BotApi) -> web.Application:
    async def method(request: web.Request) -> web.Response:
        if request.content_type == "application/json":  # orjson: the bench's harness runs this too
            params = orjson.loads(await request.read()) if request.can_read_body else {}
        else:
            form = await request.post()
            params = {}
            for k, v in form.items():
                if isinstance(v, web.FileField):
                    params["_filename"] = v.filename
                    params["_file:" + k] = v.file.read()
                else:
                    params[k] = v
            params.update(request.query)
        status, body = await api.handle(request.match_info["method"], _decode_params(params))
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    async def file(request: web.Request) -> web.Response:
        fid = request.match_info["path"].rsplit("/", 1)[-1].removesuffix(".jpg")
        if fid not in api.files:
            return web.Response(status=404)
        return web.Response(body=api.files[fid])

    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_route("*", "/bot{token}/{method}", method)
    app.router.add_get("/file/bot{token}/{path:.+}", file)
    return app


class _Runner(web.AppRunner):
    def __init__(self, api: BotApi, *a, **kw):
        super().__init__(*a, **kw)
        self.api = api

    async def cleanup(self) -> None:
        self.api.close()
        await super().cleanup()


async def serve(api: BotApi, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Start serving; returns the runner (call .cleanup()) and the base URL."""
    runner = _Runner(api, make_web_app(api), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    real_port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://{host}:{real_port}"


def main() -> None:  # pragma: no cover - manual trials
    parser = argparse.ArgumentParser(description="Bot API stand-in")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()

    async def run():
        api = BotApi(delay=args.delay)
        _, url = await serve(api, port=args.port)
        print(f"Bot API stand-in at {url} (token {TOKEN}); type a message to send it as user 1001")
        loop = asyncio.get_running_loop()
        seen = 0
        while True:
            line = await loop.run_in_executor(None, input, "> ")
            api.push(message_update(api, 1001, text=line))
            await asyncio.sleep(1.0)
            for c in api.calls[seen:]:
                if c.method in ("sendMessage", "sendDocument"):
                    print("bot:", c.params.get("text") or c.params.get("caption"))
            seen = len(api.calls)

    asyncio.run(run())


if __name__ == "__main__":
    main()
