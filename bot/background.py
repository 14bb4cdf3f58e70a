"""Jobs that run beside the bot in every `healthbot run` process.

Each is `job(rt, app, stop)` and returns soon after `stop` is set. They share work through
PostgreSQL and Redis only, so any number of processes may run them at once.
"""

from __future__ import annotations

import asyncio

from telegram.ext import Application

from bot.runtime import Runtime


async def idle_reminders(rt: Runtime, app: Application, stop: asyncio.Event) -> None:
    """One reminder to people who left a declaration mid-way for a day."""
    from bot.idle import idle_loop  # noqa: PLC0415

    await idle_loop(rt, app.bot, stop)


async def broadcasts(rt: Runtime, app: Application, stop: asyncio.Event) -> None:
    """Deliver queued reminders at the shared rate, with its own Bot: a 429 on broadcast
    traffic never slows the replies to residents."""
    from bot.broadcaster import worker_loop  # noqa: PLC0415

    await worker_loop(rt, stop)


JOBS = [idle_reminders, broadcasts]
