"""Sending to Telegram through python-telegram-bot's Bot (Bot API calls, errors, rate
limits), with Telegram's errors mapped to the channel errors every sender understands."""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta
from typing import Any

import aiohttp
from telegram import Bot
from telegram import error as tg

from bot.aiohttp_request import AiohttpRequest
from bot.channels.base import (
    Blocked,
    Outgoing,
    Refused,
    RetryAfter,
    SendError,
    Uncertain,
    Unreachable,
)
from bot.config import Settings

log = logging.getLogger(__name__)

NAME = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024

# send_message goes through do_api_request on purpose: the sent Message is never used, and
# skipping its parsing saves a tenth of the CPU of an answer.
warnings.filterwarnings("ignore", message="Please use 'Bot.", category=UserWarning)


def make_bot(settings: Settings, connections: int, request=None, updates_request=None) -> Bot:
    return Bot(
        settings.bot_token,
        base_url=settings.bot_api_base,
        base_file_url=settings.bot_file_base,
        request=request or AiohttpRequest(connections=connections),
        get_updates_request=updates_request or AiohttpRequest(connections=2, read_timeout=40),
    )


def requests_of(bot: Bot) -> tuple:
    """The Bot's two request objects (updates, everything else). PTB's shutdown closes them
    only if the Bot started; one whose start failed (bad token) must still close them."""
    return tuple(getattr(bot, "_request", ()))


def markup(out: Outgoing) -> dict[str, Any] | None:
    if out.inline is not None:
        return {"inline_keyboard": [[{"text": label, "callback_data": data} for label, data in row]
                                    for row in out.inline]}
    if out.keyboard is not None or out.contact_button:
        rows: list[list[dict[str, Any]]] = [[{"text": label} for label in row] for row in (out.keyboard or ())]
        if out.contact_button:
            rows.insert(0, [{"text": out.contact_button, "request_contact": True}])
        # Few rows: full-height buttons, easy to hit for older fingers. Many: fit them on screen.
        return {"keyboard": rows, "resize_keyboard": len(rows) > 4, "is_persistent": True}
    if out.remove_keyboard:
        return {"remove_keyboard": True}
    return None


class TelegramChannel:
    name = NAME

    def __init__(self, bot: Bot, username: str = "", rate: float = 25.0):
        self.bot = bot
        self.username = username
        self.rate = rate

    async def start(self) -> None:
        await self.bot.initialize()
        if not self.username:
            self.username = self.bot.username

    async def close(self) -> None:
        await self.bot.shutdown()
        for request in requests_of(self.bot):
            await request.shutdown()

    def card_link(self, code: str) -> str | None:
        return f"https://t.me/{self.username}?start={code}" if self.username else None

    async def send(self, user: str, out: Outgoing) -> str | None:
        """Returns the sent message's id (for edits), when Telegram says it."""
        async with _errors():
            if out.document is not None:
                name, content = out.document
                msg = await self.bot.send_document(int(user), document=content, filename=name,
                                                   caption=out.text[:CAPTION_LIMIT])
                return str(msg.message_id)
            params: dict[str, Any] = {"chat_id": int(user), "text": out.text[:TEXT_LIMIT]}
            m = markup(out)
            if m is not None:
                params["reply_markup"] = m
            result = await self.bot.do_api_request("sendMessage", api_kwargs=params)
            return str(result["message_id"]) if isinstance(result, dict) and "message_id" in result else None

    async def edit(self, user: str, message_id: str, out: Outgoing) -> None:
        async with _errors():
            params: dict[str, Any] = {"chat_id": int(user), "message_id": int(message_id), "text": out.text[:TEXT_LIMIT]}
            if out.inline is not None:
                params["reply_markup"] = markup(out)
            await self.bot.do_api_request("editMessageText", api_kwargs=params)

    async def answer_callback(self, callback_id: str) -> None:
        """Stops the button's spinner; best effort."""
        try:
            await self.bot.do_api_request("answerCallbackQuery", api_kwargs={"callback_query_id": callback_id})
        except tg.TelegramError as e:
            log.info("callback not answered: %s", type(e).__name__)

    async def delete_webhook(self) -> None:
        async with _errors():
            await self.bot.do_api_request("deleteWebhook", api_kwargs={"drop_pending_updates": False})

    async def get_updates(self, offset: int, wait: int, limit: int = 100) -> list[dict]:
        async with _errors():
            result = await self.bot.do_api_request(
                "getUpdates", api_kwargs={"offset": offset, "timeout": wait, "limit": limit},
                read_timeout=wait + 10)
        return result if isinstance(result, list) else []

    async def download(self, file_id: str, size: int) -> bytes | None:
        """An image a person sent (to read the QR code on their card); None if unavailable."""
        if size > MAX_PHOTO_BYTES:
            return None
        try:
            f = await self.bot.get_file(file_id)
            return bytes(await f.download_as_bytearray())
        except Exception as e:  # a photo we cannot fetch reads as "no QR code found"
            log.warning("photo download failed: %s", type(e).__name__)
            return None


class _errors:
    """Telegram's errors → channel errors (the type only: messages may carry the token)."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, kind, e, tb):
        if e is None or not isinstance(e, tg.TelegramError):
            return False
        if isinstance(e, tg.Forbidden):
            raise Blocked() from None
        if isinstance(e, tg.RetryAfter):
            raise RetryAfter(_seconds(e)) from None
        if isinstance(e, tg.BadRequest):
            raise Refused("BadRequest") from None
        if isinstance(e, tg.InvalidToken):
            raise Unreachable("InvalidToken") from None
        if isinstance(e, tg.TimedOut):
            raise Uncertain("TimedOut") from None
        if isinstance(e, tg.NetworkError):
            if isinstance(e.__cause__, aiohttp.ClientConnectorError) or "ClientConnector" in str(e):
                raise Unreachable("ClientConnectorError") from None
            if isinstance(e.__cause__, (aiohttp.ServerDisconnectedError, ConnectionError)):
                raise Uncertain(type(e.__cause__).__name__) from None
            raise Uncertain(type(e).__name__) from None
        raise SendError(type(e).__name__) from None


def _seconds(e: tg.RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int form; we accept either
        warnings.simplefilter("ignore")
        ra = e.retry_after
    return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)


async def read_qr(channel: TelegramChannel, file_id: str, size: int) -> tuple[str, ...]:
    from bot.inputs import decode_qr  # noqa: PLC0415 - native module, loaded on first photo

    data = await channel.download(file_id, size)
    return await asyncio.to_thread(decode_qr, data) if data else ()
