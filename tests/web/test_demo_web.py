"""`healthbot demo --web`: a newcomer opens the console on the demo ward with the link
the command prints, and `healthbot web` serves it."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys

import aiohttp

from tests.e2e.conftest import ROOT, free_port


async def started(args: list[str], env: dict[str, str], until: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    header = ""
    while until not in header:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line, header
        header += line
    return proc, header


async def test_demo_web_prints_a_link_that_signs_in(bot_env, clean_db, redis):
    env = {k: v for k, v in bot_env.items() if k != "BOT_TOKEN"}
    env["WEB_PORT"] = str(free_port())
    proc, header = await started(["demo", "--web"], env, "Ctrl-C")
    try:
        link = re.search(r"http://\S+/signin/\S+", header).group(0)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # an IP host
            async with http.get(link) as r:
                assert r.status == 200
            async with http.post(link) as r:  # follows the redirect to the overview
                assert r.status == 200
                page = await r.text()
            assert "Phường 27 (demo)" in page and "<svg" in page
            async with http.get(link.split("/signin/")[0] + "/privacy") as r:
                assert "/privacy/" in await r.text()  # the demo's waiting request
    finally:
        proc.send_signal(signal.SIGTERM)
        out = (await asyncio.to_thread(proc.communicate, None, 15))[0]
    assert proc.returncode == 0, out
    assert "Traceback" not in out
