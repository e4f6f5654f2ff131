"""Kalshi's trading fee, in exact integers.

Kalshi charges per order ``coefficient x C x P x (1 - P)`` dollars (``C`` contracts, ``P`` price
in dollars), rounded up to the next cent: taker coefficient 0.07, maker 0.0175 on series with
maker fees and 0 elsewhere. An order that fills in several pieces (walking the book, or a resting
order filled over time) is charged on the order's running total: each fill's fee is
``round_up(total so far) - already charged``, so splitting an order never costs more than one
fill of the same size would (this is the per-order accumulator Kalshi describes in its 2026
fee-rounding notes; with one fill it is exactly the 2025 "round up to the cent" rule).

Coefficients and the rounding step are configuration: ``FeeModel(taker="0.07", maker="0",
rounding=CENT, series={"KXFED": {"maker": "0.0175"}})``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..units import CENT, CONTRACT, DOLLAR, UnitError

__all__ = ["FeeModel", "fee_for"]

_PPM = 1_000_000  # coefficients are held as integer parts per million
_DEN = _PPM * CONTRACT * DOLLAR  # coef_ppm * qty * p * (DOLLAR - p) / _DEN = money units


def _ppm(x: object, what: str) -> int:
    try:
        d = Decimal(str(x).strip()) * _PPM if isinstance(x, (int, float, str, Decimal)) and not isinstance(x, bool) \
            else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite() or d != int(d) or d < 0:
        raise UnitError(f"fee {what} coefficient {x!r} must be a number >= 0 with at most 6 decimals, "
                        "e.g. '0.07'")
    return int(d)


def fee_for(price: int, qty: int, coefficient: object = "0.07", rounding: int = CENT) -> int:
    """Fee in money units for one order of ``qty`` at ``price`` (YES or NO price: P(1-P) is
    symmetric). ``fee_for(5000, 1000) == 1800`` ($0.18 for 10 contracts at $0.50)."""
    num = _ppm(coefficient, "taker") * qty * price * (DOLLAR - price)
    step = _DEN * rounding
    return -(-num // step) * rounding


class FeeModel:
    """Computes per-fill fees with per-order rounding; one instance per run."""

    def __init__(self, taker: object = "0.07", maker: object = "0", rounding: int = CENT,
                 series: dict[str, dict[str, object]] | None = None) -> None:
        if rounding <= 0:
            raise UnitError(f"fee rounding step must be a positive number of money units, got {rounding}")
        self.taker_ppm = _ppm(taker, "taker")
        self.maker_ppm = _ppm(maker, "maker")
        self.rounding = rounding
        self._step = _DEN * rounding
        self._series: dict[str, tuple[int, int]] = {}
        for name, cfg in (series or {}).items():
            self._series[name] = (_ppm(cfg.get("taker", taker), "taker"), _ppm(cfg.get("maker", maker), "maker"))

    def coefficients(self, ticker: str) -> tuple[int, int]:
        """(taker_ppm, maker_ppm) for a market, by its series prefix (text before the first '-')."""
        if self._series:
            s = self._series.get(ticker.split("-", 1)[0])
            if s is not None:
                return s
        return self.taker_ppm, self.maker_ppm

    def preview(self, order, price: int, qty: int, is_maker: bool) -> int:
        """The fee ``charge`` would return, without changing the order."""
        taker_ppm, maker_ppm = self.coefficients(order.ticker)
        ppm = maker_ppm if is_maker else taker_ppm
        if ppm == 0:
            return 0
        num = order._fee_num + ppm * qty * price * (DOLLAR - price)
        return -(-num // self._step) * self.rounding - order.fee

    def charge(self, order, price: int, qty: int, is_maker: bool) -> int:
        """Fee for one fill of ``order``; updates the order's exact accumulator and ``order.fee``."""
        taker_ppm, maker_ppm = self.coefficients(order.ticker) if self._series else (self.taker_ppm, self.maker_ppm)
        ppm = maker_ppm if is_maker else taker_ppm
        if ppm == 0:
            return 0
        order._fee_num += ppm * qty * price * (DOLLAR - price)
        step = self._step
        total = -(-order._fee_num // step) * self.rounding
        fee = total - order.fee
        order.fee = total
        return fee
