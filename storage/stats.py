"""Completion statistics: for a ward and each of its quarters (or, for every ward, one row
per ward), how many residents there are, how many are linked to an account, how many
have ever declared and how many declared within the last `days` days.

Extra ward-level figures (below the table in /thongke and `healthbot stats`) plug in
through `indicator`: the privacy issue adds "deletion requests older than 72 h" like this

    @indicator(LABEL)  # LABEL: the message id naming the figure, e.g. in the privacy catalog
    async def deletion_overdue(session, ward, now) -> int: ...

and both the bot and the terminal show it with no further change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs.ports import StatsReport, StatsRow
from storage.models import Declaration, Link, Resident

DAYS = 90

Indicator = Callable[[AsyncSession, str | None, datetime], Awaitable[int]]
INDICATORS: list[tuple[str, Indicator]] = []


def indicator(msg_id: str):
    """Register an extra figure: `fn(session, ward or None for all, now) -> int`, shown with
    the label `msg_id` from locales."""

    def deco(fn: Indicator) -> Indicator:
        INDICATORS.append((msg_id, fn))
        return fn

    return deco


async def report(session: AsyncSession, ward: str | None, now: datetime, days: int = DAYS) -> StatsReport:
    last = (
        select(Declaration.resident_id, func.max(Declaration.submitted_at).label("at"))
        .group_by(Declaration.resident_id)
        .subquery()
    )
    linked = select(Link.resident_id).where(Link.revoked_at.is_(None)).distinct().subquery()
    key = Resident.quarter if ward is not None else Resident.ward
    q = (
        select(
            func.grouping(key).label("total"),
            key.label("label"),
            func.count(),
            func.count(linked.c.resident_id),
            func.count(last.c.at),
            func.count().filter(last.c.at >= now - timedelta(days=days)),
        )
        .select_from(Resident)
        .outerjoin(last, last.c.resident_id == Resident.id)
        .outerjoin(linked, linked.c.resident_id == Resident.id)
        .group_by(func.rollup(key))
    )
    if ward is not None:
        q = q.where(Resident.ward == ward)
    rows = (await session.execute(q)).all()
    # The total first, then quarters (or wards) by name; a resident with no quarter shows as "".
    rows.sort(key=lambda r: (not r.total, r.label is None, r.label or ""))
    out = [StatsRow(None if r.total else (r.label or ""), *r[2:]) for r in rows]
    if not out:
        out = [StatsRow(None, 0, 0, 0, 0)]
    extras = tuple([(msg, await fn(session, ward, now)) for msg, fn in INDICATORS])
    return StatsReport(ward, days, tuple(out), extras)
