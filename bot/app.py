"""The python-telegram-bot Application: one handler for every update, wrapped in the
per-user lock and update-id de-duplication (the one place these happen)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
import warnings

from telegram import Bot, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

import dialogs.flows  # noqa: F401 - registers the flows
from bot import metrics
from bot.aiohttp_request import AiohttpRequest
from bot.conversation import converse
from bot.inputs import to_input
from bot.render import markup_of, text_of
from bot.runtime import Runtime
from dialogs.core import Reply
from storage.state import StateKey

log = logging.getLogger(__name__)

# send_replies calls sendMessage through do_api_request on purpose (see there).
warnings.filterwarnings("ignore", message="Please use 'Bot.sendMessage'", category=PTBUserWarning)


def build_application(
    rt: Runtime,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
) -> Application:
    s = rt.settings
    builder = (
        Application.builder()
        .token(s.bot_token)
        .base_url(s.bot_api_base)
        .base_file_url(s.bot_file_base)
        .request(request or AiohttpRequest(connections=s.max_concurrent_updates))
        .get_updates_request(updates_request or AiohttpRequest(connections=2, read_timeout=40))
        # Updates of different people run side by side; one person's stay in order (user_lock).
        # The bound on simultaneous work is the `slots` semaphore below, taken after the
        # per-user lock so that one busy person cannot occupy every slot.
        .concurrent_updates(65536)
        .arbitrary_callback_data(False)
    )
    app = builder.build()
    app.bot_data["rt"] = rt
    app.bot_data["slots"] = asyncio.Semaphore(s.max_concurrent_updates)
    app.add_handler(TypeHandler(Update, on_update))
    app.add_error_handler(on_error)
    return app


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt: Runtime = context.application.bot_data["rt"]
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != "private":
        return
    metrics.inc("healthbot_updates_total")
    started = time.perf_counter()
    key = StateKey(chat.id, user.id)
    async with rt.store.turn(key, update.update_id) as turn, context.application.bot_data["slots"]:
        if turn.duplicate:
            metrics.inc("healthbot_updates_duplicate_total")
            return
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer()
        inp = await to_input(update, context.bot)
        if inp is None:
            return
        try:
            locale, replies = await converse(rt, key, turn, inp, user.first_name or "")
        except Exception:
            metrics.inc("healthbot_errors_total")
            await send_replies(context.bot, chat.id, rt.settings.default_locale, [Reply("common.internal_error")])
            raise
        await send_replies(context.bot, chat.id, locale, replies)
    metrics.inc("healthbot_update_seconds_sum", time.perf_counter() - started)
    metrics.inc("healthbot_update_seconds_count")


async def send_replies(bot: Bot, chat_id: int, locale: str, replies: list[Reply]) -> None:
    for r in replies:
        target = r.chat_id or chat_id
        loc = r.locale or locale
        try:
            if r.document is not None:
                name, content = r.document
                await bot.send_document(target, document=content, filename=name, caption=text_of(r, loc))
            else:
                # The sent Message is never used: skip parsing it (a tenth of the CPU per answer).
                params = {"chat_id": target, "text": text_of(r, loc)}
                markup = markup_of(r, loc)
                if markup is not None:
                    params["reply_markup"] = markup
                await bot.do_api_request("sendMessage", api_kwargs=params)
            metrics.inc("healthbot_replies_total")
        except Forbidden:
            if target == chat_id:
                return  # the person blocked the bot: nothing more to say to them
            log.info("notice not delivered: chat blocked the bot")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # The exception's type and where it happened, never its message: database errors
    # quote the values (names, codes) that caused them.
    err = context.error
    where = "".join(traceback.format_tb(err.__traceback__)[-3:]) if err else ""
    log.error("update failed: %s\n%s", type(err).__name__, where)
