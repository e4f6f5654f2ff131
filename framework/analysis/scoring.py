"""Scoring probabilities against outcomes: Brier score, log loss, calibration, skill.

Used for the strategy's ``self.predict(ticker, p)`` calls and for the market's own forecast, its
mid price (YES mid / $1), taken at the moment of each prediction and at chosen horizons before
each market's close. Outcomes are 1 for a YES settlement and 0 for NO; unsettled markets are not
scored. Scores are floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["LOG_EPS", "brier", "brier_skill", "calibration", "log_loss", "score"]

LOG_EPS = 1e-12  # probabilities are clipped to [eps, 1 - eps] for log loss (a certain miss is finite)


def brier(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Mean of ``(p - y)^2`` over ``(p, y)`` pairs; ``None`` when there are none."""
    if not pairs:
        return None
    return sum((p - y) ** 2 for p, y in pairs) / len(pairs)


def log_loss(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Mean of ``-(y log p + (1 - y) log(1 - p))``; ``None`` when there are no pairs."""
    if not pairs:
        return None
    total = 0.0
    for p, y in pairs:
        total -= y * math.log(max(p, LOG_EPS)) + (1 - y) * math.log(max(1 - p, LOG_EPS))
    return total / len(pairs)


def brier_skill(score: float | None, reference: float | None) -> float | None:
    """``1 - score / reference``: > 0 means better than the reference forecast."""
    if score is None or reference is None or reference == 0:
        return None
    return 1.0 - score / reference


def calibration(pairs: Sequence[tuple[float, float]], bins: int = 10) -> list[dict]:
    """Equal-width probability bins ``[k/bins, (k+1)/bins)`` (the last one includes 1): for each
    non-empty bin the count, the mean forecast and the observed YES frequency."""
    acc = [[0, 0.0, 0.0] for _ in range(bins)]
    for p, y in pairs:
        k = min(int(p * bins), bins - 1)
        acc[k][0] += 1
        acc[k][1] += p
        acc[k][2] += y
    return [{"bin_lo": k / bins, "bin_hi": (k + 1) / bins, "n": n, "mean_p": sp / n, "freq": sy / n}
            for k, (n, sp, sy) in enumerate(acc) if n]


def score(pairs: Sequence[tuple[float, float]], digits: int = 8) -> dict:
    """``{"n", "brier", "log_loss"}`` of ``pairs`` (rounded floats; ``None`` when empty)."""
    b, ll = brier(pairs), log_loss(pairs)
    return {"n": len(pairs), "brier": None if b is None else round(b, digits),
            "log_loss": None if ll is None else round(ll, digits)}
