"""The container, without a Docker engine: the image's command line and its health check run
as an unprivileged user without a home (setpriv), in polling and webhook mode; the build
context leaves data and secrets out; the compose file is valid."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from tests.e2e.conftest import ROOT, free_port

ROOT_PATH = Path(ROOT)
UID = 10001  # the image's user id; no passwd entry here, so no home either


def dockerfile() -> dict:
    """ENV, CMD and HEALTHCHECK CMD of the Dockerfile, as the image would have them."""
    text = ROOT_PATH.joinpath("Dockerfile").read_text()
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, re.M):
        env.update(part.split("=", 1) for part in shlex.split(line))
    cmd = json.loads(re.search(r"^CMD (\[.+\])$", text, re.M).group(1))
    health = json.loads(re.search(r"^HEALTHCHECK .*CMD (\[.+\])$", text, re.M).group(1))
    return {"env": env, "cmd": cmd, "health": health, "text": text}


def unprivileged(argv: list[str], env: dict[str, str]) -> list[str]:
    """argv as uid 10001 with no home. It keeps only the right to read and search folders
    (CAP_DAC_READ_SEARCH), because this machine's Python lives under /root; it can write
    nothing it does not own, as in the image."""
    return ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
            "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search",
            "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def tcp_bridge(url: str) -> tuple[str, asyncio.Server | None]:
    """The same server over TCP on 127.0.0.1: the embedded servers listen on unix sockets
    that only their owner may use, as a database in another container is reached by TCP."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        path, make = parts.path, lambda port: f"redis://127.0.0.1:{port}/0"
    elif "host" in query and query["host"].startswith("/"):
        path = f"{query['host']}/.s.PGSQL.{parts.port or 5432}"
        user = parts.username or "postgres"
        make = lambda port: f"postgresql://{user}@127.0.0.1:{port}{parts.path}"  # noqa: E731
    else:
        return url, None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return make(server.sockets[0].getsockname()[1]), server


def image_env(bot_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    spec = dockerfile()
    uv = Path(shutil.which("uv")).resolve()
    env = {k: v for k, v in bot_env.items() if k in (
        "BOT_TOKEN", "BOT_USERNAME", "TELEGRAM_API_URL", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "CODE_SECRET")}
    cache = tmp_path / "uv-cache"  # the image's UV_CACHE_DIR, moved under this test's folder
    env.update(spec["env"], UV_CACHE_DIR=str(cache), HOME="/nonexistent", PATH=f"{uv.parent}:/usr/bin:/bin",
               UV_PROJECT_ENVIRONMENT=str(ROOT_PATH / ".venv"), **extra)
    cache.mkdir()
    os.chown(cache, UID, UID)
    return env


async def run_health(env: dict[str, str]) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(subprocess.run, unprivileged(dockerfile()["health"], env), cwd=ROOT,
                                   capture_output=True, text=True, timeout=120)


async def healthy_within(env: dict[str, str], bot: subprocess.Popen, seconds: float = 90) -> subprocess.CompletedProcess:
    """Ask the health check until it says healthy (the bot is starting meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        r = await run_health(env)
        if r.returncode == 0 or loop.time() > deadline or bot.poll() is not None:
            return r
        await asyncio.sleep(0.5)


async def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(unprivileged([*dockerfile()["cmd"], *args], env), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


async def _stop(bot: subprocess.Popen) -> str:
    if bot.poll() is None:
        os.killpg(bot.pid, signal.SIGTERM)
    out, _ = await asyncio.to_thread(bot.communicate, timeout=30)
    return out


@pytest.fixture
async def tcp_env(bot_env):
    """bot_env with the database and Redis reachable over TCP."""
    servers = []
    env = dict(bot_env)
    for name in ("DATABASE_URL", "REDIS_URL"):
        env[name], server = await tcp_bridge(bot_env[name])
        if server:
            servers.append(server)
    yield env
    for server in servers:
        server.close()


async def test_image_command_and_health_check_as_a_user_without_a_home(tcp_env, clean_db, redis, tmp_path):
    env = image_env(tcp_env, tmp_path)
    # without the image's UV_CACHE_DIR, uv has nowhere to keep its cache: the failure this guards
    bare = {k: v for k, v in env.items() if k != "UV_CACHE_DIR"}
    r = await asyncio.to_thread(subprocess.run, unprivileged(["uv", "run", "--no-sync", "healthbot", "--help"], bare),
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "cache" in r.stderr.lower()

    bot = await _start(env)  # polling
    try:
        r = await healthy_within(env, bot)
        assert r.returncode == 0, (r.stdout, r.stderr, bot.poll())
        assert bot.poll() is None  # still running
    finally:
        out = await _stop(bot)
    assert "Traceback" not in out, out


async def test_health_check_in_webhook_mode(tcp_env, clean_db, redis, tmp_path):
    port = free_port()
    env = image_env(tcp_env, tmp_path, WEBHOOK_URL="https://bot.example/hook", WEBHOOK_SECRET="s3cret",
                    WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
    r = await run_health(env)  # no bot yet: unhealthy, in one line
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    bot = await _start(env, "--webhook")
    try:
        r = await healthy_within(env, bot)
        assert r.returncode == 0, (r.stdout, r.stderr, bot.poll())
    finally:
        out = await _stop(bot)
    assert "Traceback" not in out, out


def test_build_context_and_settings_files():
    ignored = ROOT_PATH.joinpath(".dockerignore").read_text().split()
    for name in (".git", ".env", "var"):
        assert name in ignored
    assert re.search(r"pip install [^\n]*uv==\d+\.\d+\.\d+", dockerfile()["text"])  # uv pinned
    example = ROOT_PATH.joinpath(".env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=", example, re.M)


def test_compose_file():
    env = {**os.environ, "POSTGRES_PASSWORD": "example"}
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True) \
        if shutil.which("docker") else None
    if compose is not None and compose.returncode == 0:  # the compose plugin is here: let it judge
        r = subprocess.run(["docker", "compose", "config", "--quiet"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    spec = yaml.safe_load(ROOT_PATH.joinpath("docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "bot"} <= set(services)
    bot = services["bot"]
    assert bot["healthcheck"]["test"][1:] == dockerfile()["health"]
    assert {s: c["condition"] for s, c in bot["depends_on"].items()} == {"postgres": "service_healthy",
                                                                         "redis": "service_healthy"}
    assert "POSTGRES_PASSWORD" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
