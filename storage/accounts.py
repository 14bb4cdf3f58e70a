"""Telegram accounts: created on first contact that needs one, with chat and language."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Account


async def upsert(session: AsyncSession, telegram_id: int, chat_id: int, locale: str) -> None:
    """The account, created or brought up to date. It is talking to us, so whatever a
    refused reminder said before (blocked_at), it no longer blocks the bot."""
    stmt = insert(Account).values(telegram_id=telegram_id, chat_id=chat_id, locale=locale)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[Account.telegram_id], set_={"chat_id": chat_id, "blocked_at": None})
    )


async def talking(session: AsyncSession, telegram_id: int) -> None:
    """The account did something with us: reminders reach it again if a refused one had
    marked it as blocking the bot (written only then)."""
    await session.execute(update(Account).where(Account.telegram_id == telegram_id, Account.blocked_at.is_not(None))
                          .values(blocked_at=None))


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def touch(self, telegram_id: int, chat_id: int, locale: str) -> None:
        async with self.sessions.begin() as s:
            await upsert(s, telegram_id, chat_id, locale)

    async def set_locale(self, telegram_id: int, locale: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(Account).where(Account.telegram_id == telegram_id).values(locale=locale))
