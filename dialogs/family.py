"""Family: the people an account has linked. `/nguoithan` lists them, selects one
(ctx.state["person_id"]) and adds another; `/huylienket` ends one link after a confirmation.

The list reads "2. bà Nguyễn Thị A — Cha mẹ", with one big button per person (the name);
typing the number works too, and means the person that number had in the list shown.
"""

from __future__ import annotations

from dialogs import nodes
from dialogs.core import NAV, Ctx, Msg, command, node
from dialogs.draft import drop_person
from dialogs.home import menu_item
from dialogs.link import RELATION_LABEL, has_links, leave, named, offer_declaration
from dialogs.naming import person_labels
from dialogs.ports import Person
from dialogs.text import fold


def people_lines(ctx: Ctx, people: list[Person], selected: int | None = None) -> Msg:
    """One message variable holding every line (messages nest: "{line}\n{more}")."""
    lines = [
        Msg("family.line_selected" if p.id == selected else "family.line",
            {"n": i, "who": named(ctx, p), "relation": Msg(RELATION_LABEL.get(p.relation, "link.rel.other"))})
        for i, p in enumerate(people, 1)
    ]
    out = lines[-1]
    for line in reversed(lines[:-1]):
        out = Msg("family.lines", {"line": line, "more": out})
    return out


def show(ctx: Ctx, msg: str, people: list[Person], extra: list[list[str]], selected: int | None = None) -> None:
    """The numbered list with one big button per person; remembers who was shown."""
    ctx.data["shown"] = [p.id for p in people]
    ctx.say(msg, keyboard=[[label] for label in person_labels(people)] + extra + NAV,
            people=people_lines(ctx, people, selected))


async def picked(ctx: Ctx) -> Person | None:
    """The person whose button was pressed, or whose number in the list was typed."""
    if ctx.inp.kind != "text":
        return None
    people = await ctx.people()
    text = fold(ctx.inp.text)
    for person, label in zip(people, person_labels(people), strict=True):
        if text == fold(label):
            return person
    shown = ctx.data.get("shown") or []
    if text.isdigit() and 1 <= int(text) <= len(shown):
        return next((p for p in people if p.id == shown[int(text) - 1]), None)
    return None


async def linked_or_none(ctx: Ctx) -> list[Person]:
    """This account's people; when there are none, say so and offer to link a card."""
    people = await ctx.people()
    if not people:
        ctx.say("family.none")
        ctx.reset()
        await ctx.go(nodes.LINK_CODE, remember=False)
    return people


# ---------------------------------------------------------------- the list


@command("nguoithan", "family")
async def family_command(ctx: Ctx) -> None:
    ctx.reset()
    await ctx.go(nodes.FAMILY_LIST, remember=False)


@menu_item("family.btn", order=60, show=has_links)
async def family_menu(ctx: Ctx) -> None:
    await ctx.go(nodes.FAMILY_LIST)


@node(nodes.FAMILY_LIST)
class FamilyList:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        people = await linked_or_none(ctx)
        if not people:
            return
        show(ctx, "family.list", people, [["family.btn_add"], ["family.btn_unlink"], ["security.btn_accounts"]],
             ctx.state.get("person_id"))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if ctx.pressed("family.btn_add"):
            await ctx.go(nodes.LINK_CODE)
        elif ctx.pressed("family.btn_unlink"):
            await ctx.go(nodes.FAMILY_UNLINK_PICK)
        elif ctx.pressed("security.btn_accounts"):
            await ctx.go(nodes.OWNER_PICK)
        elif person := await picked(ctx):
            ctx.say("family.selected", who=named(ctx, person))
            await offer_declaration(ctx, person.id)


# ---------------------------------------------------------------- unlinking


@command("huylienket", "unlink")
async def unlink_command(ctx: Ctx) -> None:
    ctx.reset()
    await ctx.go(nodes.FAMILY_UNLINK_PICK, remember=False)


@node(nodes.FAMILY_UNLINK_PICK)
class UnlinkPick:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        people = await linked_or_none(ctx)
        if len(people) == 1:  # nobody to choose between: straight to the confirmation
            ctx.data["unlink"] = people[0].id
            await ctx.go(nodes.FAMILY_UNLINK_CONFIRM, remember=False)
        elif people:
            show(ctx, "family.unlink_pick", people, [])

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if person := await picked(ctx):
            ctx.data["unlink"] = person.id
            await ctx.go(nodes.FAMILY_UNLINK_CONFIRM)


@node(nodes.FAMILY_UNLINK_CONFIRM)
class UnlinkConfirm:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        person = await ctx.svc.people.get_linked(ctx.env.account, ctx.data.get("unlink") or 0)
        if person is None:
            await ctx.go(nodes.FAMILY_UNLINK_PICK, remember=False)
            return
        keyboard = [["family.btn_unlink_yes"], ["family.btn_keep"]] + NAV
        ctx.say("family.unlink_confirm", keyboard=keyboard, who=named(ctx, person))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        rid = ctx.data.get("unlink") or 0
        if ctx.pressed("family.btn_unlink_yes"):
            person = await ctx.svc.people.get_linked(ctx.env.account, rid)
            if person and await ctx.svc.people.unlink(ctx.env.account, rid, ctx.env.now):
                ctx.forget_people()
                ctx.say("family.unlinked", who=named(ctx, person))
            drop_person(ctx.state, rid)  # the selection, and a declaration left mid-way for them
            await leave(ctx)
        elif ctx.pressed("family.btn_keep"):
            ctx.say("family.kept")
            await leave(ctx)
