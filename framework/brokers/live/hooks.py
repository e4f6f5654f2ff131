"""Test hooks: crash or pause a live run at a named point (for kill -9 fault tests).

Set in the environment of the process to test:

* ``KALSHI_LIVE_CRASH_AT=<point>[:<n>]``: the process SIGKILLs itself the ``n``-th time (default
  1st) it reaches ``point``;
* ``KALSHI_LIVE_PAUSE_AT=<point>[:<n>]``: the process writes ``<point>.paused`` (containing its
  pid) into ``KALSHI_LIVE_HOOK_DIR`` (default: the current directory) and blocks that thread
  forever, so a test can ``os.kill(pid, SIGKILL)`` it at exactly that point.

Points: ``after_intent`` (order journaled, not sent), ``after_send`` (the exchange answered,
the answer is not journaled), ``after_fill`` (a fill was journaled), ``after_reconcile``.
Without the variables ``checkpoint`` costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

__all__ = ["POINTS", "checkpoint"]

POINTS = ("after_intent", "after_send", "after_fill", "after_reconcile")

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, n = value.partition(":")
    return name, int(n) if n else 1


def checkpoint(point: str) -> None:
    crash = _parse(os.environ.get("KALSHI_LIVE_CRASH_AT"))
    pause = _parse(os.environ.get("KALSHI_LIVE_PAUSE_AT"))
    if (crash is None or crash[0] != point) and (pause is None or pause[0] != point):
        return
    with _lock:
        n = _counts[point] = _counts.get(point, 0) + 1
    if crash is not None and crash == (point, n):
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # never reached in practice
    if pause is not None and pause == (point, n):
        d = Path(os.environ.get("KALSHI_LIVE_HOOK_DIR", "."))
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f"{point}.paused.tmp"
        tmp.write_text(str(os.getpid()))
        tmp.replace(d / f"{point}.paused")
        while True:
            time.sleep(3600)
