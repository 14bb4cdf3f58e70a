"""Engine replies → text and button labels in the person's language: the one place that
renders catalogs for every messenger, the console and the terminal. Messenger-specific
shapes (Telegram keyboards, Zalo templates) are made from `Outgoing` by each channel."""

from __future__ import annotations

from typing import Any

from bot.channels.base import Outgoing
from dialogs.core import Msg, Reply
from locales import t


def text_of(reply: Reply, locale: str) -> str:
    return t(locale, reply.msg, **_vars(reply.vars, locale))


def _vars(vars: dict[str, Any], locale: str) -> dict[str, Any]:
    return {k: (_msg(v, locale) if isinstance(v, Msg) else v) for k, v in vars.items()}


def _msg(m: Msg, locale: str) -> str:
    return t(locale, m.id, **_vars(m.vars, locale))


def render(reply: Reply, locale: str) -> Outgoing:
    return Outgoing(
        text=text_of(reply, locale),
        keyboard=None if reply.keyboard is None else tuple(tuple(t(locale, b) for b in row) for row in reply.keyboard),
        inline=None if reply.inline is None else tuple(
            tuple((t(locale, label), data) for label, data in row) for row in reply.inline),
        contact_button=t(locale, reply.contact_button) if reply.contact_button else None,
        remove_keyboard=reply.remove_keyboard,
        document=reply.document,
    )
