"""Checking and normalising registry cells, a column at a time.

Speed matters (a city's registry is millions of rows): values that repeat (names, dates,
wards, groups) go through a memo, values that do not (identifiers, phones, addresses) are
first tested whole-column against the usual spelling at C speed, and only what misses
takes the slow, careful path that explains itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from itertools import compress, count
from operator import itemgetter
from typing import Any

from dialogs import parsers as answers
from dialogs.text import INVISIBLE, visible
from storage.registry_rows import MAX_TEXT, MIN_BIRTH_YEAR, Layout, Rejection

# ---------------------------------------------------------------- one value


class Bad(Exception):
    """A cell that cannot be used: the reason's message id and its placeholders. Also kept
    as a value in the column memos, so a bad spelling is explained once."""

    def __init__(self, reason: str, **vars: Any):
        super().__init__(reason)
        self.reason = reason
        self.vars = vars


def clean(value: str) -> str:
    """Trim, collapse inner whitespace, drop invisible characters (bidirectional overrides,
    zero-width spaces: dialogs.text.visible), compose diacritics (NFC)."""
    value = " ".join(visible(value).split())
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    if len(value) > MAX_TEXT:
        raise Bad("too_long", limit=MAX_TEXT)
    return value


def parse_name(value: str) -> str:
    value = clean(value)
    if not value:
        raise Bad("required")
    if any(c.isdigit() for c in value):
        raise Bad("name_digits")
    return value


_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]0{1,2}:00(?::00)?)?")
_NUMBER = re.compile(r"(\d{1,5})(?:\.0*)?")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01, after Excel's leap-year bug


def parse_birth(value: Any, today: date, order: str = "dmy") -> tuple[date | None, int]:
    """(birth date, or None when only the year is known; birth year). `order`: how to read
    d/d/yyyy: "dmy" (Vietnamese), "mdy" (US Excel), or "either" (the file has both, so a
    date that reads both ways is refused); see date_order."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        born = value
    elif isinstance(value, int | float):
        if float(value).is_integer() and MIN_BIRTH_YEAR <= value <= today.year:
            return None, int(value)  # a column of years typed as numbers: years, not day numbers
        born = _EXCEL_EPOCH + timedelta(days=int(value))
    else:
        text = value.strip()
        if m := _DMY.fullmatch(text):
            first, second = int(m[1]), int(m[2])
            if order == "either" and first <= 12 and second <= 12 and first != second:
                raise Bad("date_order")
            mdy = order == "mdy" or (order == "either" and second > 12)
            born = _date(int(m[3]), first, second) if mdy else _date(int(m[3]), second, first)
        elif m := _YMD.fullmatch(text):
            born = _date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _NUMBER.fullmatch(text):
            number = int(m[1])
            if len(m[1]) == 4 and MIN_BIRTH_YEAR <= number <= today.year:
                return None, number  # the year alone: elderly residents whose day is unknown
            born = _EXCEL_EPOCH + timedelta(days=number)  # an Excel serial day number
        elif not text:
            raise Bad("required")
        else:
            raise Bad("date_format")
    if born > today:
        raise Bad("date_future")
    if born.year < MIN_BIRTH_YEAR:
        raise Bad("date_too_old", year=MIN_BIRTH_YEAR)
    return born, born.year


def order_evidence(value: Any) -> str | None:
    """What one cell says about the file's date order: "dmy" for 25/12/1980, "mdy" for
    12/25/1980, None when it reads either way (or is not such a date)."""
    if isinstance(value, str) and (m := _DMY.fullmatch(value.strip())):
        first, second = int(m[1]), int(m[2])
        if first > 12 >= second:
            return "dmy"
        if second > 12 >= first:
            return "mdy"
    return None


def date_order(evidence: set[str]) -> str:
    """A file's order of day and month, from its unambiguous dates: the order they show;
    "either" when both appear (then only dates that read one way are taken); the
    Vietnamese dd/mm when none does."""
    if {"dmy", "mdy"} <= evidence:
        return "either"
    return "mdy" if "mdy" in evidence else "dmy"


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise Bad("date_invalid") from None


SEXES = {"nam": "M", "m": "M", "male": "M", "nữ": "F", "nu": "F", "f": "F", "female": "F"}


def parse_sex(value: str) -> str | None:
    value = clean(value).lower()
    if not value:
        return None
    if value not in SEXES:
        raise Bad("sex")
    return SEXES[value]


def optional_text(value: str) -> str | None:
    return clean(value) or None


_SEPARATORS = re.compile(r"[\s.()\-]+")
_INSURANCE = re.compile(r"[A-Z]{2}\d{13}|\d{10}")  # card code, or the bare BHXH number
_CITIZEN = re.compile(r"\d{12}")
_MOBILE = re.compile(r"0[35789]\d{8}")
_PLAIN_TEXT = re.compile(r"\S+(?: \S+)*")  # already trimmed, single spaces


def parse_citizen_id(value: str) -> str | None:
    value = _SEPARATORS.sub("", value)
    if not value:
        return None
    if len(value) == 11 and value.isdigit():
        raise Bad("citizen_id_zero")  # Excel turned it into a number and dropped the 0
    if not _CITIZEN.fullmatch(value):
        raise Bad("citizen_id")
    return value


def _from_answer(parse: Callable[[str], str], reason: str) -> Callable[[str], str | None]:
    """The dialog's own parser for the same answer (one rule for bot and registry), with
    its complaint turned into this file's reason."""

    def parse_cell(value: str) -> str | None:
        if not value.strip():
            return None
        try:
            return parse(value)
        except answers.Invalid:
            raise Bad(reason) from None

    return parse_cell


parse_insurance = _from_answer(answers.insurance, "insurance")
parse_phone = _from_answer(answers.phone, "phone")  # any usual spelling → +84…


# ---------------------------------------------------------------- one column


def _careful(parse: Callable[[Any], Any], value: Any) -> Any:
    try:
        return parse(value)
    except Bad as bad:
        return bad.with_traceback(None)  # kept in memos: do not keep the frames alive


class _Memo(dict):
    """raw cell → parsed value (or the Bad explaining it), parsed once per distinct cell."""

    def __init__(self, parse: Callable[[Any], Any]):
        super().__init__()
        self.parse = parse

    def column(self, cells: list) -> list:
        for raw in set(cells).difference(self):  # each new spelling parsed once
            self[raw] = _careful(self.parse, raw)
        return list(map(self.__getitem__, cells))


def _all_usual(cells: list, usual: re.Pattern) -> bool:
    """Whether every non-empty cell already has the usual spelling: one pass at C speed,
    so the common clean file never pays for a Python-level loop."""
    return all(map(usual.fullmatch, filter(None, cells)))


def _identifier_column(cells: list, usual: re.Pattern, parse: Callable[[str], Any]) -> list:
    if _all_usual(cells, usual):
        return [c or None for c in cells]
    match = usual.fullmatch
    return [c if match(c) else _careful(parse, c) for c in cells]


def _phone_column(cells: list) -> list:
    if _all_usual(cells, _MOBILE):
        return ["+84" + c[1:] if c else None for c in cells]
    match = _MOBILE.fullmatch
    return ["+84" + c[1:] if match(c) else _careful(parse_phone, c) for c in cells]


def _text_column(cells: list) -> list:
    # NFC is checked on the joined column: a line break never composes with its neighbours
    joined = "\n".join(cells)
    if (_all_usual(cells, _PLAIN_TEXT) and unicodedata.is_normalized("NFC", joined) and not INVISIBLE.search(joined)
            and max(map(len, cells), default=0) <= MAX_TEXT):
        return [c or None for c in cells]
    return [_careful(optional_text, c) for c in cells]


# ---------------------------------------------------------------- a whole file


def _compatible(a: Any, b: Any) -> bool:
    """Marks: 0 is "not given", which agrees with anything."""
    return not a or not b or a == b


class Checker:
    """Turns rows into staging records and rejections, a column at a time, and remembers
    each person's keys so that a second row for the same person is reported."""

    def __init__(self, layout: Layout, default_ward: str | None, today: date, order: str = "dmy"):
        self.layout = layout
        self.today = today
        self.default_ward = clean(default_ward) if default_ward else None
        self.evidence: set[str] = set()  # what the birth dates seen say about their order
        self.names = _Memo(parse_name)
        self.births = _Memo(lambda v: self._birth(v, order))
        self.wards = _Memo(self._parse_ward)
        self.sexes = _Memo(parse_sex)
        self.groups = _Memo(optional_text)  # quarter and group share it: few distinct values

    def _birth(self, value: Any, order: str) -> tuple[date | None, int]:
        seen = order_evidence(value)  # once per distinct cell: the memo calls this
        if seen:
            self.evidence.add(seen)
        return parse_birth(value, self.today, order)

    def _parse_ward(self, value: str) -> str:
        ward = clean(value)
        if not ward:
            if self.default_ward:
                return self.default_ward
            raise Bad("required")
        if self.default_ward:
            if ward.casefold() != self.default_ward.casefold():
                raise Bad("ward_mismatch", ward=self.default_ward)
            return self.default_ward
        return ward

    def check_columns(self, lines: list[int], column: Callable[[str], list]) -> tuple[list[int], dict[str, list], list[Rejection]]:
        """(line numbers, field → normalised values, rejections) for these rows; the rows
        with a bad cell are reported and left out of the first two. Whether a row repeats
        another is a question for the whole file: see repeats()."""
        births = self.births.column(column("birth_date"))
        dated = Bad not in map(type, births)  # the usual case: split at C speed
        values = {
            "full_name": self.names.column(column("full_name")),
            "birth_date": list(map(itemgetter(0), births)) if dated else [b[0] if type(b) is tuple else b for b in births],
            "ward": self.wards.column(column("ward")),
            "quarter": self.groups.column(column("quarter")),
            "group_name": self.groups.column(column("group_name")),
            "sex": self.sexes.column(column("sex")),
            "insurance_code": _identifier_column(column("insurance_code"), _INSURANCE, parse_insurance),
            "citizen_id": _identifier_column(column("citizen_id"), _CITIZEN, parse_citizen_id),
            "phone": _phone_column(column("phone")),
            "address": _text_column(column("address")),
        }
        rejected = self._bad_cells(lines, values)
        values["birth_year"] = list(map(itemgetter(1), births)) if dated else [b[1] if type(b) is tuple else b for b in births]
        values["import_source"] = column("import_source")
        if rejected:
            bad = {r.line for r in rejected}
            keep = [line not in bad for line in lines]
            lines = list(compress(lines, keep))
            values = {name: list(compress(column_, keep)) for name, column_ in values.items()}
        return lines, values, rejected

    def _bad_cells(self, lines: list[int], values: dict[str, list]) -> list[Rejection]:
        """The first bad cell of each row, in column order."""
        found: dict[int, Rejection] = {}
        for name, column in values.items():
            if Bad not in map(type, column):
                continue
            for line, v in zip(lines, column, strict=True):
                if type(v) is Bad and line not in found:
                    found[line] = Rejection(line, self.layout.name(name), v.reason, v.vars)
        return list(found.values())

    def repeats(self, lines: Sequence[int], marks: dict[str, Sequence[int]]) -> list[Rejection]:
        """Second and later rows for one person, over the whole file (its good rows in line
        order, marked by repeat_marks): the same insurance number or citizen id, or the
        same ward, name and birth year with nothing that tells them apart. Two rows that
        both carry both identifiers are told apart by them, so the name counts only for
        rows sharing a name with a row that lacks one. Rows are compared by their marks:
        two different values share a 64-bit mark about once in 2**64."""
        keys, citizens, years = marks["insurance"], marks["citizen"], marks["year"]
        people, born = marks["person"], marks["person_born"]
        suspects = _shared(keys, 0) | _shared(citizens, 0)
        weak = [i for i, k, c in zip(count(), keys, citizens) if not k or not c]
        near: list[int] = []
        if weak:
            # only a row born the same year as a weak row can be its person again
            weak_years = {years[i] for i in weak}
            near = [i for i, y in enumerate(years) if y in weak_years]
            # a bare year matches any day of that year: those rows compare without the day
            undated = {people[i] for i in near if not born[i]}
            dated = [people[i] if people[i] in undated else born[i] for i in near]
            position = {i: j for j, i in enumerate(near)}
            loose = {dated[position[i]] for i in weak}
            suspects |= {near[j] for j in _shared([d if d in loose else None for d in dated])}
        named = set(near)
        by_key: dict[int, int] = {}
        by_citizen: dict[int, int] = {}
        by_person: dict[int, list[tuple]] = {}
        found = []
        for i in sorted(suspects):  # each against the earlier ones not rejected themselves
            line, key, citizen = lines[i], keys[i], citizens[i]
            if key and key in by_key:
                found.append(Rejection(line, self.layout.name("insurance_code"), "duplicate",
                                       {"other": by_key[key]}))
                continue
            if citizen and citizen in by_citizen:
                found.append(Rejection(line, self.layout.name("citizen_id"), "duplicate",
                                       {"other": by_citizen[citizen]}))
                continue
            earlier = by_person.setdefault(people[i], []) if i in named else []
            same = next((o for o in earlier if _compatible(born[i], o[0]) and _compatible(key, o[1])
                         and _compatible(citizen, o[2])), None)
            if same:
                found.append(Rejection(line, "", "duplicate_person", {"other": same[3]}))
                continue
            earlier.append((born[i], key, citizen, line))
            if key:
                by_key[key] = line
            if citizen:
                by_citizen[citizen] = line
        return found


def repeat_marks(values: dict[str, list], lowered: dict[str, str]) -> dict[str, list[int]]:
    """For each checked row, a 64-bit mark of each key Checker.repeats compares (0: the row
    has no such key). Columns of ints cross between processes for almost nothing, where
    the values themselves cost a second per million rows. Equal keys give equal marks only
    within one hash seed: the workers are forks of the parent, never spawned processes.
    `lowered` remembers each name in lower case."""
    names = values["full_name"]
    lowered.update((n, n.lower()) for n in set(names).difference(lowered))
    people = list(map(hash, zip(values["ward"], map(lowered.__getitem__, names), values["birth_year"], strict=True)))
    return {
        "insurance": [hash(c[-10:]) or 1 if c else 0 for c in values["insurance_code"]],
        "citizen": [hash(c) or 1 if c else 0 for c in values["citizen_id"]],
        "person": people,
        "person_born": [hash((p, b)) or 1 if b else 0 for p, b in zip(people, values["birth_date"], strict=True)],
        "year": values["birth_year"],
    }


def _shared(values: Sequence, missing: Any = None) -> set[int]:
    """Positions of the values that occur more than once (`missing` never counts)."""
    distinct = set(values)
    absent = values.count(missing)
    if len(distinct) == len(values) - absent + (absent > 0):
        return set()  # the usual case: one set, no counting
    counts = Counter(values)
    shared = {v for v, n in counts.items() if n > 1 and v != missing}
    return {i for i, v in enumerate(values) if v in shared} if shared else set()
