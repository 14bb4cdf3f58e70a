"""Residents as seen through an account's links (dialogs.ports.People).

A resident may be linked to at most MAX_ACCOUNTS accounts. Linking locks the resident's
row (SELECT … FOR UPDATE), so two accounts linking at the same moment are serialised:
neither can exceed the cap nor link twice. Rows leave as Person dataclasses; a database
that cannot be reached becomes dialogs.ports.Unavailable.
"""

from __future__ import annotations

import time
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.ports import Holder, LinkOutcome, Person, owner_of
from dialogs.text import visible
from storage import accounts, code_vault, registry
from storage.audit import entry
from storage.db import UNREACHABLE, fetch, transaction  # noqa: F401 - UNREACHABLE is used by importers
from storage.models import Account, CardLock, Consent, Link, Resident

MAX_ACCOUNTS = 3



def to_person(row: Resident | registry.ResidentRow, relation: str = "") -> Person:
    """Registry text leaves without invisible characters (also cleaned on import; rows
    from before that are cleaned here, where they are shown)."""
    return Person(
        id=row.id,
        code=row.code,
        full_name=visible(row.full_name),
        birth_year=row.birth_year,
        birth_date=row.birth_date,
        sex=row.sex,
        ward=visible(row.ward),
        quarter=row.quarter and visible(row.quarter),
        phone=row.phone,
        address=row.address and visible(row.address),
        insurance_code=row.insurance_code,
        relation=relation,
    )


# Read at every step of a declaration whose person is not remembered (storage.db.fetch).
_PERSON_COLUMNS = ("id", "code_sealed", "full_name", "birth_year", "birth_date", "sex", "ward", "quarter",
                   "phone", "address", "insurance_code")
_LINKED = f"""SELECT {", ".join("r." + c for c in _PERSON_COLUMNS)}, l.relation
FROM links l JOIN residents r ON r.id = l.resident_id
WHERE l.account_id = $1 AND l.revoked_at IS NULL ORDER BY l.created_at, l.id"""


def _person(rec) -> Person:
    """A row of _LINKED, as to_person makes it from a Resident."""
    return to_person(SimpleNamespace(**{c: rec[c] for c in _PERSON_COLUMNS},
                                     code=code_vault.unseal(rec["code_sealed"])), rec["relation"])


def _active(account_id: str | None = None, resident_id: int | None = None):
    conds = [Link.revoked_at.is_(None)]
    if account_id is not None:
        conds.append(Link.account_id == account_id)
    if resident_id is not None:
        conds.append(Link.resident_id == resident_id)
    return conds


# An account's linked people are read at every step of a declaration (the dialog state
# keeps ids, not registry copies), so each process keeps them this long. A link ended
# meanwhile by another process is still refused where it matters: saving a declaration
# checks the link under the resident's row lock (storage/declarations.py).
LINKED_FOR = 10.0


class People:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions
        self._linked: dict[str, tuple[float, list[Person]]] = {}

    def forget(self, account_id: str | None = None) -> None:
        """Drop what this process remembers of an account's links (or of every account)."""
        if account_id is None:
            self._linked.clear()
        else:
            self._linked.pop(account_id, None)

    def _tx(self):
        return transaction(self.sessions)

    # ------------------------------------------------------------ reading

    async def by_code(self, code: str) -> Person | None:
        async with self._tx() as s:
            row = await registry.find_by_code(s, code)
            return to_person(row) if row else None

    async def by_id(self, resident_id: int) -> Person | None:
        async with self._tx() as s:
            row = await s.get(Resident, resident_id)
            return to_person(row) if row else None

    async def linked(self, account_id: str) -> list[Person]:
        now = time.monotonic()
        kept = self._linked.get(account_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        people = [_person(r) for r in await fetch(self.sessions, _LINKED, account_id)]
        if len(self._linked) > 10_000:  # a bound, not a policy: the oldest are as good to drop
            self._linked.clear()
        self._linked[account_id] = (now + LINKED_FOR, people)
        return people

    async def get_linked(self, account_id: str, resident_id: int) -> Person | None:
        async with self._tx() as s:
            row = (
                await s.execute(
                    select(Resident, Link.relation)
                    .join(Link, Link.resident_id == Resident.id)
                    .where(*_active(account_id, resident_id))
                )
            ).first()
            return to_person(row[0], row[1]) if row else None

    async def link_status(self, account_id: str, resident_id: int) -> str:
        """A hint before asking questions; `link` decides for real under the row lock."""
        async with self._tx() as s:
            holders = (await s.execute(select(Link.account_id).where(*_active(resident_id=resident_id)))).scalars().all()
            locked = await s.get(CardLock, resident_id) is not None
        if account_id in holders:
            return "already"
        if locked:
            return "locked"
        return "full" if len(holders) >= MAX_ACCOUNTS else "open"

    async def holders(self, resident_id: int) -> list[Holder]:
        async with self._tx() as s:
            return await _holders(s, resident_id)

    # ------------------------------------------------------------ changing

    async def link(
        self,
        account_id: str,
        locale: str,
        resident_id: int,
        relation: str,
        consent_version: str,
        at: datetime,
    ) -> LinkOutcome:
        self.forget()  # links change: this process reads them again
        async with self._tx() as s:
            await accounts.upsert(s, account_id, locale)
            # The row lock serialises every link to this resident until commit.
            found = await s.scalar(select(Resident.id).where(Resident.id == resident_id).with_for_update())
            if found is None:
                return LinkOutcome("gone")
            holders = (
                await s.execute(
                    select(Link.account_id, Account.locale)
                    .join(Account, Account.address == Link.account_id)
                    .where(*_active(resident_id=resident_id))
                )
            ).all()
            if any(h.account_id == account_id for h in holders):
                return LinkOutcome("already")
            if await s.get(CardLock, resident_id) is not None:
                s.add(entry("link", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                            outcome="card_locked"))
                return LinkOutcome("locked")
            if len(holders) >= MAX_ACCOUNTS:
                s.add(entry("link", actor_kind="account", actor_id=account_id, resident_id=resident_id, outcome="full"))
                return LinkOutcome("full")
            s.add_all([
                Link(account_id=account_id, resident_id=resident_id, relation=relation,
                     consent_version=consent_version, consented_at=at),
                Consent(account_id=account_id, resident_id=resident_id, version=consent_version, given_at=at),
                entry("link", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                      details={"relation": relation, "consent_version": consent_version}),
            ])
            return LinkOutcome("linked", notify=tuple((h.account_id, h.locale) for h in holders))

    async def unlink(self, account_id: str, resident_id: int, at: datetime) -> bool:
        self.forget()  # links change: this process reads them again
        async with self._tx() as s:
            ended = await _revoke(s, at, "account", account_id=account_id, resident_id=resident_id)
            if ended:
                s.add(entry("unlink", actor_kind="account", actor_id=account_id, resident_id=resident_id))
            return bool(ended)

    async def remove_holder(self, owner_id: str, resident_id: int, account_id: str, at: datetime) -> Holder | None:
        self.forget()  # links change: this process reads them again
        async with self._tx() as s:
            await s.execute(select(Resident.id).where(Resident.id == resident_id).with_for_update())
            holders = await _holders(s, resident_id)
            owner = owner_of(holders)
            removed = next((h for h in holders if h.account_id == account_id), None)
            if owner is None or owner.account_id != owner_id or removed is None or removed is owner:
                s.add(entry("unlink_other", actor_kind="account", actor_id=owner_id, resident_id=resident_id,
                            outcome="refused"))
                return None
            await _revoke(s, at, "owner", account_id=account_id, resident_id=resident_id)
            s.add(entry("unlink_other", actor_kind="account", actor_id=owner_id, resident_id=resident_id,
                        details={"removed": str(account_id), "relation": removed.relation}))
            return removed

    async def lock_card(self, resident_id: int, account_id: str, at: datetime) -> list[Holder] | None:
        self.forget()  # links change: this process reads them again
        async with self._tx() as s:
            locked = await s.scalar(
                insert(CardLock).values(resident_id=resident_id, locked_at=at, locked_by=str(account_id))
                .on_conflict_do_nothing().returning(CardLock.resident_id))
            if locked is None:
                return None
            # The alert staff see in `healthbot audit` and (as a count) in the statistics.
            s.add(entry("card_lock", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                        outcome="locked"))
            return await _holders(s, resident_id)

    async def unlink_all(self, resident_id: int, at: datetime, actor_kind: str, actor_id: str | None) -> int:
        """Staff revoke every link of a resident; returns how many ended."""
        self.forget()  # links change: this process reads them again
        async with self._tx() as s:
            ended = await _revoke(s, at, actor_kind, resident_id=resident_id)
            s.add(entry("unlink", actor_kind=actor_kind, actor_id=actor_id, resident_id=resident_id,
                        outcome="ok" if ended else "none", details={"links": len(ended)}))
            return len(ended)


async def _holders(s: AsyncSession, resident_id: int) -> list[Holder]:
    rows = await s.execute(
        select(Link.account_id, Account.locale, Link.relation, Link.consented_at)
        .join(Account, Account.address == Link.account_id)
        .where(*_active(resident_id=resident_id))
        .order_by(Link.created_at, Link.id)
    )
    return [Holder(*row) for row in rows.all()]


async def _revoke(s: AsyncSession, at: datetime, by: str, **who) -> list[str]:
    """End active links (and their consents); returns the accounts whose link ended."""
    ended = (
        await s.execute(
            update(Link).where(*_active(**who)).values(revoked_at=at, revoked_by=by).returning(Link.account_id)
        )
    ).scalars().all()
    if ended:
        await s.execute(
            update(Consent)
            .where(Consent.resident_id == who["resident_id"], Consent.account_id.in_(ended),
                   Consent.withdrawn_at.is_(None))
            .values(withdrawn_at=at)
        )
    return list(ended)
