"""Drawdown of an equity path: the largest fall from a running peak, and how long it lasted.

The path is a step function: ``equity[i]`` holds from ``ts[i]`` until ``ts[i + 1]`` (the last
value until ``end``). Feed it the exact path (``Engine.equity_path``: every fill, settlement and
mark change), never a clock sample, so the numbers do not depend on a sampling interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Drawdown", "drawdown_series", "max_drawdown"]


@dataclass(frozen=True)
class Drawdown:
    """``amount`` in money units; times in ns. ``recovery_ts`` is ``None`` when equity never got
    back to the peak before ``end``; ``duration`` then runs to ``end``."""

    amount: int = 0
    pct: float = 0.0  # amount / peak equity (0 when the peak is not positive)
    peak_ts: int | None = None  # when the peak before the worst fall was set
    trough_ts: int | None = None
    recovery_ts: int | None = None
    duration: int = 0  # peak_ts -> recovery_ts (or end), ns
    longest: int = 0  # the longest time spent below a previous peak, any episode, ns


def max_drawdown(ts: Sequence[int], equity: Sequence[int], end: int | None = None) -> Drawdown:
    """The worst peak-to-trough fall of the step path ``(ts, equity)``, observed until ``end``
    (default: the last point). An episode runs from the last point at the running peak to the
    first point back at or above it.

    Vectorised (numpy int64, exact: money units are integers): the exact path of a long run
    holds a point per mark change, hundreds of thousands of them, and a Python loop over them
    cost ~0.3 µs a point (``tests/test_analysis_metrics.py`` keeps that loop as the reference)."""
    n = len(equity)
    if n == 0:
        return Drawdown()
    t = np.asarray(ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.int64)
    end = int(t[-1]) if end is None else max(end, int(t[-1]))
    peak = np.maximum.accumulate(eq)
    dd = peak - eq
    i = int(dd.argmax())  # the first point of the largest fall
    worst = int(dd[i])
    if worst <= 0:
        return Drawdown()
    at_peak = dd == 0  # a point at (or setting) the running peak
    idx = np.arange(n)
    last_peak = np.maximum.accumulate(np.where(at_peak, idx, 0))  # the last peak point so far
    pk, pk_ts = int(peak[i]), int(t[last_peak[i]])
    later = np.flatnonzero(at_peak[i + 1:])
    recovery = int(t[i + 1 + later[0]]) if len(later) else None
    # an episode ends at a peak point right after an underwater one; the last may run to ``end``
    ends = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    longest = int((t[ends] - t[last_peak[ends - 1]]).max()) if len(ends) else 0
    if not at_peak[-1]:
        longest = max(longest, end - int(t[last_peak[-1]]))
    return Drawdown(amount=worst, pct=worst / pk if pk > 0 else 0.0, peak_ts=pk_ts, trough_ts=int(t[i]),
                    recovery_ts=recovery, duration=(recovery if recovery is not None else end) - pk_ts,
                    longest=longest)


def drawdown_series(equity: Sequence[int]) -> list[int]:
    """Drawdown (running peak minus equity, money units) at every point of the path."""
    out = []
    peak = None
    for v in equity:
        if peak is None or v > peak:
            peak = v
        out.append(peak - v)
    return out
