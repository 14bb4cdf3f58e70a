"""Naming a person the Vietnamese way: family name first, with an honorific by age and sex.

"Cân nặng của bà Nguyễn Thị A": the honorific is a message id (title.ba …) so that the
English catalog can drop it; the name itself is never translated.
"""

from __future__ import annotations

from datetime import date

from dialogs.core import Msg
from dialogs.ports import Person


def age_on(person: Person, today: date) -> int:
    if person.birth_date is not None:
        b = person.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    return today.year - person.birth_year


def title(person: Person, today: date) -> str:
    """ông/bà from 60, anh/chị from 18, em from 6, cháu below (message ids)."""
    age = age_on(person, today)
    female = person.sex == "F"
    if age >= 60:
        return "title.ba" if female else "title.ong"
    if age >= 18:
        return "title.chi" if female else "title.anh"
    if age >= 6:
        return "title.em"
    return "title.chau"


def who(person: Person, today: date) -> Msg:
    """A variable for messages: 'bà Nguyễn Thị A' (vi) / 'Nguyễn Thị A' (en)."""
    return Msg("title.named", {"title": Msg(title(person, today)), "name": person.full_name})


def masked_name(full_name: str) -> str:
    """'Nguyễn Văn An' -> 'Nguyễn V. A.': enough to recognise, not enough to learn a name."""
    parts = full_name.split()
    if not parts:
        return ""
    return " ".join([parts[0]] + [p[0].upper() + "." for p in parts[1:]])


def person_labels(people: list[Person]) -> list[str]:
    """Button labels for choosing a person: the name (data, shown as is), with the birth
    year where two names are the same."""
    names = [p.full_name for p in people]
    return [f"{p.full_name} ({p.birth_year})" if names.count(p.full_name) > 1 else p.full_name for p in people]
