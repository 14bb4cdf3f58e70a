"""`healthbot run` as a real process: polling, webhook, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp
import psutil

from tests.chat import addr
from tests.e2e.conftest import free_port
from tests.standin import message_update


async def wait_until(cond, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_polling_answers_start_and_stops_cleanly(bot_process, standin, person):
    api, _ = standin
    proc = bot_process()
    await wait_until(lambda: any(c.method == "getMe" for c in api.calls))
    chat = person(5001)
    started = time.monotonic()
    await chat.command("start")
    first_reply = min(c.at for c in chat.last) - started
    assert first_reply < 1.0, first_reply
    assert chat.keyboard(), "the answer offers buttons"
    menus = [c.params for c in api.calls if c.method == "setMyCommands"]
    assert {m.get("language_code") for m in menus} == {None, "en"}
    assert [c["command"] for c in menus[0]["commands"]][:2] == ["start", "khaibao"]

    seconds = await proc.stop(signal.SIGTERM)
    assert proc.proc.returncode == 0, proc.output()
    assert seconds < 5
    assert "Traceback" not in proc.output()


async def test_pending_updates_are_answered_after_start(bot_process, standin):
    api, _ = standin
    api.push(message_update(api, 5002, text="/start"))  # sent while the bot was down
    proc = bot_process()
    await wait_until(lambda: api.sent(5002))
    await proc.stop()


async def test_webhook_secret_health_and_metrics(bot_process, standin):
    api, _ = standin
    port = free_port()
    proc = bot_process("--webhook", WEBHOOK_URL=f"http://127.0.0.1:{port}/tg", WEBHOOK_SECRET="s3cret-Token_x",
                       WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
    await wait_until(lambda: api.webhook is not None)
    assert api.webhook["secret_token"] == "s3cret-Token_x"
    base = f"http://127.0.0.1:{port}"
    update = message_update(api, 5003, text="/start")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/tg", json=update) as r:
            assert r.status == 403
        async with http.post(f"{base}/tg", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
            assert r.status == 403
        assert api.sent(5003) == []
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_x"}
        async with http.post(f"{base}/tg", json=update, headers=headers) as r:
            assert r.status == 200
        replies = len(api.sent(5003))
        assert replies > 0
        async with http.post(f"{base}/tg", json=update, headers=headers) as r:  # redelivered
            assert r.status == 200
        assert len(api.sent(5003)) == replies, "a redelivered update was acted on twice"
        async with http.post(f"{base}/tg", data=b"not json", headers=headers) as r:
            assert r.status == 400
        async with http.post(f"{base}/tg", json=[update], headers=headers) as r:  # JSON, not an object
            assert r.status == 400
        unreadable = {"update_id": update["update_id"] + 1000, "message": {"chat": "not an object"}}
        async with http.post(f"{base}/tg", json=unreadable, headers=headers) as r:  # logged, skipped
            assert r.status == 200
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
            assert json.loads(await r.text()) == {"postgres": "ok", "redis": "ok"}
        async with http.get(f"{base}/metrics") as r:
            body = await r.text()
    assert len(api.sent(5003)) == replies
    assert "healthbot_updates_duplicate_total 1" in body
    assert "healthbot_updates_unreadable_total 1" in body
    assert "healthbot_updates_total 2" in body
    assert await proc.stop(signal.SIGINT) < 5


async def test_no_processes_left_behind_with_embedded_servers(bot_env, standin, tmp_path):
    """Without DATABASE_URL/REDIS_URL the bot starts its own servers and stops them on exit."""
    api, _ = standin
    env = {k: v for k, v in bot_env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DATA_DIR"] = str(tmp_path / "var")
    from tests.e2e.conftest import BotProcess

    p = BotProcess(env, [])
    p.start()
    try:
        await wait_until(lambda: any(c.method == "deleteWebhook" for c in api.calls), timeout=60)
        servers = [c for c in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(c.info["cmdline"] or [])]
        assert servers, "embedded servers were not started under DATA_DIR"
        assert await p.stop() < 5
        await asyncio.sleep(0.5)
        alive = [s for s in servers if s.is_running() and s.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [s.info["cmdline"][:2] for s in alive]
    finally:
        if p.proc.poll() is None:
            os.killpg(p.proc.pid, signal.SIGKILL)


async def test_two_webhook_processes_share_one_conversation(bot_process, standin, sessions):
    """Updates of one person alternate between two processes: the conversation stays whole,
    and an update delivered to both is acted on once."""
    from datetime import date  # noqa: PLC0415

    from dialogs.codes import new_code  # noqa: PLC0415
    from storage.models import Link, Resident  # noqa: PLC0415

    api, _ = standin
    async with sessions.begin() as s:
        r = Resident(code=new_code(), ward="P27", full_name="Lê Văn Tâm", birth_year=1961,
                     birth_date=date(1961, 12, 1), sex="M")
        s.add(r)
    ports = [free_port(), free_port()]
    for port in ports:
        bot_process("--webhook", WEBHOOK_URL=f"http://127.0.0.1:{port}/tg", WEBHOOK_SECRET="two-procs",
                    WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
    await wait_until(lambda: len([c for c in api.calls if c.method == "setWebhook"]) == 2, timeout=60)
    headers = {"X-Telegram-Bot-Api-Secret-Token": "two-procs"}
    uid = 5010
    steps = [f"/start {r.code}", "01/12/1961", "Tôi", "Đồng ý"]
    async with aiohttp.ClientSession() as http:
        for i, text in enumerate(steps):
            update = message_update(api, uid, text=text)
            if text.startswith("Tôi") or text.startswith("Đồng"):
                update["message"]["text"] = next(b for b in _keyboard(api, uid) if text in b)
            before = len(api.sent(uid))
            # the same update to both processes at once: acted on once
            posts = [http.post(f"http://127.0.0.1:{p}/tg", json=update, headers=headers) for p in ports]
            for resp in await asyncio.gather(*posts):
                assert resp.status == 200
                resp.release()
            assert len(api.sent(uid)) > before, f"no answer to step {i}"
    from locales import t  # noqa: PLC0415

    confused = t("vi", "common.not_understood")
    assert not [c for c in api.sent(uid) if c.params.get("text", "").startswith(confused)], \
        "an update was handled twice (the second copy was not understood)"
    async with sessions() as s:
        from sqlalchemy import select  # noqa: PLC0415

        links = (await s.execute(select(Link).where(Link.account_id == addr(uid)))).scalars().all()
    assert [(link.resident_id, link.relation) for link in links] == [(r.id, "self")]


def _keyboard(api, uid) -> list[str]:
    for call in reversed(api.sent(uid)):
        rows = (call.params.get("reply_markup") or {}).get("keyboard")
        if rows:
            return [b["text"] if isinstance(b, dict) else b for row in rows for b in row]
    return []


async def test_running_bot_delivers_a_reminder_queued_at_the_terminal(bot_process, bot_env, standin, sessions):
    """`healthbot broadcast --no-wait` queues; the worker inside `healthbot run` sends."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from dialogs.codes import new_code  # noqa: PLC0415
    from storage.models import Account, Link, Resident  # noqa: PLC0415
    from tests.e2e.conftest import ROOT  # noqa: PLC0415

    api, _ = standin
    async with sessions.begin() as s:
        people = [Resident(code=new_code(), ward="Phường 27", quarter="KP1", full_name=f"Trần Văn {n}",
                           birth_year=1980 + i) for i, n in enumerate("ABC")]
        s.add_all(people)
        s.add(Account(address=addr(5020), locale="vi"))
        await s.flush()
        now = datetime.now(UTC)
        s.add_all([Link(account_id=addr(5020), resident_id=p.id, relation="child", consent_version="2026-01",
                        consented_at=now) for p in people])
    bot_process()
    await wait_until(lambda: any(c.method == "deleteWebhook" for c in api.calls))
    r = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot.cli", "broadcast", "--ward", "Phường 27", "--undeclared",
                         "--no-wait", "--yes"], env=bot_env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    await wait_until(lambda: api.sent(5020))
    await asyncio.sleep(1.0)  # nothing more should come
    sent = api.sent(5020)
    assert len(sent) == 1, "one message per chat, even for three people"
    buttons = [b for row in sent[0].params["reply_markup"]["inline_keyboard"] for b in row]
    assert sorted(b["callback_data"] for b in buttons) == sorted(f"declare:{p.id}" for p in people)
