"""A Telegram update (plain JSON) → an Inbound, reading only the fields the bot needs.

Cheaper than building python-telegram-bot's Update objects (a third of the CPU of an answer
was spent there), and one update at a time: a shape we do not know makes that update
`Unreadable`, never the whole batch (PTB's getUpdates failed the whole list).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels.base import Inbound
from dialogs.core import Input

NAME = "telegram"
MAX_TEXT = 4096

# Message contents that are not text, by the kind the engine knows them as.
_MEDIA = (
    ("sticker", "sticker"), ("voice", "voice"), ("audio", "voice"), ("video_note", "video"),
    ("video", "video"), ("animation", "video"), ("location", "location"), ("venue", "location"),
    ("document", "file"),
)


class Unreadable(ValueError):
    """An update whose shape we cannot read."""


@dataclass(frozen=True, slots=True)
class Decoded:
    inbound: Inbound
    photo: tuple[str, int] | None = None  # (file_id, size) of an image to read a QR code from
    callback_id: str | None = None  # a callback query to answer (stops the button's spinner)


def decode(update: dict) -> Decoded | None:
    """None for updates that need no answer (edits, groups, channel posts, service events)."""
    try:
        return _decode(update)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise Unreadable(type(e).__name__) from None


def _decode(u: dict) -> Decoded | None:
    key = str(int(u["update_id"]))
    cq = u.get("callback_query")
    if cq is not None:
        msg = cq.get("message") or {}
        if (msg.get("chat") or {}).get("type", "private") != "private":
            return None
        frm = cq["from"]
        inp = Input(kind="callback", text=str(cq.get("data") or ""))
        return Decoded(_inbound(frm, key, inp), callback_id=str(cq["id"]))
    member = u.get("my_chat_member")
    if member is not None:  # the person blocked (kicked) or unblocked the bot
        if member["chat"]["type"] != "private" or member["new_chat_member"]["status"] != "kicked":
            return None
        return Decoded(Inbound(NAME, str(int(member["from"]["id"])), key, None, blocked=True))
    msg = u.get("message")
    if msg is None or msg["chat"]["type"] != "private":
        return None
    frm = msg["from"]
    text = msg.get("text")
    if text:
        text = str(text)[:MAX_TEXT]
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text[1:].partition(" ")
            inp = Input(kind="command", command=head.split("@", 1)[0].lower(), text=rest.strip())
        else:
            inp = Input(kind="text", text=text)
        return Decoded(_inbound(frm, key, inp))
    contact = msg.get("contact")
    if contact is not None:
        own = contact.get("user_id") is not None and int(contact["user_id"]) == int(frm["id"])
        return Decoded(_inbound(frm, key, Input(kind="contact", phone=str(contact["phone_number"]) if own else "")))
    photo = None
    if msg.get("photo"):
        best = msg["photo"][-1]
        photo = (str(best["file_id"]), int(best.get("file_size") or 0))
    elif str((msg.get("document") or {}).get("mime_type") or "").startswith("image/"):
        doc = msg["document"]
        photo = (str(doc["file_id"]), int(doc.get("file_size") or 0))
    if photo is not None:
        return Decoded(_inbound(frm, key, Input(kind="photo")), photo=photo)
    kind = next((k for field, k in _MEDIA if field in msg), "other")
    return Decoded(_inbound(frm, key, Input(kind=kind)))


def _inbound(frm: dict, key: str, inp: Input) -> Inbound:
    return Inbound(NAME, str(int(frm["id"])), key, inp, first_name=str(frm.get("first_name") or ""))
