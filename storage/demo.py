"""A small demo ward for `healthbot demo`: a family of four and two neighbours.
Invented people; seeded once and reused on later runs."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.codes import new_code
from storage.models import Resident

WARD = "Phường 27 (demo)"
PEOPLE = [
    # full name, birth date (None: only the year is known), birth year, sex, quarter, phone
    ("Nguyễn Thị Hoa", None, 1948, "F", "KP1", "+84903123456"),
    ("Trần Văn Minh", date(1976, 3, 14), 1976, "M", "KP1", "+84912345678"),
    ("Trần Thị Lan", date(1980, 9, 2), 1980, "F", "KP1", None),
    ("Trần Gia Bảo", date(2022, 5, 20), 2022, "M", "KP1", None),
    ("Lê Văn Tâm", date(1961, 12, 1), 1961, "M", "KP2", "+84987654321"),
    ("Phạm Ngọc Ánh", date(2003, 7, 7), 2003, "F", "KP2", None),
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> list[Resident]:
    async with sessions.begin() as s:
        existing = (await s.execute(select(Resident).where(Resident.ward == WARD).order_by(Resident.id))).scalars().all()
        if existing:
            return list(existing)
        rows = [
            Resident(code=new_code(), ward=WARD, quarter=q, group_name="Tổ 3", full_name=name, birth_date=born,
                     birth_year=year, sex=sex, phone=phone, address="12 Nguyễn Xí, Phường 27, Bình Thạnh")
            for name, born, year, sex, q, phone in PEOPLE
        ]
        s.add_all(rows)
    return rows
