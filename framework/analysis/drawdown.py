"""Drawdown of an equity path: the largest fall from a running peak, and how long it lasted.

The path is a step function: ``equity[i]`` holds from ``ts[i]`` until ``ts[i + 1]`` (the last
value until ``end``). Feed it the exact path (``Engine.equity_path``: every fill, settlement and
mark change), never a clock sample, so the numbers do not depend on a sampling interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    first point back at or above it."""
    n = len(equity)
    if n == 0:
        return Drawdown()
    end = ts[-1] if end is None else max(end, ts[-1])
    peak, peak_ts = equity[0], ts[0]
    worst, best, recovery = 0, None, None  # best = (peak value, peak ts, trough ts) of the worst fall
    underwater = worst_here = False  # below the peak now / the worst fall is in this episode
    longest = 0
    for i in range(1, n):
        v, t = equity[i], ts[i]
        if v >= peak:
            if underwater:  # the episode ends
                longest = max(longest, t - peak_ts)
                if worst_here:
                    recovery = t
                underwater = worst_here = False
            peak, peak_ts = v, t
            continue
        underwater = True
        if peak - v > worst:
            worst, best, recovery, worst_here = peak - v, (peak, peak_ts, t), None, True
    if underwater:
        longest = max(longest, end - peak_ts)
    if best is None:
        return Drawdown()
    pk, pk_ts, tr_ts = best
    return Drawdown(amount=worst, pct=worst / pk if pk > 0 else 0.0, peak_ts=pk_ts, trough_ts=tr_ts,
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
