"""Ward staff: who they are (the `staff` table) and what they may read.

Scope is enforced here as well as in the dialogs: a staff member reaches only residents
of their ward, an admin every ward. Every read of residents is written to the audit log
(ids only: the query text may be a name, so it is never stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs import codes
from dialogs.ports import DeclarationView, Found, Person, StaffMember, StatsReport
from dialogs.text import fold
from storage import registry_check, stats
from storage.audit import entry
from storage.db import fetch
from storage.models import VI_FOLDED, VI_LETTERS, Declaration, Resident, Staff
from storage.people import to_person

ROLES = ("staff", "admin")

_VI, _ASCII = VI_LETTERS, VI_FOLDED


def folded(column):
    return func.lower(func.translate(column, _VI, _ASCII))


# ---------------------------------------------------------------- the staff table (CLI, console)

NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class Member(StaffMember):
    """A staff member with the name people see (the dialogs need only the address)."""

    name: str = ""  # "" for staff added before names (migration 0012) until an admin names them

    @property
    def label(self) -> str:
        return self.name or self.account


def _member(row: Staff) -> Member:
    return Member(row.account, row.ward, row.role, row.full_name)


def parse_name(text: str) -> str:
    """A staff member's full name as typed, checked like a resident's; raises registry_check.Bad."""
    name = registry_check.parse_name(text)
    if len(name) > NAME_MAX:
        raise registry_check.Bad("too_long", limit=NAME_MAX)
    return name


async def add(session: AsyncSession, account: str, ward: str | None, role: str, name: str | None = None) -> None:
    """Adds or changes a staff member; their name is kept when `name` is None."""
    stmt = insert(Staff).values(account=account, ward=ward, role=role, full_name=name or "")
    changes = {"ward": ward, "role": role} | ({"full_name": name} if name is not None else {})
    await session.execute(stmt.on_conflict_do_update(index_elements=[Staff.account], set_=changes))


async def rename(session: AsyncSession, account: str, name: str) -> bool:
    res = await session.execute(update(Staff).where(Staff.account == account).values(full_name=name))
    return res.rowcount > 0


async def remove(session: AsyncSession, account: str) -> bool:
    res = await session.execute(delete(Staff).where(Staff.account == account))
    return res.rowcount > 0


async def all_members(session: AsyncSession) -> list[Member]:
    rows = (await session.execute(select(Staff).order_by(Staff.ward, Staff.full_name, Staff.account))).scalars()
    return [_member(r) for r in rows]


async def names(session: AsyncSession, accounts: set[str]) -> dict[str, str]:
    """address -> name, for the staff among `accounts` who have one."""
    if not accounts:
        return {}
    q = select(Staff.account, Staff.full_name).where(Staff.account.in_(accounts), Staff.full_name != "")
    return dict((await session.execute(q)).all())


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

    async def member(self, account: str) -> Member | None:
        """Read on every console request (removal ends access at once): straight on asyncpg."""
        rows = await fetch(self.sessions, "SELECT ward, role, full_name FROM staff WHERE account = $1", account)
        return Member(account, rows[0]["ward"], rows[0]["role"], rows[0]["full_name"]) if rows else None

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
