"""Process-local counters, exposed at GET /metrics in Prometheus text format."""

from __future__ import annotations

from collections import Counter

COUNTERS: Counter[str] = Counter()
HELP = {
    "healthbot_updates_total": "Updates received",
    "healthbot_updates_duplicate_total": "Events already handled (delivered again): only unsent replies were sent",
    "healthbot_updates_unreadable_total": "Updates whose shape could not be read: logged once and skipped",
    "healthbot_unavailable_total": "Events given back because Redis or PostgreSQL was away (handled later)",
    "healthbot_replies_total": "Messages sent in reply",
    "healthbot_errors_total": "Updates whose handling raised",
    "healthbot_update_seconds_sum": "Total time spent handling updates",
    "healthbot_update_seconds_count": "Updates handled (for the average)",
}


def inc(name: str, by: float = 1) -> None:
    COUNTERS[name] += by


def render() -> str:
    lines = []
    for name, help_ in HELP.items():
        kind = "counter" if name.endswith("_total") else "untyped"
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {COUNTERS[name]:g}"]
    return "\n".join(lines) + "\n"
