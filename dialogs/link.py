"""Linking a messenger account to a resident: the card's code, then proof, relation, consent.

Three ways in, one flow: the QR deep link (`/start <code>`), a typed code, or a photo of
the card's QR code. A printed code is a bearer token, so the bot shows the masked name
and asks the full birth date (the year where the registry has no day); only a match
links. The consent notice comes before anything is stored. Counters live in Redis
(ctx.svc.limits), so the limits hold across processes; they count per account and per
card, so that many throwaway accounts do not multiply the guesses (README, "Security").
"""

from __future__ import annotations

import re
from datetime import date

from dialogs import codes, nodes, parsers
from dialogs.codes import CodeProblem
from dialogs.core import HOME, NAV, NODES, SYNONYMS, Ctx, Msg, Reply, command, node
from dialogs.home import HOME_INPUT, menu_item
from dialogs.naming import masked_name, who
from dialogs.ports import RELATIONS, Person

CONSENT_VERSION = "2026-01"  # the notice's text version, stored with every consent
MAX_WRONG_YEARS = 5  # wrong birth answers per code (resident) per account …
YEAR_WINDOW = 24 * 3600  # … per 24 hours, then that code is locked for that account
CARD_MAX_WRONG = 10  # wrong birth answers per card from all accounts in a day, or …
CARD_MAX_WRONG_MONTH = 20  # … in 30 days: then the card takes no new link until staff
MONTH_WINDOW = 30 * 24 * 3600  # unlock it, staff are alerted and its accounts told
CARD_MAX_ACCOUNTS = 5  # accounts that may try one card per day
MAX_MISSES = 20  # unknown codes per account …
MISS_WINDOW = 3600  # … per hour, across codes
MAX_ACCOUNTS = 3  # shown in the message; enforced by storage.people

RELATION_LABEL = {code: msg for msg, code in RELATIONS.items()}

# What people type instead of pressing a relation button (folded). "ba" is left out on
# purpose: it is "dad" in the South and also "bà" (grandmother) without diacritics.
SYNONYMS.update({
    "link.rel.self": ("ban than", "chinh toi", "cua toi", "myself", "me myself"),
    "link.rel.child": ("con trai", "con gai", "son", "daughter", "child"),
    "link.rel.parent": ("cha", "me", "bo", "mother", "father", "parent"),
    "link.rel.grandparent": ("ong", "ong noi", "ong ngoai", "ba noi", "ba ngoai", "grandmother", "grandfather"),
    "link.rel.spouse": ("vo", "chong", "wife", "husband", "spouse"),
    "link.rel.other": ("khac", "nguoi than", "other"),
})

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


def _year_key(account_id: str, resident_id: int) -> str:
    return f"link:year:{account_id}:{resident_id}"  # storage.security.wrong_by


def _card_key(resident_id: int) -> str:
    return f"link:card:{resident_id}"  # storage.security.card_wrong


def _card_month_key(resident_id: int) -> str:
    return f"link:card30:{resident_id}"  # storage.security.card_wrong_month


def _tryers_key(resident_id: int) -> str:
    return f"link:tryers:{resident_id}"  # storage.security.card_tryers


def _tried_key(resident_id: int, account_id: str) -> str:
    return f"link:tried:{resident_id}:{account_id}"  # storage.security.card_tried_by


def _miss_key(account_id: str) -> str:
    return f"link:miss:{account_id}"


def parse_year(text: str, this_year: int) -> int | None:
    """'1956', 'năm 1956', '12/03/1956' → 1956; anything else (or two years) → None."""
    found = _YEAR.findall(text)
    if len(found) != 1 or int(found[0]) > this_year:
        return None
    return int(found[0])


def looks_like_code(text: str) -> bool:
    """A valid code, or text a person most likely meant as one: about 14 letters and digits,
    mixed (so that a phone or citizen-id number, or words typed without spaces, are not)."""
    n = codes.normalise(text)
    if codes.check(n)[0]:
        return True
    # Digits as typed: normalise turns O/I/L into 0/1, which would make words look mixed.
    mixed = any(c.isdigit() for c in text) and any(c.isalpha() for c in n)
    return 12 <= len(n) <= 16 and n.isascii() and n.isalnum() and mixed


def contact(ctx: Ctx) -> dict[str, str]:
    return {"station": ctx.env.station_name, "phone": ctx.env.station_phone}


def named(ctx: Ctx, person: Person) -> Msg:
    return who(person, ctx.env.now.date())


async def attempt(ctx: Ctx, outcome: str, resident_id: int | None = None) -> None:
    """A failed or refused attempt, for the audit trail (ids only)."""
    await ctx.svc.audit.record(
        "link_attempt", actor_kind="account", actor_id=ctx.env.account, resident_id=resident_id, outcome=outcome
    )


async def leave(ctx: Ctx) -> None:
    """End the flow at the main menu."""
    ctx.reset()
    await ctx.go(HOME, remember=False)


async def has_links(ctx: Ctx) -> bool:
    return bool(await ctx.people())


async def _no_links(ctx: Ctx) -> bool:
    return getattr(ctx.svc, "people", None) is not None and not await has_links(ctx)


# ---------------------------------------------------------------- ways in


@command("start")
async def start(ctx: Ctx) -> None:
    """`/start` alone greets; `/start <code>` is the QR deep link."""
    ctx.reset()
    if ctx.inp.text.strip():
        ctx.state["node"] = nodes.LINK_CODE
        await take_code(ctx, ctx.inp.text)
        return
    ctx.say("link.welcome", **contact(ctx))
    await ctx.go(HOME if await has_links(ctx) else nodes.LINK_CODE, remember=False)


@menu_item("link.btn_link", order=5, show=_no_links)
async def begin(ctx: Ctx) -> None:
    await ctx.go(nodes.LINK_CODE)


@node(nodes.LINK_CODE)
class Code:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        for k in ("rid", "verified", "relation"):
            ctx.data.pop(k, None)
        ctx.say("link.code", keyboard=NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.inp.kind == "photo":
            await take_photo(ctx)
        elif ctx.inp.kind == "text":
            await take_code(ctx, ctx.inp.text)


async def take_photo(ctx: Ctx) -> None:
    if not ctx.inp.qr:
        ctx.say("link.no_qr", keyboard=NAV)
        return
    for payload in ctx.inp.qr:
        code, _ = codes.check(payload)
        if code:
            await lookup(ctx, code)
            return
    ctx.say("link.qr_not_ours", keyboard=NAV)


async def take_code(ctx: Ctx, text: str) -> None:
    """A typed code is checked (check character) before any lookup, so a typo gets a
    specific answer and costs nothing from the lookup limit."""
    code, problem = codes.check(text)
    if problem is CodeProblem.CHECK_FAILED:
        await attempt(ctx, "check_failed")
        ctx.say("link.err_check", keyboard=NAV)
    elif problem is CodeProblem.WRONG_LENGTH:
        ctx.say("link.err_length", keyboard=NAV, count=len(codes.normalise(text)))
    elif problem is not None:
        ctx.say("link.err_chars", keyboard=NAV, **contact(ctx))
    else:
        await lookup(ctx, code)


async def lookup(ctx: Ctx, code: str) -> None:
    uid, people = ctx.env.account, ctx.svc.people
    if await ctx.svc.limits.count(_miss_key(uid)) >= MAX_MISSES:
        await attempt(ctx, "rate_limited")
        ctx.say("link.too_many", **contact(ctx))
        await leave(ctx)
        return
    person = await people.by_code(code)
    if person is None:
        await ctx.svc.limits.hit(_miss_key(uid), MISS_WINDOW)
        await attempt(ctx, "unknown_code")
        ctx.say("link.unknown", keyboard=NAV, **contact(ctx))
        return
    status = await people.link_status(uid, person.id)
    if status == "already":
        ctx.say("link.already", who=named(ctx, person))
        await offer_declaration(ctx, person.id)
    elif await refuse_if_locked(ctx, person.id):
        return
    elif status == "locked":
        await card_locked(ctx, person.id)
    elif status == "full":
        await attempt(ctx, "full", person.id)
        ctx.say("link.full", max=MAX_ACCOUNTS, **contact(ctx))
        await leave(ctx)
    elif await too_many_accounts(ctx, person.id):
        await attempt(ctx, "too_many_accounts", person.id)
        ctx.say("security.card_busy", **contact(ctx))
        await leave(ctx)
    else:
        ctx.data["rid"] = person.id
        await ctx.go(nodes.LINK_YEAR)


async def refuse_if_locked(ctx: Ctx, resident_id: int) -> bool:
    if await ctx.svc.limits.count(_year_key(ctx.env.account, resident_id)) < MAX_WRONG_YEARS:
        return False
    await attempt(ctx, "locked", resident_id)
    ctx.say("link.locked", **contact(ctx))
    await leave(ctx)
    return True


async def card_locked(ctx: Ctx, resident_id: int) -> None:
    await attempt(ctx, "card_locked", resident_id)
    ctx.say("security.card_locked", **contact(ctx))
    await leave(ctx)


async def too_many_accounts(ctx: Ctx, resident_id: int) -> bool:
    """Whether this account would be one more than CARD_MAX_ACCOUNTS to try the card
    today; otherwise it is counted (once a day) among those that did."""
    limits, tried = ctx.svc.limits, _tried_key(resident_id, ctx.env.account)
    if await limits.count(tried):
        return False
    if await limits.count(_tryers_key(resident_id)) >= CARD_MAX_ACCOUNTS:
        return True
    await limits.hit(tried, YEAR_WINDOW)
    await limits.hit(_tryers_key(resident_id), YEAR_WINDOW)
    return False


async def wrong_answer(ctx: Ctx, person: Person) -> None:
    """Count a wrong birth answer for the account and for the card; lock either when its
    limit is reached."""
    limits, uid = ctx.svc.limits, ctx.env.account
    wrong = await limits.hit(_year_key(uid, person.id), YEAR_WINDOW)
    on_card = await limits.hit(_card_key(person.id), YEAR_WINDOW)
    this_month = await limits.hit(_card_month_key(person.id), MONTH_WINDOW)
    await attempt(ctx, "wrong_year", person.id)
    if on_card >= CARD_MAX_WRONG or this_month >= CARD_MAX_WRONG_MONTH:
        await lock_card(ctx, person)
    elif wrong >= MAX_WRONG_YEARS:
        await ctx.svc.audit.record(
            "link_lock", actor_kind="account", actor_id=uid, resident_id=person.id, outcome="locked",
        )
        ctx.say("link.locked", **contact(ctx))
        await leave(ctx)
    else:
        ctx.say("link.wrong_year" if person.birth_date is None else "security.wrong_date",
                keyboard=NAV, left=MAX_WRONG_YEARS - wrong)


async def lock_card(ctx: Ctx, person: Person) -> None:
    """Too many wrong answers on this card today, from any accounts: no new link until
    staff unlock it; the accounts already linked are told (the alert for staff is the
    audit entry, counted in the statistics)."""
    told = await ctx.svc.people.lock_card(person.id, ctx.env.account, ctx.env.now)
    for holder in told or ():
        ctx.send(Reply("security.card_locked_notice", {"who": named(ctx, person), **contact(ctx)},
                       to=holder.account_id, locale=holder.locale))
    await card_locked(ctx, person.id)


# ---------------------------------------------------------------- proof, relation, consent


async def pending(ctx: Ctx, verified: bool = True) -> Person | None:
    """The resident this flow is about; None (and back to the code) if the flow lost it."""
    rid = ctx.data.get("rid")
    if rid is not None and (not verified or ctx.data.get("verified") == rid):
        person = await ctx.svc.people.by_id(rid)
        if person is not None:
            return person
        ctx.say("link.gone", **contact(ctx))
    ctx.state["node"] = nodes.LINK_CODE
    await Code.enter(ctx)
    return None


def parse_birth_date(text: str) -> date | None:
    """'05/03/1948', '5-3-1948', 'ngày 5.3.1948' → the date; anything else → None."""
    try:
        return parsers.birth_date(text)
    except parsers.Invalid:
        return None


def birth_answer(ctx: Ctx, person: Person) -> tuple[object | None, object]:
    """(what was typed, understood; None if not understood), and the registry's value."""
    text = ctx.inp.text if ctx.inp.kind == "text" else ""
    if person.birth_date is None:
        return (parse_year(text, ctx.env.now.year) if text else None), person.birth_year
    return (parse_birth_date(text) if text else None), person.birth_date


# Not a place "Quay lại" returns to: a birth date once proven is not asked again.
@node(nodes.LINK_YEAR, back=False)
class Year:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        person = await pending(ctx, verified=False)
        if person:
            ctx.say("link.year" if person.birth_date is None else "security.ask_birth_date", keyboard=NAV,
                    name=masked_name(person.full_name), ward=person.ward)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        person = await pending(ctx, verified=False)
        if person is None:
            return
        given, known = birth_answer(ctx, person)
        if given is None:
            ctx.say("link.year_invalid" if person.birth_date is None else "security.date_invalid", keyboard=NAV)
            return
        if await refuse_if_locked(ctx, person.id):
            return
        if await ctx.svc.people.link_status(ctx.env.account, person.id) == "locked":
            await card_locked(ctx, person.id)
            return
        if given != known:
            await wrong_answer(ctx, person)
            return
        await ctx.svc.limits.reset(_year_key(ctx.env.account, person.id))
        ctx.data["verified"] = person.id
        await ctx.go(nodes.LINK_RELATION)


@node(nodes.LINK_RELATION)
class Relation:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        # Three rows of two plus Back/Cancel: few enough rows for full-height buttons.
        ids = list(RELATIONS)
        ctx.say("link.relation", keyboard=[ids[0:2], ids[2:4], ids[4:6]] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        picked = ctx.choice(list(RELATIONS))
        if picked:  # anything else: the engine says it did not understand and asks again
            ctx.data["relation"] = RELATIONS[picked]
            await ctx.go(nodes.LINK_CONSENT)


@node(nodes.LINK_CONSENT)
class Consent:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        person = await pending(ctx)
        if person:
            ctx.say("link.consent", keyboard=[["link.btn_agree"], ["link.btn_decline"]] + NAV,
                    who=named(ctx, person), **contact(ctx))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.pressed("link.btn_agree"):
            await make_link(ctx)
        elif ctx.pressed("link.btn_decline"):
            await attempt(ctx, "declined", ctx.data.get("rid"))
            ctx.say("link.declined")
            await leave(ctx)


async def make_link(ctx: Ctx) -> None:
    person = await pending(ctx)
    if person is None:
        return
    if "relation" not in ctx.data:
        await ctx.go(nodes.LINK_RELATION)
        return
    outcome = await ctx.svc.people.link(
        ctx.env.account, ctx.locale, person.id, ctx.data["relation"], CONSENT_VERSION, ctx.env.now
    )
    ctx.forget_people()
    if outcome.status == "full":
        ctx.say("link.full", max=MAX_ACCOUNTS, **contact(ctx))
        await leave(ctx)
        return
    if outcome.status == "gone":
        ctx.say("link.gone", **contact(ctx))
        await leave(ctx)
        return
    if outcome.status == "locked":
        await card_locked(ctx, person.id)
        return
    ctx.say("link.already" if outcome.status == "already" else "link.done", who=named(ctx, person), ward=person.ward)
    for account, locale in outcome.notify:
        ctx.send(Reply("link.notice", {"who": named(ctx, person), **contact(ctx)}, to=account, locale=locale))
    await offer_declaration(ctx, person.id)


# ---------------------------------------------------------------- after linking


async def offer_declaration(ctx: Ctx, resident_id: int) -> None:
    """Select the person and offer to declare for them now."""
    ctx.reset()
    ctx.state["person_id"] = resident_id
    await ctx.go(nodes.LINK_NEXT, remember=False)


# Reached only after a link succeeded: no Back/Cancel buttons here, because "Hủy" would
# read as undoing the link; "Để sau" is the way out (typed Back/Cancel still work).
@node(nodes.LINK_NEXT, back=False)
class Next:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        person = await ctx.svc.people.get_linked(ctx.env.account, ctx.state.get("person_id") or 0)
        if person is None:
            await leave(ctx)
            return
        ctx.say("link.next", keyboard=[["link.btn_declare"], ["link.btn_later"]], who=named(ctx, person))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.pressed("link.btn_declare") and nodes.DECLARE_BEGIN in NODES:
            ctx.reset()
            await ctx.go(nodes.DECLARE_BEGIN, remember=False)
        elif ctx.pressed("link.btn_declare") or ctx.pressed("link.btn_later"):
            ctx.say("link.later")
            await leave(ctx)


# ---------------------------------------------------------------- at the main menu

# At the main menu a photo is a card photo, and text shaped like a code is a code.
async def _claim_at_home(ctx: Ctx) -> bool:
    if ctx.inp.kind == "photo" or (ctx.inp.kind == "text" and looks_like_code(ctx.inp.text)):
        ctx.reset()
        ctx.state["node"] = nodes.LINK_CODE
        await Code.handle(ctx)
        return True
    return False


HOME_INPUT.append(_claim_at_home)
