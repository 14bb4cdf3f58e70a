"""The staff web console (issue 17): aiohttp, server-rendered pages, sign-in by a one-time
link from the bot. `healthbot web` serves it; `web.app.make_app(rt)` builds it."""
