"""The output side: an `Outgoing` becomes consultation messages of the OA API (v3.0/oa/message/cs).

- Buttons: up to `MAX_BUTTONS` go out as buttons under the text. A reply button is an
  `oa.query.show` button whose payload is its label, so a tap arrives as the person typing
  that label, and the engine matches it like a typed answer. An inline (label, data) button
  is an `oa.query.hide` button whose payload is `CALLBACK + data`; the webhook turns it back
  into Input(kind="callback", text=data). More buttons than that, or a label Zalo would
  refuse, and they become numbered lines ("1. Có", "2. Không") and a typed number picks one.
- A "share my number" button becomes a second message, Zalo's `request_user_info` template;
  the person may also type the number.
- A document goes out as a file when Zalo takes its type (PDF, DOC, DOCX up to 5 MB, uploaded
  first); a text file as text messages; anything else as a line saying it cannot be sent here.
- Outside the consultation window `send` raises NotAllowedNow without calling Zalo.
"""

from __future__ import annotations

import logging
import re

import aiohttp
from redis.asyncio import Redis

from bot.channels.base import Blocked, NotAllowedNow, Outgoing, SendError, Uncertain
from bot.channels.zalo.api import OUTSIDE_WINDOW, ZaloApi
from bot.channels.zalo.memory import Memory, Offer
from bot.config import Settings
from locales import t

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # characters in one consultation text message
MAX_BUTTONS = 4  # the largest button count Zalo documents for OA messages (see __init__)
MAX_TITLE = 100  # characters of a button's title
MAX_PAYLOAD = 1000  # characters of an oa.query.* payload
CALLBACK = "#hb:"  # marks an inline button's data in the text Zalo sends back
FILE_TYPES = (".pdf", ".doc", ".docx")
MAX_FILE = 5 * 1024 * 1024


class ZaloChannel:
    """Zalo OA as a `bot.channels.base.Channel`. Construct once per process; `close()` at the end."""

    name = "zalo"

    def __init__(self, settings: Settings, redis: Redis, session: aiohttp.ClientSession | None = None):
        self.settings = settings
        self.rate = settings.zalo_rate
        self.api = ZaloApi(settings, redis, session)
        self.memory = Memory(redis, settings.redis_prefix, settings.state_ttl_seconds)
        self.locale = settings.default_locale  # Outgoing is rendered; only our own few lines need it

    # ------------------------------------------------------------ Channel

    async def send(self, user: str, out: Outgoing) -> None:
        if not await self.memory.in_window(user):
            raise NotAllowedNow("outside Zalo's consultation window")
        messages, offer = self._compose(out)
        sent = 0
        try:
            for message in messages:
                await self._post_cs(user, message)
                sent += 1
            if out.document is not None:
                await self._send_document(user, *out.document)
                sent += 1
        except SendError as e:
            if sent and not isinstance(e, Uncertain):
                raise Uncertain(f"{sent} part(s) went out before: {e}") from e  # repeating would duplicate them
            raise
        if offer is not None:
            await (self.memory.save_offer(user, offer) if offer else self.memory.clear_offer(user))
        if out.contact_button:
            await self._ask_phone(user, out.contact_button)

    async def reachable(self, user: str) -> bool:
        """Whether a consultation message to this person would be accepted now (for broadcasts)."""
        return await self.memory.in_window(user)

    def card_link(self, code: str) -> str | None:
        """Zalo has no start parameter like Telegram's ?start=<code>: this opens the OA's chat,
        where the person then sends the card's photo or types its code."""
        return f"https://zalo.me/{self.settings.zalo_oa_id}" if self.settings.zalo_oa_id else None

    async def close(self) -> None:
        await self.api.close()

    # ------------------------------------------------------------ ZNS

    async def send_zns(self, phone: str, template_id: str, data: dict[str, str], tracking_id: str) -> str:
        """A ZNS template message to a phone number (no follow and no window needed, but the
        template must be approved). Returns Zalo's msg_id; raises the same SendErrors."""
        body = {"phone": zns_phone(phone), "template_id": template_id,
                "template_data": {k: str(v) for k, v in data.items()}, "tracking_id": tracking_id}
        result = await self.api.call(f"{self.settings.zalo_zns_url}/message/template", json=body)
        return str(result.get("msg_id", ""))

    # ------------------------------------------------------------ composing

    def _compose(self, out: Outgoing) -> tuple[list[dict], Offer | None]:
        """The messages to post, and the numbered offer to remember (None: leave it as is,
        []: forget it)."""
        buttons: Offer = [(label, None) for row in out.keyboard or () for label in row]
        buttons += [(label, data) for row in out.inline or () for label, data in row]
        chunks = split_text(out.text) if out.text else []
        offer: Offer | None = [] if out.remove_keyboard or out.keyboard is not None else None
        if not buttons:
            return [{"text": c} for c in chunks], offer
        if _fits_buttons(buttons):
            messages = [{"text": c} for c in chunks] or [{"text": "…"}]
            messages[-1]["attachment"] = {"type": "template", "payload": {"buttons": [_button(b) for b in buttons]}}
            return messages, offer
        numbered = not any(label[:1].isdigit() for label, _ in buttons)
        if numbered:
            lines = [t(self.locale, "zalo.pick_number")] + [f"{i}. {label}" for i, (label, _) in enumerate(buttons, 1)]
        else:  # labels that are numbers themselves (doses: 0 1 2 3 4+): typed as they are
            lines = ["  ·  ".join(label for label, _ in buttons)]
        menu = "\n".join(lines)
        if chunks and len(chunks[-1]) + 2 + len(menu) <= MAX_TEXT:
            chunks[-1] += "\n\n" + menu
        else:
            chunks += split_text(menu)
        return [{"text": c} for c in chunks], buttons

    async def _post_cs(self, user: str, message: dict) -> None:
        try:
            await self.api.call(f"{self.settings.zalo_api_url}/v3.0/oa/message/cs",
                                json={"recipient": {"user_id": user}, "message": message})
        except NotAllowedNow as e:
            if getattr(e, "zalo_code", None) in OUTSIDE_WINDOW:
                await self.memory.close_window(user)  # our clock and Zalo's disagreed: believe Zalo
            raise
        except Blocked:
            await self.memory.forget(user)
            raise

    async def _send_document(self, user: str, name: str, content: bytes) -> None:
        if name.lower().endswith(FILE_TYPES) and len(content) <= MAX_FILE:
            def form() -> aiohttp.FormData:
                f = aiohttp.FormData()
                f.add_field("file", content, filename=name)
                return f

            uploaded = await self.api.call(f"{self.settings.zalo_api_url}/v2.0/oa/upload/file", data=form)
            await self._post_cs(user, {"attachment": {"type": "file", "payload": {"token": uploaded["token"]}}})
            return
        if name.lower().endswith(".txt"):
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                for chunk in split_text(text):
                    await self._post_cs(user, {"text": chunk})
                return
        await self._post_cs(user, {"text": t(self.locale, "zalo.document_unsupported", name=name)})

    async def _ask_phone(self, user: str, label: str) -> None:
        """Best effort: the question itself already went out, and a typed number works too."""
        template = {"template_type": "request_user_info",
                    "elements": [{"title": label[:MAX_TITLE], "subtitle": t(self.locale, "zalo.share_info")}]}
        try:
            await self._post_cs(user, {"attachment": {"type": "template", "payload": template}})
        except SendError as e:
            log.warning("zalo: asking for the phone number failed: %s", type(e).__name__)


def _fits_buttons(buttons: Offer) -> bool:
    return len(buttons) <= MAX_BUTTONS and all(
        label.strip() and len(CALLBACK + (data if data is not None else label)) <= MAX_PAYLOAD
        for label, data in buttons)


def _button(b: tuple[str, str | None]) -> dict:
    label, data = b
    title = label if len(label) <= MAX_TITLE else label[: MAX_TITLE - 1] + "…"
    if data is None:
        return {"title": title, "type": "oa.query.show", "payload": label}
    return {"title": title, "type": "oa.query.hide", "payload": CALLBACK + data}


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def zns_phone(phone: str) -> str:
    """'+84912345678', '0912 345 678' -> '84912345678', the form ZNS takes."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    return digits
