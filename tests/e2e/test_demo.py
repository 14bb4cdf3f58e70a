"""`healthbot demo`: linking and a whole declaration typed at the terminal."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

from sqlalchemy import select

from storage.models import Declaration, Link, Resident
from tests.e2e.conftest import ROOT

# Nguyễn Thị Hoa, born 1948, declares for herself, answering as people type.
SCRIPT = [
    "{code_grouped_lower}", "1948", "toi", "dong y", "Khai báo ngay",
    "dung", "0903 123 456", "Đúng", "nghi huu", "Kinh", "O", "khong co the",
    "1m52", "48,5", "13/8", "ko", "Tăng huyết áp", "Xong", "khong",
    "3", "3", "2", "co", "Xác nhận gửi",
]


async def start_demo(env: dict[str, str], *args: str) -> tuple[subprocess.Popen, str]:
    """The demo process, once it has printed its card and instructions (returned)."""
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", *args], env=env, cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    header = ""
    while "Ctrl-D" not in header:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line, header
        header += line
    return proc, header


async def test_demo_links_and_declares(bot_env, sessions, clean_db, redis):
    env = {k: v for k, v in bot_env.items() if k != "BOT_TOKEN"}
    proc, header = await start_demo(env, "--configured")  # into the test database, to check it
    code = re.search(r"(?:Mã|Code): ([0-9A-Z-]+)", header).group(1)
    lines = [s.format(code_grouped_lower=code.lower()) for s in SCRIPT]
    out, _ = await asyncio.to_thread(proc.communicate, "\n".join(lines) + "\n", 60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out

    async with sessions() as s:
        hoa = (await s.execute(select(Resident).where(Resident.full_name == "Nguyễn Thị Hoa"))).scalar_one()
        link = (await s.execute(select(Link).where(Link.resident_id == hoa.id))).scalar_one()
        decl = (await s.execute(select(Declaration).where(Declaration.resident_id == hoa.id))).scalar_one()
    assert link.relation == "self"
    assert (float(decl.height_cm), float(decl.weight_kg)) == (152.0, 48.5)
    assert (decl.systolic, decl.diastolic) == (130, 80)
    assert (decl.pregnancies, decl.children, decl.covid_doses) == (3, 3, 2)
    assert decl.answers["phone"] == "+84903123456"
    assert decl.answers["flu_shot"] == "yes"


async def test_closing_the_terminal_stops_the_embedded_servers(bot_env, tmp_path):
    import signal  # noqa: PLC0415

    import psutil  # noqa: PLC0415

    env = {k: v for k, v in bot_env.items() if k not in ("BOT_TOKEN",)}
    # as in .env.example (`cp .env.example .env`): production servers, not reachable from here
    env.update(DATABASE_URL="postgresql://healthbot:change-me@postgres:5432/healthbot",
               REDIS_URL="redis://redis:6379/0", DATA_DIR=str(tmp_path / "var"))
    proc, header = await start_demo(env)
    assert str(tmp_path / "var" / "demo") in header  # where its own servers keep the sample ward
    servers = [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
    assert servers, "the demo did not start embedded servers under DATA_DIR"
    proc.send_signal(signal.SIGHUP)
    await asyncio.to_thread(proc.wait, 15)
    await asyncio.sleep(0.5)
    alive = [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
