"""The declaration in progress, kept in the dialog state under `state["declare"]`.

It lives beside (not inside) the flow scratch space, so that "Hủy", /start or a restart
leave it in place: coming back offers "Tiếp tục" / "Làm lại" and nothing said is lost.

    rid, rel      whom it is for: the resident's id and the account's relation to them.
                  No copy of the registry row: the person is read with the account's
                  links each step (`need`), so Redis holds ids and answers only, and a
                  link that ended takes its draft with it.
    answers       key -> value, by question key
    prev          the answers of the latest saved version (/capnhat offers to keep them)
    started       when it began (ISO); at: the question being asked, or "review"
    tries         failed tries per key; pending: an unusual value awaiting "Bạn chắc chắn?"
    edit          re-asking one answer from the review; skey: submission key of the review
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dialogs.core import HOME, Ctx, Msg, button_forms
from dialogs.nodes import in_declaration
from dialogs.ports import Person
from dialogs.questionnaire import VERSION, Facts, facts_for, live, num
from dialogs.state import DialogState, Draft
from dialogs.text import answer, answers

DRAFT = "declare"


def new(person: Person, now: str, prev: dict[str, Any] | None = None) -> Draft:
    return {
        "rid": person.id, "rel": person.relation, "answers": {}, "prev": prev or {}, "started": now,
        "at": None, "tries": {}, "pending": None, "edit": False, "skey": None, "qv": VERSION,
    }


def get(ctx: Ctx) -> Draft | None:
    return ctx.state.get(DRAFT)


async def need(ctx: Ctx) -> Draft | None:
    """The draft, with its person read for this step; without one (a node reached from an
    older state, or the link has ended meanwhile), back to the menu."""
    d = get(ctx)
    if d is not None:
        d.pop("person", None)  # a registry copy kept by drafts made before issue 13
    if d is not None and not any(p.id == d.get("rid") for p in await ctx.people()):
        ctx.state.pop(DRAFT, None)
        d = None
    if d is None:
        ctx.reset()
        ctx.say("decl.lost")
        await ctx.go(HOME, remember=False)
    return d


def person_of(ctx: Ctx, d: Draft) -> Person:
    """Whom the draft is for, as the registry has them now (read by `need` this step)."""
    person = next((p for p in ctx.people_read() if p.id == d["rid"]), None)
    if person is None:
        raise LookupError("the draft's person is read by draft.need() first")
    return person


def today(ctx: Ctx) -> date:
    return ctx.env.now.date()


def facts(ctx: Ctx, d: Draft, key: str) -> Facts | None:
    """The facts a question sees, or None if it does not apply (any more)."""
    return facts_for(key, person_of(ctx, d), d["answers"], today(ctx), ctx.env.station_name)


def who_of(ctx: Ctx, d: Draft) -> Msg:
    """'bà Nguyễn Thị A', with any correction of name, birth date or sex applied."""
    person, day = person_of(ctx, d), today(ctx)
    return Facts(person, live(person, d["answers"], day), day).who()


def who_by_relation(d: Draft) -> Msg:
    """'con của bạn': whom a draft is for, without reading the registry (the idle reminder
    is sent outside any conversation step, and shows on a locked phone's screen)."""
    return Msg(f"security.draft_for.{d.get('rel') or 'other'}")


def drop_person(state: DialogState, resident_id: int) -> bool:
    """Forget a person in one dialog state: their declaration in progress and the selection.
    The node stays, so the next message there says the declaration is gone. True if changed."""
    changed = False
    d = state.get(DRAFT)
    if isinstance(d, dict) and d.get("rid") == resident_id:
        del state[DRAFT]
        changed = True
    if state.get("person_id") == resident_id:
        del state["person_id"]
        changed = True
    return changed


def in_progress(state: DialogState) -> bool:
    """Mid-way through a declaration (what the idle reminder watches)."""
    return DRAFT in state and in_declaration(state.get("node"))


def said(ctx: Ctx, label: str, also: tuple[str, ...] = ()) -> bool:
    """The button `label` pressed, or one of its typed forms."""
    if ctx.inp.kind != "text":
        return False
    f = answer(ctx.inp.text[:200])
    return f in button_forms(label) or f in answers(also)


def local(vars: dict[str, Any], locale: str) -> dict[str, Any]:
    """Numbers written the person's way (decimal comma in Vietnamese)."""
    return {k: num(v, locale) if isinstance(v, float) else v for k, v in vars.items()}
