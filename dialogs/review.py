"""The review before sending, the edit menu, saving, and showing the latest declaration.

The summary and the edit menu walk the questionnaire tuple, so they list exactly the
questions that applied to this person, in order.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from dialogs import draft, nodes
from dialogs.core import HOME, NAV, RETRIES, RETRY, Ctx, Msg, node
from dialogs.draft import DRAFT
from dialogs.ports import Person, Submission, Unavailable
from dialogs.questionnaire import (
    VERSION,
    Facts,
    first_unanswered,
    joined,
    live,
    show,
    typed_columns,
    walk,
)
from dialogs.state import Draft

CONFIRM = "decl.btn.confirm"
EDIT = "decl.btn.edit"
CONFIRM_ALSO = ("gui", "xac nhan", "xac nhan gui", "gui di", "dong y", "send", "confirm")
EDIT_ALSO = ("sua", "chinh sua", "sua lai", "edit", "change")


def summary(person: Person, answers: dict[str, Any], today: date, locale: str) -> Any:
    """One line per answered question that applies: '• Cân nặng: 65,5 kg'."""
    lines = [
        Msg("decl.line", {"label": Msg("label." + q.key), "value": show(q, answers[q.key], locale)})
        for q, _ in walk(person, answers, today)
        if q.key in answers
    ]
    return joined(lines, "decl.join_line")


@node(nodes.DECLARE_REVIEW)
class Review:
    @staticmethod
    async def enter(ctx: Ctx) -> None:
        d = await draft.need(ctx)
        if d is None:
            return
        person, today = draft.person_of(ctx, d), draft.today(ctx)
        missing = first_unanswered(person, d["answers"], today)
        if missing:  # e.g. the questionnaire changed while this draft waited
            d["edit"] = True
            await ctx.go(nodes.question(missing), remember=False)
            return
        d["at"], d["edit"] = "review", False
        # Made once per reviewed set of answers: a repeated "send" carries the same key.
        d["skey"] = d.get("skey") or secrets.token_urlsafe(24)
        ctx.say(
            "decl.review",
            keyboard=[[CONFIRM], [EDIT]] + NAV,
            who=draft.who_of(ctx, d),
            lines=summary(person, d["answers"], today, ctx.locale),
        )

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        if draft.get(ctx) is not None and draft.said(ctx, CONFIRM, CONFIRM_ALSO):
            await submit(ctx)  # reads what it needs itself: a database away is a retry
            return
        d = await draft.need(ctx)
        if d is None:
            return
        if draft.said(ctx, EDIT, EDIT_ALSO):
            await ctx.go(nodes.DECLARE_EDIT)
        else:
            ctx.say("decl.review_choose", keyboard=[[CONFIRM], [EDIT]] + NAV)


async def submit(ctx: Ctx) -> None:
    """Save a new version. If the database is unreachable (reading the person or saving)
    the answers stay as they are (on the review, same submission key) and the conversation
    is marked for a retry: the adapter sends it a `retry` input until the database answers,
    then the person is told it is saved. The key makes sure it is saved once, however many
    tries it takes."""
    try:
        d = await draft.need(ctx)
        if d is not None:
            await _save(ctx, d)
    except Unavailable:
        first = ctx.state.get(RETRY) != "submit"
        ctx.state[RETRY] = "submit"
        if first or ctx.inp.kind != RETRY:
            ctx.say("decl.save_later")


async def _retry_submit(ctx: Ctx) -> None:
    if draft.get(ctx) is None:  # cancelled or erased meanwhile: nothing left to save
        ctx.state.pop(RETRY, None)
        return
    await submit(ctx)


RETRIES["submit"] = _retry_submit


async def _save(ctx: Ctx, d: Draft) -> None:
    person, today = draft.person_of(ctx, d), draft.today(ctx)
    answers = live(person, d["answers"], today)
    started = d.get("started")
    sub = Submission(
        resident_id=d["rid"],
        account_id=ctx.env.account,
        submission_key=d["skey"],
        questionnaire_version=VERSION,
        started_at=datetime.fromisoformat(started) if started else None,
        answers=answers,
        columns=typed_columns(answers),
    )
    status, version = await ctx.svc.declarations.submit(sub)
    who = draft.who_of(ctx, d)
    ctx.state.pop(RETRY, None)
    ctx.state.pop(DRAFT, None)
    ctx.reset()
    if status == "not_linked":
        ctx.say("decl.not_linked")
    else:
        ctx.say("decl.saved", who=who, version=version)
    await ctx.go(HOME, remember=False)


@node(nodes.DECLARE_EDIT)
class Edit:
    """Which answer to change: one button per answer, by its review label."""

    @staticmethod
    def _keys(ctx: Ctx, d: Draft) -> list[str]:
        return list(live(draft.person_of(ctx, d), d["answers"], draft.today(ctx)))

    @staticmethod
    async def enter(ctx: Ctx) -> None:
        d = await draft.need(ctx)
        if d is None:
            return
        labels = ["label." + k for k in Edit._keys(ctx, d)]
        ctx.say("decl.edit_which", keyboard=[labels[i : i + 2] for i in range(0, len(labels), 2)] + NAV)

    @staticmethod
    async def handle(ctx: Ctx) -> None:
        d = await draft.need(ctx)
        if d is None:
            return
        for key in Edit._keys(ctx, d):
            if draft.said(ctx, "label." + key):
                d["edit"] = True
                await ctx.go(nodes.question(key))
                return
        ctx.say("common.not_understood")
        await Edit.enter(ctx)


async def show_record(ctx: Ctx, person: Person) -> None:
    """/hoso: the latest saved version, as the review shows answers."""
    today = draft.today(ctx)
    rec = await ctx.svc.declarations.latest(person.id)
    who = Facts(person, rec.answers if rec else {}, today).who()
    if rec is None:
        ctx.say("decl.no_record", who=who)
    else:
        when = rec.submitted_at.astimezone(ctx.env.now.tzinfo) if ctx.env.now.tzinfo else rec.submitted_at
        ctx.say(
            "decl.record",
            who=who,
            version=rec.version,
            date=f"{when.day:02d}/{when.month:02d}/{when.year}",
            lines=summary(person, rec.answers, today, ctx.locale),
        )
    await ctx.go(HOME, remember=False)
