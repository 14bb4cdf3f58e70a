"""The small interfaces through which the engine reaches records and counters.

storage/ implements them (storage/services.py wires the implementations); tests and
other channels may supply their own. Values crossing here are plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
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
    async def touch(self, account: str, locale: str) -> None:
        """Create the account on first contact; remember its language."""

    async def set_locale(self, account: str, locale: str) -> None: ...

    async def exists(self, account: str) -> bool: ...


class Services(Protocol):
    """The bundle handed to every step (attributes added by each area)."""

    limits: Limits
    audit: Audit
    accounts: Accounts
    staff: Staff
    broadcasts: Broadcasts
    people: People
    declarations: Declarations
    privacy: Privacy
    drafts: Drafts
    documents: Documents
    console: Console


# How an account holder relates to the person they link: button message id → the code
# stored on the link (and shown in exports by its label).
RELATIONS = {
    "link.rel.self": "self",
    "link.rel.child": "child",
    "link.rel.parent": "parent",
    "link.rel.grandparent": "grandparent",
    "link.rel.spouse": "spouse",
    "link.rel.other": "other",
}


class Unavailable(Exception):
    """A store is unreachable (database down). The adapter keeps the person's state as it
    was and asks them to try again shortly: nothing they said is lost."""


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    status: str  # 'linked' | 'already' | 'full' (resident has the maximum of accounts) | 'gone' | 'locked'
    notify: tuple[tuple[str, str], ...] = ()  # (account, locale) of accounts linked before


@dataclass(frozen=True, slots=True)
class Holder:
    """An account linked to a resident now. `account_id` (its messenger address) is opaque:
    shown to no one, only passed back (to remove the link, to send a notice)."""

    account_id: str
    locale: str
    relation: str
    linked_at: datetime


def owner_of(holders: list[Holder]) -> Holder | None:
    """Who speaks for the record: the account linked as the person themselves ("Tôi"),
    else the first account linked (when the person has no account of their own)."""
    return next((h for h in holders if h.relation == "self"), holders[0] if holders else None)


class People(Protocol):
    """Residents as seen through an account's links (implemented in storage/people.py)."""

    async def by_code(self, code: str) -> Person | None: ...

    async def linked(self, account_id: str) -> list[Person]:
        """Active links of this account, oldest first, with `relation` filled in."""

    async def get_linked(self, account_id: str, resident_id: int) -> Person | None: ...

    async def by_id(self, resident_id: int) -> Person | None: ...

    async def link_status(self, account_id: str, resident_id: int) -> str:
        """'open' | 'already' (this account) | 'full' (no room for another account)."""

    async def link(
        self, account_id: str, locale: str, resident_id: int, relation: str,
        consent_version: str, at: datetime,
    ) -> LinkOutcome:
        """Atomically: the account, the link, its consent and the audit entry, or nothing."""

    async def unlink(self, account_id: str, resident_id: int, at: datetime) -> bool:
        """End this account's link (and withdraw its consent); False if there was none."""

    async def holders(self, resident_id: int) -> list[Holder]:
        """Accounts linked to the resident now, oldest link first."""

    async def remove_holder(self, owner_id: int, resident_id: int, account_id: int, at: datetime) -> Holder | None:
        """The owner (owner_of) ends another account's link; the removed holder, or None
        if `owner_id` is not the owner (checked under the resident's lock) or no such link."""

    async def lock_card(self, resident_id: int, account_id: int, at: datetime) -> list[Holder] | None:
        """Stop new links to this card until staff unlock it (audited as an alert); the
        accounts to tell, or None if it was locked already."""


class Drafts(Protocol):
    """Other accounts' dialog states (Redis): a declaration in progress is dropped when
    their link ends (dialogs.privacy.drop_person as `edit`)."""

    async def rewrite(self, holders: list[Holder], edit: Callable[[dict[str, Any]], bool]) -> int: ...


@dataclass(frozen=True, slots=True)
class Submission:
    """A confirmed declaration, ready to become a new version (storage/declarations.py)."""

    resident_id: int
    account_id: str  # the address of the account that declared
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
    submitted_by: str
    relation: str
    questionnaire_version: str
    answers: dict[str, Any]


class Declarations(Protocol):
    async def submit(self, sub: Submission) -> tuple[str, int]:
        """('saved' | 'duplicate', version) or ('not_linked', 0); raises Unavailable."""

    async def latest(self, resident_id: int) -> Declared | None: ...


# ---------------------------------------------------------------- ward staff (issue #6)


@dataclass(frozen=True, slots=True)
class StaffMember:
    account: str  # messenger address
    ward: str | None  # None only for an admin
    role: str = "staff"  # 'staff' | 'admin'

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees(self, ward: str | None) -> bool:
        """A staff member sees their own ward; an admin every ward (None = all of them)."""
        return self.is_admin or (ward is not None and ward == self.ward)


@dataclass(frozen=True, slots=True)
class StatsRow:
    label: str | None  # a quarter or a ward; None = the total line
    residents: int
    linked: int
    declared: int  # declared at least once
    recent: int  # latest declaration within the report's `days`


@dataclass(frozen=True, slots=True)
class StatsReport:
    ward: str | None  # None: every ward, one row per ward
    days: int
    rows: tuple[StatsRow, ...]  # the total first
    # Extra ward-level indicators below the table: (message id, value). Added by
    # storage.stats.indicator (e.g. the privacy issue's overdue deletion requests).
    extras: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a reminder goes to: linked residents of `ward` (None: every ward, admins only),
    optionally one quarter, who have never declared and/or whose latest declaration is
    older than `older_than_days`; or everyone linked (`everyone`)."""

    ward: str | None
    undeclared: bool = False
    older_than_days: int | None = None
    everyone: bool = False
    quarter: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"undeclared": self.undeclared, "older_than_days": self.older_than_days,
                "everyone": self.everyone}


@dataclass(frozen=True, slots=True)
class AudienceSize:
    chats: int  # messages that will go out (one per chat)
    residents: int


@dataclass(frozen=True, slots=True)
class DeclarationView:
    submitted_at: datetime
    version: int
    relation: str
    height_cm: Any = None
    weight_kg: Any = None
    bmi: Any = None
    systolic: int | None = None
    diastolic: int | None = None
    covid_doses: int | None = None
    pregnancies: int | None = None
    children: int | None = None


@dataclass(frozen=True, slots=True)
class Found:
    person: Person
    declaration: DeclarationView | None


class Staff(Protocol):
    """What ward staff may read. Every read is audited by the implementation."""

    async def member(self, account: str) -> StaffMember | None: ...
    async def wards(self, member: StaffMember) -> list[str]: ...
    async def quarters(self, ward: str) -> list[str]: ...
    async def stats(self, member: StaffMember, ward: str | None, now: datetime) -> StatsReport: ...

    async def lookup(self, member: StaffMember, query: str, limit: int) -> list[Found]:
        """Residents of the member's ward(s) by card code or name; at most `limit`."""


class Broadcasts(Protocol):
    async def audience_size(self, audience: Audience, now: datetime) -> AudienceSize: ...

    async def create(
        self, member: StaffMember, audience: Audience, message: str | None, at: datetime | None,
        notify: str, locale: str,
    ) -> int:
        """Queue a reminder (audited); returns its id. The member must see `audience.ward`."""

    async def cancel(self, member: StaffMember, broadcast_id: int) -> bool: ...

    async def set_reminders(self, account: str, locale: str, enabled: bool) -> None:
        """A resident's own choice; creates the account if it is new."""


# ---------------------------------------------------------------- privacy (issue #7)


class Privacy(Protocol):
    """A resident's rights, through an account linked to them (storage/privacy.py). Each
    call checks the link itself and is audited; refusals disclose nothing."""

    async def dossier(self, account_id: str, resident_id: int, at: datetime) -> dict[str, Any] | None:
        """Everything stored about the resident (times in at's zone), or None if not linked."""

    async def withdraw(self, account_id: str, resident_id: int, at: datetime) -> str | None:
        """End the link and withdraw its consent: the consent's version, or None if no link."""

    async def request_deletion(
        self, account_id: str, locale: str, resident_id: int, at: datetime
    ) -> tuple[str, int]:
        """('created' | 'open' (one is waiting already) | 'not_linked', request id)."""


class Documents(Protocol):
    """Documents with a page layout, made outside storage (bot/health_summary.py)."""

    def health_summary(self, dossier: dict[str, Any], locale: str) -> bytes:
        """The one-page PDF health-book summary of a /dulieucuatoi dossier."""
# ---------------------------------------------------------------- staff web console (issue #17)


@dataclass(frozen=True, slots=True)
class SignInLink:
    url: str
    minutes: int  # how long it works (once)


class Console(Protocol):
    async def sign_in_link(self, member: StaffMember) -> SignInLink:
        """A one-time link that opens a console session for this staff member."""
