"""What every messenger adapter provides, and the errors a send may end with.

A channel's input side decodes the messenger's events into `Inbound` (the person, a
de-duplication key, the engine's `Input`) and hands them to `bot.turns.handle`. Its output
side sends an `Outgoing` (already rendered text and button labels) to one person and
raises one of the `SendError`s below; the turn pipeline, the broadcaster and the idle
reminder react to those the same way for every messenger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dialogs.core import Input


def address(channel: str, user: str | int) -> str:
    """A person on a messenger, as every layer below the adapters stores it."""
    return f"{channel}:{user}"


def split(addr: str) -> tuple[str, str]:
    """("telegram", "123") from "telegram:123"."""
    channel, _, user = addr.partition(":")
    return channel, user


@dataclass(frozen=True, slots=True)
class Inbound:
    """One event from a messenger, decoded."""

    channel: str
    user: str  # the person's id on that messenger
    key: str  # de-duplication key, unique within the channel (Telegram's update_id, Zalo's msg_id)
    input: Input | None  # None: nothing to answer (an unfollow, an edited message)
    first_name: str = ""
    blocked: bool = False  # the person stopped following / blocked us (Zalo's unfollow)

    @property
    def address(self) -> str:
        return address(self.channel, self.user)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply rendered in the person's language, for any messenger to send."""

    text: str
    keyboard: tuple[tuple[str, ...], ...] | None = None  # reply buttons (labels); None: leave as is
    inline: tuple[tuple[tuple[str, str], ...], ...] | None = None  # buttons under the message: (label, data)
    contact_button: str | None = None  # label of a "share my phone number" button
    remove_keyboard: bool = False
    document: tuple[str, bytes] | None = None  # (file name, content); `text` is its caption

    def to_json(self) -> dict:
        out: dict = {"t": self.text}
        if self.keyboard is not None:
            out["k"] = [list(r) for r in self.keyboard]
        if self.inline is not None:
            out["i"] = [[list(b) for b in r] for r in self.inline]
        if self.contact_button:
            out["c"] = self.contact_button
        if self.remove_keyboard:
            out["r"] = 1
        if self.document is not None:
            import base64  # noqa: PLC0415 - documents are rare

            out["d"] = [self.document[0], base64.b64encode(self.document[1]).decode()]
        return out

    @classmethod
    def from_json(cls, d: dict) -> Outgoing:
        doc = None
        if "d" in d:
            import base64  # noqa: PLC0415

            doc = (d["d"][0], base64.b64decode(d["d"][1]))
        return cls(
            text=d["t"],
            keyboard=tuple(tuple(r) for r in d["k"]) if "k" in d else None,
            inline=tuple(tuple((b[0], b[1]) for b in r) for r in d["i"]) if "i" in d else None,
            contact_button=d.get("c"),
            remove_keyboard=bool(d.get("r")),
            document=doc,
        )


class SendError(Exception):
    """A message did not go out (or may not have)."""


class Blocked(SendError):
    """The person cannot be written to any more (blocked the bot, unfollowed the OA, deleted)."""


class RetryAfter(SendError):
    """Rate limited: nothing was sent; try again after `seconds`."""

    def __init__(self, seconds: float):
        super().__init__(f"retry after {seconds:.1f} s")
        self.seconds = seconds


class Unreachable(SendError):
    """The messenger's API could not be reached: nothing was sent, repeating is safe."""


class Refused(SendError):
    """The API refused this message for good (a bad request): repeating will not help."""


class NotAllowedNow(SendError):
    """The messenger does not let us write to this person now (Zalo: outside the window in
    which an Official Account may send a consultation message). Nothing was sent."""


class Uncertain(SendError):
    """The request may or may not have reached the person (a timeout after sending)."""


class Channel(Protocol):
    """The output side of a messenger."""

    name: str  # "telegram" | "zalo" | "console"
    rate: float  # messages per second the messenger allows us for broadcasts

    async def send(self, user: str, out: Outgoing) -> None:
        """Deliver one message to one person; raises a SendError subclass when it did not."""

    def card_link(self, code: str) -> str | None:
        """The deep link that opens a conversation with this code already given, if any."""

    async def close(self) -> None: ...
