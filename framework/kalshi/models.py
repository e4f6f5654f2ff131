"""Kalshi JSON objects parsed into frozen records in exact framework units.

Units (see :mod:`framework.units`): prices and money are ``int`` in $0.0001, quantities are
``int`` in 0.01 contract, times are ``int`` nanoseconds since the Unix epoch (UTC).

Parsing rules, applied to every record:

* The fixed-point fields (``*_dollars`` strings in dollars, ``*_fp`` strings in contracts) are
  read first; the legacy integer fields (``yes_price`` in cents, ``count`` in contracts, ...)
  are a fallback for old recordings. When both are present the fixed-point one wins.
* Numbers sent as strings and strings sent as numbers are both accepted.
* Direction: ``outcome_side``/``book_side`` first, then the legacy ``side``+``action``
  (trades: ``taker_outcome_side``/``taker_book_side``, then ``taker_side``).
* Times: RFC 3339 strings, Unix seconds or milliseconds (by field name, else by magnitude).
* Unknown fields are ignored; a missing *required* field raises :class:`KalshiParseError`
  naming the record type and the field.
* Values are range-checked, and a value out of range raises :class:`KalshiParseError` naming the
  field (the caller quarantines the payload; nothing is clamped): prices within $0-$1 (fill and
  trade prices strictly inside), quantities, costs and fees not negative (positions are signed),
  numbers of at most ``MAX_DIGITS`` characters and decimal exponents within ``MAX_EXPONENT``
  (so ``"1e999999"`` is refused at once instead of costing seconds of CPU).
* Money fields with 6 decimals (``fee_cost``, ``*_cost_dollars``, ``*_fees_dollars``...) are
  kept exactly when they are a whole number of $0.0001; otherwise costs and fees are rounded
  **up** (against us, conservative) and PnL is rounded **down**. Prices must be exact.

The original dict is kept in ``raw`` (excluded from ``==``, ``hash`` and ``repr``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from ..units import CENT, CONTRACT, DOLLAR
from .errors import KalshiParseError

__all__ = [
    "OHLC",
    "AmendResult",
    "Balance",
    "BatchCancelResult",
    "BatchCreateResult",
    "CancelResult",
    "Candle",
    "Fill",
    "Market",
    "Order",
    "OrderbookLevels",
    "Position",
    "Settlement",
    "Trade",
    "parse_time_ns",
]

_MISSING = object()
MAX_DIGITS = 40  # longest numeric string accepted (Kalshi sends at most ~20 characters)
MAX_EXPONENT = 20  # |decimal exponent| bound: 1e20 exceeds every Kalshi quantity, price and time


# --------------------------------------------------------------------------- number helpers


def _dec(value: Any, obj: str, fld: str) -> Decimal:
    if isinstance(value, bool):
        raise KalshiParseError(obj, fld, f"boolean {value!r} is not a number in field")
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, int):
            d = Decimal(value)
        elif isinstance(value, float):
            d = Decimal(repr(value))  # shortest repr == the decimal the sender wrote
        elif isinstance(value, str):
            if len(value) > MAX_DIGITS:
                raise KalshiParseError(obj, fld, f"{value[:20]!r}... ({len(value)} characters) is too long for")
            d = Decimal(value.strip().replace("$", "").replace(",", ""))
        else:
            raise KalshiParseError(obj, fld, f"{type(value).__name__} is not a number in field")
    except InvalidOperation:
        raise KalshiParseError(obj, fld, f"{value!r} is not a number in field") from None
    if not d.is_finite():
        raise KalshiParseError(obj, fld, f"{value!r} is not finite in field")
    # checked before any arithmetic: scaling 1e999999 to an int would take seconds (tiny values are
    # cheap: they round or fail the precision check)
    if d and d.adjusted() > MAX_EXPONENT:
        raise KalshiParseError(obj, fld, f"{value!r} is out of range in field")
    return d


_PRICE = "prices must be within $0-$1"
_INSIDE = "must be strictly between $0 and $1"
_NONNEG = "must not be negative"


def _in_range(v: int, obj: str, fld: str | None, lo: int | None, hi: int | None, rule: str, raw: Any = _MISSING) -> int:
    """``v`` if ``lo <= v <= hi``, else :class:`KalshiParseError` naming the field and the rule."""
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        shown = v if raw is _MISSING else raw
        raise KalshiParseError(obj, fld or "?", f"{shown!r} is out of range ({rule}) in field")
    return v


def _scaled(value: Any, scale: int, obj: str, fld: str, rounding: str | None = None) -> int:
    d = _dec(value, obj, fld) * scale
    i = int(d)
    if d == i:
        return i
    if rounding is None:
        raise KalshiParseError(obj, fld, f"{value!r} is finer than the framework's precision in field")
    return int(d.to_integral_value(rounding=rounding))


def _get(d: Mapping, *keys: str) -> tuple[str | None, Any]:
    for k in keys:
        v = d.get(k)
        if v is not None and v != "":
            return k, v
    return None, _MISSING


def _price(
    d: Mapping,
    obj: str,
    dollars_keys: tuple[str, ...],
    cents_keys: tuple[str, ...] = (),
    required: bool = False,
) -> int | None:
    k, v = _get(d, *dollars_keys)
    if v is not _MISSING:
        return _in_range(_scaled(v, DOLLAR, obj, k), obj, k, 0, DOLLAR, _PRICE, v)
    k, v = _get(d, *cents_keys)
    if v is not _MISSING:
        return _in_range(_scaled(v, CENT, obj, k), obj, k, 0, DOLLAR, _PRICE, v)
    if required:
        raise KalshiParseError(obj, dollars_keys[0])
    return None


def _qty(
    d: Mapping,
    obj: str,
    fp_keys: tuple[str, ...],
    int_keys: tuple[str, ...] = (),
    required: bool = False,
    signed: bool = False,
) -> int | None:
    """Quantity in 0.01 contract; never negative unless ``signed`` (positions)."""
    k, v = _get(d, *fp_keys, *int_keys)
    if v is not _MISSING:
        q = _scaled(v, CONTRACT, obj, k)
        return q if signed else _in_range(q, obj, k, 0, None, _NONNEG, v)
    if required:
        raise KalshiParseError(obj, fp_keys[0])
    return None


def _money(
    d: Mapping,
    obj: str,
    dollars_keys: tuple[str, ...],
    cents_keys: tuple[str, ...] = (),
    *,
    cost: bool = True,
    required: bool = False,
) -> int | None:
    """Money in $0.0001: exact if possible, else rounded up (costs/fees) or down (PnL).

    Costs and fees (``cost=True``) are never negative; PnL and balances are signed."""
    rounding = ROUND_CEILING if cost else ROUND_FLOOR
    lo = 0 if cost else None
    k, v = _get(d, *dollars_keys)
    if v is not _MISSING:
        return _in_range(_scaled(v, DOLLAR, obj, k, rounding), obj, k, lo, None, _NONNEG, v)
    k, v = _get(d, *cents_keys)
    if v is not _MISSING:
        return _in_range(_scaled(v, CENT, obj, k, rounding), obj, k, lo, None, _NONNEG, v)
    if required:
        raise KalshiParseError(obj, dollars_keys[0])
    return None


def _str(d: Mapping, obj: str, *keys: str, required: bool = False) -> str | None:
    k, v = _get(d, *keys)
    if v is _MISSING:
        if required:
            raise KalshiParseError(obj, keys[0])
        return None
    return str(v)


def _bool(d: Mapping, key: str) -> bool | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _int(d: Mapping, obj: str, key: str) -> int | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    d_ = _dec(v, obj, key)
    if d_ != int(d_):
        raise KalshiParseError(obj, key, f"{v!r} is not an integer in field")
    return int(d_)


# --------------------------------------------------------------------------- times

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?$")


def parse_time_ns(value: Any, unit: str | None = None) -> int:
    """RFC 3339 string, or a Unix number, -> int nanoseconds UTC.

    ``unit`` is ``"s"``, ``"ms"``, ``"us"`` or ``"ns"`` for numbers; when omitted the unit is
    guessed from the magnitude (< 1e11 seconds, < 1e14 ms, < 1e17 us, else ns). Numeric
    strings are numbers. Raises ``ValueError`` on anything else.
    """
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return _dt_ns(dt, 0)
    if isinstance(value, str):
        s = value.strip()
        m = _RFC3339.match(s)
        if m:
            date, clock, frac, tz = m.groups()
            if clock.count(":") == 1:
                clock += ":00"
            tz = "+00:00" if tz in (None, "Z", "z") else tz
            if len(tz) == 5:
                tz = tz[:3] + ":" + tz[3:]
            dt = datetime.fromisoformat(f"{date}T{clock}{tz}")
            frac_ns = int((frac or "0")[:9].ljust(9, "0"))
            return _dt_ns(dt, frac_ns)
        if len(s) > MAX_DIGITS:
            raise ValueError(f"not a timestamp: {s[:20]!r}... ({len(s)} characters)")
        try:
            num = Decimal(s)
        except InvalidOperation:
            raise ValueError(f"not a timestamp: {value!r}") from None
    elif isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, (int, Decimal)):
        num = Decimal(value)
    elif isinstance(value, float):
        num = Decimal(repr(value))
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if not num.is_finite():
        raise ValueError(f"not a timestamp: {value!r}")
    if num and num.adjusted() > MAX_EXPONENT:  # before scaling: 1e999999 ns would take seconds to build
        raise ValueError(f"timestamp out of range: {value!r}")
    if unit is None:
        a = abs(num)
        unit = "s" if a < 10**11 else "ms" if a < 10**14 else "us" if a < 10**17 else "ns"
    scale = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[unit]
    return int((num * scale).to_integral_value(rounding=ROUND_FLOOR))


def _dt_ns(dt: datetime, frac_ns: int) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = dt.replace(microsecond=0) - epoch
    return (delta.days * 86400 + delta.seconds) * 10**9 + (frac_ns or dt.microsecond * 1000)


def _time(d: Mapping, obj: str, *keys: tuple[str, str | None], required: bool = False) -> int | None:
    """First present key of ``keys`` ((name, unit) pairs) -> ns."""
    for k, unit in keys:
        v = d.get(k)
        if v is None or v == "":
            continue
        try:
            return parse_time_ns(v, unit if not isinstance(v, str) or not _RFC3339.match(v.strip()) else None)
        except ValueError:
            raise KalshiParseError(obj, k, f"{v!r} is not a timestamp in field") from None
    if required:
        raise KalshiParseError(obj, keys[0][0])
    return None


# --------------------------------------------------------------------------- direction

_OUTCOME_FROM_LEGACY = {
    ("yes", "buy"): "yes",
    ("no", "sell"): "yes",
    ("no", "buy"): "no",
    ("yes", "sell"): "no",
}
_BOOK_FROM_OUTCOME = {"yes": "bid", "no": "ask"}
_OUTCOME_FROM_BOOK = {"bid": "yes", "ask": "no"}


def _direction(d: Mapping, obj: str) -> tuple[str | None, str | None]:
    """(outcome_side, book_side) from the new fields, falling back to side/action."""
    outcome = _str(d, obj, "outcome_side")
    book = _str(d, obj, "book_side")
    if outcome is None and book is not None:
        outcome = _OUTCOME_FROM_BOOK.get(book.lower())
    if outcome is None:
        side, action = _str(d, obj, "side"), _str(d, obj, "action")
        if side is not None and action is not None:
            outcome = _OUTCOME_FROM_LEGACY.get((side.lower(), action.lower()))
        elif side is not None and action is None and obj == "Fill" and d.get("purchased_side"):
            outcome = str(d["purchased_side"]).lower()
    if outcome is not None:
        outcome = outcome.lower()
    if book is None and outcome is not None:
        book = _BOOK_FROM_OUTCOME.get(outcome)
    return outcome, (book.lower() if book else None)


def _need_map(data: Any, obj: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise KalshiParseError(obj, "<object>", f"expected a JSON object, got {type(data).__name__} for")
    return data


def _raw():
    return field(default=None, compare=False, hash=False, repr=False)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Market:
    """One binary market. Prices in $0.0001, sizes in 0.01 contract, times in ns UTC."""

    ticker: str
    event_ticker: str
    status: str
    market_type: str | None = None
    title: str | None = None
    yes_sub_title: str | None = None
    no_sub_title: str | None = None
    yes_bid: int | None = None
    yes_ask: int | None = None
    no_bid: int | None = None
    no_ask: int | None = None
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None
    last_price: int | None = None
    previous_yes_bid: int | None = None
    previous_yes_ask: int | None = None
    previous_price: int | None = None
    volume: int | None = None
    volume_24h: int | None = None
    open_interest: int | None = None
    notional_value: int = DOLLAR
    created_time: int | None = None
    open_time: int | None = None
    close_time: int | None = None
    expected_expiration_time: int | None = None
    latest_expiration_time: int | None = None
    settlement_timer_seconds: int | None = None
    fee_waiver_expiration_time: int | None = None
    result: str = ""
    settlement_value: int | None = None
    settlement_ts: int | None = None
    can_close_early: bool | None = None
    strike_type: str | None = None
    floor_strike: Decimal | None = None
    cap_strike: Decimal | None = None
    price_level_structure: str | None = None
    price_ranges: tuple[tuple[int, int, int], ...] = ()  # (start, end, step) in price units
    mve_collection_ticker: str | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Market:
        o = "Market"
        d = _need_map(data, o)
        ranges = []
        for i, r in enumerate(d.get("price_ranges") or ()):
            if not isinstance(r, Mapping):
                continue
            ranges.append(
                (
                    _price(r, f"Market.price_ranges[{i}]", ("start", "start_dollars"), required=True),
                    _price(r, f"Market.price_ranges[{i}]", ("end", "end_dollars"), required=True),
                    _price(r, f"Market.price_ranges[{i}]", ("step", "step_dollars"), required=True),
                )
            )

        def strike(k: str) -> Decimal | None:
            v = d.get(k)
            return None if v is None or v == "" else _dec(v, o, k)

        return cls(
            ticker=_str(d, o, "ticker", required=True),
            event_ticker=_str(d, o, "event_ticker", required=True),
            status=_str(d, o, "status", required=True),
            market_type=_str(d, o, "market_type"),
            title=_str(d, o, "title"),
            yes_sub_title=_str(d, o, "yes_sub_title"),
            no_sub_title=_str(d, o, "no_sub_title"),
            yes_bid=_price(d, o, ("yes_bid_dollars",), ("yes_bid",)),
            yes_ask=_price(d, o, ("yes_ask_dollars",), ("yes_ask",)),
            no_bid=_price(d, o, ("no_bid_dollars",), ("no_bid",)),
            no_ask=_price(d, o, ("no_ask_dollars",), ("no_ask",)),
            yes_bid_size=_qty(d, o, ("yes_bid_size_fp",), ("yes_bid_size",)),
            yes_ask_size=_qty(d, o, ("yes_ask_size_fp",), ("yes_ask_size",)),
            last_price=_price(d, o, ("last_price_dollars",), ("last_price",)),
            previous_yes_bid=_price(d, o, ("previous_yes_bid_dollars",), ("previous_yes_bid",)),
            previous_yes_ask=_price(d, o, ("previous_yes_ask_dollars",), ("previous_yes_ask",)),
            previous_price=_price(d, o, ("previous_price_dollars",), ("previous_price",)),
            volume=_qty(d, o, ("volume_fp",), ("volume",)),
            volume_24h=_qty(d, o, ("volume_24h_fp",), ("volume_24h",)),
            open_interest=_qty(d, o, ("open_interest_fp",), ("open_interest",)),
            notional_value=_price(d, o, ("notional_value_dollars",), ("notional_value",)) or DOLLAR,
            created_time=_time(d, o, ("created_time", None)),
            open_time=_time(d, o, ("open_time", None)),
            close_time=_time(d, o, ("close_time", None)),
            expected_expiration_time=_time(d, o, ("expected_expiration_time", None)),
            latest_expiration_time=_time(d, o, ("latest_expiration_time", None), ("expiration_time", None)),
            settlement_timer_seconds=_int(d, o, "settlement_timer_seconds"),
            fee_waiver_expiration_time=_time(d, o, ("fee_waiver_expiration_time", None)),
            result=_str(d, o, "result") or "",
            settlement_value=_price(d, o, ("settlement_value_dollars",), ("settlement_value",)),
            settlement_ts=_time(d, o, ("settlement_ts", None)),
            can_close_early=_bool(d, "can_close_early"),
            strike_type=_str(d, o, "strike_type"),
            floor_strike=strike("floor_strike"),
            cap_strike=strike("cap_strike"),
            price_level_structure=_str(d, o, "price_level_structure"),
            price_ranges=tuple(ranges),
            mve_collection_ticker=_str(d, o, "mve_collection_ticker"),
            raw=d,
        )


def _levels(rows: Any, obj: str, fld: str, price_scale: int) -> tuple[tuple[int, int], ...]:
    if rows is None:
        return ()
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or len(row) < 2:
            raise KalshiParseError(obj, f"{fld}[{i}]", "expected [price, size] in field")
        at = f"{fld}[{i}]"
        price = _in_range(_scaled(row[0], price_scale, obj, at), obj, at, 1, DOLLAR - 1, "a level's price " + _INSIDE,
                          row[0])
        size = _in_range(_scaled(row[1], CONTRACT, obj, at), obj, at, 0, None, "a level's size " + _NONNEG, row[1])
        out.append((price, size))
    out.sort(key=lambda lv: lv[0])
    return tuple(out)


@dataclass(frozen=True, slots=True)
class OrderbookLevels:
    """Resting **bids** on both legs, each a tuple of ``(price, size)`` sorted **ascending**.

    Kalshi publishes bids only: ``yes`` are bids to buy YES, ``no`` bids to buy NO. Like
    Kalshi's own arrays, the **best bid is the LAST element** (we re-sort ascending to
    guarantee it). Use :meth:`yes_best_first` / :meth:`no_best_first` for best-first views;
    the YES ask is ``$1 - best NO bid`` (:meth:`best_yes_ask`).
    """

    yes: tuple[tuple[int, int], ...] = ()
    no: tuple[tuple[int, int], ...] = ()
    ticker: str | None = None

    @classmethod
    def from_json(cls, data: Any, ticker: str | None = None) -> OrderbookLevels:
        """Accepts the response of ``GET /markets/{t}/orderbook`` in any known shape.

        ``{"orderbook_fp": {"yes_dollars": [["0.40","25.00"]], "no_dollars": [...]}}`` (2026),
        ``{"orderbook": {"yes_dollars": ..., "no_dollars": ...}}``, the legacy cents
        ``{"orderbook": {"yes": [[40, 25]], "no": [...]}}``, the same without a wrapper, and WS
        snapshot keys ``yes_dollars_fp``/``no_dollars_fp``.
        """
        o = "Orderbook"
        d = _need_map(data, o)
        book = d
        for wrapper in ("orderbook_fp", "orderbook"):
            if isinstance(d.get(wrapper), Mapping):
                book = d[wrapper]
                break
        ticker = ticker or _str(d, o, "ticker", "market_ticker")

        def side(leg: str) -> tuple[tuple[int, int], ...]:
            for key in (f"{leg}_dollars", f"{leg}_dollars_fp"):
                if key in book and book[key] is not None:
                    return _levels(book[key], o, key, DOLLAR)
            if book.get(leg) is not None:
                return _levels(book[leg], o, leg, CENT)
            return ()

        return cls(yes=side("yes"), no=side("no"), ticker=ticker)

    def yes_best_first(self) -> tuple[tuple[int, int], ...]:
        """YES bids, best (highest price) first."""
        return tuple(reversed(self.yes))

    def no_best_first(self) -> tuple[tuple[int, int], ...]:
        """NO bids, best (highest price) first."""
        return tuple(reversed(self.no))

    def best_yes_bid(self) -> tuple[int, int] | None:
        return self.yes[-1] if self.yes else None

    def best_no_bid(self) -> tuple[int, int] | None:
        return self.no[-1] if self.no else None

    def best_yes_ask(self) -> tuple[int, int] | None:
        """``(1 - best NO bid, size)``: the cheapest YES offer implied by the NO bids."""
        b = self.best_no_bid()
        return (DOLLAR - b[0], b[1]) if b else None

    def best_no_ask(self) -> tuple[int, int] | None:
        b = self.best_yes_bid()
        return (DOLLAR - b[0], b[1]) if b else None

    def yes_asks_best_first(self) -> tuple[tuple[int, int], ...]:
        """YES asks implied by NO bids, cheapest first."""
        return tuple((DOLLAR - p, s) for p, s in reversed(self.no))


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade. ``price`` is the YES price; ``taker_outcome_side`` ``yes`` = taker bought YES."""

    trade_id: str
    ticker: str
    price: int
    count: int
    created_time: int
    no_price: int | None = None
    taker_outcome_side: str | None = None
    taker_book_side: str | None = None
    is_block_trade: bool = False
    raw: Mapping | None = _raw()

    @property
    def yes_price(self) -> int:
        return self.price

    @classmethod
    def from_json(cls, data: Any) -> Trade:
        o = "Trade"
        d = _need_map(data, o)
        outcome = _str(d, o, "taker_outcome_side")
        book = _str(d, o, "taker_book_side")
        if outcome is None and book is not None:
            outcome = _OUTCOME_FROM_BOOK.get(book.lower())
        if outcome is None:
            outcome = _str(d, o, "taker_side")
        outcome = outcome.lower() if outcome else None
        if book is None and outcome:
            book = _BOOK_FROM_OUTCOME.get(outcome)
        yes = _price(d, o, ("yes_price_dollars", "price_dollars"), ("yes_price",), required=False)
        no = _price(d, o, ("no_price_dollars",), ("no_price",))
        if yes is None:
            if no is None:
                raise KalshiParseError(o, "yes_price_dollars")
            yes = DOLLAR - no
        _in_range(yes, o, "yes_price_dollars", 1, DOLLAR - 1, "a trade's price " + _INSIDE)
        return cls(
            trade_id=_str(d, o, "trade_id", required=True),
            ticker=_str(d, o, "ticker", "market_ticker", required=True),
            price=yes,
            count=_qty(d, o, ("count_fp",), ("count",), required=True),
            created_time=_time(d, o, ("created_time", None), ("ts_ms", "ms"), ("ts", "s"), required=True),
            no_price=no if no is not None else DOLLAR - yes,
            taker_outcome_side=outcome,
            taker_book_side=book.lower() if book else None,
            is_block_trade=bool(_bool(d, "is_block_trade")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange reports it. ``yes_price`` is on the YES scale."""

    order_id: str
    ticker: str
    status: str
    client_order_id: str | None = None
    outcome_side: str | None = None  # yes | no : the outcome this order makes you long
    book_side: str | None = None  # bid (buy YES / sell NO) | ask (sell YES / buy NO)
    side: str | None = None  # legacy yes|no
    action: str | None = None  # legacy buy|sell
    yes_price: int | None = None
    no_price: int | None = None
    initial_count: int | None = None
    fill_count: int | None = None
    remaining_count: int | None = None
    taker_fill_cost: int | None = None
    maker_fill_cost: int | None = None
    taker_fees: int | None = None
    maker_fees: int | None = None
    created_time: int | None = None
    last_update_time: int | None = None
    expiration_time: int | None = None
    self_trade_prevention_type: str | None = None
    order_group_id: str | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Order:
        o = "Order"
        d = _need_map(data, o)
        outcome, book = _direction(d, o)
        yes = _price(d, o, ("yes_price_dollars",), ("yes_price",))
        no = _price(d, o, ("no_price_dollars",), ("no_price",))
        if yes is None and no is not None:
            yes = DOLLAR - no
        if no is None and yes is not None:
            no = DOLLAR - yes
        return cls(
            order_id=_str(d, o, "order_id", required=True),
            ticker=_str(d, o, "ticker", "market_ticker", required=True),
            status=_str(d, o, "status", required=True),
            client_order_id=_str(d, o, "client_order_id"),
            outcome_side=outcome,
            book_side=book,
            side=_str(d, o, "side"),
            action=_str(d, o, "action"),
            yes_price=yes,
            no_price=no,
            initial_count=_qty(d, o, ("initial_count_fp",), ("initial_count",)),
            fill_count=_qty(d, o, ("fill_count_fp",), ("fill_count",)),
            remaining_count=_qty(d, o, ("remaining_count_fp",), ("remaining_count",)),
            taker_fill_cost=_money(d, o, ("taker_fill_cost_dollars",), ("taker_fill_cost",)),
            maker_fill_cost=_money(d, o, ("maker_fill_cost_dollars",), ("maker_fill_cost",)),
            taker_fees=_money(d, o, ("taker_fees_dollars",), ("taker_fees",)),
            maker_fees=_money(d, o, ("maker_fees_dollars",), ("maker_fees",)),
            created_time=_time(d, o, ("created_time", None), ("created_ts_ms", "ms")),
            last_update_time=_time(d, o, ("last_update_time", None), ("last_updated_ts_ms", "ms")),
            expiration_time=_time(d, o, ("expiration_time", None), ("expiration_ts_ms", "ms")),
            self_trade_prevention_type=_str(d, o, "self_trade_prevention_type"),
            order_group_id=_str(d, o, "order_group_id"),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One of our fills. ``yes_price`` on the YES scale; ``fee`` rounded up to $0.0001."""

    fill_id: str
    order_id: str
    ticker: str
    count: int
    yes_price: int
    created_time: int
    outcome_side: str | None = None
    book_side: str | None = None
    side: str | None = None
    action: str | None = None
    no_price: int | None = None
    is_taker: bool | None = None
    fee: int | None = None
    client_order_id: str | None = None
    trade_id: str | None = None
    post_position: int | None = None
    subaccount: int | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Fill:
        o = "Fill"
        d = _need_map(data, o)
        outcome, book = _direction(d, o)
        yes = _price(d, o, ("yes_price_dollars", "yes_price_fixed"), ("yes_price",))
        no = _price(d, o, ("no_price_dollars", "no_price_fixed"), ("no_price",))
        if yes is None:
            if no is None:
                raise KalshiParseError(o, "yes_price_dollars")
            yes = DOLLAR - no
        _in_range(yes, o, "yes_price_dollars", 1, DOLLAR - 1, "a fill's price " + _INSIDE)
        sub = d.get("subaccount_number", d.get("subaccount"))
        return cls(
            fill_id=_str(d, o, "fill_id", "trade_id", required=True),
            order_id=_str(d, o, "order_id", required=True),
            ticker=_str(d, o, "ticker", "market_ticker", required=True),
            count=_qty(d, o, ("count_fp",), ("count",), required=True),
            yes_price=yes,
            created_time=_time(d, o, ("created_time", None), ("ts_ms", "ms"), ("ts", "s"), required=True),
            outcome_side=outcome,
            book_side=book,
            side=_str(d, o, "side"),
            action=_str(d, o, "action"),
            no_price=no if no is not None else DOLLAR - yes,
            is_taker=_bool(d, "is_taker"),
            fee=_money(d, o, ("fee_cost", "fee_cost_dollars")),
            client_order_id=_str(d, o, "client_order_id"),
            trade_id=_str(d, o, "trade_id"),
            post_position=_qty(d, o, ("post_position_fp",), signed=True),
            subaccount=int(sub) if sub is not None and str(sub).lstrip("-").isdigit() else None,
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Position:
    """A market position: ``position`` signed (+ YES, - NO) in 0.01 contract."""

    ticker: str
    position: int
    total_traded: int | None = None
    market_exposure: int | None = None
    realized_pnl: int | None = None
    fees_paid: int | None = None
    last_updated: int | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Position:
        o = "Position"
        d = _need_map(data, o)
        return cls(
            ticker=_str(d, o, "ticker", "market_ticker", required=True),
            position=_qty(d, o, ("position_fp",), ("position",), required=True, signed=True),
            total_traded=_money(d, o, ("total_traded_dollars",), ("total_traded",)),
            market_exposure=_money(
                d, o, ("market_exposure_dollars", "position_cost_dollars"), ("market_exposure",)
            ),
            realized_pnl=_money(d, o, ("realized_pnl_dollars",), ("realized_pnl",), cost=False),
            fees_paid=_money(d, o, ("fees_paid_dollars",), ("fees_paid",)),
            last_updated=_time(d, o, ("last_updated_ts", None), ("last_updated_ts_ms", "ms")),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settled market in the portfolio. ``value`` = payout per YES contract (price units)."""

    ticker: str
    market_result: str
    settled_time: int
    event_ticker: str | None = None
    yes_count: int | None = None
    no_count: int | None = None
    yes_total_cost: int | None = None
    no_total_cost: int | None = None
    revenue: int | None = None
    fee: int | None = None
    value: int | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Settlement:
        o = "Settlement"
        d = _need_map(data, o)
        return cls(
            ticker=_str(d, o, "ticker", "market_ticker", required=True),
            market_result=_str(d, o, "market_result", required=True),
            settled_time=_time(d, o, ("settled_time", None), ("settled_ts", "s"), required=True),
            event_ticker=_str(d, o, "event_ticker"),
            yes_count=_qty(d, o, ("yes_count_fp",), ("yes_count",)),
            no_count=_qty(d, o, ("no_count_fp",), ("no_count",)),
            yes_total_cost=_money(d, o, ("yes_total_cost_dollars",), ("yes_total_cost",)),
            no_total_cost=_money(d, o, ("no_total_cost_dollars",), ("no_total_cost",)),
            revenue=_money(d, o, ("revenue_dollars",), ("revenue",), cost=False),
            fee=_money(d, o, ("fee_cost", "fee_cost_dollars")),
            value=_price(d, o, ("value_dollars", "settlement_value_dollars"), ("value",)),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """Available cash (``balance``) and portfolio value, in $0.0001."""

    balance: int
    portfolio_value: int | None = None
    updated_ts: int | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Balance:
        o = "Balance"
        d = _need_map(data, o)
        return cls(
            balance=_money(d, o, ("balance_dollars",), ("balance",), cost=False, required=True),
            portfolio_value=_money(d, o, ("portfolio_value_dollars",), ("portfolio_value",), cost=False),
            updated_ts=_time(d, o, ("updated_ts", None)),
            raw=d,
        )


@dataclass(frozen=True, slots=True)
class OHLC:
    open: int | None
    high: int | None
    low: int | None
    close: int | None

    @classmethod
    def from_json(cls, data: Any, obj: str) -> OHLC | None:
        if not isinstance(data, Mapping):
            return None

        def one(name: str) -> int | None:
            k, v = _get(data, f"{name}_dollars")
            if v is not _MISSING:
                p = _scaled(v, DOLLAR, obj, k)
            else:
                k, v = name, data.get(name)
                if v is None or v == "":
                    return None
                # un-suffixed keys: strings are dollars (historical), ints are legacy cents
                p = _scaled(v, DOLLAR if isinstance(v, (str, float, Decimal)) else CENT, obj, name)
            return _in_range(p, obj, k, 0, DOLLAR, _PRICE, v)

        return cls(one("open"), one("high"), one("low"), one("close"))


@dataclass(frozen=True, slots=True)
class Candle:
    """One candlestick; ``end_period_ts`` is the inclusive period end (ns)."""

    end_period_ts: int
    yes_bid: OHLC | None = None
    yes_ask: OHLC | None = None
    price: OHLC | None = None  # trade prices; fields None when nothing traded
    volume: int | None = None
    open_interest: int | None = None
    raw: Mapping | None = _raw()

    @classmethod
    def from_json(cls, data: Any) -> Candle:
        o = "Candle"
        d = _need_map(data, o)
        return cls(
            end_period_ts=_time(d, o, ("end_period_ts", "s"), required=True),
            yes_bid=OHLC.from_json(d.get("yes_bid"), "Candle.yes_bid"),
            yes_ask=OHLC.from_json(d.get("yes_ask"), "Candle.yes_ask"),
            price=OHLC.from_json(d.get("price"), "Candle.price"),
            volume=_qty(d, o, ("volume_fp",), ("volume",)),
            open_interest=_qty(d, o, ("open_interest_fp",), ("open_interest",)),
            raw=d,
        )


# --------------------------------------------------------------------------- write results


@dataclass(frozen=True, slots=True)
class CancelResult:
    """Answer to a cancel: ``reduced_by == 0`` means the order had already filled/ended."""

    order_id: str
    order: Order | None
    reduced_by: int | None


@dataclass(frozen=True, slots=True)
class AmendResult:
    old_order: Order | None
    order: Order


@dataclass(frozen=True, slots=True)
class BatchCreateResult:
    """One item of a batch create: exactly one of ``order``/``error`` is set."""

    client_order_id: str | None
    order: Order | None
    error: Any = None  # KalshiAPIError when rejected


@dataclass(frozen=True, slots=True)
class BatchCancelResult:
    order_id: str
    order: Order | None
    reduced_by: int | None
    error: Any = None
