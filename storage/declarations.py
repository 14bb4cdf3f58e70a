"""Declarations: append-only versions per resident (dialogs.ports.Declarations).

Submitting is one transaction: the account must still hold an active link (its relation
is recorded from the link itself), the resident's row is locked so that concurrent
submissions number their versions max+1 without gaps or clashes, the row is inserted
with ON CONFLICT (submission_key) DO NOTHING so that a repeated "send" saves once, and
the audit entry (ids only, no health values) commits with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.ports import Declared, Submission, Unavailable
from dialogs.questionnaire import STORED
from storage import accounts
from storage.audit import entry
from storage.models import Declaration, Link, Resident
from storage.people import UNREACHABLE

# The typed columns a submission may fill, as the questionnaire declares them (anything
# else stays in `answers` only).
TYPED = frozenset(c.name for c in STORED)


class Declarations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.sessions.begin() as s:
                yield s
        except UNREACHABLE as e:
            raise Unavailable(type(e).__name__) from None

    async def submit(self, sub: Submission) -> tuple[str, int]:
        async with self._tx() as s:
            # Serialises this resident's submissions until commit (FOR NO KEY UPDATE). Taken
            # before the link check: an erasure (storage/privacy.py) holds the same row lock,
            # so a draft cannot be saved after the link it was made under is gone.
            await s.execute(select(Resident.id).where(Resident.id == sub.resident_id).with_for_update(key_share=True))
            relation = await s.scalar(
                select(Link.relation).where(
                    Link.account_id == sub.account_id,
                    Link.resident_id == sub.resident_id,
                    Link.revoked_at.is_(None),
                )
            )
            if relation is None:
                return "not_linked", 0
            done = await s.scalar(select(Declaration.version).where(Declaration.submission_key == sub.submission_key))
            if done is not None:
                return "duplicate", done
            version = 1 + (
                await s.scalar(
                    select(func.coalesce(func.max(Declaration.version), 0)).where(Declaration.resident_id == sub.resident_id)
                )
            )
            columns = {k: v for k, v in sub.columns.items() if k in TYPED}
            saved = await s.scalar(
                insert(Declaration)
                .values(
                    resident_id=sub.resident_id,
                    version=version,
                    submission_key=sub.submission_key,
                    submitted_by=sub.account_id,
                    relation=relation,
                    questionnaire_version=sub.questionnaire_version,
                    started_at=sub.started_at,
                    answers=sub.answers,
                    **columns,
                )
                .on_conflict_do_nothing(index_elements=[Declaration.submission_key])
                .returning(Declaration.version)
            )
            if saved is None:  # the same key committed by another process meanwhile
                return "duplicate", await s.scalar(
                    select(Declaration.version).where(Declaration.submission_key == sub.submission_key)
                ) or 0
            await accounts.talking(s, sub.account_id)
            s.add(
                entry(
                    "declaration.submit",
                    actor_kind="account",
                    actor_id=sub.account_id,
                    resident_id=sub.resident_id,
                    details={"version": version, "questionnaire": sub.questionnaire_version, "relation": relation},
                )
            )
            return "saved", version

    async def latest(self, resident_id: int) -> Declared | None:
        async with self._tx() as s:
            row = await s.scalar(
                select(Declaration)
                .where(Declaration.resident_id == resident_id)
                .order_by(Declaration.version.desc())
                .limit(1)
            )
            if row is None:
                return None
            return Declared(
                resident_id=row.resident_id,
                version=row.version,
                submitted_at=row.submitted_at,
                submitted_by=row.submitted_by,
                relation=row.relation,
                questionnaire_version=row.questionnaire_version,
                answers=dict(row.answers),
            )
