"""The card's page, `GET /c/<code>`: one QR code for every messenger.

When `PUBLIC_URL` is set, printed cards encode `<PUBLIC_URL>/c/<code>` instead of a Telegram
link. Scanning it opens this small page, which offers "Mở bằng Zalo" (the OA's chat, where the
person sends the code shown on the page: Zalo has no start parameter) and "Mở bằng Telegram"
(the bot's deep link with the code). It reads nothing from the database, so it tells nobody
whether a code exists; a code that is not well formed (check character) gets a plain 404.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from dialogs import codes
from locales import t


def card_url(settings, code: str, telegram_link: str) -> str:
    """What a printed card's QR code holds: the card's page when PUBLIC_URL is set (every
    messenger), else the Telegram deep link."""
    return f"{settings.public_url}/c/{code}" if settings.public_url else telegram_link


def route(settings, channels: dict):
    locale = settings.default_locale

    async def page(request: web.Request) -> web.Response:
        code, problem = codes.check(request.match_info["code"])
        if problem is not None:
            raise web.HTTPNotFound()
        links = []
        for name, label in (("zalo", "card_page.open_zalo"), ("telegram", "card_page.open_telegram")):
            channel = channels.get(name)
            href = channel.card_link(code) if channel is not None else None
            if href:
                links.append(f'<a class="open {name}" href="{escape(href)}">{escape(t(locale, label))}</a>')
        body = PAGE.format(
            lang=locale, title=escape(t(locale, "card_page.title")),
            intro=escape(t(locale, "card_page.intro")), code=escape(codes.display(code)),
            links="\n".join(links) or escape(t(locale, "card_page.none")),
            zalo_hint=escape(t(locale, "card_page.zalo_hint")) if "zalo" in channels else "",
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                     "X-Robots-Tag": "noindex"})

    return page


PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 20px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 28rem; padding: 1.5rem; color: #111; }}
.code {{ font: 700 1.6rem ui-monospace, monospace; letter-spacing: .05em; text-align: center;
  border: 2px dashed #555; padding: .6rem; margin: 1rem 0; }}
a.open {{ display: block; text-align: center; padding: 1rem; margin: .8rem 0; border-radius: .6rem;
  color: #fff; text-decoration: none; font-weight: 700; }}
a.zalo {{ background: #0068ff; }} a.telegram {{ background: #1b6fa8; }}
</style></head>
<body><h1>{title}</h1><p>{intro}</p><div class="code">{code}</div>
{links}
<p>{zalo_hint}</p></body></html>
"""
