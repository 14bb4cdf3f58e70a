"""A resident's rights under the Personal Data Protection Law, through a linked account:
/dulieucuatoi sends everything stored about them, /rutdongy withdraws consent, /xoadulieu
asks for erasure (ward staff decide: bot/cli_privacy.py).

Each command asks whom it is about when the account holds several people, or takes a card
code after it (`/dulieucuatoi <mã thẻ>`). An account not linked to that person gets the same
polite refusal whether the code exists or not, so nothing is disclosed; refusals are audited.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from typing import Any

from dialogs import codes, family, nodes
from dialogs.core import NAV, Ctx, Msg, Reply, command, node
from dialogs.draft import drop_person
from dialogs.home import menu_item
from dialogs.link import RELATION_LABEL, contact, has_links, leave, named
from dialogs.ports import Person
from dialogs.questionnaire import BY_KEY, QUESTIONS, show
from locales import audit_labels, catalog, t

# The action a command starts, and the audit action its refusals are recorded under.
AUDIT = {"data": "privacy_access", "withdraw": "consent_withdraw", "erase": "deletion_request"}
ORDER = {q.key: i for i, q in enumerate(QUESTIONS)}  # answers in the order they were asked
# The node confirming an action (reading one's data needs no confirmation).
CONFIRM = {"withdraw": nodes.RIGHTS_WITHDRAW, "erase": nodes.RIGHTS_ERASE}
PICK = {"data": "privacy.pick_data", "withdraw": "privacy.pick_withdraw", "erase": "privacy.pick_erase"}
WITHDRAW, WITHDRAW_ERASE, ERASE, KEEP = (
    "privacy.btn_withdraw", "privacy.btn_withdraw_erase", "privacy.btn_erase", "privacy.btn_keep")


@command("dulieucuatoi", "mydata")
async def my_data(ctx: Ctx) -> None:
    await begin(ctx, "data", ctx.inp.text)


@command("rutdongy", "withdraw")
async def withdraw_command(ctx: Ctx) -> None:
    await begin(ctx, "withdraw", ctx.inp.text)


@command("xoadulieu", "erase")
async def erase_command(ctx: Ctx) -> None:
    await begin(ctx, "erase", ctx.inp.text)


# The same three rights from the main menu, for people who do not type commands.
MENU_OPTIONS = {"privacy.opt_data": "data", "privacy.opt_withdraw": "withdraw", "privacy.opt_erase": "erase"}


@menu_item("privacy.btn_menu", order=70, show=has_links)
async def rights_menu(ctx: Ctx) -> None:
    ctx.reset()
    await ctx.go(nodes.RIGHTS_MENU, remember=False)


@node(nodes.RIGHTS_MENU)
class RightsMenu:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        ctx.say("privacy.menu", keyboard=[[o] for o in MENU_OPTIONS] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        chosen_option = ctx.choice(list(MENU_OPTIONS))
        if chosen_option is None:
            ctx.say("common.not_understood")
            await RightsMenu.enter(ctx)
            return
        await begin(ctx, MENU_OPTIONS[chosen_option])


async def begin(ctx: Ctx, action: str, code_text: str = "") -> None:
    ctx.reset()
    ctx.data["privacy"] = action
    if code_text.strip():
        await _by_code(ctx, code_text)
        return
    people = await ctx.people()
    if not people:
        await _refuse(ctx, None, "no_links", "privacy.no_people")
    elif len(people) == 1:
        await chosen(ctx, people[0])
    else:
        await ctx.go(nodes.RIGHTS_PICK)


async def _by_code(ctx: Ctx, text: str) -> None:
    code, _ = codes.check(text)
    person = await ctx.svc.people.by_code(code) if code else None
    linked = await ctx.svc.people.get_linked(ctx.env.account, person.id) if person else None
    if linked is None:
        await _refuse(ctx, person.id if person else None, "not_linked" if person else "unknown_code")
        return
    await chosen(ctx, linked)


async def _refuse(ctx: Ctx, resident_id: int | None, outcome: str, msg: str = "privacy.not_linked") -> None:
    await ctx.svc.audit.record(AUDIT[ctx.data.get("privacy", "data")], actor_kind="account",
                               actor_id=ctx.env.account, resident_id=resident_id, outcome=outcome)
    await not_linked(ctx, msg)


async def not_linked(ctx: Ctx, msg: str = "privacy.not_linked") -> None:
    ctx.say(msg, **contact(ctx))
    await leave(ctx)


@node(nodes.RIGHTS_PICK)
class Pick:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        people = await ctx.people()
        if not people:
            await not_linked(ctx, "privacy.no_people")
            return
        family.show(ctx, PICK[ctx.data.get("privacy", "data")], people, [])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if person := await family.picked(ctx):
            await chosen(ctx, person)


async def chosen(ctx: Ctx, person: Person) -> None:
    action = ctx.data.get("privacy", "data")
    if action == "data":
        await send_data(ctx, person)
        return
    ctx.data["privacy_rid"] = person.id
    await ctx.go(CONFIRM[action])


async def _target(ctx: Ctx) -> Person | None:
    """The person a confirmation is about, while this account is still linked to them."""
    return await ctx.svc.people.get_linked(ctx.env.account, ctx.data.get("privacy_rid") or 0)


def _when(at: datetime) -> str:
    return at.strftime("%d/%m/%Y %H:%M")


# ---------------------------------------------------------------- /dulieucuatoi


async def send_data(ctx: Ctx, person: Person) -> None:
    dossier = await ctx.svc.privacy.dossier(ctx.env.account, person.id, ctx.env.now)
    if dossier is None:  # the link ended meanwhile (the refusal is audited by the service)
        await not_linked(ctx)
        return
    name = t(ctx.locale, "privacy.doc.filename", id=person.id)
    record = dossier.pop("fhir", None)  # the same record as HL7 FHIR, a file of its own
    readable = document_text(dossier, ctx.locale).encode("utf-8")
    as_json = json.dumps(dossier, ensure_ascii=False, indent=2, default=_json_value).encode("utf-8")
    ctx.send(Reply("privacy.data_text", {"who": named(ctx, person)}, document=(name + ".txt", readable)))
    ctx.send(Reply("privacy.data_json", document=(name + ".json", as_json)))
    if record is not None:
        fhir = json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")
        ctx.send(Reply("fhir.dossier.json", document=(name + ".fhir.json", fhir)))
    documents = getattr(ctx.svc, "documents", None)
    if documents is not None:  # a channel without a PDF maker still gets the files above
        pdf = await asyncio.to_thread(documents.health_summary, dossier, ctx.locale)
        ctx.send(Reply("fhir.dossier.pdf", document=(name + ".pdf", pdf)))
    await leave(ctx)


def _json_value(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    raise TypeError(type(v).__name__)


def _render(locale: str, v: Any) -> str:
    """A value, or a message with nested messages, as text."""
    if isinstance(v, Msg):
        return t(locale, v.id, **{k: _render(locale, x) for k, x in v.vars.items()})
    return "" if v is None else str(v)


def document_text(d: dict[str, Any], locale: str) -> str:
    """The dossier as a readable document, section by section, in the person's language."""

    def say(msg: str, **vars: Any) -> str:
        return t(locale, "privacy.doc." + msg, **vars)

    def value(v: Any) -> str:
        if v is None or v == "":
            return say("empty")
        if isinstance(v, datetime):
            return _when(v)
        if isinstance(v, date):
            return v.strftime("%d/%m/%Y")
        return str(v)

    def mine(yes: bool) -> str:
        return say("this_account" if yes else "other_account")

    def relation(code: str) -> str:
        return t(locale, RELATION_LABEL.get(code, "link.rel.other"))

    def section(title: str, lines: list[str], **vars: Any) -> list[str]:
        return ["", say(title, **vars)] + (lines or [say("none")])

    r = d["resident"]
    out = [say("title", name=r["full_name"]), say("intro", at=value(d["generated_at"]))]
    out += section("registry", [
        say("field", label=say("f." + k), value=_registry_value(locale, k, v) or value(v)) for k, v in r.items()])
    out += section("links", [
        say("link", relation=relation(x["relation"]), at=value(x["linked_at"]), version=x["consent_version"],
            account=mine(x["this_account"]),
            state=say("ended", at=value(x["ended_at"])) if x["ended_at"] else say("active"))
        for x in d["links"]])
    out += section("consents", [
        say("consent", version=c["version"], at=value(c["given_at"]), account=mine(c["this_account"]),
            state=say("withdrawn", at=value(c["withdrawn_at"])) if c["withdrawn_at"] else say("active"))
        for c in d["consents"]])
    lines = []
    for x in d["declarations"]:
        lines.append(say("declaration", version=x["version"], at=value(x["submitted_at"]),
                         relation=relation(x["relation"]), account=mine(x["by_this_account"]),
                         questionnaire=x["questionnaire_version"],
                         withdrawn=say("declaration_withdrawn") if x["consent_withdrawn"] else ""))
        answers = sorted(x["answers"].items(), key=lambda kv: ORDER.get(kv[0], len(ORDER)))
        lines += [say("answer", label=_label(locale, k), value=_answer(locale, k, v)) for k, v in answers]
    out += section("declarations", lines, n=len(d["declarations"]))
    out += section("requests", [
        say("request", id=q["id"], at=value(q["requested_at"]),
            status=say("status." + q["status"], at=value(q["decided_at"]),
                       reason=_known(locale, f"security.reason.{q['reason']}.short", value(q["reason"]))))
        for q in d["deletion_requests"]])
    out += section("access", [
        say("access_line", at=value(e["at"]), action=audit_labels.action(locale, e["action"]),
            by=audit_labels.label(locale, "actor", e["by"]),
            outcome="" if e["outcome"] == "ok" else say("outcome", outcome=audit_labels.outcome(locale, e["outcome"])))
        for e in d["access_log"]])
    return "\n".join(out) + "\n"


def _registry_value(locale: str, key: str, v: Any) -> str | None:
    """Register fields written the way people read them (None: as they are)."""
    if v is None:
        return None
    if key == "code":
        return codes.display(v)
    if key == "sex" and v in ("M", "F"):
        return t(locale, "privacy.doc.sex." + v)
    if key == "phone":
        return _answer(locale, "phone", v)
    return None


def _known(locale: str, msg_id: str, fallback: str) -> str:
    return t(locale, msg_id) if msg_id in catalog(locale) or msg_id in catalog("vi") else fallback


def _label(locale: str, key: str) -> str:
    return _known(locale, "label." + key, key)


def _answer(locale: str, key: str, v: Any) -> str:
    """As the review shows it; a value an older questionnaire stored shows as it is, so
    that nothing stops a person receiving their data."""
    q = BY_KEY.get(key)
    if q is not None:
        try:
            return _render(locale, show(q, v, locale))
        except (TypeError, ValueError, KeyError, AttributeError):
            pass
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v)


# ---------------------------------------------------------------- /rutdongy


async def _ask(ctx: Ctx, msg: str, buttons: list[str], **vars: Any) -> None:
    """A confirmation about the chosen person, while this account is still linked to them."""
    person = await _target(ctx)
    if person is None:
        await not_linked(ctx)
        return
    ctx.say(msg, keyboard=[[b] for b in buttons] + NAV, who=named(ctx, person), **vars)


async def _confirmed(ctx: Ctx, buttons: list[str]) -> tuple[str, Person] | None:
    """The button pressed, with the person it is about; None once "keep" or a lost link has
    been answered here (or for other input, which the engine asks again about)."""
    choice = ctx.choice(buttons)
    if choice is None:
        return None
    if choice == KEEP:
        ctx.say("privacy.kept")
        await leave(ctx)
        return None
    person = await _target(ctx)
    if person is None:
        await not_linked(ctx)
        return None
    return choice, person


@node(nodes.RIGHTS_WITHDRAW)
class Withdraw:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        await _ask(ctx, "privacy.withdraw_confirm", [WITHDRAW, WITHDRAW_ERASE, KEEP], **contact(ctx))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        got = await _confirmed(ctx, [WITHDRAW, WITHDRAW_ERASE, KEEP])
        if got is None:
            return
        choice, person = got
        # A deletion request is made while the link still proves the right to ask.
        if choice == WITHDRAW_ERASE and not await _request_erasure(ctx, person):
            return
        await _withdraw(ctx, person, erase_asked=choice == WITHDRAW_ERASE)


async def _withdraw(ctx: Ctx, person: Person, erase_asked: bool) -> None:
    version = await ctx.svc.privacy.withdraw(ctx.env.account, person.id, ctx.env.now)
    if version is None:
        await not_linked(ctx)
        return
    ctx.forget_people()  # the menu after this must not offer them any more
    drop_person(ctx.state, person.id)
    ctx.say("privacy.withdrawn", who=named(ctx, person), version=version, at=_when(ctx.env.now))
    if not erase_asked:
        ctx.say("privacy.withdrawn_kept", **contact(ctx))
    await leave(ctx)


# ---------------------------------------------------------------- /xoadulieu


@node(nodes.RIGHTS_ERASE)
class Erase:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        await _ask(ctx, "privacy.erase_confirm", [ERASE, KEEP])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        got = await _confirmed(ctx, [ERASE, KEEP])
        if got is not None and await _request_erasure(ctx, got[1]):
            await leave(ctx)


async def _request_erasure(ctx: Ctx, person: Person) -> bool:
    """Make (or find) the request and say so; False, with the refusal said, if not linked."""
    status, rid = await ctx.svc.privacy.request_deletion(
        ctx.env.account, ctx.locale, person.id, ctx.env.now)
    if status == "not_linked":
        await not_linked(ctx)
        return False
    ctx.say("privacy.erase_requested" if status == "created" else "privacy.erase_pending", id=rid)
    return True
