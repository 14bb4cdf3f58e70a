"""Data rights under the Personal Data Protection Law (No. 91/2025/QH15): what is stored
about a resident, withdrawal of consent, erasure on request, and the audit trail.

Residents act through a linked account (`PrivacyService`, dialogs.ports.Privacy); ward
staff decide deletion requests and query the trail at the terminal (bot/cli_privacy.py).
Audit entries carry ids, counts and times only, never names or health values, so they
can outlive the erasure they record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from locales import t
from storage.audit import entry
from storage.fhir.personal import personal_bundle
from storage.models import AuditEntry, Consent, Declaration, DeletionRequest, Link, Resident
from storage.people import transaction
from storage.state import StateStore
from storage.stats import indicator

log = logging.getLogger(__name__)

OVERDUE = timedelta(hours=72)  # the law's breach-report window; staff are warned past it
REGISTRY = ("code", "full_name", "birth_date", "birth_year", "sex", "ward", "quarter", "group_name",
            "address", "phone", "insurance_code", "citizen_id", "created_at", "updated_at")
COLUMNS = ("height_cm", "weight_kg", "bmi", "systolic", "diastolic", "pregnancies", "children", "covid_doses")


def _active(account_id: str, resident_id: int):
    return (Link.account_id == account_id, Link.resident_id == resident_id, Link.revoked_at.is_(None))


def _plain(v: Any, at: datetime) -> Any:
    """A value as the dossier holds it: local times, numbers not Decimals."""
    if isinstance(v, datetime):
        return v.astimezone(at.tzinfo)
    if isinstance(v, Decimal):
        return float(v)
    return v


def _withdrawn_consent(d=Declaration):
    """The consent under which declaration `d` was given has since been withdrawn."""
    return exists().where(
        Consent.account_id == d.submitted_by,
        Consent.resident_id == d.resident_id,
        Consent.given_at <= d.submitted_at,
        Consent.withdrawn_at >= d.submitted_at,
    )


# ---------------------------------------------------------------- residents' rights


class PrivacyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def _linked(self, s: AsyncSession, account_id: str, resident_id: int, action: str) -> bool:
        """Whether the account holds a link now; a refusal is audited in the caller's unit."""
        if await s.scalar(select(Link.id).where(*_active(account_id, resident_id)).limit(1)):
            return True
        s.add(entry(action, actor_kind="account", actor_id=account_id, resident_id=resident_id,
                    outcome="not_linked"))
        return False

    async def dossier(self, account_id: str, resident_id: int, at: datetime) -> dict[str, Any] | None:
        async with transaction(self.sessions) as s:
            if not await self._linked(s, account_id, resident_id, "privacy_access"):
                return None
            r = await s.get(Resident, resident_id)
            out = await _dossier(s, r, account_id, at)
            s.add(entry("privacy_access", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                        details={"declarations": len(out["declarations"])}))
        log.info("privacy: data of resident %s prepared for account %s", resident_id, account_id)
        return out

    async def withdraw(self, account_id: str, resident_id: int, at: datetime) -> str | None:
        async with transaction(self.sessions) as s:
            if not await self._linked(s, account_id, resident_id, "consent_withdraw"):
                return None
            versions = (await s.execute(
                update(Link).where(*_active(account_id, resident_id))
                .values(revoked_at=at, revoked_by="account").returning(Link.consent_version)
            )).scalars().all()
            await s.execute(
                update(Consent)
                .where(Consent.account_id == account_id, Consent.resident_id == resident_id,
                       Consent.withdrawn_at.is_(None))
                .values(withdrawn_at=at)
            )
            s.add(entry("consent_withdraw", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                        details={"consent_version": versions[0]}))
        log.info("privacy: account %s withdrew consent for resident %s", account_id, resident_id)
        return versions[0]

    async def request_deletion(
        self, account_id: str, locale: str, resident_id: int, at: datetime
    ) -> tuple[str, int]:
        async with transaction(self.sessions) as s:
            if not await self._linked(s, account_id, resident_id, "deletion_request"):
                return "not_linked", 0
            ward = await s.scalar(select(Resident.ward).where(Resident.id == resident_id))
            new = await s.scalar(
                insert(DeletionRequest)
                .values(resident_id=resident_id, ward=ward, requested_by=account_id,
                        locale=locale, requested_at=at)
                .on_conflict_do_nothing(index_elements=[DeletionRequest.resident_id],
                                        index_where=DeletionRequest.status == "open")
                .returning(DeletionRequest.id)
            )
            if new is None:  # one is already waiting for a decision
                return "open", await s.scalar(select(DeletionRequest.id).where(
                    DeletionRequest.resident_id == resident_id, DeletionRequest.status == "open"))
            s.add(entry("deletion_request", actor_kind="account", actor_id=account_id, resident_id=resident_id,
                        details={"request_id": new}))
        log.info("privacy: deletion request %s for resident %s", new, resident_id)
        return "created", new


async def _dossier(s: AsyncSession, r: Resident, account_id: str, at: datetime) -> dict[str, Any]:
    rid = r.id
    links = (await s.execute(select(Link).where(Link.resident_id == rid).order_by(Link.id))).scalars()
    consents = (await s.execute(select(Consent).where(Consent.resident_id == rid).order_by(Consent.id))).scalars()
    decls = (await s.execute(
        select(Declaration, _withdrawn_consent()).where(Declaration.resident_id == rid).order_by(Declaration.version)
    )).all()
    requests = (await s.execute(
        select(DeletionRequest).where(DeletionRequest.resident_id == rid).order_by(DeletionRequest.id))).scalars()
    log = await trail(s, resident_id=rid)
    # Other accounts are other people: whether a row is this account's, never their ids.
    return {
        "generated_at": at,
        "resident": {k: _plain(getattr(r, k), at) for k in REGISTRY},
        "links": [{"relation": x.relation, "linked_at": _plain(x.consented_at, at),
                   "consent_version": x.consent_version, "ended_at": _plain(x.revoked_at, at),
                   "this_account": x.account_id == account_id} for x in links],
        "consents": [{"version": c.version, "given_at": _plain(c.given_at, at),
                      "withdrawn_at": _plain(c.withdrawn_at, at), "this_account": c.account_id == account_id}
                     for c in consents],
        "declarations": [{"version": d.version, "submitted_at": _plain(d.submitted_at, at),
                          "relation": d.relation, "questionnaire_version": d.questionnaire_version,
                          "by_this_account": d.submitted_by == account_id, "consent_withdrawn": bool(w),
                          **{k: _plain(getattr(d, k), at) for k in COLUMNS}, "answers": d.answers}
                         for d, w in decls],
        "deletion_requests": [{"id": q.id, "status": q.status, "requested_at": _plain(q.requested_at, at),
                               "decided_at": _plain(q.decided_at, at), "reason": q.reason} for q in requests],
        "access_log": [{"at": _plain(e.at, at), "action": e.action, "by": e.actor_kind, "outcome": e.outcome}
                       for e in log],
        # The same record as HL7 FHIR R4, sent as a file of its own (dialogs/privacy.py).
        "fhir": personal_bundle(r, [d for d, _ in decls], at),
    }


# ---------------------------------------------------------------- staff: deletion requests


@dataclass(frozen=True, slots=True)
class Decided:
    id: int
    resident_id: int
    approved: bool
    requested_by: str  # the account told the outcome
    locale: str
    requested_at: datetime
    erased: dict[str, int]  # table -> rows deleted (empty when denied)


async def open_requests(session: AsyncSession) -> list[DeletionRequest]:
    q = select(DeletionRequest).where(DeletionRequest.status == "open").order_by(DeletionRequest.requested_at)
    return list((await session.execute(q)).scalars())


# Why a request was decided so: a fixed code (its text, in the requester's language, says
# what is kept and why: security.reason.<code>). Staff's own words go in an optional note
# that the requester is sent and the request keeps, but the audit log never holds.
REASONS = {
    True: ("requested", "consent_withdrawn"),
    False: ("legal_duty", "public_health", "identity_unverified", "dispute"),
}


async def decide(session: AsyncSession, request_id: int, approve: bool, reason: str, *,
                 actor_kind: str, actor_id: str | None, at: datetime, note: str | None = None) -> Decided | str:
    """Approve (erase now) or deny an open request for a reason in REASONS; otherwise
    'bad_reason', 'unknown', or the status of a request decided before."""
    if reason not in REASONS[approve]:
        return "bad_reason"
    req = await session.get(DeletionRequest, request_id, with_for_update=True)
    if req is None:
        return "unknown"
    if req.status != "open":
        return req.status
    erased = await erase(session, req.resident_id) if approve else {}
    req.status, req.decided_at, req.decided_by, req.reason, req.note = (
        "approved" if approve else "denied", at, actor_id, reason, note)
    # Who asked, who decided, when, why (the code) and how much went: counts, never the
    # erased values, never the note.
    session.add(entry("deletion_approve" if approve else "deletion_deny", actor_kind=actor_kind, actor_id=actor_id,
                      resident_id=req.resident_id,
                      details={"request_id": req.id, "requested_by": req.requested_by,
                               "requested_at": req.requested_at.isoformat(), "reason": reason, **erased}))
    log.info("privacy: deletion request %s %s (resident %s)", req.id, req.status, req.resident_id)
    return Decided(req.id, req.resident_id, approve, req.requested_by, req.locale, req.requested_at, erased)


async def erase(session: AsyncSession, resident_id: int) -> dict[str, int]:
    """Delete the resident's declarations, links and consents; the registry row stays (it is
    the ward's own list). The row lock waits out, and then blocks, a declaration being saved
    (storage/declarations.py checks the link under the same lock)."""
    await session.execute(select(Resident.id).where(Resident.id == resident_id).with_for_update())
    out = {}
    for name, model in (("declarations", Declaration), ("links", Link), ("consents", Consent)):
        res = await session.execute(delete(model).where(model.resident_id == resident_id))
        out[name] = res.rowcount
    return out


async def mark_notified(session: AsyncSession, request_id: int, at: datetime) -> None:
    await session.execute(update(DeletionRequest).where(DeletionRequest.id == request_id).values(notified_at=at))


@indicator("staff.stats.deletion_overdue")
async def overdue_requests(session: AsyncSession, ward: str | None, now: datetime) -> int:
    """Open deletion requests waiting longer than OVERDUE (shown in /thongke, healthbot stats)."""
    q = select(func.count()).where(DeletionRequest.status == "open", DeletionRequest.requested_at < now - OVERDUE)
    if ward is not None:
        q = q.where(DeletionRequest.ward == ward)
    return int(await session.scalar(q) or 0)


# ---------------------------------------------------------------- exports, Redis, the trail


async def mark_withdrawn(session: AsyncSession, headers: list[str], rows: list[list[Any]],
                         declarations: Iterable[Declaration | None], locale: str) -> None:
    """The export's last column: whether the row's declaration was given under a consent
    since withdrawn (it stays with the health department, marked)."""
    decls = list(declarations)
    ids = [d.id for d in decls if d is not None]
    marked = set((await session.execute(
        select(Declaration.id).where(Declaration.id.in_(ids), _withdrawn_consent()))).scalars()) if ids else set()
    headers.append(t(locale, "privacy.export_column"))
    yes = t(locale, "privacy.export_withdrawn")
    for row, d in zip(rows, decls, strict=True):
        row.append(yes if d is not None and d.id in marked else None)


async def rewrite_states(store: StateStore, edit: Callable[[dict[str, Any]], bool]) -> int:
    """Apply `edit` to every dialog state (each under its person's lock, so no turn saves
    over it); saves those it changed and returns how many."""
    changed = 0
    prefix = store.keys.state("")
    async for raw in store.redis.scan_iter(match=f"{prefix}*", count=500):
        name = raw.decode() if isinstance(raw, bytes) else raw
        addr = name.removeprefix(prefix)
        async with store.user_lock(addr):
            state = await store.load(addr)
            if state and edit(state):
                await store.save(addr, state)
                changed += 1
    return changed


async def trail(session: AsyncSession, *, since: datetime | None = None, resident_id: int | None = None,
                actor_id: str | None = None) -> list[AuditEntry]:
    """Audit entries about a resident (named alone, or in a list such as an export's), or
    made by a staff member or terminal operator, from `since` on."""
    q = select(AuditEntry)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if resident_id is not None:
        q = q.where(or_(AuditEntry.resident_id == resident_id,
                        AuditEntry.details.contains({"resident_ids": [resident_id]})))
    if actor_id is not None:
        # A staff member by their messenger address, or by the bare id they were added with
        # (Telegram's or Zalo's); a terminal operator by login name.
        names = [actor_id] + ([f"telegram:{actor_id}", f"zalo:{actor_id}"] if actor_id.isdigit() else [])
        q = q.where(AuditEntry.actor_id.in_(names), AuditEntry.actor_kind != "account")
    return list((await session.execute(q.order_by(AuditEntry.at, AuditEntry.id))).scalars())
