"""`healthbot health`: the container's health check, in polling and webhook mode.

In webhook mode it asks the bot's own server (GET /healthz on WEBHOOK_PORT, which checks
PostgreSQL and Redis); in polling mode, where the bot has no server, it checks the same two
itself. Exit code 0 when healthy; otherwise one line and a non-zero code.
"""

from __future__ import annotations

import sys

from bot.terminal import help_text
from locales import t


def register(subparsers) -> None:
    p = subparsers.add_parser("health", help=help_text("health.help"))
    p.set_defaults(func=cmd_health, raw=True)


async def cmd_health(args, settings) -> int:
    if settings.webhook_url:
        return await _webhook(settings)
    from sqlalchemy import text  # noqa: PLC0415

    from bot.runtime import open_runtime  # noqa: PLC0415

    rt = await open_runtime(settings, upgrade=False)  # pings Redis
    try:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await rt.close()
    print(t(settings.default_locale, "health.ok"))
    return 0


async def _webhook(settings) -> int:
    import aiohttp  # noqa: PLC0415

    url = f"http://127.0.0.1:{settings.webhook_port}/healthz"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(url) as response:
                status, body = response.status, await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        print(f"healthbot: {t(settings.default_locale, 'health.no_server', error=type(e).__name__)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthbot: {t(settings.default_locale, 'health.unhealthy', detail=body[:200])}", file=sys.stderr)
        return 1
    print(t(settings.default_locale, "health.ok"))
    return 0
