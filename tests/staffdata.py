"""Residents, families, declarations and staff made straight in the database, for the staff
and broadcast tests (ids only in assertions; names are invented)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dialogs.codes import new_code
from storage.models import Account, Broadcast, Declaration, Link, Resident, Staff
from tests.chat import addr

WARD = "Phường 27"
OTHER_WARD = "Phường 1"
KP1, KP2 = "Khu phố 1", "Khu phố 2"

_ids = itertools.count(70_000)
NAMES = ("Nguyễn Thị Hoa", "Trần Văn Bình", "Lê Thị Cúc", "Phạm Văn Dũng", "Võ Thị Én", "Đặng Văn Phúc")


class Town:
    def __init__(self, sessions):
        self.sessions = sessions

    async def resident(self, *, ward=WARD, quarter=KP1, name=None, birth_year=1980, sex="F") -> int:
        async with self.sessions.begin() as s:
            r = Resident(code=new_code(), ward=ward, quarter=quarter, full_name=name or NAMES[next(_ids) % 6],
                         birth_year=birth_year, sex=sex)
            s.add(r)
            await s.flush()
            return r.id

    async def account(self, telegram_id=None, *, locale="vi", reminders=True, blocked=False) -> int:
        tid = telegram_id or next(_ids)
        async with self.sessions.begin() as s:
            s.add(Account(address=addr(tid), locale=locale, reminders_enabled=reminders,
                          blocked_at=datetime.now(UTC) if blocked else None))
        return tid

    async def link(self, account: int, resident: int) -> None:
        async with self.sessions.begin() as s:
            s.add(Link(account_id=addr(account), resident_id=resident, relation="self", consent_version="t",
                       consented_at=datetime.now(UTC)))

    async def declare(self, resident: int, *, days_ago: float = 0, by: int = 1, **values) -> None:
        async with self.sessions.begin() as s:
            n = len((await s.execute(select(Declaration.id).where(Declaration.resident_id == resident))).all())
            s.add(Declaration(resident_id=resident, version=n + 1, submission_key=uuid.uuid4().hex, submitted_by=addr(by),
                              relation="self", questionnaire_version="t", answers=values.pop("answers", {}),
                              submitted_at=datetime.now(UTC) - timedelta(days=days_ago), **values))

    async def family(self, size: int, *, declared: int = 0, account=None, **kw) -> tuple[int, list[int]]:
        """An account holding `size` residents, the first `declared` of whom declared today."""
        acc = account or await self.account()
        members = []
        for i in range(size):
            rid = await self.resident(**kw)
            await self.link(acc, rid)
            if i < declared:
                await self.declare(rid)
            members.append(rid)
        return acc, members

    async def staff(self, telegram_id: int, ward: str | None = WARD, role: str = "staff", name: str = "") -> int:
        async with self.sessions.begin() as s:
            s.add(Staff(account=addr(telegram_id), ward=ward, role=role, full_name=name))
        return telegram_id

    async def broadcast(self, bid: int) -> Broadcast:
        async with self.sessions() as s:
            return await s.get(Broadcast, bid)

    async def wait_finished(self, bid: int, within: float = 60.0) -> Broadcast:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            b = await self.broadcast(bid)
            if b.finished_at is not None:
                return b
            await asyncio.sleep(0.05)
        raise AssertionError(f"broadcast {bid} did not finish")
