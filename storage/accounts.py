"""Accounts: a person on a messenger, by address "channel:id", created on first contact
that needs one, with their language and reminder choices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import Account


async def upsert(session: AsyncSession, address: str, locale: str) -> None:
    """The account, created or brought up to date. It is talking to us, so whatever a
    refused reminder said before (blocked_at), it no longer blocks the bot."""
    stmt = insert(Account).values(address=address, locale=locale)
    await session.execute(stmt.on_conflict_do_update(index_elements=[Account.address], set_={"blocked_at": None}))


async def talking(session: AsyncSession, address: str) -> None:
    """The account did something with us: reminders reach it again if a refused one had
    marked it as blocking the bot (written only then)."""
    await session.execute(update(Account).where(Account.address == address, Account.blocked_at.is_not(None))
                          .values(blocked_at=None))


class Accounts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def touch(self, address: str, locale: str) -> None:
        async with transaction(self.sessions) as s:
            await upsert(s, address, locale)

    async def set_locale(self, address: str, locale: str) -> None:
        async with transaction(self.sessions) as s:
            await s.execute(update(Account).where(Account.address == address).values(locale=locale))

    async def locale_of(self, address: str) -> str | None:
        async with transaction(self.sessions) as s:
            return await s.scalar(select(Account.locale).where(Account.address == address))

    async def mark_blocked(self, address: str, at: datetime) -> None:
        """The messenger says the person no longer receives our messages (blocked, unfollowed)."""
        async with transaction(self.sessions) as s:
            await s.execute(update(Account).where(Account.address == address, Account.blocked_at.is_(None))
                            .values(blocked_at=at))

    async def set_draft(self, address: str, since: datetime | None) -> None:
        """A declaration started (since) or ended (None) for this account."""
        async with transaction(self.sessions) as s:
            await s.execute(update(Account).where(Account.address == address).values(draft_since=since))

    async def draft_since(self, address: str) -> datetime | None:
        async with transaction(self.sessions) as s:
            return await s.scalar(select(Account.draft_since).where(Account.address == address))

    async def exists(self, address: str) -> bool:
        async with transaction(self.sessions) as s:
            return bool(await s.scalar(select(Account.address).where(Account.address == address)))
