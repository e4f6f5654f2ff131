"""Kalshi's trading fee, in exact integers: formula, per-series schedules, and rounding rules.

Formula (kalshi-api.md §8), per fill and per trading side: ``M x coefficient x C x P x (1 - P)``
dollars, ``C`` contracts, ``P`` the price in dollars (YES or NO: P(1-P) is symmetric), ``M`` the
series' ``fee_multiplier``. Taker coefficient 0.07; maker 0.0175 on series whose ``fee_type`` is
``quadratic_with_maker_fees``, 0 elsewhere. Fee-free while a market's fee waiver runs.

Two rounding schedules (``rounding=``, the ``[broker] fee_rounding`` option):

* ``"2026"`` (default; Kalshi's fee-rounding page): per fill, (1) the trade fee is rounded **up**
  to $0.0001; (2) ``balance_change = revenue - trade_fee`` (revenue signed: negative for a buy);
  (3) it is floored (towards -inf) to the balance precision, $0.01 (``balance_precision=CENT``;
  $0.0001 = ``1`` for direct members); (4) ``rounding_fee = balance_change - floor(...)``. The
  rounding fees go into a per-order accumulator (kept across taker and maker fills of the order);
  once it **exceeds** $0.01 a whole cent is refunded (a rebate) and the accumulator drops by
  $0.01. A fill's fee is ``trade_fee + rounding_fee - rebate``. The accumulator is exact
  (1e-6 dollars), as Kalshi's page says intermediate fee-rounding math reaches 6 decimals.
* ``"2025"``: the order's running fee total is rounded up to the next cent (``int`` rounding =
  that step in money units, the option's meaning before 2026): each fill pays
  ``roundup(total so far) - already charged``.

With cent prices and whole contracts a single fill costs the same under both (10 @ $0.50 taker:
$0.175 -> $0.18). Details Kalshi's page leaves open, chosen here and documented in
docs/simulation.md: "exceeds" is strict (an accumulator of exactly $0.01 waits for the next
fill); a rebate may make one fill's fee negative (the order's total never is); fee-free fills
still pay the rounding fee of a sub-cent revenue (it is the balance rule, not the fee).

Coefficients, the schedule and the rounding rule are configuration: ``FeeModel(taker="0.07",
maker="0", series={"KXFED": {"maker": "0.0175"}}, schedule=FeeSchedule(...), waivers={...})``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from ..units import CENT, CONTRACT, DOLLAR, UnitError

__all__ = ["FEE_TYPES", "ROUNDING_SCHEDULES", "FeeModel", "FeeSchedule", "balance_round", "fee_for",
           "trade_fee"]

_PPM = 1_000_000  # coefficients and multipliers are held as integer parts per million
_DEN = _PPM * CONTRACT * DOLLAR  # coef_ppm * qty * p * (DOLLAR - p) / _DEN = money units
_ONE = _PPM  # multiplier 1
_DEN2 = _DEN * _PPM  # the same with a multiplier (coef_ppm * mult_ppm) in the numerator

ROUNDING_SCHEDULES = ("2026", "2025")
FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "flat")
MAKER_FEE_TYPE = "quadratic_with_maker_fees"


def _ppm(x: object, what: str, kind: str = "coefficient") -> int:
    try:
        d = Decimal(str(x).strip()) * _PPM if isinstance(x, (int, float, str, Decimal)) and not isinstance(x, bool) \
            else None
    except InvalidOperation:
        d = None
    if d is None or not d.is_finite() or d != int(d) or d < 0:
        raise UnitError(f"fee {what} {kind} {x!r} must be a number >= 0 with at most 6 decimals, "
                        "e.g. '0.07'")
    return int(d)


def fee_for(price: int, qty: int, coefficient: object = "0.07", rounding: int = CENT) -> int:
    """Fee in money units for one order of ``qty`` at ``price`` rounded up to ``rounding``
    (the 2025 rule; also an upper bound of the 2026 rule for a whole order at a cent price).
    ``fee_for(5000, 1000) == 1800`` ($0.18 for 10 contracts at $0.50)."""
    num = _ppm(coefficient, "taker") * qty * price * (DOLLAR - price)
    step = _DEN * rounding
    return -(-num // step) * rounding


def trade_fee(price: int, qty: int, coefficient: object = "0.07", multiplier: object = 1) -> int:
    """Kalshi's 2026 *trade fee* of one fill: the formula rounded up to $0.0001 (before the
    rounding fee). ``trade_fee(5000, 1000, "0.0175") == 438`` (0.04375 -> $0.0438)."""
    num = _ppm(coefficient, "taker") * _ppm(multiplier, "multiplier", "value") * qty * price * (DOLLAR - price)
    return -(-num // _DEN2)


def balance_round(revenue: int, fee: int, acc: int, precision: int = CENT) -> tuple[int, int, int]:
    """Steps 2-4 of the 2026 rule and the accumulator, for one fill.

    ``revenue``: the fill's signed revenue in $0.000001 (``price x qty``, negative for a buy);
    ``fee``: its trade fee in money units (already rounded up); ``acc``: the order's accumulator
    in $0.000001. Returns ``(balance change floored to precision, rebate, new acc)``, the first
    two in money units: the account's balance moves by ``change + rebate``."""
    change = revenue - fee * CONTRACT
    prec = precision * CONTRACT
    rounding = change % prec  # change - floor(change): Python's % floors towards -inf
    acc += rounding
    rebate = 0
    while acc > CENT * CONTRACT:  # "exceeds $0.01": strict
        acc -= CENT * CONTRACT
        rebate += CENT
    return (change - rounding) // CONTRACT, rebate, acc


class FeeSchedule:
    """Each series' ``fee_type`` and ``fee_multiplier`` over time.

    ``rows``: ``(series, ts, fee_type, fee_multiplier)``; ``ts`` (int ns) is when the row takes
    effect, ``None`` for the series' value as downloaded (``GET /series``). At time ``t`` the
    latest row with ``ts <= t`` is in force; before a series' first dated row, its undated row
    (Kalshi publishes the new value of a change, not the one it replaced, so the value before
    the first recorded change is assumed to be the downloaded one)."""

    def __init__(self, rows: Iterable[tuple[str, int | None, str, object]] = ()) -> None:
        base: dict[str, tuple[str, int]] = {}
        dated: dict[str, list[tuple[int, str, int]]] = {}
        for series, ts, fee_type, mult in rows:
            if fee_type not in FEE_TYPES:
                raise UnitError(f"fee schedule for {series}: unknown fee_type {fee_type!r}; "
                                f"expected one of {', '.join(FEE_TYPES)}")
            entry = (fee_type, _ppm(mult, f"{series} multiplier", "value"))
            if ts is None:
                base[series] = entry
            else:
                dated.setdefault(series, []).append((int(ts), *entry))
        self._base = base
        self._times: dict[str, list[int]] = {}
        self._entries: dict[str, list[tuple[str, int]]] = {}
        for series, lst in dated.items():
            lst.sort(key=lambda r: r[0])  # stable: same-time rows keep their given order
            self._times[series] = [r[0] for r in lst]
            self._entries[series] = [(r[1], r[2]) for r in lst]
            base.setdefault(series, self._entries[series][0])
        self.series = frozenset(base)

    def __bool__(self) -> bool:
        return bool(self._base)

    def at(self, series: str, ts: int | None) -> tuple[str, int] | None:
        """(fee_type, multiplier in ppm) in force for ``series`` at ``ts`` (None: unknown series)."""
        times = self._times.get(series)
        if times is not None and ts is not None:
            i = bisect.bisect_right(times, ts)
            if i:
                return self._entries[series][i - 1]
        return self._base.get(series)


class FeeModel:
    """Computes per-fill fees; one instance per run.

    ``taker``/``maker``: coefficients for series without a schedule entry. ``maker_rate``: the
    maker coefficient on series whose fee_type charges makers. ``series``: explicit per-series
    coefficient overrides (they win over the schedule and take no multiplier). ``schedule``: a
    :class:`FeeSchedule`. ``waivers``: market ticker -> ns until which it trades fee-free.
    ``series_of``: market ticker -> series ticker (default: the ticker's text before the first
    ``-``). ``enabled=False``: no fee and no rounding at all (fee-free mode).
    """

    def __init__(self, taker: object = "0.07", maker: object = "0", rounding: str | int = "2026",
                 series: Mapping[str, Mapping[str, object]] | None = None, *,
                 balance_precision: int = CENT, maker_rate: object = "0.0175",
                 schedule: FeeSchedule | None = None, waivers: Mapping[str, int] | None = None,
                 series_of: Mapping[str, str] | None = None, enabled: bool = True) -> None:
        if isinstance(rounding, bool) or not (rounding in ROUNDING_SCHEDULES or isinstance(rounding, int)):
            raise UnitError(f"fee_rounding must be one of {', '.join(map(repr, ROUNDING_SCHEDULES))} or a "
                            f"positive rounding step in money units (the 2025 rule), got {rounding!r}")
        if isinstance(rounding, int) and rounding <= 0:
            raise UnitError(f"fee rounding step must be a positive number of money units, got {rounding}")
        if balance_precision not in (CENT, 1):
            raise UnitError(f"fee balance_precision must be {CENT} ($0.01) or 1 ($0.0001, direct members), "
                            f"got {balance_precision!r}")
        self.schedule_name = "2025" if isinstance(rounding, int) else rounding
        self.rounding = rounding if isinstance(rounding, int) else CENT  # 2025 step
        self.balance_precision = balance_precision
        self.enabled = enabled
        self.taker_ppm = _ppm(taker, "taker")
        self.maker_ppm = _ppm(maker, "maker")
        self.maker_rate_ppm = _ppm(maker_rate, "maker_rate")
        self._step = _DEN2 * self.rounding
        self._prec6 = balance_precision * CONTRACT  # balance precision in 1e-6 dollars
        self._series: dict[str, tuple[int, int]] = {}
        for name, cfg in (series or {}).items():
            self._series[name] = (_ppm(cfg.get("taker", taker), "taker"), _ppm(cfg.get("maker", maker), "maker"))
        self.schedule = schedule if schedule else None
        self.waivers = dict(waivers or {})
        self.series_of = dict(series_of or {})
        # nothing varies by market or time: the hot path skips the lookups
        self._flat = not (self._series or self.schedule or self.waivers)
        self._base = (self.taker_ppm * _ONE, self.maker_ppm * _ONE)

    # ---- coefficients -----------------------------------------------------------------------
    def coefficients(self, ticker: str) -> tuple[int, int]:
        """(taker_ppm, maker_ppm) of a market's explicit override or the defaults (no schedule)."""
        if self._series:
            s = self._series.get(self.series_of.get(ticker) or ticker.split("-", 1)[0])
            if s is not None:
                return s
        return self.taker_ppm, self.maker_ppm

    def rates(self, ticker: str, ts: int | None = None) -> tuple[int, int]:
        """(taker, maker) coefficient x multiplier in force for ``ticker`` at ``ts``, in 1e-12."""
        if not self.enabled:
            return 0, 0
        if self._flat:
            return self._base
        until = self.waivers.get(ticker)
        if until is not None and (ts is None or ts < until):
            return 0, 0
        series = self.series_of.get(ticker) or ticker.split("-", 1)[0]
        s = self._series.get(series)
        if s is not None:
            return s[0] * _ONE, s[1] * _ONE
        if self.schedule is not None:
            entry = self.schedule.at(series, ts)
            if entry is not None:
                fee_type, mult = entry
                maker = self.maker_rate_ppm if fee_type == MAKER_FEE_TYPE else self.maker_ppm
                return self.taker_ppm * mult, maker * mult
        return self._base

    # ---- per fill -----------------------------------------------------------------------------
    def _compute(self, order, price: int, qty: int, is_maker: bool, ts: int | None) -> tuple[int, int]:
        """(fee of this fill, the order's new accumulator) without changing the order."""
        if not self.enabled:
            return 0, order._fee_num
        taker, maker = self.rates(order.ticker, ts) if not self._flat else self._base
        coef = maker if is_maker else taker
        if self.schedule_name == "2025":
            if coef == 0:
                return 0, order._fee_num
            num = order._fee_num + coef * qty * price * (DOLLAR - price)
            return -(-num // self._step) * self.rounding - order.fee, num
        revenue = price * qty if order.action == "sell" else -price * qty  # 1e-6 dollars, signed
        if coef == 0 and revenue % self._prec6 == 0:
            return 0, order._fee_num  # nothing to charge or round (the common fee-free case)
        fee = -(-coef * qty * price * (DOLLAR - price) // _DEN2)  # trade fee, up to $0.0001
        change, rebate, acc = balance_round(revenue, fee, order._fee_num, self.balance_precision)
        # the portfolio books revenue rounded against the account (floor); the fee is the rest
        return revenue // CONTRACT - change - rebate, acc

    def preview(self, order, price: int, qty: int, is_maker: bool, ts: int | None = None) -> int:
        """The fee ``charge`` would return, without changing the order."""
        return self._compute(order, price, qty, is_maker, ts)[0]

    # ``quote(order, price, qty, is_maker, ts=None) -> (fee, the order's new accumulator)``: what
    # ``charge`` would do, without changing the order; a caller that checks the fee before the fill
    # books it with ``book`` instead of computing it twice. The same function as ``_compute``
    # (an alias, not a wrapper: one call less per fill).
    quote = _compute

    @staticmethod
    def book(order, quote: tuple[int, int]) -> int:
        """Apply a ``quote`` of ``order`` (made for the fill now being booked); returns the fee."""
        fee, order._fee_num = quote
        order.fee += fee
        return fee

    def charge(self, order, price: int, qty: int, is_maker: bool, ts: int | None = None) -> int:
        """Fee for one fill of ``order`` at ``ts`` (ns; the schedule in force then); updates the
        order's accumulator (``order._fee_num``) and ``order.fee`` (the order's total)."""
        return self.book(order, self._compute(order, price, qty, is_maker, ts))


FEE_OPTIONS = {
    "fees": "'kalshi' (default) or 'none' (fee-free mode: no fee, no rounding fee)",
    "fee_taker": "taker fee coefficient, default '0.07'",
    "fee_maker": "maker fee coefficient on series that do not charge makers, default '0'",
    "fee_maker_rate": "maker coefficient on series with fee_type quadratic_with_maker_fees, default '0.0175'",
    "fee_rounding": "'2026' (default: per fill to $0.0001, rounding fee, per-order refund), '2025' "
                    "(order's running total up to the cent) or an int step in $0.0001 (the 2025 rule)",
    "fee_balance_precision": "balance precision of the 2026 rule in $0.0001: 100 ($0.01, default) or 1 "
                             "(direct members)",
    "fee_series": "per-series fee overrides {series: {'taker': .., 'maker': ..}} (win over the catalog)",
    "fee_schedule": "apply the catalog's per-series fee schedule and fee waivers (default true)",
}


def fee_model_from_options(opts: Mapping[str, object], schedule: FeeSchedule | None = None,
                           waivers: Mapping[str, int] | None = None,
                           series_of: Mapping[str, str] | None = None) -> FeeModel:
    """The FeeModel a ``[broker]`` table (or ``run_backtest`` options) describes; ``schedule``
    and ``waivers`` (from the catalog) are used unless ``fee_schedule`` is false."""
    mode = opts.get("fees", "kalshi")
    if mode not in ("kalshi", "none"):
        raise UnitError(f"fees must be 'kalshi' or 'none' (fee-free mode), got {mode!r}")
    use_schedule = opts.get("fee_schedule", True)
    if not isinstance(use_schedule, bool):
        raise UnitError(f"fee_schedule must be true or false, got {use_schedule!r}")
    return FeeModel(taker=opts.get("fee_taker", "0.07"), maker=opts.get("fee_maker", "0"),
                    rounding=opts.get("fee_rounding", "2026"), series=opts.get("fee_series"),
                    balance_precision=opts.get("fee_balance_precision", CENT),
                    maker_rate=opts.get("fee_maker_rate", "0.0175"),
                    schedule=schedule if use_schedule else None, waivers=waivers if use_schedule else None,
                    series_of=series_of, enabled=mode == "kalshi")
