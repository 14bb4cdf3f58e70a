"""Baseline for bench/throughput.py: the least a python-telegram-bot bot can do per message
(echo, no state, no database), with the same aiohttp request class and concurrency."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bot.aiohttp_request import AiohttpRequest  # noqa: E402


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


async def main() -> None:
    base = os.environ["TELEGRAM_API_URL"]
    app = (
        Application.builder().token(os.environ["BOT_TOKEN"]).base_url(f"{base}/bot")
        .request(AiohttpRequest(connections=256)).get_updates_request(AiohttpRequest(connections=2, read_timeout=40))
        .concurrent_updates(256).build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=25, poll_interval=0)
        await stop.wait()
        await app.updater.stop()
        await app.stop()


if __name__ == "__main__":
    uvloop.run(main())
