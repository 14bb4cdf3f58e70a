"""The conversation engine: `step(state, input, env) -> (state, replies)`.

Pure with respect to the outside world: it never imports telegram, sqlalchemy or redis,
and reaches records only through the small ports in `dialogs.ports`. A reply is data
(message id + variables + buttons), rendered by whichever adapter drives the engine.

A conversation is a graph of named nodes. A node has `enter` (ask) and `handle` (deal
with the answer). Flows register nodes and commands with the decorators below; the
engine handles what every node shares: commands, "Quay lại" (back), "Hủy" (cancel),
and making sure every input gets an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from dialogs import nodes
from dialogs.nodes import HOME
from dialogs.state import DialogState
from dialogs.text import answer, form, pick

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- data in and out


@dataclass(frozen=True, slots=True)
class Input:
    """What the person did, independent of the messenger."""

    # text | command | callback | photo | contact | voice | sticker | video | file | location
    # | other; and `retry`, which no person sends: the adapter asks a conversation to try
    # again what the database refused (a declaration confirmed while it was down).
    kind: str = "text"
    text: str = ""  # the message text, a command's arguments, or callback data
    command: str = ""  # lower-case command name without the slash
    qr: tuple[str, ...] = ()  # QR payloads the adapter decoded from a photo
    phone: str = ""  # number from a shared contact (only the sender's own)


@dataclass(frozen=True, slots=True)
class Msg:
    """A variable whose value is itself a message id, translated at render time."""

    id: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    msg: str  # message id in locales/
    vars: dict[str, Any] = field(default_factory=dict)
    keyboard: list[list[str]] | None = None  # rows of button message ids; None = leave as is
    remove_keyboard: bool = False
    contact_button: str | None = None  # message id of a "share my number" button
    inline: list[list[tuple[str, str]]] | None = None  # rows of (label message id, data)
    document: tuple[str, bytes] | None = None  # (file name, content)
    to: str | None = None  # another account's address (notices to them); None = this person
    locale: str | None = None  # language for another account; None = this person's


@dataclass(frozen=True)
class Env:
    """Everything outside the conversation that a step may use."""

    account: str  # the person's address on their messenger ("telegram:123"), opaque here
    now: datetime
    services: Any  # dialogs.ports.Services
    default_locale: str = "vi"
    station_name: str = ""
    station_phone: str = ""
    user_first_name: str = ""
    # The person had a declaration in progress, but their saved conversation is gone (the
    # state store lost its data): tell them instead of reading their answer as a new message.
    draft_lost: bool = False


# ---------------------------------------------------------------- registry of nodes


@dataclass(frozen=True)
class Node:
    name: str
    enter: Callable[[Ctx], Awaitable[None]]
    handle: Callable[[Ctx], Awaitable[None]]
    back: bool = True  # whether "Quay lại" may return to this node


NODES: dict[str, Node] = {}
COMMANDS: dict[str, Callable[[Ctx], Awaitable[None]]] = {}
CALLBACKS: dict[str, Callable[[Ctx, str], Awaitable[None]]] = {}


def node(name: str, back: bool = True):
    """Class decorator: a class with async staticmethods `enter(ctx)` and `handle(ctx)`.
    The name must be declared in dialogs.nodes, so that a misspelt one fails at import."""
    if not nodes.declared(name):
        raise ValueError(f"node {name} is not declared in dialogs.nodes")

    def deco(cls):
        if name in NODES:
            raise ValueError(f"node {name} defined twice")
        NODES[name] = Node(name, cls.enter, cls.handle, back)
        return cls

    return deco


def command(*names: str):
    def deco(fn):
        for n in names:
            COMMANDS[n] = fn
        return fn

    return deco


def callback(prefix: str):
    """Inline-button data `prefix:rest` is routed to fn(ctx, rest)."""

    def deco(fn):
        CALLBACKS[prefix] = fn
        return fn

    return deco


# ---------------------------------------------------------------- the step context

BACK = "btn.back"
CANCEL = "btn.cancel"
NAV = [[BACK, CANCEL]]
STACK_LIMIT = 20


class Ctx:
    """One step's view: the state being changed, the input, and the replies so far."""

    def __init__(self, state: DialogState, inp: Input, env: Env):
        self.state = state
        self.inp = inp
        self.env = env
        self.replies: list[Reply] = []
        self._people: list | None = None

    # -- state
    @property
    def locale(self) -> str:
        return self.state.get("locale") or self.env.default_locale

    @property
    def data(self) -> dict[str, Any]:
        """Scratch space of the current flow; cleared by `reset()`."""
        return self.state.setdefault("data", {})

    @property
    def node(self) -> str | None:
        return self.state.get("node")

    @property
    def svc(self):
        return self.env.services

    async def people(self) -> list:
        """The account's linked people (dialogs.ports.Person), read once per step."""
        if self._people is None:
            port = getattr(self.svc, "people", None)  # the engine may run without a registry
            self._people = await port.linked(self.env.account) if port else []
        return self._people

    def people_read(self) -> list:
        """What `people()` read in this step so far (empty before it is awaited)."""
        return self._people or []

    def forget_people(self) -> None:
        """After linking or unlinking within this step (also what the port remembers)."""
        self._people = None
        forget = getattr(getattr(self.svc, "people", None), "forget", None)
        if forget is not None:
            forget(self.env.account)

    def reset(self) -> None:
        """Leave any flow (keeps the language and who is selected)."""
        for k in ("node", "data", "stack"):
            self.state.pop(k, None)

    # -- replies
    def say(self, msg: str, keyboard: list[list[str]] | None = None, **vars: Any) -> Reply:
        r = Reply(msg, vars, keyboard=keyboard)
        self.replies.append(r)
        return r

    def send(self, reply: Reply) -> None:
        self.replies.append(reply)

    # -- moving between nodes
    async def go(self, name: str, remember: bool = True) -> None:
        """Enter a node and ask its question. `remember` lets "Quay lại" come back here."""
        current = self.node
        if remember and current and current != name and NODES[current].back:
            stack = self.state.setdefault("stack", [])
            stack.append(current)
            del stack[:-STACK_LIMIT]
        self.state["node"] = name
        await NODES[name].enter(self)

    async def back(self) -> bool:
        stack = self.state.get("stack") or []
        if not stack:
            return False
        prev = stack.pop()
        self.state["node"] = prev
        await NODES[prev].enter(self)
        return True

    # -- understanding input
    def pressed(self, msg_id: str) -> bool:
        """Whether the input is the button `msg_id`, in any language, typed or tapped
        (polite words around it and missing diacritics do not matter)."""
        return self.inp.kind == "text" and answer(self.inp.text[:200]) in button_forms(msg_id)

    def choice(self, msg_ids: list[str] | tuple[str, ...]) -> str | None:
        """The one button (by message id) the input means, if any: its text, or its text
        with only everyday words around it ("tôi chọn …"). Two buttons meant: None."""
        if self.inp.kind != "text":
            return None
        return pick(self.inp.text[:200], [(m, button_forms(m)) for m in msg_ids])


# Button labels as they may arrive: in every locale, diacritics or not, any case.
_FORMS: dict[str, frozenset[str]] = {}


def button_forms(msg_id: str) -> frozenset[str]:
    """The matching forms (`dialogs.text.answer`) of a button's label and synonyms."""
    forms = _FORMS.get(msg_id)
    if forms is None:
        from locales import available, catalog  # noqa: PLC0415 - catalogs are data, not I/O

        found = set()
        for loc in available():
            label = catalog(loc).get(msg_id)
            if label:
                found.add(form(label))
        found.update(form(s) for s in SYNONYMS.get(msg_id, ()))
        forms = _FORMS[msg_id] = frozenset(found - {""})
    return forms


# What people type instead of pressing a button (chat shorthand such as "ko" or "hok"
# is spelled out by `dialogs.text.words`, so it need not be listed).
SYNONYMS: dict[str, tuple[str, ...]] = {
    BACK: ("back", "quay lai", "tro lai", "lui"),
    CANCEL: ("cancel", "huy", "huy bo", "thoi", "dung lai", "stop"),
    "btn.yes": ("co", "u", "vang", "da", "dung", "dung roi", "ok", "yes", "y", "roi", "dong y", "co a", "phai",
                "da co", "co roi", "duoc"),
    "btn.no": ("khong", "kg", "no", "n", "chua", "khong co", "chua co", "khong a", "khong phai", "chua bao gio"),
}


# ---------------------------------------------------------------- the step

# HOME (dialogs.nodes): the node a person rests at between flows (defined by the home flow)


# A second tap on a button arriving this soon after the first is a repeat, not an answer.
REPEAT_SECONDS = 5.0
RETRY = "retry"  # state key: what a `retry` input should try again ("submit")


def _copy(state: DialogState) -> DialogState:
    """The step works on its own copy (the caller's state stays as it was if a store fails).
    A state is JSON (it lives in Redis as JSON): a round trip through orjson copies it about
    seven times faster than copy.deepcopy."""
    return orjson.loads(orjson.dumps(state, default=str, option=orjson.OPT_NON_STR_KEYS))


async def step(state: DialogState, inp: Input, env: Env) -> tuple[DialogState, list[Reply]]:
    """Advance one conversation by one input. Never raises for anything the person sends.
    Every input gets an answer, except a double tap (a repeat of the button just pressed)
    and the adapter's own `retry` when there is still nothing to say."""
    ctx = Ctx(_copy(state) if state else {}, inp, env)
    if _repeated_tap(ctx):
        return state, []
    if inp.kind == RETRY:
        handler = RETRIES.get(ctx.state.get(RETRY) or "")
        if handler is None:
            ctx.state.pop(RETRY, None)
        else:
            await handler(ctx)
        _remember_buttons(ctx)
        return ctx.state, ctx.replies
    if env.draft_lost and inp.kind not in ("command", "callback"):
        ctx.reset()
        ctx.say("decl.lost")
        await ctx.go(HOME, remember=False)
    else:
        await _dispatch(ctx)
    if not ctx.replies:  # never silence
        await fallback(ctx)
    _remember_buttons(ctx)
    ctx.state["at"] = env.now.isoformat(timespec="seconds")
    return ctx.state, ctx.replies


# What a `retry` input does, by the value of state[RETRY] (registered by flows).
RETRIES: dict[str, Callable[[Ctx], Awaitable[None]]] = {}


def _forms(label: str) -> frozenset[str]:
    return button_forms(label) or frozenset((form(label),))  # a label that is data (a name)


def _remember_buttons(ctx: Ctx) -> None:
    """Keep the buttons now on screen, and the ones before, to recognise a double tap."""
    shown = next((r for r in reversed(ctx.replies) if r.keyboard is not None and r.to is None), None)
    if shown is None:
        return
    labels = [b for row in shown.keyboard for b in row]
    if labels != ctx.state.get("kb"):
        ctx.state["kb_prev"] = ctx.state.get("kb") or []
        ctx.state["kb"] = labels
        ctx.state["kb_at"] = ctx.env.now.timestamp()


def _repeated_tap(ctx: Ctx) -> bool:
    """A reply-keyboard text that is a button of the question just answered, exactly as the
    messenger sends a tap (the label itself: typed words like "khong" are answers), but
    matches none of the current question's buttons, within a few seconds; or the same
    inline button pressed again."""
    s, inp, now = ctx.state, ctx.inp, ctx.env.now.timestamp()
    if inp.kind == "callback":
        last = s.get("cb")
        s["cb"] = [inp.text, now]
        return bool(last) and last[0] == inp.text and now - last[1] < REPEAT_SECONDS
    if inp.kind != "text" or not s.get("kb_prev") or now - s.get("kb_at", 0) >= REPEAT_SECONDS:
        return False
    from locales import t  # noqa: PLC0415 - catalogs are data, not I/O

    if inp.text not in {t(ctx.locale, b) for b in s["kb_prev"]}:
        return False
    return pick(inp.text[:200], [(b, _forms(b)) for b in s.get("kb") or []]) is None


async def _dispatch(ctx: Ctx) -> None:
    inp = ctx.inp
    if inp.kind == "command":
        handler = COMMANDS.get(inp.command)
        await (handler(ctx) if handler else unknown_command(ctx))
        return
    if inp.kind == "callback":
        prefix, _, rest = inp.text.partition(":")
        handler = CALLBACKS.get(prefix)
        if handler:
            await handler(ctx, rest)
        else:
            ctx.say("err.button_expired")
        return
    current = NODES.get(ctx.node or "") or NODES.get(HOME)
    if current is None:  # no home flow registered (engine used on its own)
        ctx.reset()
        await fallback(ctx)
        return
    if ctx.node not in NODES:  # first message, or state expired: read it as said at home
        ctx.reset()
        ctx.state["node"] = HOME
    if inp.kind in NOT_TEXT and ctx.node not in READS_ANY_KIND:
        await fallback(ctx)
        return
    if ctx.pressed(CANCEL):
        await cancel(ctx)
        return
    if ctx.pressed(BACK):
        if not await ctx.back():
            await cancel(ctx)
        return
    await current.handle(ctx)


async def cancel(ctx: Ctx) -> None:
    ctx.reset()
    ctx.say("common.cancelled")
    await ctx.go(HOME, remember=False)


async def unknown_command(ctx: Ctx) -> None:
    ctx.say("common.unknown_command")
    await _reprompt(ctx)


async def fallback(ctx: Ctx) -> None:
    """Input the current step cannot use: say so, then ask the current question again."""
    if ctx.inp.kind in NOT_TEXT + ("photo", "contact"):
        not_text(ctx)
    elif ctx.node:
        ctx.say("common.not_understood")
    await _reprompt(ctx)


# Kinds of message no step reads (a photo may be a card, a contact a phone number: those
# reach the step first). Each gets its own kind reply, naming what to type or press.
NOT_TEXT = ("voice", "sticker", "video", "file", "location", "other")
# Nodes whose `handle` answers those kinds itself (the questions: it counts as a try).
READS_ANY_KIND: set[str] = set()
# node name -> message id (or a function of the step giving a Msg) of what to type or press
# there; any other node: "press a button below".
HINTS: dict[str, str | Callable[[Ctx], Msg]] = {
    HOME: "hint.home",
    nodes.LINK_CODE: "hint.link_code",
    nodes.LINK_YEAR: "hint.link_year",
}


def hint(ctx: Ctx) -> Msg:
    h = HINTS.get(ctx.node or HOME, "hint.buttons")
    return h(ctx) if callable(h) else Msg(h)


def not_text(ctx: Ctx) -> None:
    """'I cannot listen to voice messages: type the height, e.g. 1m65.'"""
    kind = ctx.inp.kind if ctx.inp.kind in NOT_TEXT + ("photo", "contact") else "other"
    ctx.say("input." + kind, hint=hint(ctx))


async def _reprompt(ctx: Ctx) -> None:
    name = ctx.node if ctx.node in NODES else HOME
    if name not in NODES:  # no home flow registered (engine used on its own)
        ctx.say("common.help", station=ctx.env.station_name, phone=ctx.env.station_phone)
        return
    ctx.state["node"] = name
    await NODES[name].enter(ctx)
