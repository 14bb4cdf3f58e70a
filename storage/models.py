"""Tables. The schema itself is made by Alembic migrations in storage/migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.hybrid import Comparator, hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dialogs.questionnaire import STORED
from dialogs.text import strip_diacritics
from storage import code_vault


def sql_type(kind: str):
    """A questionnaire column kind ("decimal(5,1)", "smallint") as a SQL type."""
    if kind == "smallint":
        return SmallInteger()
    if kind.startswith("decimal(") and kind.endswith(")"):
        precision, scale = (int(x) for x in kind[8:-1].split(","))
        return Numeric(precision, scale)
    raise ValueError(f"unknown column kind {kind!r}")


# Vietnamese letters with diacritics → their folded form, for a diacritic-free name match
# in SQL (no unaccent extension needed: the embedded server has none).
VI_LETTERS = "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
VI_LETTERS += VI_LETTERS.upper()
VI_FOLDED = "".join(strip_diacritics(c).lower() for c in VI_LETTERS)
FOLD_NAME_SQL = f"lower(translate(full_name, '{VI_LETTERS}', '{VI_FOLDED}'))"


class Base(DeclarativeBase):
    pass


class _CodeComparator(Comparator[bool]):
    """`Resident.code == "K7QM…"` in a query: the code's keyed hash against code_hash."""

    def __eq__(self, other: object):  # type: ignore[override]
        return self.__clause_element__() == code_vault.digest(str(other))


def _now():
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


RESIDENT_STATUSES = ("active", "moved", "deceased")


class Resident(Base):
    """One person in the ward's registry; `code` is printed on their card and never changes
    except through an explicit reissue."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The card's code is never stored in clear (storage/code_vault.py): a keyed hash to
    # find it, and the code sealed with AES-GCM to print the card again. `code` below
    # reads and writes both, and `Resident.code == x` compares hashes.
    code_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True, nullable=False)
    code_sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    ward: Mapped[str] = mapped_column(Text, nullable=False)
    quarter: Mapped[str | None] = mapped_column(Text)
    group_name: Mapped[str | None] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text, nullable=False)
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_year: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sex: Mapped[str | None] = mapped_column(String(1))  # 'M' | 'F'
    insurance_code: Mapped[str | None] = mapped_column(Text)  # 15-char card code or 10-digit number
    citizen_id: Mapped[str | None] = mapped_column(Text(collation="C"))
    phone: Mapped[str | None] = mapped_column(Text)  # +84…
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    # The social-insurance number: the last 10 characters of either form of ma_bhyt. It stays
    # the same when the card's category prefix changes, so imports match on it.
    insurance_key: Mapped[str | None] = mapped_column(
        Text(collation="C"), Computed("right(insurance_code, 10)", persisted=True)
    )
    # Hash of the file row (and its header) that last set this row: a re-import skips rows
    # it has seen. A trigger clears it when anything else changes what the row holds.
    import_source: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Moved away or deceased residents stay (their declarations are records) but leave
    # statistics and reminders.
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="active")
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @hybrid_property
    def code(self) -> str:
        return code_vault.unseal(self.code_sealed)

    @code.inplace.setter
    def _set_code(self, value: str) -> None:
        self.code_hash, self.code_sealed = code_vault.digest(value), code_vault.seal(value)

    @code.inplace.comparator
    @classmethod
    def _code_comparator(cls) -> _CodeComparator:
        return _CodeComparator(cls.code_hash)
    # The name without diacritics, lower case: the staff console searches it (migration 0013
    # indexes it, spelt backwards and word by word). Stored, so a search does not fold every
    # row it reads.
    name_folded: Mapped[str | None] = mapped_column(Text, Computed(FOLD_NAME_SQL, persisted=True))

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in RESIDENT_STATUSES)})", name="ck_residents_status"),
        Index("ix_residents_ward", "ward"),
        Index(
            "uq_residents_insurance_key",
            "insurance_key",
            unique=True,
            postgresql_where=text("insurance_key IS NOT NULL"),
        ),
        Index(
            "uq_residents_citizen_id",
            "citizen_id",
            unique=True,
            postgresql_where=text("citizen_id IS NOT NULL"),
        ),
    )


class Account(Base):
    """A person on a messenger who has talked to the bot, by address "channel:id"
    ("telegram:123456", "zalo:8837…"): nothing below the adapters knows more of them."""

    __tablename__ = "accounts"

    address: Mapped[str] = mapped_column(Text, primary_key=True)
    channel: Mapped[str] = mapped_column(Text, Computed("split_part(address, ':', 1)", persisted=True))
    locale: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vi")
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A declaration in progress since then (its answers live in Redis): if Redis loses them,
    # the person is told so rather than having their next answer misread.
    draft_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class Link(Base):
    """Account ↔ resident, with the relation and the consent under which it was made.
    Ended links are kept (revoked_at set) for the audit trail."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.address"), nullable=False)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    relation: Mapped[str] = mapped_column(String(16), nullable=False)
    consent_version: Mapped[str] = mapped_column(String(16), nullable=False)
    consented_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "uq_links_active",
            "account_id",
            "resident_id",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_links_resident_active", "resident_id", postgresql_where=text("revoked_at IS NULL")),
    )


class CardLock(Base):
    """A card no new account may link to: too many wrong birth answers from any accounts
    in a day. Set by the bot, lifted by staff (`healthbot security unlock`, or a reissue)."""

    __tablename__ = "card_locks"

    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    locked_by: Mapped[str | None] = mapped_column(Text)  # the account whose answer locked it


class Consent(Base):
    """Each explicit consent given (and withdrawn), with the notice's version."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.address"), nullable=False)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[str] = mapped_column(String(16), nullable=False)
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Declaration(Base):
    """One submitted declaration; append-only: a change is a new version."""

    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    submission_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    submitted_by: Mapped[str] = mapped_column(Text, nullable=False)  # account address
    relation: Mapped[str] = mapped_column(String(16), nullable=False)
    questionnaire_version: Mapped[str] = mapped_column(String(16), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime] = _now()
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The typed columns (height_cm, weight_kg, bmi, systolic, …): as the questionnaire
    # declares them (dialogs.questionnaire.Stored); a new one also needs a migration.
    for _column in STORED:
        locals()[_column.name] = mapped_column(sql_type(_column.kind))
    del _column

    __table_args__ = (
        UniqueConstraint("resident_id", "version", name="uq_declarations_resident_version"),
    )


class Staff(Base):
    """Ward health staff; an admin (ward NULL) sees every ward."""

    __tablename__ = "staff"

    account: Mapped[str] = mapped_column(Text, primary_key=True)  # messenger address
    ward: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(8), nullable=False, server_default="staff")
    full_name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")  # "" until named (0012)
    created_at: Mapped[datetime] = _now()


class AuditEntry(Base):
    """Who did what to whom, when. No health values and no names here: ids only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = _now()
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # account|staff|cli|system
    actor_id: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    resident_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: outlives erasure
    outcome: Mapped[str] = mapped_column(String(32), nullable=False, server_default="ok")
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_audit_resident_at", "resident_id", "at"),
        Index("ix_audit_actor_at", "actor_kind", "actor_id", "at"),
    )


class Broadcast(Base):
    """A reminder to an audience. Deliveries are made when it starts (at `scheduled_at`), so a
    scheduled reminder reaches the people who still need it on the day, not at creation."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ward: Mapped[str | None] = mapped_column(Text)  # NULL: every ward (admin)
    quarter: Mapped[str | None] = mapped_column(Text)
    audience: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    message: Mapped[str | None] = mapped_column(Text)  # NULL: the default template
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="scheduled")
    scheduled_at: Mapped[datetime] = _now()
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # staff|cli
    created_by: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int | None] = mapped_column(Integer)
    notify_account: Mapped[str | None] = mapped_column(Text)  # staff account shown the progress
    notify_locale: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vi")
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_broadcasts_status_at", "status", "scheduled_at"),)


class Delivery(Base):
    """One message of a broadcast to one account, listing that account's residents (ids only).
    pending → claimed (leased, not yet sent) → sending (the send may have gone out) →
    sent | blocked | failed | skipped | cancelled. See bot/broadcaster.py."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.address", ondelete="CASCADE"), nullable=False)
    locale: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vi")
    resident_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="pending")
    worker: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(40))  # exception type, never its message

    __table_args__ = (
        UniqueConstraint("broadcast_id", "account_id", name="uq_deliveries_broadcast_account"),
        Index("ix_deliveries_broadcast_status", "broadcast_id", "status"),
        Index("ix_deliveries_pending", "id", postgresql_where=text("status = 'pending'")),
        Index(
            "ix_deliveries_leased",
            "lease_until",
            postgresql_where=text("status IN ('claimed', 'sending')"),
        ),
    )


class DeletionRequest(Base):
    """A resident's request, through a linked account, to erase their data (issue #7).
    Ward staff decide: the department may have a legal duty to keep some records.
    Kept after the erasure (ids and times only) so the decision can be shown later."""

    __tablename__ = "deletion_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigInteger, nullable=False)  # no FK: outlives the row
    ward: Mapped[str] = mapped_column(Text, nullable=False)  # who decides, and the 72 h flag
    requested_by: Mapped[str] = mapped_column(Text, nullable=False)  # account address, told the outcome
    locale: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vi")
    requested_at: Mapped[datetime] = _now()
    status: Mapped[str] = mapped_column(String(12), nullable=False, server_default="open")  # open|approved|denied
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)  # a code from storage.privacy.REASONS
    note: Mapped[str | None] = mapped_column(Text)  # staff's words to the requester; not in the audit log
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_deletion_requests_open", "resident_id", unique=True, postgresql_where=text("status = 'open'")),
        Index("ix_deletion_requests_open_at", "ward", "requested_at", postgresql_where=text("status = 'open'")),
    )
