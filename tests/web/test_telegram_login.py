"""Signing in with the Telegram Login Widget: shown only when configured; data signed as
https://core.telegram.org/widgets/login documents opens a session for staff only."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.standin import TOKEN
from tests.web.conftest import OTHER_STAFF_ID, STAFF_ID


def signed(uid: int, token: str = TOKEN, age: float = 0, **extra) -> dict[str, str]:
    """What the widget sends back: the fields, and their hash computed as Telegram does."""
    data = {"id": str(uid), "first_name": "Lan", "username": "lan_p27", "auth_date": str(int(time.time() - age)),
            **extra}
    check = "\n".join(f"{k}={data[k]}" for k in sorted(data))
    data["hash"] = hmac.new(hashlib.sha256(token.encode()).digest(), check.encode(), hashlib.sha256).hexdigest()
    return data


@pytest.fixture
async def widget_client(runtime):
    from web.app import make_app  # noqa: PLC0415

    runtime.settings.public_url = "https://p27.example.vn"  # a public domain: the widget is shown
    runtime.settings.web_public_url = "https://console.p27.example.vn"  # where it sends staff back
    c = TestClient(TestServer(make_app(runtime)))
    await c.start_server()
    yield c
    await c.close()


async def test_the_sign_in_page_shows_the_widget_only_when_configured(town, client, widget_client):
    plain = await client.get("/")
    assert plain.status == 401 and "telegram-widget.js" not in await plain.text()
    assert "telegram.org" not in plain.headers["Content-Security-Policy"]
    page = await widget_client.get("/")
    html = await page.text()
    assert 'data-telegram-login="healthbot_test_bot"' in html
    assert 'data-auth-url="https://console.p27.example.vn/login/telegram"' in html
    assert "script-src https://telegram.org" in page.headers["Content-Security-Policy"]
    assert (await client.get("/login/telegram", params=signed(STAFF_ID))).status == 404  # not configured


async def test_a_correct_signature_signs_a_staff_member_in(town, widget_client):
    r = await widget_client.get("/login/telegram", params=signed(STAFF_ID))
    assert r.status == 200
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie  # https console
    assert 'http-equiv="refresh"' in await r.text()
    # The cookie is Secure; the test server is http, so hand it over as a browser on https would.
    sid = r.cookies["hb_console"].value
    home = await widget_client.get("/", cookies={"hb_console": sid})
    assert home.status == 200 and "Tổng quan" in await home.text()


@pytest.mark.parametrize("case", ["wrong hash", "other token", "stale", "future", "not staff", "no id", "used"])
async def test_refused(town, widget_client, case):
    data = {
        "wrong hash": lambda: {**signed(STAFF_ID), "hash": "0" * 64},
        "other token": lambda: signed(STAFF_ID, token="654321:another-bots-token"),
        "stale": lambda: signed(STAFF_ID, age=301),
        "future": lambda: signed(STAFF_ID, age=-3600),
        "not staff": lambda: signed(5555),
        "no id": lambda: {k: v for k, v in signed(STAFF_ID).items() if k != "id"},
        "used": lambda: signed(OTHER_STAFF_ID),
    }[case]()
    if case == "used":
        assert (await widget_client.get("/login/telegram", params=data)).status == 200
        widget_client.session.cookie_jar.clear()
    r = await widget_client.get("/login/telegram", params=data)
    assert r.status == 403 and "Set-Cookie" not in r.headers
    assert "Không đăng nhập được bằng Telegram" in await r.text()


async def test_changed_fields_break_the_signature(town, widget_client):
    data = signed(5555)
    data["id"] = str(STAFF_ID)  # someone else's data, made to look like a staff member's
    assert (await widget_client.get("/login/telegram", params=data)).status == 403
