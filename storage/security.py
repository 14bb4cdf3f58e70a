"""Defending a card and a record: lifting a card's lock, forgetting its attempt counters,
and dropping the declaration in progress of an account whose link ended.

The counters themselves are kept by the linking flow (dialogs/link.py) in the state
store; their names are built here too, so that staff can clear every one of a card.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.ports import Holder
from storage.audit import entry
from storage.models import AuditEntry, CardLock, Resident
from storage.state import StateStore
from storage.stats import indicator

DAY = 24 * 3600


# Counter names (dialogs/link.py counts, storage clears). Per card: wrong birth answers
# from any account (a day, 30 days), and the accounts that tried it today; per account
# and card: wrong answers.
def card_wrong(resident_id: int) -> str:
    return f"link:card:{resident_id}"


def card_wrong_month(resident_id: int) -> str:
    return f"link:card30:{resident_id}"


def card_tryers(resident_id: int) -> str:
    return f"link:tryers:{resident_id}"


def card_tried_by(resident_id: int, account_id: str) -> str:
    return f"link:tried:{resident_id}:{account_id}"


def wrong_by(account_id: str, resident_id: int) -> str:
    return f"link:year:{account_id}:{resident_id}"


async def forget_counters(store: StateStore, resident_id: int) -> int:
    """Every attempt counter of this card (all accounts); returns how many were set."""
    names = [store.keys.counter(name(resident_id)) for name in (card_wrong, card_wrong_month, card_tryers)]
    for pattern in (card_tried_by(resident_id, "*"), wrong_by("*", resident_id)):  # type: ignore[arg-type]
        names += [k async for k in store.redis.scan_iter(match=store.keys.counter(pattern), count=500)]
    return await store.redis.delete(*names)


async def clear_card(session: AsyncSession, store: StateStore, resident_id: int, actor: str | None,
                     why: str) -> tuple[bool, int]:
    """Lift the card's lock and forget its attempt counters, for staff (`why`: 'unlock' or
    'reissue'); audited whenever there was something to clear, and always for 'unlock'.
    Returns (a lock was lifted, counters forgotten)."""
    lifted = bool((await session.execute(delete(CardLock).where(CardLock.resident_id == resident_id))).rowcount)
    counters = await forget_counters(store, resident_id)
    if lifted or counters or why == "unlock":
        session.add(entry("card_unlock", actor_kind="cli", actor_id=actor, resident_id=resident_id,
                          outcome="ok" if lifted else "not_locked", details={"why": why, "counters": counters}))
    return lifted, counters


async def locked_cards(session: AsyncSession) -> list[tuple[int, str, datetime]]:
    """(resident id, ward, locked at) of every locked card, oldest lock first."""
    q = (select(CardLock.resident_id, Resident.ward, CardLock.locked_at)
         .join(Resident, Resident.id == CardLock.resident_id).order_by(CardLock.locked_at))
    return [tuple(r) for r in (await session.execute(q)).all()]


@indicator("security.stats.cards_locked")
async def cards_locked(session: AsyncSession, ward: str | None, now: datetime) -> int:
    """Cards locked against new links now (shown in /thongke and `healthbot stats`)."""
    q = select(func.count()).select_from(CardLock).join(Resident, Resident.id == CardLock.resident_id)
    if ward is not None:
        q = q.where(Resident.ward == ward)
    return int(await session.scalar(q) or 0)


@indicator("security.stats.cards_locked_today")
async def cards_locked_today(session: AsyncSession, ward: str | None, now: datetime) -> int:
    """Lock alerts of the last 24 hours (a lock lifted since still counts: someone tried)."""
    q = (select(func.count()).select_from(AuditEntry).join(Resident, Resident.id == AuditEntry.resident_id)
         .where(AuditEntry.action == "card_lock", AuditEntry.at >= now - timedelta(days=1)))
    if ward is not None:
        q = q.where(Resident.ward == ward)
    return int(await session.scalar(q) or 0)


def state_key(holder: Holder) -> str:
    """Where an account's dialog state lives: under its messenger address."""
    return holder.account_id


class Drafts:
    """dialogs.ports.Drafts on the state store."""

    def __init__(self, store: StateStore):
        self.store = store

    async def rewrite(self, holders: list[Holder], edit: Callable[[dict[str, Any]], bool]) -> int:
        """Apply `edit` to each holder's dialog state under that person's lock; saves the
        states it changed and returns how many."""
        changed = 0
        for holder in holders:
            key = state_key(holder)
            async with self.store.user_lock(key):
                state = await self.store.load(key)
                if state and edit(state):
                    await self.store.save(key, state)
                    changed += 1
        return changed
