"""Ward staff: who they are (the `staff` table) and what they may read.

Scope is enforced here as well as in the dialogs: a staff member reaches only residents
of their ward, an admin every ward. Every read of residents is written to the audit log
(ids only: the query text may be a name, so it is never stored).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs import codes
from dialogs.ports import DeclarationView, Found, Person, StaffMember, StatsReport
from dialogs.text import fold
from storage import stats
from storage.audit import entry
from storage.models import VI_FOLDED, VI_LETTERS, Declaration, Resident, Staff
from storage.people import to_person

ROLES = ("staff", "admin")

_VI, _ASCII = VI_LETTERS, VI_FOLDED


def folded(column):
    return func.lower(func.translate(column, _VI, _ASCII))


# ---------------------------------------------------------------- the staff table (CLI)


async def add(session: AsyncSession, account: str, ward: str | None, role: str) -> None:
    stmt = insert(Staff).values(account=account, ward=ward, role=role)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[Staff.account], set_={"ward": ward, "role": role})
    )


async def remove(session: AsyncSession, account: str) -> bool:
    res = await session.execute(delete(Staff).where(Staff.account == account))
    return res.rowcount > 0


async def all_members(session: AsyncSession) -> list[StaffMember]:
    rows = (await session.execute(select(Staff).order_by(Staff.ward, Staff.account))).scalars()
    return [StaffMember(r.account, r.ward, r.role) for r in rows]


async def wards(session: AsyncSession) -> list[str]:
    return list((await session.execute(select(Resident.ward).distinct().order_by(Resident.ward))).scalars())


def match_name(name: str, known: list[str]) -> str | None:
    """The ward (or quarter) meant, typed with or without diacritics."""
    want = fold(name)
    return next((w for w in known if fold(w) == want), None)


# ---------------------------------------------------------------- reads (dialogs.ports.Staff)


def person_of(r: Resident) -> Person:
    return to_person(r)


def declaration_view(d: Declaration) -> DeclarationView:
    return DeclarationView(
        submitted_at=d.submitted_at, version=d.version, relation=d.relation, height_cm=d.height_cm,
        weight_kg=d.weight_kg, bmi=d.bmi, systolic=d.systolic, diastolic=d.diastolic,
        covid_doses=d.covid_doses, pregnancies=d.pregnancies, children=d.children,
    )


def latest_declarations():
    """The latest version of each resident's declaration (a subquery-able select)."""
    return (
        select(Declaration)
        .ext(distinct_on(Declaration.resident_id))
        .order_by(Declaration.resident_id, Declaration.version.desc())
    )


class StaffService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def member(self, account: str) -> StaffMember | None:
        async with self.sessions() as s:
            row = await s.get(Staff, account)
        return StaffMember(row.account, row.ward, row.role) if row else None

    async def wards(self, member: StaffMember) -> list[str]:
        async with self.sessions() as s:
            known = await wards(s)
        return [w for w in known if member.sees(w)]

    async def quarters(self, ward: str) -> list[str]:
        async with self.sessions() as s:
            q = (
                select(Resident.quarter)
                .where(Resident.ward == ward, Resident.quarter.is_not(None))
                .distinct()
                .order_by(Resident.quarter)
            )
            return list((await s.execute(q)).scalars())

    async def stats(self, member: StaffMember, ward: str | None, now: datetime) -> StatsReport:
        if not member.sees(ward):
            raise PermissionError("ward")
        async with self.sessions.begin() as s:
            rep = await stats.report(s, ward, now)
            s.add(entry("staff_stats", actor_kind="staff", actor_id=member.account,
                        details={"ward": ward}))
        return rep

    async def lookup(self, member: StaffMember, query: str, limit: int) -> list[Found]:
        code, _ = codes.check(query)
        q = select(Resident)
        if code is not None:
            q = q.where(Resident.code == code)
        else:
            words = fold(query)
            if len(words) < 2:
                return []
            q = q.where(folded(Resident.full_name).contains(words, autoescape=True))
        if not member.is_admin:
            q = q.where(Resident.ward == member.ward)
        q = q.order_by(Resident.full_name, Resident.id).limit(limit)
        async with self.sessions.begin() as s:
            people = [person_of(r) for r in (await s.execute(q)).scalars()]
            ids = [p.id for p in people]
            latest = latest_declarations().where(Declaration.resident_id.in_(ids))
            decl = {d.resident_id: declaration_view(d) for d in (await s.execute(latest)).scalars()}
            for rid in ids:
                s.add(entry("staff_lookup", actor_kind="staff", actor_id=member.account, resident_id=rid))
            if not ids:
                s.add(entry("staff_lookup", actor_kind="staff", actor_id=member.account,
                            outcome="not_found"))
        return [Found(p, decl.get(p.id)) for p in people]
