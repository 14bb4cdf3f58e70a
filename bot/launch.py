"""`healthbot`, the command line's entry point.

Importing the command line takes about a second (the bot, the database layer and their
libraries): a Ctrl-C meanwhile ends with one line, as it does later, not a traceback.
"""

from __future__ import annotations

from bot.terminal import interrupted


def main() -> int:
    try:
        from bot.cli import main as command  # noqa: PLC0415 - the slow import, guarded
    except KeyboardInterrupt:
        return interrupted()
    return command()
