"""Engine replies → Telegram message text and keyboards, in the person's language."""

from __future__ import annotations

from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from dialogs.core import Msg, Reply
from locales import t

LIMIT = 4096  # Telegram's message length limit


def text_of(reply: Reply, locale: str) -> str:
    return t(locale, reply.msg, **_vars(reply.vars, locale))[:LIMIT]


def _vars(vars: dict[str, Any], locale: str) -> dict[str, Any]:
    return {k: (_msg(v, locale) if isinstance(v, Msg) else v) for k, v in vars.items()}


def _msg(m: Msg, locale: str) -> str:
    return t(locale, m.id, **_vars(m.vars, locale))


def markup_of(reply: Reply, locale: str):
    if reply.inline:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(t(locale, label), callback_data=data) for label, data in row] for row in reply.inline]
        )
    if reply.keyboard is not None or reply.contact_button:
        rows = [[KeyboardButton(t(locale, label)) for label in row] for row in (reply.keyboard or [])]
        if reply.contact_button:
            rows.insert(0, [KeyboardButton(t(locale, reply.contact_button), request_contact=True)])
        # Few rows: full-height buttons, easy to hit for older fingers. Many: fit them on screen.
        return ReplyKeyboardMarkup(rows, resize_keyboard=len(rows) > 4, is_persistent=True)
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None
