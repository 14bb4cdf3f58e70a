"""The audit log: who did what to which resident, when. Ids only, never names or values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert as sql_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from storage.models import AuditEntry

if TYPE_CHECKING:
    import asyncpg


def entry(
    action: str,
    *,
    actor_kind: str,
    actor_id: str | int | None,
    resident_id: int | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        action=action,
        actor_kind=actor_kind,
        actor_id=None if actor_id is None else str(actor_id),
        resident_id=resident_id,
        outcome=outcome,
        details=details or {},
    )


async def write(session: AsyncSession | AsyncConnection, action: str, **kw: Any) -> None:
    """`entry`'s row, inserted now without the ORM's unit of work: for pages viewed over and
    over (the console), where a flush cost about a millisecond of CPU per view."""
    row = entry(action, **kw)
    await session.execute(sql_insert(AuditEntry.__table__).values(
        action=row.action, actor_kind=row.actor_kind, actor_id=row.actor_id, resident_id=row.resident_id,
        outcome=row.outcome, details=row.details))


INSERT = "INSERT INTO audit_log (actor_kind, actor_id, action, outcome, details) VALUES ($1, $2, $3, $4, $5::jsonb)"


async def insert(conn: asyncpg.Connection, action: str, **kw: Any) -> None:
    """The same row through a plain asyncpg connection (the registry import's own transaction)."""
    e = entry(action, **kw)
    await conn.execute(INSERT, e.actor_kind, e.actor_id, e.action, e.outcome, json.dumps(e.details))


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def record(self, action: str, **kw: Any) -> None:
        """Its own transaction: use `entry()` inside a caller's session to commit together."""
        async with self.sessions.begin() as s:
            s.add(entry(action, **kw))
