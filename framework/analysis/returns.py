"""Returns on a stated time grid: return on capital, Sharpe and Sortino ratios.

The grid is UTC days by default: equity is read off the exact equity path at the run's start,
at every UTC midnight strictly inside the run, and at the run's end, so the first and last
periods may be partial days. Period returns are simple returns ``E[k] / E[k-1] - 1``; ratios are
annualised with ``sqrt(365)`` (prediction markets trade every day). Ratios are floats; money
stays int.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["DAY_NS", "PERIODS_PER_YEAR", "grid_equity", "period_returns", "return_on_capital", "sharpe",
           "sortino"]

DAY_NS = 86_400 * 1_000_000_000
PERIODS_PER_YEAR = 365


def grid_equity(ts: Sequence[int], equity: Sequence[int], start: int, end: int,
                step: int = DAY_NS) -> list[tuple[int, int]]:
    """``(t, equity at t)`` at ``start``, every multiple of ``step`` (UTC midnights for days)
    strictly between ``start`` and ``end``, and ``end``. Equity at ``t`` is the last path value at
    or before ``t`` (the first value before the path starts)."""
    if not equity:
        return []
    points = [start]
    t = (start // step + 1) * step
    while t < end:
        points.append(t)
        t += step
    if end > start:
        points.append(end)
    out = []
    for t in points:
        i = bisect.bisect_right(ts, t) - 1
        out.append((t, equity[max(i, 0)]))
    return out


def period_returns(values: Sequence[int]) -> list[float]:
    """Simple returns between consecutive grid values (a period starting at equity <= 0 is skipped)."""
    return [b / a - 1.0 for a, b in zip(values, values[1:]) if a > 0]


def return_on_capital(pnl: int, capital: int) -> float:
    """PnL over the capital the run started with (0 when there was none)."""
    return pnl / capital if capital > 0 else 0.0


def sharpe(returns: Sequence[float], periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """``mean / stdev (ddof=1) * sqrt(periods_per_year)``; ``None`` with < 2 returns or no variation."""
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns) / n
    var = sum((r - mean) ** 2 for r in returns) / (n - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(periods_per_year)


def sortino(returns: Sequence[float], periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """``mean / downside deviation * sqrt(periods_per_year)``, downside deviation
    ``sqrt(mean(min(r, 0)^2))`` over all periods (target 0); ``None`` with < 2 returns or no losing period."""
    n = len(returns)
    if n < 2:
        return None
    down = sum(min(r, 0.0) ** 2 for r in returns) / n
    if down <= 0:
        return None
    return sum(returns) / n / math.sqrt(down) * math.sqrt(periods_per_year)
