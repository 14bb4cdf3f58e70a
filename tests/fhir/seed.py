"""A ward with every kind of resident the FHIR export meets: declared by themselves or by a
relative, several versions, undeclared, children and elders, with and without national ids,
a consent withdrawn since. Answers are made the way the conversation stores them."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

from dialogs.codes import new_code
from dialogs.questionnaire import VERSION, typed_columns
from storage.models import Account, Consent, Declaration, Resident

WARD = "Phường 27"
_serial = itertools.count(1)  # national ids are unique across calls
NAMES = ("Nguyễn Thị Hoa", "Trần Văn Bình", "Lê Thị Cúc", "Phạm Văn Dũng", "Võ Thị Én", "Đặng Văn Phúc")
AGES = (72, 45, 4, 30, 65, 16)


def answers_for(i: int, sex: str, age: int, address: str) -> dict:
    a: dict = {"identity": "ok", "phone": f"+8491234{i:04d}", "address": address}
    if age >= 15:
        a["occupation"] = ("retired", "trader", "Thợ may")[i % 3]
    a["ethnicity"] = ("kinh", "hoa", None)[i % 3]
    a["blood_group"] = ("A", "B", "AB", "O", "unknown")[i % 5]
    a["insurance"] = ("none", f"DN47979154{i:05d}", None)[i % 3]
    a["height"] = 150.5 + i % 30 if age >= 6 else 101
    a["weight"] = 52.0 + i % 25 if age >= 6 else 16.5
    if age >= 15:
        a["blood_pressure"] = [120 + i % 40, 80 + i % 15] if i % 4 else "unknown"
        a["smoking"] = ("no", "yes", "quit")[i % 3]
    a["conditions"] = (["htn", "diabetes"], [], ["heart", "lung", "cancer", "other"])[i % 3]
    a["allergies"] = ("none", "Penicillin", "tôm, cua")[i % 3]
    if sex == "F" and age >= 15:
        a["pregnancies"] = 2 + i % 3
        a["children"] = 2 + i % 2
    a["covid_doses"] = i % 5
    if age < 6:
        a["epi_complete"] = ("yes", "partial", "unknown")[i % 3]
    if age >= 60:
        a["flu_shot"] = ("yes", "no", "unknown")[i % 3]
    return a


async def seed_ward(sessions, n: int = 24, ward: str = WARD) -> dict:
    """Returns counts: residents, declarations, and the id of the withdrawn declaration's resident."""
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    declarations = 0
    withdrawn_resident = None
    async with sessions.begin() as s:
        if await s.get(Account, "telegram:990001") is None:
            s.add(Account(address="telegram:990001"))
        for i in range(n):
            sex = "F" if i % 2 == 0 else "M"
            age = AGES[i % len(AGES)]
            address = f"{10 + i} Nguyễn Trãi"
            k = next(_serial)
            r = Resident(code=new_code(), ward=ward, quarter=f"Khu phố {1 + i % 3}", group_name=f"Tổ {1 + i % 7}",
                         full_name=NAMES[i % len(NAMES)], birth_date=date(2026 - age, 1 + i % 12, 1 + i % 28),
                         birth_year=2026 - age, sex=sex, phone=f"+8491234{i:04d}" if i % 2 else None,
                         address=address, citizen_id=f"0791{k:08d}" if i % 3 == 0 else None,
                         insurance_code=f"HC4797915{k:06d}" if i % 4 == 0 else None)
            s.add(r)
            await s.flush()
            if i % 6 == 5:
                continue  # not declared yet
            versions = 2 if i % 5 == 0 else 1
            for v in range(1, versions + 1):
                a = answers_for(i + v, sex, age, address)
                by_relative = i % 4 == 1 or v == 2
                at = now - timedelta(days=30 * (versions - v), minutes=i)
                s.add(Declaration(resident_id=r.id, version=v, submission_key=uuid.uuid4().hex,
                                  submitted_by="telegram:990001" if i == 0 else f"zalo:{880000 + i}",
                                  relation=("child", "spouse", "parent")[i % 3] if by_relative else "self",
                                  questionnaire_version=VERSION, submitted_at=at, answers=a,
                                  **typed_columns(a)))
                declarations += 1
            if i == 0:  # consent given before the declaration, withdrawn after it
                s.add(Consent(account_id="telegram:990001", resident_id=r.id, version="t",
                              given_at=now - timedelta(days=60), withdrawn_at=now + timedelta(days=1)))
                withdrawn_resident = r.id
    return {"residents": n, "declarations": declarations, "withdrawn_resident": withdrawn_resident}
