"""One engine node per question (`declare.q.<key>`), all driven by the questionnaire tuple.

A node per question lets the engine's own "Quay lại" walk back through what was asked.
Asking shows the choices as big buttons, the earlier answer as "Giữ nguyên" when there is
one, and "Bỏ qua" on an optional question after three failed tries. An unusual value is
confirmed once; a rejected one is told what is expected, with an example.
"""

from __future__ import annotations

from typing import Any

from dialogs import draft, nodes, parsers
from dialogs.core import HINTS, NAV, NOT_TEXT, READS_ANY_KIND, Ctx, Msg, Reply, node
from dialogs.parsers import Invalid
from dialogs.questionnaire import (
    AROUND,
    NO_CONDITIONS,
    QUESTIONS,
    Choice,
    Facts,
    Question,
    first_unanswered,
    forms,
    interpret,
    joined,
    label_of,
    next_key,
    offered,
    show,
)
from dialogs.state import Draft
from dialogs.text import pick

KEEP = "decl.btn.keep"
KEEP_ALSO = ("giu nguyen", "giu", "nhu cu", "nhu truoc", "van vay", "van nhu cu", "keep", "same")
SKIP_ALSO = ("bo qua", "skip", "khong tra loi", "khong muon tra loi")
SHARE = "decl.btn.share_phone"
YES, NO = Choice(True, "btn.yes"), Choice(False, "btn.no")
TRIES_BEFORE_SKIP = 3
_WAIT = object()  # a toggle on a several-choice question: not answered yet


def _earlier(d: Draft, key: str) -> tuple[bool, Any]:
    """The answer to offer as "Giữ nguyên": this draft's, else the last saved version's."""
    for source in (d["answers"], d["prev"]):
        if key in source:
            return True, source[key]
    return False, None


def _on_label(q: Question, label: str, toggled: list) -> str:
    c = next(c for c in q.choices if c.label == label)
    return label + "_on" if c.value in toggled else label


def _keyboard(d: Draft, q: Question, facts: Facts) -> list[list[str]]:
    labels = [c.label for c in offered(q, facts)]
    if q.multi:
        labels = [_on_label(q, lb, d.get("toggled") or []) for lb in labels]
    rows = [labels[i : i + q.per_row] for i in range(0, len(labels), q.per_row)]
    if q.multi:
        rows.append(["btn.done", NO_CONDITIONS.label])
    if _earlier(d, q.key)[0]:
        rows.append([KEEP])
    if q.optional and d["tries"].get(q.key, 0) >= TRIES_BEFORE_SKIP:
        rows.append(["btn.skip"])
    return rows + NAV


def _reply(ctx: Ctx, d: Draft, q: Question, facts: Facts, msg: str, vars: dict) -> None:
    r = Reply(msg, draft.local(vars, ctx.locale), keyboard=_keyboard(d, q, facts))
    if q.contact and draft.person_of(ctx, d).relation == "self":
        r.contact_button = SHARE
    ctx.send(r)


async def _where(ctx: Ctx, q: Question) -> tuple[Draft, Facts] | None:
    """The draft and this question's facts; None once the step has moved on because there
    is no draft, or because the question no longer applies (an earlier answer changed)."""
    d = await draft.need(ctx)
    if d is None:
        return None
    facts = draft.facts(ctx, d, q.key)
    if facts is None:
        await proceed(ctx, q.key)
        return None
    return d, facts


async def ask(ctx: Ctx, q: Question) -> None:
    found = await _where(ctx, q)
    if found is None:
        return
    d, facts = found
    d["at"], d["pending"] = q.key, None
    has, earlier = _earlier(d, q.key)
    if q.multi:
        d["toggled"] = list(earlier) if has and isinstance(earlier, list) else []
    if has:
        ctx.say("decl.previous", value=show(q, earlier, ctx.locale))
    vars = {"who": facts.who(), **(q.prompt_vars(facts) if q.prompt_vars else {})}
    _reply(ctx, d, q, facts, "q." + q.key, vars)


async def answer(ctx: Ctx, q: Question) -> None:
    found = await _where(ctx, q)
    if found is None:
        return
    d, facts = found
    pending, d["pending"] = d.get("pending"), None
    if pending and pending["key"] == q.key and ctx.inp.kind == "text":
        sure = pick(ctx.inp.text[:200], [(True, forms(YES)), (False, forms(NO))])
        if sure is True:
            await _store(ctx, d, q, pending["value"], facts)
            return
        if sure is False:
            await ask(ctx, q)
            return
    try:
        value, kept = _understand(ctx, d, q, facts)
    except Invalid as e:
        _failed(ctx, d, q, facts, e)
        return
    if value is _WAIT:
        return
    odd = None if kept or q.unusual is None else q.unusual(value, facts)
    if odd is not None:
        d["pending"] = {"key": q.key, "value": value}
        ctx.say(odd[0], keyboard=[["btn.yes", "btn.no"]] + NAV, **draft.local(odd[1], ctx.locale))
        return
    await _store(ctx, d, q, value, facts)


def _understand(ctx: Ctx, d: Draft, q: Question, facts: Facts) -> tuple[Any, bool]:
    """(value, kept). Raises Invalid for an answer we cannot use."""
    inp = ctx.inp
    has, earlier = _earlier(d, q.key)
    if has and draft.said(ctx, KEEP, KEEP_ALSO):
        return earlier, True
    if q.optional and draft.said(ctx, "btn.skip", SKIP_ALSO):
        return None, False
    if inp.kind == "contact" and q.contact:
        if not inp.phone:  # someone else's contact card
            raise Invalid("err.phone_not_own", example="0912 345 678")
        return parsers.phone(inp.phone), False
    if inp.kind != "text":  # a voice message, a sticker, a photo …: say what to type or press
        kind = inp.kind if inp.kind in NOT_TEXT + ("photo", "contact") else "other"
        raise Invalid("input." + kind, hint=hint_of(q))
    if q.multi:
        return _toggle(ctx, d, q, facts), False
    return interpret(q, inp.text, facts), False


def _toggle(ctx: Ctx, d: Draft, q: Question, facts: Facts) -> Any:
    on: list = d.setdefault("toggled", [])
    if draft.said(ctx, "btn.done"):
        if not on:
            raise Invalid("err.conditions_none", example="")
        return q.choices_in(on)
    c = pick(ctx.inp.text[:200], [(c, forms(c)) for c in [NO_CONDITIONS, *offered(q, facts)]], AROUND[q.key])
    if c is NO_CONDITIONS:  # "Không có", "không có bệnh gì"; "không bị tiểu đường" names two
        return []
    if c is None:  # typed as a list: "tiểu đường, huyết áp"
        return interpret(q, ctx.inp.text, facts)
    if c.value in on:
        on.remove(c.value)
    else:
        on.append(c.value)
    chosen = joined([Msg(label_of(q, v) or str(v)) for v in q.choices_in(on)]) if on else ""
    msg = "decl.toggled" if on else "decl.toggled_none"
    _reply(ctx, d, q, facts, msg, {"chosen": chosen})
    return _WAIT


def hint_of(q: Question) -> Msg:
    """What to type or press at this question (told when something else was sent)."""
    return Msg("hint." + q.key)


def _failed(ctx: Ctx, d: Draft, q: Question, facts: Facts, e: Invalid) -> None:
    tries = d["tries"][q.key] = d["tries"].get(q.key, 0) + 1
    _reply(ctx, d, q, facts, e.msg, e.vars)
    if q.optional and tries == TRIES_BEFORE_SKIP:
        ctx.say("decl.may_skip")


async def _store(ctx: Ctx, d: Draft, q: Question, value: Any, facts: Facts) -> None:
    d["answers"][q.key] = value
    d["tries"].pop(q.key, None)
    d["skey"] = None  # the answers changed: a confirmation from now on is a new submission
    d.pop("toggled", None)
    for msg, vars in q.after(value, facts) if q.after else ():
        extra = {"who": facts.who(), "station": ctx.env.station_name, "phone": ctx.env.station_phone}
        ctx.say(msg, **draft.local({**extra, **vars}, ctx.locale))
    await proceed(ctx, q.key)


async def proceed(ctx: Ctx, key: str) -> None:
    """The next question: the following one, or while editing the next unanswered one;
    the review when there is none."""
    d = await draft.need(ctx)
    if d is None:
        return
    person, answers, today = draft.person_of(ctx, d), d["answers"], draft.today(ctx)
    nxt = first_unanswered(person, answers, today) if d.get("edit") else next_key(person, answers, today, key)
    await ctx.go(nodes.question(nxt) if nxt else nodes.DECLARE_REVIEW)


def _register(q: Question) -> None:
    class Ask:
        @staticmethod
        async def enter(ctx: Ctx) -> None:
            await ask(ctx, q)

        @staticmethod
        async def handle(ctx: Ctx) -> None:
            await answer(ctx, q)

    node(nodes.question(q.key))(Ask)
    HINTS[nodes.question(q.key)] = lambda ctx: hint_of(q)
    READS_ANY_KIND.add(nodes.question(q.key))


for _q in QUESTIONS:
    _register(_q)
