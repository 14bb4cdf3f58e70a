"""What the staff web console needs that other modules do not have yet: sign-in links and
sessions (Redis), and the reads and writes of its pages (PostgreSQL).

Sign-in: the bot's /web command asks `ConsoleLinks.sign_in_link` (the dialogs' Console
port) for a one-time link. Only a hash of its token is stored, with a TTL; opening the link
takes the token (GETDEL: it works once) and makes a session. Sessions live in Redis with an
expiry, and each staff member's session ids are kept in a set so "sign out everywhere" can
end them all. No personal data in these keys: a staff key, times and a CSRF token.

The staff key is opaque here: `staff_key(member)` makes it and web/auth.py reads it back.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import and_, func, literal, literal_column, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import codes
from dialogs.ports import Audience, SignInLink, StaffMember
from storage import audit, broadcasts, code_vault, people, registry_check
from storage.audit import entry
from storage.models import (
    RESIDENT_STATUSES,
    Declaration,
    DeletionRequest,
    Link,
    Resident,
)

SIGN_IN_TTL = 5 * 60  # a link from the bot works once, within five minutes
SESSION_TTL = 8 * 3600  # a working day from sign-in (fixed: the staff member's set of sessions
# expires with the last of them, so "sign out everywhere" always finds every one)


def staff_key(member: StaffMember) -> str:
    """The one place that turns a staff member into the key sessions remember."""
    return member.account  # the staff member's messenger address


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- sign-in links and sessions


@dataclass
class Session:
    id: str
    staff: str  # staff_key
    csrf: str
    locale: str
    data: dict[str, Any] = field(default_factory=dict)


class ConsoleLinks:
    """Implements dialogs.ports.Console, and keeps the console's sessions."""

    def __init__(self, redis: Redis, prefix: str, base_url: str):
        self.redis = redis
        self.prefix = f"{prefix}:web"
        self.base_url = base_url.rstrip("/")

    # one-time links
    async def sign_in_link(self, member: StaffMember) -> SignInLink:
        token = await self.issue(staff_key(member))
        return SignInLink(f"{self.base_url}/signin/{token}", SIGN_IN_TTL // 60)

    async def issue(self, key: str) -> str:
        token = secrets.token_urlsafe(32)
        await self.redis.set(f"{self.prefix}:signin:{_hash(token)}", key, ex=SIGN_IN_TTL)
        return token

    async def peek(self, token: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}:signin:{_hash(token)}"))

    async def take(self, token: str) -> str | None:
        """The staff key the token was issued for, once; None if unknown, used or expired."""
        value = await self.redis.getdel(f"{self.prefix}:signin:{_hash(token)}")
        return value.decode() if isinstance(value, bytes) else value

    async def once(self, value: str, ttl: int) -> bool:
        """True the first time `value` is seen within `ttl` seconds (only its hash is kept)."""
        if not value:
            return False
        return bool(await self.redis.set(f"{self.prefix}:once:{_hash(value)}", 1, nx=True, ex=ttl))

    # sessions
    async def open(self, key: str, locale: str) -> Session:
        sid = secrets.token_urlsafe(32)
        sess = Session(sid, key, secrets.token_urlsafe(32), locale)
        await self.save(sess)
        staff_set = f"{self.prefix}:staff:{key}"
        await self.redis.sadd(staff_set, _hash(sid))
        await self.redis.expire(staff_set, SESSION_TTL)
        return sess

    async def get(self, sid: str) -> Session | None:
        if not sid or len(sid) > 100:
            return None
        raw = await self.redis.get(f"{self.prefix}:sess:{_hash(sid)}")
        if raw is None:
            return None
        d = json.loads(raw)
        return Session(sid, d["staff"], d["csrf"], d["locale"], d.get("data", {}))

    async def save(self, sess: Session) -> None:
        body = json.dumps({"staff": sess.staff, "csrf": sess.csrf, "locale": sess.locale, "data": sess.data})
        name = f"{self.prefix}:sess:{_hash(sess.id)}"
        ttl = await self.redis.ttl(name)  # a change of language keeps the session's end
        await self.redis.set(name, body, ex=ttl if ttl > 0 else SESSION_TTL)

    async def set_locale(self, sess: Session, locale: str) -> None:
        sess.locale = locale
        await self.save(sess)

    async def close(self, sess: Session) -> None:
        await self.redis.delete(f"{self.prefix}:sess:{_hash(sess.id)}")
        await self.redis.srem(f"{self.prefix}:staff:{sess.staff}", _hash(sess.id))

    async def close_all(self, key: str) -> int:
        """Sign out everywhere: every session of this staff member ends."""
        staff_set = f"{self.prefix}:staff:{key}"
        hashes = await self.redis.smembers(staff_set)
        names = [f"{self.prefix}:sess:{h.decode() if isinstance(h, bytes) else h}" for h in hashes]
        if names:
            await self.redis.delete(*names)
        await self.redis.delete(staff_set)
        return len(names)


# ---------------------------------------------------------------- search


# The search is built from the tables, not the ORM classes, and once: at 20 staff searching
# together, building and compiling through the ORM cost more CPU than the query.
_R, _D, _L = Resident.__table__, Declaration.__table__, Link.__table__
FOLDED_NAME = _R.c.name_folded  # stored by the database (migration 0010)
# Migration 0013 indexes these very expressions (spelt otherwise, the planner ignores them).
NAME_END = func.reverse(FOLDED_NAME).collate("C")
NAME_START = FOLDED_NAME.collate("C")
NAME_WORDS = func.to_tsvector(literal_column("'simple'"), FOLDED_NAME)
_ACTIVE_LINK = select(_L.c.id).where(_L.c.resident_id == _R.c.id, _L.c.revoked_at.is_(None)).exists()
_HITS = select(
    _R.c.id, _R.c.code_sealed, _R.c.full_name, _R.c.birth_year, _R.c.quarter, _R.c.group_name, _R.c.phone,
    select(func.max(_D.c.submitted_at)).where(_D.c.resident_id == _R.c.id).correlate(_R).scalar_subquery(),
    select(func.count()).where(_L.c.resident_id == _R.c.id, _L.c.revoked_at.is_(None)).correlate(_R)
    .scalar_subquery(),
    _R.c.status)

FILTERS = ("undeclared", "unlinked", "linked")
STATUSES = RESIDENT_STATUSES  # the first, living here, is shown unless another is asked for
SEARCH_LIMIT = 50


def quarter_start(now: datetime, back: int = 0) -> datetime:
    """Start of the calendar quarter `back` quarters before now's, in now's zone."""
    index = now.year * 4 + (now.month - 1) // 3 - back
    return datetime(index // 4, (index % 4) * 3 + 1, 1, tzinfo=now.tzinfo)


def quarter_name(start: datetime) -> str:
    return f"Q{(start.month - 1) // 3 + 1}/{start.year}"


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    code: str
    full_name: str
    birth_year: int
    quarter: str | None
    group_name: str | None
    phone: str | None
    last_declared: datetime | None
    linked: int
    status: str


def classify(query: str) -> tuple[str, Any]:
    """What the typed text is: ('code'|'citizen'|'insurance'|'phone'|'name', value), or
    ('short', None) when it is too short to search."""
    q = " ".join(query.split())[:100]
    code, _ = codes.check(q)
    if code is not None:
        return "code", code
    bare = "".join(c for c in q if c not in " .-()")
    if bare.isdigit() and len(bare) == 12:
        return "citizen", bare
    if len(bare) == 15 and bare[:2].isalpha() and bare[2:].isdigit():
        return "insurance", bare[-10:]
    if bare.startswith(("+84", "0")) and bare.lstrip("+").isdigit():
        try:
            return "phone", registry_check.parse_phone(bare)
        except registry_check.Bad:
            pass
    if bare.isdigit() and len(bare) == 10:
        return "insurance", bare
    from dialogs.text import fold  # noqa: PLC0415

    words = fold(q)
    if len(words) < 2:
        return "short", None
    return "name", words


def _sql(value: str):
    """A value written into the SQL rather than bound: a prepared statement's generic plan
    does not see which range or words it looks for, and scans (25 s under load, once)."""
    return literal(value, literal_execute=True)


def name_ways(words: str) -> Iterator:
    """Where a typed name (folded: letters, digits, spaces) is looked for, cheapest first;
    the first way that finds anyone answers.
    1. Names ending with the words typed, whole: "tuan", "minh tuan", the full name. One
       range of ix_residents_name_end (the names spelt backwards), read in order and left
       as soon as the page is full: under 1 ms at 1,000,000 residents.
    2. Names beginning with the words typed, whole ("nguyen van", as names are written):
       one range of ix_residents_name_start, the same way.
    3. Names holding every word typed, anywhere ("van tuan"): ix_residents_name_words,
       whose lists of common words are read whole (7–11 ms at 1M).
    4. The same with the last word only begun ("nguyen van a"): a prefix reads every word
       it begins (~40 ms at 1M)."""
    # "!" sorts right after the space that ends a word: "naut hnim" and "naut hnim nauq…"
    # are in the range, "naut hnimx" is not.
    for column, typed in ((NAME_END, words[::-1]), (NAME_START, words)):
        yield and_(column >= _sql(typed), column < _sql(typed + "!"))
    lexemes = " & ".join(f"'{w}'" for w in re.findall(r"\w+", words))  # \w: no quote can reach the query
    if lexemes:
        for q in (lexemes, lexemes + ":*"):
            yield NAME_WORDS.op("@@")(func.to_tsquery(literal_column("'simple'"), _sql(q)))


async def search(session: AsyncSession, member: StaffMember, ward: str | None, query: str,
                 filters: tuple[str, ...], now: datetime, status: str = STATUSES[0],
                 limit: int = SEARCH_LIMIT) -> tuple[str, list[Hit]]:
    """Residents of `ward` (None: every ward, admins only) matching the text and filters,
    with this status (a card code or a citizen, insurance or phone number finds its
    resident whatever their status: it names a person, and "not found" would mislead);
    audited as one entry listing the residents shown (ids, never the text typed)."""
    if not member.sees(ward):
        raise PermissionError("ward")
    kind, value = classify(query) if query.strip() else ("all", None)
    if kind == "short":
        return kind, []
    q = _HITS if ward is None else _HITS.where(_R.c.ward == ward)
    match kind:
        case "code":
            q = q.where(_R.c.code_hash == code_vault.digest(value))
        case "citizen":
            q = q.where(_R.c.citizen_id == value)
        case "insurance":
            q = q.where(_R.c.insurance_key == value)
        case "phone":
            q = q.where(_R.c.phone == value)
        case _:
            q = q.where(_R.c.status == status)
    if "undeclared" in filters:
        q = q.where(~select(_D.c.id).where(_D.c.resident_id == _R.c.id,
                                           _D.c.submitted_at >= quarter_start(now)).exists())
    if "unlinked" in filters:
        q = q.where(~_ACTIVE_LINK)
    if "linked" in filters:
        q = q.where(_ACTIVE_LINK)
    conn = await session.connection()
    if kind == "name":
        # No ORDER BY: the first `limit` matches found let the scan stop there (sorting
        # would fetch every match first: 13,000 rows for "thi lan" in a 1M-row ward); the
        # page sorts what it shows and asks for more letters beyond that.
        rows = []
        for way in name_ways(value):
            rows = (await conn.execute(q.where(way).limit(limit))).all()
            if rows:
                break
        hits = sorted(map(_hit, rows), key=lambda h: (h.full_name, h.id))
    else:
        hits = [_hit(r) for r in (await conn.execute(q.order_by(_R.c.id).limit(limit))).all()]
    await audit.write(conn, "web_search", actor_kind="staff", actor_id=staff_key(member),
                      outcome="ok" if hits else "not_found",
                      details={"kind": kind, "ward": ward, "filters": list(filters), "status": status,
                               "resident_ids": [h.id for h in hits]})
    return kind, hits


# ---------------------------------------------------------------- one resident


@dataclass(frozen=True, slots=True)
class Version:
    version: int
    submitted_at: datetime
    relation: str
    answers: dict[str, Any]
    changed: tuple[str, ...]  # question keys whose answer differs from the version before


@dataclass(frozen=True, slots=True)
class LinkRow:
    id: int
    account_id: int
    relation: str
    created_at: datetime


async def history(session: AsyncSession, resident_id: int) -> list[Version]:
    """Every declaration version, newest first, with what changed from the one before."""
    rows = (await session.execute(select(Declaration).where(Declaration.resident_id == resident_id)
                                  .order_by(Declaration.version))).scalars().all()
    out, before = [], None
    for d in rows:
        keys = sorted(set(before or {}) | set(d.answers))
        changed = () if before is None else tuple(k for k in keys if before.get(k) != d.answers.get(k))
        out.append(Version(d.version, d.submitted_at, d.relation, d.answers, changed))
        before = d.answers
    return out[::-1]


async def status_of(session: AsyncSession, resident_id: int) -> tuple[str, datetime | None]:
    """Living here, moved away or deceased, and since when (None: never changed)."""
    row = (await session.execute(select(Resident.status, Resident.status_changed_at)
                                 .where(Resident.id == resident_id))).one()
    return row[0], row[1]


async def links(session: AsyncSession, resident_id: int) -> list[LinkRow]:
    q = (select(Link.id, Link.account_id, Link.relation, Link.created_at)
         .where(Link.resident_id == resident_id, Link.revoked_at.is_(None)).order_by(Link.created_at))
    return [LinkRow(*r) for r in (await session.execute(q)).all()]


async def remove_link(session: AsyncSession, member: StaffMember, resident_id: int, link_id: int,
                      at: datetime) -> bool:
    account = await session.scalar(select(Link.account_id).where(
        Link.id == link_id, Link.resident_id == resident_id, Link.revoked_at.is_(None)))
    if account is None:
        return False
    ended = await people._revoke(session, at, "staff", account_id=account, resident_id=resident_id)
    session.add(entry("unlink", actor_kind="staff", actor_id=staff_key(member), resident_id=resident_id,
                      details={"links": len(ended), "via": "web"}))
    return bool(ended)


# ---------------------------------------------------------------- a walk-in resident


class WalkInError(Exception):
    """Fields that cannot be used: [(field, message id, vars)]."""

    def __init__(self, problems: list[tuple[str, str, dict[str, Any]]]):
        super().__init__("walk-in")
        self.problems = problems


WALK_IN_FIELDS = ("full_name", "birth", "sex", "quarter", "group_name", "phone", "citizen_id",
                  "insurance_code", "address")


async def add_walk_in(session: AsyncSession, member: StaffMember, ward: str, form: dict[str, str],
                      today: date) -> Resident:
    """One resident typed at the health station, checked by the import's own rules; a
    repeated citizen id or insurance number is refused as the import refuses it."""
    if not member.sees(ward):
        raise PermissionError("ward")
    rc = registry_check
    parsers = {
        "full_name": rc.parse_name, "birth": lambda v: rc.parse_birth(v, today), "sex": rc.parse_sex,
        "quarter": rc.optional_text, "group_name": rc.optional_text, "phone": rc.parse_phone,
        "citizen_id": rc.parse_citizen_id, "insurance_code": rc.parse_insurance, "address": rc.optional_text,
    }
    values: dict[str, Any] = {}
    problems = []
    for name, parse in parsers.items():
        try:
            values[name] = parse(form.get(name, "") or "")
        except rc.Bad as bad:
            problems.append((name, f"registry.reason.{bad.reason}", bad.vars))
    if problems:
        raise WalkInError(problems)
    born, year = values.pop("birth")
    taken = (("citizen_id", Resident.citizen_id, values["citizen_id"], "registry.reason.citizen_id_taken"),
             ("insurance_code", Resident.insurance_key, values["insurance_code"] and values["insurance_code"][-10:],
              "web.walkin.insurance_taken"))
    for name, column, value, msg in taken:
        if value is not None and await session.scalar(select(Resident.id).where(column == value)):
            raise WalkInError([(name, msg, {})])
    for _ in range(5):
        row = Resident(code=codes.new_code(), ward=ward, birth_date=born, birth_year=year, **values)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
            break
        except IntegrityError:  # a code drawn twice (about 1 in 10^8): draw again
            session.expunge(row)
    session.add(entry("walk_in", actor_kind="staff", actor_id=staff_key(member), resident_id=row.id,
                      details={"ward": ward}))
    return row


# ---------------------------------------------------------------- the overview


@dataclass(frozen=True, slots=True)
class ProgressRow:
    quarter: str | None  # khu phố; None on the ward's total
    group_name: str | None  # tổ; None on a khu phố's subtotal
    residents: int
    linked: int
    this_q: int  # declared since the calendar quarter began
    prev_q: int  # declared in the quarter before (latest or not)
    ever: int


async def progress(session: AsyncSession, ward: str | None, now: datetime) -> list[ProgressRow]:
    """Declared / linked / not linked by khu phố and tổ (total first, then each khu phố with
    its subtotal before its tổ); with ward None, by ward and khu phố in the same fields."""
    q0, q1 = quarter_start(now), quarter_start(now, 1)
    # Plain joins against per-resident aggregates: hash joins, one pass over each table
    # (1M residents: ~1.5 s, against 18 s for the same counts through CTEs and IN lists).
    # One ward: by khu phố, then tổ. Every ward (admins): by ward, then khu phố.
    outer, inner = ("coalesce(r.quarter, '')", "coalesce(r.group_name, '')") if ward is not None else (
        "r.ward", "coalesce(r.quarter, '')")
    sql = text(f"""
        SELECT grouping({outer}) AS g_kp, grouping({inner}) AS g_t, {outer} AS kp, {inner} AS grp, count(*),
               count(l.resident_id), count(*) FILTER (WHERE d.this_q), count(*) FILTER (WHERE d.prev_q),
               count(d.resident_id)
        FROM residents r
        LEFT JOIN (SELECT resident_id, bool_or(submitted_at >= :q0) AS this_q,
                          bool_or(submitted_at >= :q1 AND submitted_at < :q0) AS prev_q
                   FROM declarations GROUP BY resident_id) d ON d.resident_id = r.id
        LEFT JOIN (SELECT DISTINCT resident_id FROM links WHERE revoked_at IS NULL) l ON l.resident_id = r.id
        {"WHERE r.ward = :ward" if ward is not None else ""}
        GROUP BY ROLLUP ({outer}, {inner})
    """)
    params: dict[str, Any] = {"q0": q0, "q1": q1}
    if ward is not None:
        params["ward"] = ward
    # JIT compiling this one query took longer than running it; the hashes fit in 64 MB.
    await session.execute(text("SET LOCAL jit = off"))
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows = (await session.execute(sql, params)).all()
    out = [ProgressRow(None if r.g_kp else r.kp, None if r.g_t else r.grp, *r[4:]) for r in rows]
    out.sort(key=lambda r: (r.quarter is not None, _natural(r.quarter or ""), r.group_name is not None,
                            _natural(r.group_name or "")))
    return out or [ProgressRow(None, None, 0, 0, 0, 0, 0)]


def _natural(s: str) -> tuple:
    """'Tổ 10' after 'Tổ 9'."""
    import re  # noqa: PLC0415

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s))


async def per_day(session: AsyncSession, ward: str | None, now: datetime, days: int,
                  tz: ZoneInfo) -> list[tuple[date, int]]:
    """Declarations submitted per day over the last `days` days (every day, zeros too)."""
    since = datetime.combine(now.astimezone(tz).date() - timedelta(days=days - 1), datetime.min.time(), tz)
    day = func.date(func.timezone(str(tz), Declaration.submitted_at))
    q = select(day, func.count()).where(Declaration.submitted_at >= since).group_by(day)
    if ward is not None:
        q = q.join(Resident, Resident.id == Declaration.resident_id).where(Resident.ward == ward)
    counts = dict((await session.execute(q)).all())
    first = since.date()
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]


async def requests(session: AsyncSession, ward: str | None, status: str = "open",
                   limit: int = 100) -> list[DeletionRequest]:
    """Deletion requests of a ward (None: every ward), oldest first."""
    q = select(DeletionRequest).where(DeletionRequest.status == status)
    if ward is not None:
        q = q.where(DeletionRequest.ward == ward)
    return list((await session.execute(q.order_by(DeletionRequest.requested_at).limit(limit))).scalars())


def _hit(row) -> Hit:
    """A search result; its card code masked (a bearer secret: printing a card shows it)."""
    return Hit(row[0], codes.mask(code_vault.unseal(row[1])), *row[2:])


async def names(session: AsyncSession, ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """id -> (full name, code, ward) for the residents still in the registry."""
    if not ids:
        return {}
    q = select(Resident.id, Resident.full_name, Resident.code_sealed, Resident.ward).where(Resident.id.in_(ids))
    return {r[0]: (r[1], codes.mask(code_vault.unseal(r[2])), r[3]) for r in (await session.execute(q)).all()}



async def audience_by_quarter(session: AsyncSession, audience: Audience, now: datetime) -> list[tuple[str, int, int]]:
    """A reminder's audience by khu phố: (khu phố, families (chats), people)."""
    sub = broadcasts.audience_select(audience, now).subquery()
    rid = func.unnest(sub.c.resident_ids).label("rid")
    pairs = select(sub.c.account_id, rid).subquery()
    kp = func.coalesce(Resident.quarter, "")
    q = (select(kp, func.count(func.distinct(pairs.c.account_id)), func.count())
         .select_from(pairs).join(Resident, Resident.id == pairs.c.rid).group_by(kp).order_by(kp))
    return [(k, chats, people) for k, chats, people in (await session.execute(q)).all()]


async def seed_demo_activity(sessions, ward: str) -> None:
    """For `healthbot demo --web`: a linked account, a few declarations over the last days
    and one deletion request in the demo ward, so every console page has something to show.
    Invented values; done once."""
    from storage.models import Account, Consent  # noqa: PLC0415

    async with sessions.begin() as s:
        ids = list((await s.execute(select(Resident.id).where(Resident.ward == ward).order_by(Resident.id))).scalars())
        if not ids or await s.scalar(select(Declaration.id).where(Declaration.resident_id.in_(ids)).limit(1)):
            return
        now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
        account = "telegram:900001"
        s.add(Account(address=account, locale="vi"))
        await s.flush()
        for rid in ids[:3]:
            s.add(Link(account_id=account, resident_id=rid, relation="self" if rid == ids[0] else "child",
                       consent_version="1", consented_at=now - timedelta(days=20)))
            s.add(Consent(account_id=account, resident_id=rid, version="1", given_at=now - timedelta(days=20)))
        for n, (rid, days_ago, weight) in enumerate(((ids[0], 12, 52.0), (ids[0], 2, 53.5), (ids[1], 5, 70.0),
                                                     (ids[2], 1, 58.0))):
            version = 2 if n == 1 else 1
            s.add(Declaration(resident_id=rid, version=version, submission_key=f"demo-{rid}-{version}",
                              submitted_by=account, relation="self", questionnaire_version="1",
                              submitted_at=now - timedelta(days=days_ago), weight_kg=weight, height_cm=155,
                              answers={"weight": weight, "height": 155}))
        s.add(DeletionRequest(resident_id=ids[2], ward=ward, requested_by=account,
                              locale="vi", requested_at=now - timedelta(hours=80)))


async def count_residents(session: AsyncSession, ward: str, quarter: str | None = None) -> int:
    q = select(func.count()).select_from(Resident).where(Resident.ward == ward)
    if quarter is not None:
        q = q.where(Resident.quarter == quarter)
    return int(await session.scalar(q) or 0)
