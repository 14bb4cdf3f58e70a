"""The owner of a record defends it: `/taikhoan` lists every account linked to the record
and removes any of them; the removed account is told, and its declaration in progress
about that person is dropped.

The owner is the account linked as the person themselves ("Tôi"), or, when the person
has no account of their own, the first account linked (dialogs.ports.owner_of). Other
accounts are shown by their place in the list, relation and date, never by an id.
"""

from __future__ import annotations

from functools import partial

from dialogs import nodes
from dialogs.core import NAV, Ctx, Msg, Reply, command, node
from dialogs.draft import drop_person
from dialogs.link import RELATION_LABEL, contact, leave, named
from dialogs.naming import person_labels
from dialogs.ports import Holder, Person, owner_of
from dialogs.text import fold
from locales import t


async def owned(ctx: Ctx) -> list[Person]:
    """The people this account speaks for."""
    out = []
    for person in await ctx.people():
        owner = owner_of(await ctx.svc.people.holders(person.id))
        if owner is not None and owner.account_id == ctx.env.account:
            out.append(person)
    return out


def _relation(h: Holder) -> Msg:
    return Msg(RELATION_LABEL.get(h.relation, "link.rel.other"))


def _remove_label(ctx: Ctx, n: int) -> str:
    return t(ctx.locale, "security.btn_remove", n=n)


def holder_lines(ctx: Ctx, holders: list[Holder]) -> Msg:
    lines = [Msg("security.holder_line", {
        "n": i, "relation": _relation(h), "since": h.linked_at.astimezone(ctx.env.now.tzinfo).strftime("%d/%m/%Y"),
        "you": Msg("security.holder_you") if h.account_id == ctx.env.account else ""}) for i, h in enumerate(holders, 1)]
    out = lines[-1]
    for line in reversed(lines[:-1]):
        out = Msg("family.lines", {"line": line, "more": out})
    return out


@command("taikhoan", "accounts")
async def accounts_command(ctx: Ctx) -> None:
    ctx.reset()
    await ctx.go(nodes.OWNER_PICK, remember=False)


@node(nodes.OWNER_PICK)
class Pick:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        people = await owned(ctx)
        if not people:
            ctx.say("security.owner_none", **contact(ctx))
            await leave(ctx)
        elif len(people) == 1:
            ctx.data["owner_rid"] = people[0].id
            await ctx.go(nodes.OWNER_LIST, remember=False)
        else:
            ctx.say("security.owner_pick", keyboard=[[label] for label in person_labels(people)] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        people = await owned(ctx)
        typed = fold(ctx.inp.text[:200]) if ctx.inp.kind == "text" else ""
        for person, label in zip(people, person_labels(people), strict=True):
            if typed and typed == fold(label):
                ctx.data["owner_rid"] = person.id
                await ctx.go(nodes.OWNER_LIST)
                return
        ctx.say("common.not_understood")
        await Pick.enter(ctx)


async def _mine(ctx: Ctx) -> tuple[Person, list[Holder]] | None:
    """The record chosen and its holders, while this account is still its owner."""
    rid = ctx.data.get("owner_rid") or 0
    person = await ctx.svc.people.get_linked(ctx.env.account, rid)
    holders = await ctx.svc.people.holders(rid) if person else []
    owner = owner_of(holders)
    if person is None or owner is None or owner.account_id != ctx.env.account:
        ctx.say("security.owner_none", **contact(ctx))
        await leave(ctx)
        return None
    return person, holders


@node(nodes.OWNER_LIST)
class List:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        found = await _mine(ctx)
        if found is None:
            return
        person, holders = found
        ctx.data["holders"] = [h.account_id for h in holders]  # the list as shown: what a number means
        others = [[_remove_label(ctx, i)] for i, h in enumerate(holders, 1) if h.account_id != ctx.env.account]
        ctx.say("security.holders" if others else "security.holders_alone", keyboard=others + NAV,
                who=named(ctx, person), lines=holder_lines(ctx, holders))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        shown = ctx.data.get("holders") or []
        typed = fold(ctx.inp.text[:200]) if ctx.inp.kind == "text" else ""
        for i, account in enumerate(shown, 1):
            if account != ctx.env.account and typed == fold(_remove_label(ctx, i)):
                ctx.data["remove"] = [i, account]
                await ctx.go(nodes.OWNER_CONFIRM)
                return
        ctx.say("common.not_understood")
        await List.enter(ctx)


@node(nodes.OWNER_CONFIRM, back=False)
class Confirm:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        found = await _mine(ctx)
        if found is None:
            return
        person, holders = found
        n, account = ctx.data.get("remove") or [0, None]
        target = next((h for h in holders if h.account_id == account), None)
        if target is None:
            await ctx.go(nodes.OWNER_LIST, remember=False)
            return
        ctx.say("security.remove_confirm", keyboard=[["security.btn_remove_yes"], ["security.btn_keep"]] + NAV,
                n=n, relation=_relation(target), who=named(ctx, person))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        rid = ctx.data.get("owner_rid") or 0
        if ctx.pressed("security.btn_remove_yes"):
            _, account = ctx.data.pop("remove", None) or [0, None]
            person = await ctx.svc.people.get_linked(ctx.env.account, rid)
            removed = person and await ctx.svc.people.remove_holder(ctx.env.account, rid, account, ctx.env.now)
            if not removed:
                ctx.say("security.remove_failed")
                await leave(ctx)
                return
            await ctx.svc.drafts.rewrite([removed], partial(drop_person, resident_id=rid))
            ctx.send(Reply("security.removed_notice", {"who": named(ctx, person), **contact(ctx)},
                           to=removed.account_id, locale=removed.locale))
            ctx.say("security.removed", relation=_relation(removed))
            await ctx.go(nodes.OWNER_LIST, remember=False)
        elif ctx.pressed("security.btn_keep"):
            ctx.data.pop("remove", None)
            await ctx.go(nodes.OWNER_LIST, remember=False)
