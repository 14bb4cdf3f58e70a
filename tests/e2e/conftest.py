"""The real `healthbot run` process against the Bot API stand-in over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.chat import Chat, http_deliver
from tests.conftest import CODE_SECRET
from tests.standin import TOKEN, BotApi, serve

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    def __init__(self, env: dict[str, str], args: list[str]):
        self.env = env
        self.args = args
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", *self.args],
            env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )

    async def stop(self, sig=signal.SIGTERM) -> float:
        """Signal the process; returns the seconds it took to exit."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.proc.send_signal(sig)
        await asyncio.to_thread(self.proc.wait, 15)
        return loop.time() - start

    def output(self) -> str:
        return self.proc.stdout.read() if self.proc and self.proc.stdout else ""


@pytest.fixture
async def standin():
    api = BotApi()
    runner, url = await serve(api)
    yield api, url
    await runner.cleanup()


@pytest.fixture
def bot_env(database_url, redis_url, redis_prefix, standin, tmp_path):
    _, url = standin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "DATABASE_", "REDIS_"))}
    env.update(
        BOT_TOKEN=TOKEN,
        CODE_SECRET=CODE_SECRET,
        BOT_USERNAME="healthbot_test_bot",
        TELEGRAM_API_URL=url,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_PREFIX=redis_prefix,
        DATA_DIR=str(tmp_path),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
async def bot_process(bot_env, clean_db, redis):
    procs: list[BotProcess] = []

    def start(*args: str, **env) -> BotProcess:
        p = BotProcess({**bot_env, **env}, list(args))
        p.start()
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.proc and p.proc.poll() is None:
            os.killpg(p.proc.pid, signal.SIGKILL)
            p.proc.wait()


@pytest.fixture
def person(standin):
    api, _ = standin

    def make(user_id: int = 5001) -> Chat:
        return Chat(api, user_id, http_deliver(api, user_id))

    return make
