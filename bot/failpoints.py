"""Named points where the fault tests kill the process on purpose, to prove that a crash at
that exact moment loses nothing (tests/e2e/test_faults.py).

Off unless HEALTHBOT_FAILPOINT is set ("name" or "name:N", N-th time it is reached), which
only the tests do; then the process dies by SIGKILL there, as in a power cut: no cleanup,
no goodbye. Modelled on the failpoints of storage engines (FoundationDB, TiKV).
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("HEALTHBOT_FAILPOINT", "")
_NAME, _, _N = _SPEC.partition(":")
_left = int(_N or 1) if _NAME else 0


def hit(name: str) -> None:
    global _left
    if _left and name == _NAME:
        _left -= 1
        if _left == 0:
            os.kill(os.getpid(), signal.SIGKILL)
