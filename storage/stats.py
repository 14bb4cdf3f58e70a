"""Completion statistics: for a ward and each of its quarters (or, for every ward, one row
per ward), how many residents there are, how many are linked to an account, how many
have ever declared and how many declared within the last `days` days. Residents marked
as moved away or deceased (`healthbot residents set-status`) are not counted.

`breakdown` gives the same figures for every ward, khu phố and tổ (`healthbot stats`).

Extra ward-level figures (below the table in /thongke and `healthbot stats`) plug in
through `indicator`: the privacy issue adds "deletion requests older than 72 h" like this

    @indicator(LABEL)  # LABEL: the message id naming the figure, e.g. in the privacy catalog
    async def deletion_overdue(session, ward, now) -> int: ...

and both the bot and the terminal show it with no further change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


def _last_and_linked():
    """Each resident's latest declaration time, and the residents with an active link."""
    last = (
        select(Declaration.resident_id, func.max(Declaration.submitted_at).label("at"))
        .group_by(Declaration.resident_id)
        .subquery()
    )
    return last, select(Link.resident_id).where(Link.revoked_at.is_(None)).distinct().subquery()


def _counted(keys: tuple, ward: str | None, now: datetime, days: int):
    """Residents, linked, ever declared, declared within `days`, for each rollup level of
    `keys` (grouping() tells the levels apart); active residents only."""
    last, linked = _last_and_linked()
    q = (
        select(
            func.grouping(*keys).label("g"),
            *keys,
            func.count(),
            func.count(linked.c.resident_id),
            func.count(last.c.at),
            func.count().filter(last.c.at >= now - timedelta(days=days)),
        )
        .select_from(Resident)
        .outerjoin(last, last.c.resident_id == Resident.id)
        .outerjoin(linked, linked.c.resident_id == Resident.id)
        .where(Resident.status == "active")
        .group_by(func.rollup(*keys))
    )
    return q.where(Resident.ward == ward) if ward is not None else q


async def report(session: AsyncSession, ward: str | None, now: datetime, days: int = DAYS) -> StatsReport:
    key = Resident.quarter if ward is not None else Resident.ward
    q = _counted((key,), ward, now, days)
    rows = (await session.execute(q)).all()
    # The total first, then quarters (or wards) by name; a resident with no quarter shows as "".
    rows.sort(key=lambda r: (not r.g, r[1] is None, r[1] or ""))
    out = [StatsRow(None if r.g else (r[1] or ""), *r[2:]) for r in rows]
    if not out:
        out = [StatsRow(None, 0, 0, 0, 0)]
    extras = tuple([(msg, await fn(session, ward, now)) for msg, fn in INDICATORS])
    return StatsReport(ward, days, tuple(out), extras)


@dataclass(frozen=True)
class Figures:
    """One line of the breakdown. `level`: 0 the total, 1 a ward, 2 a khu phố, 3 a tổ;
    the names below the level are None, a missing name at or above it is ""."""

    level: int
    ward: str | None
    quarter: str | None
    group: str | None
    residents: int
    linked: int
    declared: int
    recent: int


async def breakdown(session: AsyncSession, ward: str | None, now: datetime, days: int = DAYS) -> list[Figures]:
    """Completion for the total, each ward, each khu phố of a ward and each tổ of a khu
    phố, in that nesting order (a ward's lines follow it), active residents only."""
    keys = (Resident.ward, Resident.quarter, Resident.group_name)
    q = _counted(keys, ward, now, days)
    out = []
    for g, w, quarter, group, *figures in (await session.execute(q)).all():
        level = {0b111: 0, 0b011: 1, 0b001: 2, 0b000: 3}[g]
        names = [w or "", quarter or "", group or ""]
        names[level:] = [None] * (3 - level)
        out.append(Figures(level, *names, *figures))
    # each line before the lines inside it; names in order, a missing one first
    out.sort(key=lambda f: tuple((n is not None, n or "") for n in (f.ward, f.quarter, f.group)))
    return out or [Figures(0, None, None, None, 0, 0, 0, 0)]
