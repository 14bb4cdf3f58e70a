"""The small interfaces through which the engine reaches records and counters.

storage/ implements them (storage/services.py wires the implementations); tests and
other channels may supply their own. Values crossing here are plain dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Person:
    """A resident as the conversation sees them."""

    id: int
    code: str
    full_name: str
    birth_year: int
    birth_date: date | None = None
    sex: str | None = None  # 'M' | 'F' | None
    ward: str = ""
    quarter: str | None = None
    phone: str | None = None
    address: str | None = None
    insurance_code: str | None = None
    relation: str = ""  # how the account holder relates to them (on a link)


class Limits(Protocol):
    """Fixed-window counters shared by every process (Redis)."""

    async def hit(self, name: str, window_seconds: int) -> int: ...
    async def count(self, name: str) -> int: ...
    async def reset(self, name: str) -> None: ...


class Audit(Protocol):
    async def record(
        self,
        action: str,
        *,
        actor_kind: str,
        actor_id: str | int | None,
        resident_id: int | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> None: ...


class Accounts(Protocol):
    async def touch(self, telegram_id: int, chat_id: int, locale: str) -> None:
        """Create the account on first contact; remember its chat and language."""

    async def set_locale(self, telegram_id: int, locale: str) -> None: ...


class Services(Protocol):
    """The bundle handed to every step (attributes added by each area)."""

    limits: Limits
    audit: Audit
    accounts: Accounts
    people: People
    declarations: Declarations


class Unavailable(Exception):
    """A store is unreachable (database down). The adapter keeps the person's state as it
    was and asks them to try again shortly: nothing they said is lost."""


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    status: str  # 'linked' | 'already' | 'full' (resident has the maximum of accounts) | 'gone'
    notify: tuple[tuple[int, str], ...] = ()  # (chat_id, locale) of accounts linked before


class People(Protocol):
    """Residents as seen through an account's links (implemented in storage/people.py)."""

    async def by_code(self, code: str) -> Person | None: ...

    async def linked(self, account_id: int) -> list[Person]:
        """Active links of this account, oldest first, with `relation` filled in."""

    async def get_linked(self, account_id: int, resident_id: int) -> Person | None: ...

    async def by_id(self, resident_id: int) -> Person | None: ...

    async def link_status(self, account_id: int, resident_id: int) -> str:
        """'open' | 'already' (this account) | 'full' (no room for another account)."""

    async def link(
        self, account_id: int, chat_id: int, locale: str, resident_id: int, relation: str,
        consent_version: str, at: datetime,
    ) -> LinkOutcome:
        """Atomically: the account, the link, its consent and the audit entry, or nothing."""

    async def unlink(self, account_id: int, resident_id: int, at: datetime) -> bool:
        """End this account's link (and withdraw its consent); False if there was none."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A confirmed declaration, ready to become a new version (storage/declarations.py)."""

    resident_id: int
    account_id: int
    submission_key: str  # made when the review starts: a second tap on "send" saves nothing
    questionnaire_version: str
    started_at: datetime | None
    answers: dict[str, Any]  # by question key
    columns: dict[str, Any]  # typed columns (height_cm, bmi, systolic …) derived from answers


@dataclass(frozen=True, slots=True)
class Declared:
    resident_id: int
    version: int
    submitted_at: datetime
    submitted_by: int
    relation: str
    questionnaire_version: str
    answers: dict[str, Any]


class Declarations(Protocol):
    async def submit(self, sub: Submission) -> tuple[str, int]:
        """('saved' | 'duplicate', version) or ('not_linked', 0); raises Unavailable."""

    async def latest(self, resident_id: int) -> Declared | None: ...
