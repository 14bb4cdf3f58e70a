"""Reading the QR code on a card from a photo a person sent (any messenger)."""

from __future__ import annotations

import io


def decode_qr(data: bytes) -> tuple[str, ...]:
    import zxingcpp  # noqa: PLC0415 - native module, loaded on first photo
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError):
        return ()
    return tuple(r.text for r in zxingcpp.read_barcodes(img) if r.text)
