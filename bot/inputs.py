"""Telegram Update → engine Input. The only place that knows Telegram's message shapes."""

from __future__ import annotations

import asyncio
import io
import logging

from telegram import Bot, Update

from dialogs.core import Input

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_PHOTO_BYTES = 10 * 1024 * 1024


async def to_input(update: Update, bot: Bot) -> Input | None:
    """None for updates that need no answer (edits, other chat types)."""
    uid = update.update_id
    if update.callback_query is not None:
        return Input(kind="callback", text=update.callback_query.data or "", update_id=uid)
    msg = update.message
    if msg is None:
        return None
    if msg.text:
        text = msg.text[:MAX_TEXT]
        if text.startswith("/") and len(text) > 1:
            head, _, rest = text[1:].partition(" ")
            name = head.split("@", 1)[0].lower()
            return Input(kind="command", command=name, text=rest.strip(), update_id=uid)
        return Input(kind="text", text=text, update_id=uid)
    if msg.contact is not None:
        own = msg.contact.user_id is not None and msg.from_user and msg.contact.user_id == msg.from_user.id
        return Input(kind="contact", phone=msg.contact.phone_number if own else "", update_id=uid)
    image = None
    if msg.photo:
        image = msg.photo[-1]
    elif msg.document and (msg.document.mime_type or "").startswith("image/"):
        image = msg.document
    if image is not None:
        return Input(kind="photo", qr=await _read_qr(bot, image), update_id=uid)
    return Input(kind="other", update_id=uid)


async def _read_qr(bot: Bot, image) -> tuple[str, ...]:
    if image.file_size and image.file_size > MAX_PHOTO_BYTES:
        return ()
    try:
        f = await bot.get_file(image.file_id)
        data = bytes(await f.download_as_bytearray())
    except Exception as e:  # a photo we cannot fetch reads as "no QR code found"
        log.warning("photo download failed: %s", type(e).__name__)
        return ()
    return await asyncio.to_thread(decode_qr, data)


def decode_qr(data: bytes) -> tuple[str, ...]:
    import zxingcpp  # noqa: PLC0415 - native module, loaded on first photo
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError):
        return ()
    return tuple(r.text for r in zxingcpp.read_barcodes(img) if r.text)
