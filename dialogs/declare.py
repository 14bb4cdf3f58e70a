"""The health declaration: whom for, resume or start over, then the questions (asking.py)
and the review (review.py).

Ways in: the node "declare.begin" (the linking flow jumps here with `state["person_id"]`
set), the inline button "declare:<resident_id>" of a broadcast, the home menu, /khaibao;
/capnhat starts a new version offering every earlier answer as "Giữ nguyên"; /hoso shows
the latest saved one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from dialogs import asking, draft, nodes  # noqa: F401 - asking registers the question nodes
from dialogs import review as _review
from dialogs.core import HOME, NAV, NODES, STACK_LIMIT, Ctx, Reply, callback, command, node
from dialogs.draft import DRAFT
from dialogs.home import menu_item
from dialogs.naming import person_labels
from dialogs.ports import Person
from dialogs.questionnaire import QUESTIONS, live, walk
from dialogs.state import DialogState, Draft
from dialogs.text import fold

CONTINUE = "decl.btn.continue"
RESTART = "decl.btn.restart"
CONTINUE_ALSO = ("tiep tuc", "tiep", "lam tiep", "continue", "co")
RESTART_ALSO = ("lam lai", "bat dau lai", "khai lai", "restart", "start again")


# ---------------------------------------------------------------- ways in


async def start(ctx: Ctx, rid: int | None = None, purpose: str = "declare") -> None:
    """Offer to resume a declaration left mid-way; otherwise find whom it is for."""
    if purpose != "show" and draft.get(ctx) is not None:
        ctx.data["declare_next"] = {"rid": rid, "purpose": purpose}
        await ctx.go(nodes.DECLARE_RESUME)
        return
    await _choose(ctx, rid, purpose)


async def _choose(ctx: Ctx, rid: int | None, purpose: str) -> None:
    people = await ctx.people()
    if not people:
        ctx.say("decl.no_people")
        await ctx.go(HOME, remember=False)
        return
    person = next((p for p in people if p.id == rid), None)
    if rid is not None and person is None:
        ctx.say("decl.not_linked")
    if person is None and len(people) == 1:
        person = people[0]
    if person is None:
        ctx.data["declare_purpose"] = purpose
        await ctx.go(nodes.DECLARE_CHOOSE)
        return
    await PURPOSES[purpose](ctx, person)


async def _declare(ctx: Ctx, person: Person, prev: dict[str, Any] | None = None) -> None:
    ctx.state["person_id"] = person.id
    d = ctx.state[DRAFT] = draft.new(person, ctx.env.now.isoformat(timespec="seconds"), prev)
    count = sum(1 for _ in walk(person, {}, draft.today(ctx)))
    ctx.say("decl.intro", who=draft.who_of(ctx, d), count=count)
    first = QUESTIONS[0].key
    await ctx.go(nodes.question(first))


async def _update(ctx: Ctx, person: Person) -> None:
    rec = await ctx.svc.declarations.latest(person.id)
    if rec is None:
        ctx.say("decl.update_first_time")
    await _declare(ctx, person, rec.answers if rec else None)


async def _show(ctx: Ctx, person: Person) -> None:
    ctx.state["person_id"] = person.id
    await _review.show_record(ctx, person)


PURPOSES: dict[str, Callable[[Ctx, Person], Awaitable[None]]] = {
    "declare": _declare,
    "update": _update,
    "show": _show,
}


@node(nodes.DECLARE_BEGIN, back=False)
class Begin:
    """Entered by other flows: declares for `state["person_id"]` when it is set."""

    @staticmethod
    async def enter(ctx: Ctx) -> None:
        await start(ctx, ctx.state.get("person_id"))

    handle = enter


@command("khaibao")
async def declare_command(ctx: Ctx) -> None:
    await start(ctx)


@command("capnhat")
async def update_command(ctx: Ctx) -> None:
    await start(ctx, purpose="update")


@command("hoso")
async def record_command(ctx: Ctx) -> None:
    await start(ctx, purpose="show")


@callback("declare")
async def declare_button(ctx: Ctx, rest: str) -> None:
    await start(ctx, int(rest) if rest.isdigit() else None)


async def _may_declare(ctx: Ctx) -> bool:
    if draft.get(ctx) is not None:
        return False
    return bool(await ctx.people())


async def _left_mid_way(ctx: Ctx) -> bool:
    return draft.get(ctx) is not None


@menu_item("decl.btn.menu", order=20, show=_may_declare)
async def declare_menu(ctx: Ctx) -> None:
    await start(ctx)


# After /start, "Hủy" or a restart the menu says so: "▶️ Tiếp tục khai báo" (then
# "Tiếp tục" / "Làm lại").
@menu_item("decl.btn.menu_continue", order=19, show=_left_mid_way)
async def continue_menu(ctx: Ctx) -> None:
    await start(ctx)


# ---------------------------------------------------------------- choosing, resuming


@node(nodes.DECLARE_CHOOSE)
class Choose:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        people = await ctx.people()
        if not people:  # unlinked meanwhile
            ctx.say("decl.no_people")
            await ctx.go(HOME, remember=False)
            return
        # Names are not message ids: the renderer shows an unknown id as it is.
        ctx.say("decl.choose_person", keyboard=[[label] for label in person_labels(people)] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        people = await ctx.people()
        typed = fold(ctx.inp.text[:200]) if ctx.inp.kind == "text" else ""
        for i, (p, label) in enumerate(zip(people, person_labels(people), strict=True)):
            if typed and typed in (fold(label), fold(p.full_name), str(i + 1)):
                purpose = ctx.data.pop("declare_purpose", "declare")
                await PURPOSES.get(purpose, _declare)(ctx, p)
                return
        ctx.say("common.not_understood")
        await Choose.enter(ctx)


@node(nodes.DECLARE_RESUME, back=False)
class Resume:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        d = await draft.need(ctx)
        if d is None:
            return
        ctx.say("decl.resume", keyboard=[[CONTINUE], [RESTART]] + NAV, who=draft.who_of(ctx, d))

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        d = await draft.need(ctx) if draft.get(ctx) is not None else None
        wanted = ctx.data.pop("declare_next", None) or {}
        if d is not None and draft.said(ctx, CONTINUE, CONTINUE_ALSO):
            await resume(ctx, d)
        elif d is None or draft.said(ctx, RESTART, RESTART_ALSO):
            ctx.state.pop(DRAFT, None)
            await _choose(ctx, wanted.get("rid"), wanted.get("purpose", "declare"))
        else:
            ctx.data["declare_next"] = wanted
            ctx.say("common.not_understood")
            await Resume.enter(ctx)


async def resume(ctx: Ctx, d: Draft) -> None:
    """Back to the question left open, with "Quay lại" leading through the earlier ones."""
    person, today = draft.person_of(ctx, d), draft.today(ctx)
    at = d.get("at")
    asked = list(live(person, d["answers"], today))
    if at in asked:
        asked = asked[: asked.index(at)]
    ctx.state["stack"] = [nodes.question(k) for k in asked][-STACK_LIMIT:]
    # The review sends on to the first unanswered question, if any.
    target = nodes.question(at) if at and nodes.question(at) in NODES else nodes.DECLARE_REVIEW
    await ctx.go(target, remember=False)


# ---------------------------------------------------------------- the idle reminder


def reminder(state: DialogState, today: date) -> Reply | None:
    """The one reminder for a declaration left mid-way (sent by bot/idle.py). It names the
    person by relation only ("con của bạn"): the draft keeps no registry copy, and the
    text shows on a locked screen. `today` is no longer needed; kept for the caller."""
    if not draft.in_progress(state):
        return None
    return Reply("security.idle_reminder", {"who": draft.who_by_relation(state[DRAFT])})
