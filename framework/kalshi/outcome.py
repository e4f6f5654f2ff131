"""What a Kalshi market settled as: one reading of ``Market.result`` for every consumer.

The downloader (markets table), the live :class:`~framework.live.settlement.SettlementWatcher`
and restart reconciliation all turn a :class:`~framework.kalshi.models.Market` into the same
``(result, value)`` pair with :func:`market_outcome`, so a backtest of downloaded data and a
live run settle a market the same way.

What Kalshi's OpenAPI document (``Market``, v3.10) states:

* ``result`` is one of ``"yes"``, ``"no"``, ``"scalar"``, ``""`` (not determined yet);
* ``settlement_value_dollars`` is "the settlement value of the YES/LONG side of the contract in
  dollars. Only filled after determination": a ``scalar`` market's YES payout per contract (the
  NO side gets the rest, kalshi-api.md §8);
* ``status`` ends in ``finalized`` (``settled`` in older payloads);
* ``Settlement.market_result`` (``GET /portfolio/settlements``) additionally lists ``"void"``:
  "market was voided/cancelled and all positions returned at original cost".

What it does not state, and is therefore a setting (``empty_result``): how a *voided* market
looks in ``GET /markets``. ``void`` is not in ``Market.result``'s enum, so a finalized market
whose result is still ``""`` is read as void by default (``empty_result="void"``);
``empty_result="unsettled"`` leaves such a market unsettled instead. A literal ``"void"`` result
(older API versions sent it) is always read as void.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..units import DOLLAR

__all__ = ["EMPTY_RESULT_POLICIES", "FINAL_STATUSES", "Outcome", "check_empty_result", "market_outcome"]

FINAL_STATUSES = frozenset({"finalized", "settled"})  # "settled": older payloads
EMPTY_RESULT_POLICIES = ("void", "unsettled")


class Outcome(NamedTuple):
    """A settlement: ``result`` in yes/no/void/scalar; ``value`` the scalar YES payout per
    contract in $0.0001 (``None`` for the other results)."""

    result: str
    value: int | None = None


def check_empty_result(empty_result: str) -> str:
    """``empty_result`` if it is a known policy, else ``ValueError`` (one line)."""
    if empty_result not in EMPTY_RESULT_POLICIES:
        raise ValueError(f"empty_result must be one of {', '.join(EMPTY_RESULT_POLICIES)}, got {empty_result!r}")
    return empty_result


def market_outcome(m: Any, empty_result: str = "void") -> tuple[Outcome | None, str | None]:
    """``(outcome, note)`` for a market (anything with ``ticker``, ``status``, ``result`` and
    ``settlement_value``).

    ``outcome`` is ``None`` while the market has no usable result. ``note`` is ``None`` unless
    something deserves a warning: an unknown result or a scalar result without (or with an
    out-of-range) settlement value (``outcome`` is then ``None`` and the note says what is
    wrong, the caller says what it did), or a void *inferred* from a finalized market's empty
    result (``outcome`` void, the note says so).
    ``yes``/``no``/``scalar`` count from determination on (the result is known; the caller decides
    whether it waits for ``finalized``); the empty-result inference needs a final status.
    """
    check_empty_result(empty_result)
    raw = (getattr(m, "result", None) or "").strip().lower()
    status = (getattr(m, "status", None) or "").strip().lower()
    if raw in ("yes", "no"):
        return Outcome(raw), None
    if raw == "void":
        return Outcome("void"), None
    if raw == "scalar":
        value = getattr(m, "settlement_value", None)
        if type(value) is int and 0 <= value <= DOLLAR:
            return Outcome("scalar", value), None
        why = "no settlement_value_dollars" if value is None else f"settlement_value {value!r} outside [0, $1]"
        return None, f"{m.ticker}: result 'scalar' with {why}"
    if raw:
        return None, f"{m.ticker}: result {raw!r} is not yes/no/scalar/void"
    if status in FINAL_STATUSES:
        if empty_result == "void":
            return Outcome("void"), (f"{m.ticker}: {status} with an empty result: read as void (Kalshi's "
                                     "Market.result has no 'void'; empty_result = 'unsettled' leaves it unsettled)")
        return None, f"{m.ticker}: {status} with an empty result (empty_result = 'unsettled')"
    return None, None
