"""The console against the real PostgreSQL and Redis: an aiohttp test client, staff of two
wards, and signing in through the link the bot's /web command sends."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.e2e.conftest import bot_env, standin  # noqa: F401 - for `healthbot demo --web`
from tests.test_staff import ADMIN_ID, OTHER_STAFF_ID, STAFF_ID, town  # noqa: F401 - the same town

LINK = re.compile(r"https?://\S+/signin/[A-Za-z0-9_-]+")


@pytest.fixture
async def client(runtime):
    from web.app import make_app  # noqa: PLC0415

    c = TestClient(TestServer(make_app(runtime)))
    await c.start_server()
    yield c
    await c.close()


async def link_from_bot(chat_factory, user_id: int) -> str:
    """Send /web to the bot as this user; the one-time link it answers with."""
    chat = chat_factory(user_id)
    await chat.command("web")
    found = LINK.search(chat.text)
    assert found, chat.text
    return found.group(0)


def path_of(link: str) -> str:
    return "/signin/" + link.rsplit("/signin/", 1)[1]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def sign_in(client: TestClient, chat_factory, user_id: int) -> str:
    """Signs the client in as this staff member; returns the session's CSRF token."""
    path = path_of(await link_from_bot(chat_factory, user_id))
    r = await client.post(path, allow_redirects=False)
    assert r.status == 303
    home = await client.get("/")
    assert home.status == 200
    return csrf_of(await home.text())
