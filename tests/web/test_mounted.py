"""The console inside `healthbot run --webhook`'s server (WEB_CONSOLE=1): the same server
answers the webhook, /healthz, /metrics and /c/<code> as before, and the console's pages at
the root with their sessions, CSRF and headers; a webhook path on a console page stops the start."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.web.conftest import STAFF_ID, csrf_of, link_from_bot, path_of

SECRET = "webhook-secret_1"


SETTINGS = {"web_console": True, "public_url": "https://bot.p27.example.vn",
            "webhook_url": "https://bot.p27.example.vn/telegram", "webhook_secret": SECRET}


@pytest.fixture
async def runtime(database_url, redis_url, redis_prefix, clean_db, redis):
    """A runtime set up as `healthbot run --webhook` with WEB_CONSOLE=1 (the bot's /web links too)."""
    from bot.runtime import open_runtime  # noqa: PLC0415
    from tests.conftest import test_settings  # noqa: PLC0415

    rt = await open_runtime(test_settings(database_url, redis_url, redis_prefix, **SETTINGS), upgrade=False)
    yield rt
    await rt.close()


@pytest.fixture
async def server(runtime, app):
    from bot.run import make_web_app  # noqa: PLC0415

    c = TestClient(TestServer(make_web_app(runtime, app.channels)))
    await c.start_server()
    yield c
    await c.close()


async def test_the_servers_own_routes_are_unchanged(town, server):
    health = await server.get("/healthz")
    assert health.status == 200 and await health.json() == {"postgres": "ok", "redis": "ok"}
    assert "Content-Security-Policy" not in health.headers  # the console's headers are the console's
    assert (await server.get("/metrics")).status == 200
    assert (await server.post("/telegram", json={"update_id": 1})).status == 403  # no secret
    r = await server.post("/telegram", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert r.status == 200
    too_big = await server.post("/telegram", data=b"x" * (2 << 20),
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert too_big.status == 413  # the webhook keeps its 1 MB limit beside the console's uploads
    card = await server.get("/c/not-a-code")
    assert card.status == 404 and "text/plain" in card.headers["Content-Type"]


async def test_sign_in_through_a_one_time_link(town, chat_factory, server):
    link = await link_from_bot(chat_factory, STAFF_ID)
    assert link.startswith("https://bot.p27.example.vn/signin/")  # the server's public address
    assert (await server.get("/")).status == 401
    r = await server.post(path_of(link), allow_redirects=False)
    assert r.status == 303
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    session = {"hb_console": r.cookies["hb_console"].value}  # Secure: a browser sends it over https only
    home = await server.get("/", cookies=session)
    assert home.status == 200 and "Tổng quan" in await home.text()
    assert home.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert home.headers["X-Frame-Options"] == "DENY" and home.headers["Referrer-Policy"] == "no-referrer"
    assert (await server.post("/lang", data={"locale": "en"}, cookies=session)).status == 403  # no CSRF token
    csrf = csrf_of(await home.text())
    r = await server.post("/lang", data={"locale": "en", "csrf": csrf}, cookies=session, allow_redirects=False)
    assert r.status == 303
    assert (await server.get("/static/console.css")).status == 200


@pytest.mark.parametrize("path", ["/", "/residents", "/signin/x", "/export.csv", "/static"])
async def test_a_webhook_on_a_console_page_stops_the_start(runtime, app, path, capsys):
    from bot.run import make_web_app  # noqa: PLC0415

    runtime.settings.webhook_url = f"https://bot.p27.example.vn{path}"
    with pytest.raises(SystemExit) as stopped:
        make_web_app(runtime, app.channels)
    assert stopped.value.code == 2
    assert "WEBHOOK_URL" in capsys.readouterr().err


async def test_without_the_setting_no_console(runtime, app):
    from bot.run import make_web_app  # noqa: PLC0415

    runtime.settings.web_console = False
    c = TestClient(TestServer(make_web_app(runtime, app.channels)))
    await c.start_server()
    try:
        assert (await c.get("/")).status == 404
        assert (await c.get("/healthz")).status == 200
    finally:
        await c.close()


async def test_polling_mode_starts_the_server_for_the_console(runtime, monkeypatch):
    import asyncio  # noqa: PLC0415
    import socket  # noqa: PLC0415

    import aiohttp  # noqa: PLC0415

    from bot import run  # noqa: PLC0415

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runtime.settings.webhook_port = port
    runtime.settings.bot_token = ""  # no messenger at all: only the console needs the server
    started, real = asyncio.Event(), run.start_web

    async def start_web(*args, **kw):
        runner = await real(*args, **kw)
        started.set()
        return runner

    monkeypatch.setattr(run, "start_web", start_web)
    stop = asyncio.Event()
    serving = asyncio.create_task(run.serve(runtime, False, stop, background=[]))
    try:
        await asyncio.wait_for(started.wait(), 30)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as r:
            assert r.status == 401 and "Đăng nhập" in await r.text()  # the console's signed-out page
    finally:
        stop.set()
        await serving
