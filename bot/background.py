"""Jobs that run beside the bot in every `healthbot run` process.

Each is `job(rt, app, stop)` and returns soon after `stop` is set. They share work through
PostgreSQL and Redis only, so any number of processes may run them at once.
"""

from __future__ import annotations

JOBS: list = []
