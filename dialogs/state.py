"""The shape of one person's dialog state, as saved in Redis between turns (storage/state.py).

A plain JSON object (it must survive a restart and be read by any process), typed here so
that every key the engine and the flows keep is written down in one place.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Draft(TypedDict, total=False):
    """A declaration in progress (dialogs/draft.py explains each key)."""

    rid: int  # the resident it is for
    rel: str | None  # the account's relation to them (names them in the idle reminder)
    person: dict[str, Any]  # what the questions need to know of them
    answers: dict[str, Any]  # by question key
    prev: dict[str, Any]  # the latest saved version's answers (/capnhat offers to keep them)
    started: str  # ISO time the declaration began
    at: str | None  # the question being asked, or "review"
    tries: dict[str, int]  # failed tries per question
    pending: Any  # an unusual value awaiting "Bạn chắc chắn?"
    toggled: list[Any]  # choices ticked so far on a several-choice question
    edit: bool  # answering one question again from the review
    skey: str | None  # submission key: a second "send" saves nothing
    qv: str  # questionnaire version


class DialogState(TypedDict, total=False):
    # Node names are the constants of dialogs.nodes (plain strings, as saved).
    node: str  # the node the person is at (e.g. "declare.review"); absent: at rest
    stack: list[str]  # nodes "Quay lại" (back) returns to, most recent last
    data: dict[str, Any]  # scratch space of the current flow; cleared on leaving it
    locale: str  # "vi" | "en"; absent: the deployment's default
    person_id: int  # the linked resident the account is acting for
    declare: Draft  # the declaration in progress, if any
    retry: str  # what the adapter's `retry` input should try again ("submit")
    kb: list[str]  # the buttons now on screen (message ids), to recognise a double tap
    kb_prev: list[str]  # the buttons before those
    kb_at: float  # when `kb` last changed (unix time)
    cb: list[Any]  # [data, unix time] of the last inline button pressed
    at: str  # ISO time of the last step
