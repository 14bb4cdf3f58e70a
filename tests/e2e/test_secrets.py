"""`healthbot run` keeps its secrets (issue 13): a rejected token or an unreachable Bot API
is one line without the token; /metrics answers only the allowed networks or the token."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.e2e.conftest import free_port
from tests.e2e.test_run import wait_until
from tests.standin import TOKEN


async def finished(proc) -> str:
    await asyncio.to_thread(proc.proc.wait, 60)
    return proc.output()


def secret_parts() -> list[str]:
    return [TOKEN, TOKEN.split(":", 1)[1]]


async def test_a_rejected_token_is_one_line_without_the_token(bot_process, standin):
    api, _ = standin
    api.fault = lambda method, params: (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    proc = bot_process()
    out = await finished(proc)
    assert proc.proc.returncode == 2
    assert out.strip().splitlines() == ["healthbot: BOT_TOKEN bị Telegram từ chối; hãy lấy lại token từ @BotFather"]
    assert not [s for s in secret_parts() if s in out]


async def test_an_unreachable_bot_api_is_one_line_without_the_token(bot_process):
    port = free_port()  # nothing listens there
    proc = bot_process(TELEGRAM_API_URL=f"http://127.0.0.1:{port}", LOG_LEVEL="DEBUG")
    out = await finished(proc)
    assert proc.proc.returncode == 1
    lines = out.strip().splitlines()
    assert lines[-1].startswith("healthbot: không kết nối được Bot API (NetworkError)"), out
    assert "Traceback" not in out
    assert not [s for s in secret_parts() if s in out], out


async def test_metrics_only_for_allowed_networks_or_the_token(bot_process, standin):
    api, _ = standin
    port = free_port()
    bot_process("--webhook", WEBHOOK_URL=f"http://127.0.0.1:{port}/tg", WEBHOOK_SECRET="m3trics",
                WEBHOOK_PORT=str(port), METRICS_NETWORKS="10.0.0.0/8", METRICS_TOKEN="scrape-" + "k" * 30)
    await wait_until(lambda: api.webhook is not None)
    base = f"http://127.0.0.1:{port}"  # the default host is 127.0.0.1: no WEBHOOK_HOST given
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/metrics") as r:
            assert r.status == 403
        async with http.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 403
        async with http.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape-" + "k" * 30}) as r:
            assert r.status == 200 and "healthbot_updates_total" in await r.text()
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
