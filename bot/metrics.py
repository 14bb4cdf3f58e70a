"""Process-local counters, exposed at GET /metrics in Prometheus text format.

Who may read them (`allowed`): a client in METRICS_NETWORKS (loopback by default), or
one that sends `Authorization: Bearer <METRICS_TOKEN>`. The webhook server answers
anyone else 403, so publishing its port for Telegram does not publish the metrics.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter
from functools import cache

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


@cache
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip())


def allowed(settings, remote: str | None, authorization: str | None) -> bool:
    """Whether a GET /metrics from `remote` (the peer address) with this Authorization
    header may be answered."""
    token = settings.metrics_token
    if token and authorization and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        ip = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _networks(settings.metrics_networks))
