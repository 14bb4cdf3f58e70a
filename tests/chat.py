"""Drive a conversation like a person: send text, press a button by its label, read replies.

The same `Chat` works in-process (updates fed to the Application, replies recorded by
`RecordingRequest`) and end to end (updates queued at the HTTP stand-in for the real
`healthbot run` process, replies read back from the stand-in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from dialogs.text import fold
from tests.standin import BotApi, Call, callback_update, message_update

Deliver = Callable[[dict], Awaitable[None]]


def addr(user_id: int) -> str:
    """The stored address of a Telegram user in the tests."""
    return f"telegram:{user_id}"


class Chat:
    def __init__(self, api: BotApi, user_id: int, deliver: Deliver, first_name: str = "Lan"):
        self.api = api
        self.user_id = user_id
        self.deliver = deliver
        self.first_name = first_name
        self.last: list[Call] = []

    # -- doing things
    async def send(self, text: str) -> list[Call]:
        return await self._do(message_update(self.api, self.user_id, text=text))

    async def command(self, name: str, args: str = "") -> list[Call]:
        return await self.send(f"/{name} {args}".strip())

    async def press(self, label: str) -> list[Call]:
        """Press the reply-keyboard button whose label contains `label` (any case/diacritics)."""
        return await self.send(self.button(label))

    async def click(self, label: str) -> list[Call]:
        """Press an inline button (under a message) by its label."""
        for call in reversed(self.api.sent(self.user_id)):
            for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if fold(label) in fold(b["text"]):
                        return await self._do(callback_update(self.api, self.user_id, b["callback_data"]))
        raise AssertionError(f"no inline button {label!r}")

    async def photo(self, content: bytes) -> list[Call]:
        fid = self.api.add_file(content)
        sizes = [{"file_id": fid, "file_unique_id": fid, "width": 800, "height": 800, "file_size": len(content)}]
        return await self._do(message_update(self.api, self.user_id, photo=sizes))

    async def share_contact(self, phone: str, own: bool = True) -> list[Call]:
        contact = {"phone_number": phone, "first_name": self.first_name,
                   "user_id": self.user_id if own else self.user_id + 1}
        return await self._do(message_update(self.api, self.user_id, contact=contact))

    async def sticker(self) -> list[Call]:
        st = {"file_id": "st", "file_unique_id": "st", "width": 512, "height": 512,
              "is_animated": False, "is_video": False, "type": "regular"}
        return await self._do(message_update(self.api, self.user_id, sticker=st))

    async def location(self) -> list[Call]:
        return await self._do(message_update(self.api, self.user_id, location={"latitude": 10.8, "longitude": 106.7}))

    async def redeliver(self, update: dict) -> list[Call]:
        return await self._do(update)

    async def _do(self, update: dict) -> list[Call]:
        before = len(self.api.sent(self.user_id))
        self.last_update = update
        await self.deliver(update)
        self.last = self.api.sent(self.user_id)[before:]
        return self.last

    # -- reading what came back
    @property
    def texts(self) -> list[str]:
        return [c.params.get("text") or c.params.get("caption") or "" for c in self.last]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def keyboard(self) -> list[str]:
        """Labels of the reply keyboard currently shown (the latest one sent)."""
        for call in reversed(self.api.sent(self.user_id)):
            markup = call.params.get("reply_markup") or {}
            if "keyboard" in markup:
                return [b["text"] if isinstance(b, dict) else b for row in markup["keyboard"] for b in row]
            if markup.get("remove_keyboard"):
                return []
        return []

    def button(self, label: str) -> str:
        for b in self.keyboard():
            if fold(label) in fold(b):
                return b
        raise AssertionError(f"no button {label!r} in {self.keyboard()}")

    def has_button(self, label: str) -> bool:
        return any(fold(label) in fold(b) for b in self.keyboard())


def http_deliver(api: BotApi, user_id: int, quiet: float = 0.25, timeout: float = 10.0) -> Deliver:
    """For the real process: queue the update, wait for the replies to stop coming."""

    async def deliver(update: dict) -> None:
        before = len(api.sent(user_id))
        api.push(update)
        deadline = time.monotonic() + timeout
        last_count, last_change = before, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            n = len(api.sent(user_id))
            if n != last_count:
                last_count, last_change = n, time.monotonic()
            elif n > before and time.monotonic() - last_change >= quiet:
                return
        if len(api.sent(user_id)) == before:
            raise AssertionError(f"the bot did not answer within {timeout:.0f} s")

    return deliver
