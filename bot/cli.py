"""`healthbot` command line: run, demo, db, and the staff commands of each area.

Every command gets a Runtime (database, Redis, embedded servers when no URL is set).
Bad input ends with one clear line and exit code 2; a server that cannot be reached,
with one clear line and exit code 1; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import signal
import sys

import uvloop

from bot.config import ConfigError, Settings, load_settings, require
from bot.terminal import help_text, interrupted, terminal_locale
from locales import t

log = logging.getLogger("healthbot")

# Modules that add their own commands with `register(subparsers)`.
COMMAND_MODULES = ("bot.cli_residents", "bot.cli_staff", "bot.cli_privacy", "bot.cli_web")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthbot", description=help_text("cli.help.description"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help=help_text("cli.help.run"))
    p.add_argument("--webhook", action="store_true", help=help_text("cli.help.webhook"))
    p.set_defaults(func=cmd_run, needs_token=True)

    p = sub.add_parser("demo", help=help_text("cli.help.demo"))
    p.add_argument("--web", action="store_true", help=help_text("web.cli.demo"))
    p.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help=help_text("cli.help.db")).add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help=help_text("cli.help.upgrade"))
    p.set_defaults(func=cmd_db_upgrade, raw=True)
    p = db.add_parser("downgrade", help=help_text("cli.help.downgrade"))
    p.add_argument("revision", help=help_text("cli.help.revision"))
    p.set_defaults(func=cmd_db_downgrade, raw=True)

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


async def cmd_run(args, rt) -> int:
    from bot.app import build_application  # noqa: PLC0415
    from bot.run import run_polling, run_webhook, stop_on_signals  # noqa: PLC0415

    if args.webhook:
        require(rt.settings, "WEBHOOK_URL", "WEBHOOK_SECRET")
    app = build_application(rt)
    stop = asyncio.Event()
    stop_on_signals(stop)
    runner = run_webhook if args.webhook else run_polling
    await runner(rt, app, background_jobs(), stop)
    return 0


def background_jobs() -> list:
    """Jobs that run beside the bot in every `healthbot run` process."""
    from bot.background import JOBS  # noqa: PLC0415

    return list(JOBS)


async def cmd_demo(args, rt) -> int:
    from bot.console import run_demo  # noqa: PLC0415

    if args.web:
        from bot.cli_web import run_web_demo  # noqa: PLC0415

        return await run_web_demo(rt)
    return await run_demo(rt)


async def cmd_db_upgrade(args, settings: Settings) -> int:
    from bot.runtime import resolve  # noqa: PLC0415
    from storage import migrate  # noqa: PLC0415

    db_url, _ = resolve(settings.model_copy(update={"redis_url": settings.redis_url or "redis://unused"}))
    await migrate.upgrade_async(db_url)
    print(t(settings.default_locale, "cli.db_current"))
    return 0


async def cmd_db_downgrade(args, settings: Settings) -> int:
    from bot.runtime import resolve  # noqa: PLC0415
    from storage import migrate  # noqa: PLC0415

    db_url, _ = resolve(settings.model_copy(update={"redis_url": settings.redis_url or "redis://unused"}))
    await asyncio.to_thread(migrate.downgrade, db_url, args.revision)
    return 0


async def _main(args, settings: Settings) -> int:
    if getattr(args, "raw", False):
        return await args.func(args, settings)
    from bot.runtime import open_runtime  # noqa: PLC0415

    rt = await open_runtime(settings)
    try:
        return await args.func(args, rt)
    finally:
        await rt.close()


def _unreachable() -> tuple[type[BaseException], ...]:
    import asyncpg  # noqa: PLC0415
    import redis.exceptions  # noqa: PLC0415
    import sqlalchemy.exc  # noqa: PLC0415

    return (OSError, asyncpg.PostgresConnectionError, asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidCatalogNameError, redis.exceptions.ConnectionError,
            sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


UNREACHABLE = _unreachable()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds normally, so embedded servers are stopped at exit


def main(argv: list[str] | None = None) -> int:
    try:
        return _command(argv)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP outside `run`
        return interrupted()


def _command(argv: list[str] | None) -> int:
    from bot import logs  # noqa: PLC0415

    # A closed terminal (SIGHUP) or `kill` must stop the embedded servers too; `run` installs
    # its own graceful SIGTERM/SIGINT handlers inside the event loop.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logs.setup(settings.log_level)
        if getattr(args, "needs_token", False):
            require(settings, "BOT_TOKEN")
        code = uvloop.run(_main(args, settings))
    except ConfigError as e:
        return e.code
    except UNREACHABLE as e:
        # Unreachable database/Redis: one line, no traceback (it would quote the URL).
        print(t(terminal_locale(), "cli.unreachable", error=type(e).__name__), file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
