"""Named points where the fault tests kill the process on purpose, to prove that a crash at
that exact moment loses nothing (tests/e2e/test_faults.py).

Off unless HEALTHBOT_FAILPOINT is set, which only the tests do: "name" or "name:N" (the
N-th time it is reached) kills the process there by SIGKILL, as in a power cut: no cleanup,
no goodbye; "name:pause" holds the process there until a signal arrives (a Ctrl-C that
must land while the work is under way, however fast the machine). Modelled on the
failpoints of storage engines (FoundationDB, TiKV). Here in storage/, the lowest layer, so
that every layer may mark its points.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("HEALTHBOT_FAILPOINT", "")
_NAME, _, _N = _SPEC.partition(":")
_PAUSE = _N == "pause"
_left = (1 if _PAUSE else int(_N or 1)) if _NAME else 0


def hit(name: str) -> None:
    global _left
    if _left and name == _NAME:
        _left -= 1
        if _left == 0:
            if _PAUSE:
                signal.pause()  # returns once a signal handler has run
            else:
                os.kill(os.getpid(), signal.SIGKILL)
