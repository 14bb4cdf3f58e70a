"""`healthbot` command line: run, demo, db, and the staff commands of each area.

Every command gets a Runtime (database, Redis, embedded servers when no URL is set).
Bad input, a server that cannot be reached, a database that does not exist: one clear
line and exit code 2 (bot/operator_errors.py); never a traceback.
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
from bot.terminal import help_text, interrupted, set_operator, terminal_locale
from locales import t

log = logging.getLogger("healthbot")

# Modules that add their own commands with `register(subparsers)`.
COMMAND_MODULES = ("bot.cli_residents", "bot.cli_staff", "bot.cli_export", "bot.cli_health", "bot.cli_privacy",
                   "bot.cli_fhir", "bot.cli_security", "bot.cli_web")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthbot", description=help_text("cli.help.description"))
    parser.add_argument("--operator", metavar="NAME", help=help_text("security.cli.help_operator"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help=help_text("cli.help.run"))
    p.add_argument("--webhook", action="store_true", help=help_text("cli.help.webhook"))
    p.set_defaults(func=cmd_run, needs_token=True)

    p = sub.add_parser("demo", help=help_text("cli.help.demo"))
    p.add_argument("--configured", action="store_true", help=help_text("demo.help_configured"))
    p.add_argument("--web", action="store_true", help=help_text("web.cli.demo"))
    p.set_defaults(func=cmd_demo, settings_for=demo_settings)

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
    from telegram.error import InvalidToken, NetworkError  # noqa: PLC0415

    from bot.run import serve, stop_on_signals  # noqa: PLC0415

    if args.webhook:
        require(rt.settings, "WEBHOOK_URL", "WEBHOOK_SECRET")
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        await serve(rt, args.webhook, stop)
    except (InvalidToken, NetworkError) as e:  # at start; PTB's message would quote the token
        if isinstance(e, InvalidToken):
            print(t(terminal_locale(), "security.cli.token_rejected"), file=sys.stderr)
            return 2
        print(t(terminal_locale(), "security.cli.api_unreachable", error=type(e).__name__), file=sys.stderr)
        return 1
    return 0


def demo_settings(settings: Settings, args) -> Settings:
    """The demo seeds a sample ward: into its own embedded servers under DATA_DIR/demo,
    never into the configured DATABASE_URL / REDIS_URL (production) unless --configured."""
    if args.configured:
        return settings
    return settings.model_copy(update={"database_url": "", "redis_url": "", "data_dir": settings.data_dir / "demo"})


async def cmd_demo(args, rt) -> int:
    from bot.console import run_demo  # noqa: PLC0415

    if not args.configured:
        print(t(rt.settings.default_locale, "ops.data_dir", path=rt.settings.data_dir))
    if args.web:
        from bot.cli_web import run_web_demo  # noqa: PLC0415

        return await run_web_demo(rt)
    return await run_demo(rt)


async def cmd_db_upgrade(args, settings: Settings) -> int:
    from bot.runtime import key_codes, resolve  # noqa: PLC0415
    from storage import migrate  # noqa: PLC0415

    key_codes(settings)  # the migration to hashed codes needs the key
    db_url, _ = resolve(settings.model_copy(update={"redis_url": settings.redis_url or "redis://unused"}))
    await migrate.upgrade_async(db_url)
    print(t(settings.default_locale, "cli.db_current"))
    return 0


async def cmd_db_downgrade(args, settings: Settings) -> int:
    from bot.runtime import key_codes, resolve  # noqa: PLC0415
    from storage import migrate  # noqa: PLC0415

    key_codes(settings)  # the migration to hashed codes needs the key
    db_url, _ = resolve(settings.model_copy(update={"redis_url": settings.redis_url or "redis://unused"}))
    await asyncio.to_thread(migrate.downgrade, db_url, args.revision)
    return 0


async def _main(args, settings: Settings) -> int:
    if getattr(args, "settings_for", None):
        settings = args.settings_for(settings, args)
    if getattr(args, "raw", False):
        return await args.func(args, settings)
    from bot.runtime import open_runtime  # noqa: PLC0415

    rt = await open_runtime(settings)
    try:
        return await args.func(args, rt)
    finally:
        await rt.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds normally, so embedded servers are stopped at exit


def main(argv: list[str] | None = None) -> int:
    try:
        return _command(argv)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP outside `run`
        return interrupted()


def _command(argv: list[str] | None) -> int:
    from bot import logs, operator_errors  # noqa: PLC0415
    from storage.code_vault import VaultNotReady  # noqa: PLC0415

    # A closed terminal (SIGHUP) or `kill` must stop the embedded servers too; `run` installs
    # its own graceful SIGTERM/SIGINT handlers inside the event loop.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    parser = build_parser()
    args = parser.parse_args(argv)
    set_operator(args.operator)  # the actor of audited terminal actions (else the login name)
    settings = None
    try:
        settings = load_settings()
        logs.setup(settings.log_level, secrets=settings.secret_values)
        if getattr(args, "needs_token", False) and not settings.zalo_enabled:
            require(settings, "BOT_TOKEN")  # a messenger is needed: Telegram's token, or Zalo's app
        code = uvloop.run(_main(args, settings))
    except ConfigError as e:
        return e.code
    except VaultNotReady:  # the codes were sealed under another CODE_SECRET
        print(t(terminal_locale(), "security.cli.wrong_secret"), file=sys.stderr)
        return 2
    except operator_errors.HANDLED as e:
        # A server, a database or a file the operator must fix: one line naming it, no
        # traceback (it would quote the URL).
        line = operator_errors.describe(e, terminal_locale(), settings.database_url if settings else "")
        print(f"healthbot: {line}", file=sys.stderr)
        return operator_errors.EXIT
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
