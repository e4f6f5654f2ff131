"""Kalshi JSON shapes for the local exchange's REST and WebSocket answers.

Fixed-point strings follow kalshi-api.md §4.3: prices ``*_dollars`` with 4 decimals, sizes
``*_fp`` with 2 decimals. With ``legacy=True`` (the default) the objects also carry the legacy
integer fields (``yes_bid``, ``count``, ...) that Kalshi removed from production on 12 Mar 2026
but that the official ``kalshi-python-sync`` 3.2.0 models still require; clients of this
framework must not rely on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from framework.units import CENT, CONTRACT, DOLLAR

from .matching import Engine, EventInfo, Fill, MarketInfo, Order, SeriesInfo, SettlementRow, Trade

__all__ = ["Serializer", "d4", "fp", "rfc3339"]


def d4(units: int | None) -> str:
    """Money/price units -> ``"0.5600"`` (4 decimals, exact)."""
    if units is None:
        units = 0
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), DOLLAR)
    return f"{sign}{whole}.{frac:04d}"


def fp(qty: int | None) -> str:
    """Quantity units -> ``"10.00"`` contracts."""
    if qty is None:
        qty = 0
    sign = "-" if qty < 0 else ""
    whole, frac = divmod(abs(qty), CONTRACT)
    return f"{sign}{whole}.{frac:02d}"


def rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{(ms % 1000) * 1000:06d}Z"


def _c(units: int | None) -> int:
    """Money units -> integer cents (legacy fields)."""
    return 0 if units is None else units // CENT


def _n(qty: int) -> int:
    """Quantity units -> whole contracts (legacy fields)."""
    return qty // CONTRACT


# how a voided market's ``result`` reads in Market objects: Kalshi's ``Market.result`` enum is
# yes/no/scalar/"" (no "void"; ``Settlement.market_result`` has it), so "" by default; "void"
# emulates older API versions that sent the word (not valid against the current spec)
VOID_RESULTS = ("", "void")


class Serializer:
    def __init__(self, engine: Engine, legacy: bool = True, void_result: str = "") -> None:
        if void_result not in VOID_RESULTS:
            raise ValueError(f"void_result must be '' or 'void', got {void_result!r}")
        self.engine = engine
        self.legacy = legacy
        self.void_result = void_result

    # ------------------------------------------------------------------ reference data
    def series(self, s: SeriesInfo) -> dict[str, Any]:
        return {
            "ticker": s.ticker,
            "title": s.title or s.ticker,
            "category": s.category,
            "tags": list(s.tags),
            "frequency": s.frequency,
            "fee_type": s.fee_type,
            "fee_multiplier": float(s.fee_multiplier),
            "settlement_sources": [],
            "contract_url": "",
            "contract_terms_url": "",
            "additional_prohibitions": [],
            "product_metadata": None,
        }

    def event(self, e: EventInfo, with_markets: bool = False) -> dict[str, Any]:
        s = self.engine.series.get(e.series_ticker)
        out: dict[str, Any] = {
            "event_ticker": e.event_ticker,
            "series_ticker": e.series_ticker,
            "title": e.title or e.event_ticker,
            "sub_title": e.sub_title,
            "mutually_exclusive": e.mutually_exclusive,
            "collateral_return_type": "MECNET" if e.mutually_exclusive else "",
            "category": s.category if s else "Local",
            "strike_period": "",
            "available_on_brokers": False,
            "product_metadata": None,
        }
        if with_markets:
            out["markets"] = [self.market(self.engine.markets[t]) for t in e.markets if t in self.engine.markets]
        return out

    def market_status(self, m: MarketInfo) -> str:
        if m.status == "settled":
            return "settled" if self.legacy else "finalized"
        return m.status

    def market(self, m: MarketInfo) -> dict[str, Any]:
        top = self.engine.top(m.ticker)
        yb, ya = top["yes_bid"], top["yes_ask"]
        nb = DOLLAR - ya if ya is not None else None
        na = DOLLAR - yb if yb is not None else None
        out: dict[str, Any] = {
            "ticker": m.ticker,
            "event_ticker": m.event_ticker,
            "market_type": "binary",
            "title": m.title or m.ticker,
            "subtitle": "",
            "yes_sub_title": m.yes_sub_title or m.title or m.ticker,
            "no_sub_title": m.no_sub_title or m.title or m.ticker,
            "created_time": rfc3339(m.created_ms),
            "updated_time": rfc3339(self.engine.clock()),
            "open_time": rfc3339(m.open_ms),
            "close_time": rfc3339(m.close_ms),
            "expected_expiration_time": rfc3339(m.close_ms),
            "expiration_time": rfc3339(m.close_ms),
            "latest_expiration_time": rfc3339(m.close_ms),
            "settlement_timer_seconds": 0,
            "status": self.market_status(m),
            "notional_value_dollars": "1.0000",
            "yes_bid_dollars": d4(yb),
            "yes_ask_dollars": d4(ya if ya is not None else DOLLAR),
            "no_bid_dollars": d4(nb),
            "no_ask_dollars": d4(na if na is not None else DOLLAR),
            "yes_bid_size_fp": fp(top["yes_bid_size"]),
            "yes_ask_size_fp": fp(top["yes_ask_size"]),
            "last_price_dollars": d4(m.last_price),
            "previous_yes_bid_dollars": "0.0000",
            "previous_yes_ask_dollars": "0.0000",
            "previous_price_dollars": "0.0000",
            "volume_fp": fp(m.volume),
            "volume_24h_fp": fp(m.volume),
            "liquidity_dollars": "0.0000",
            "open_interest_fp": fp(m.open_interest),
            "result": self.void_result if m.result == "void" else m.result,
            "can_close_early": True,
            "expiration_value": "",
            "rules_primary": f"Local exchange market {m.ticker}.",
            "rules_secondary": "",
            "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
            "category": "",
            "fractional_trading_enabled": True,
        }
        if m.status == "settled":
            if m.settlement_value is not None:  # void markets have none
                out["settlement_value_dollars"] = d4(m.settlement_value)
            out["settlement_ts"] = rfc3339(m.settle_ms)
        if self.legacy:
            out.update(
                response_price_units="usd_cent",
                yes_bid=_c(yb),
                yes_ask=_c(ya if ya is not None else DOLLAR),
                no_bid=_c(nb),
                no_ask=_c(na if na is not None else DOLLAR),
                last_price=_c(m.last_price),
                volume=_n(m.volume),
                volume_24h=_n(m.volume),
                open_interest=_n(m.open_interest),
                notional_value=100,
                previous_yes_bid=0,
                previous_yes_ask=0,
                previous_price=0,
                liquidity=0,
                risk_limit_cents=0,
                tick_size=1,
            )
            if m.status == "settled" and m.settlement_value is not None:
                out["settlement_value"] = m.settlement_value // CENT
        return out

    def orderbook(self, ticker: str, depth: int = 0) -> dict[str, Any]:
        yes, no, _ = self.engine.orderbook(ticker, depth)
        book = {
            "yes_dollars": [[d4(p), fp(s)] for p, s in yes],
            "no_dollars": [[d4(p), fp(s)] for p, s in no],
        }
        out: dict[str, Any] = {"orderbook_fp": book}
        if self.legacy:
            legacy = dict(book)
            legacy["yes"] = [[_c(p), _n(s)] for p, s in yes]
            legacy["no"] = [[_c(p), _n(s)] for p, s in no]
            out["orderbook"] = legacy
        return out

    # ------------------------------------------------------------------ trading data
    def trade(self, t: Trade) -> dict[str, Any]:
        taker_side = t.taker_leg
        out: dict[str, Any] = {
            "trade_id": t.trade_id,
            "ticker": t.ticker,
            "count_fp": fp(t.qty),
            "yes_price_dollars": d4(t.yes_price),
            "no_price_dollars": d4(DOLLAR - t.yes_price),
            "taker_side": taker_side,
            "taker_outcome_side": taker_side,
            "taker_book_side": "bid" if taker_side == "yes" else "ask",
            "created_time": rfc3339(t.ts_ms),
            "is_block_trade": False,
        }
        if self.legacy:
            out.update(price=t.yes_price / DOLLAR, count=_n(t.qty), yes_price=_c(t.yes_price), no_price=_c(DOLLAR - t.yes_price))
        return out

    def order(self, o: Order) -> dict[str, Any]:
        yp = o.yes_price
        out: dict[str, Any] = {
            "order_id": o.order_id,
            "user_id": o.account,
            "client_order_id": o.client_order_id,
            "ticker": o.ticker,
            "side": o.side,
            "action": o.action,
            "outcome_side": o.outcome_side,
            "book_side": o.book_side,
            "type": "limit",
            "status": o.status,
            "yes_price_dollars": d4(yp),
            "no_price_dollars": d4(DOLLAR - yp),
            "fill_count_fp": fp(o.filled),
            "remaining_count_fp": fp(o.remaining),
            "initial_count_fp": fp(o.initial),
            "taker_fill_cost_dollars": d4(o.taker_fill_cost),
            "maker_fill_cost_dollars": d4(o.maker_fill_cost),
            "taker_fees_dollars": d4(o.taker_fees),
            "maker_fees_dollars": d4(o.maker_fees),
            "expiration_time": rfc3339(o.expiration_ts * 1000) if o.expiration_ts else None,
            "created_time": rfc3339(o.created_ms),
            "last_update_time": rfc3339(o.updated_ms),
            "self_trade_prevention_type": o.stp,
            "order_group_id": None,
            "cancel_order_on_pause": False,
            "subaccount_number": 0,
            "time_in_force": o.tif,
            "post_only": o.post_only,
            "reduce_only": o.reduce_only,
        }
        if self.legacy:
            out.update(
                yes_price=_c(yp),
                no_price=_c(DOLLAR - yp),
                fill_count=_n(o.filled),
                remaining_count=_n(o.remaining),
                initial_count=_n(o.initial),
                taker_fees=_c(o.taker_fees),
                maker_fees=_c(o.maker_fees),
                taker_fill_cost=_c(o.taker_fill_cost),
                maker_fill_cost=_c(o.maker_fill_cost),
                queue_position=0,
            )
        return out

    def fill(self, f: Fill) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fill_id": f.fill_id,
            "trade_id": f.trade_id,
            "order_id": f.order_id,
            "client_order_id": f.client_order_id,
            "ticker": f.ticker,
            "market_ticker": f.ticker,
            "side": f.side,
            "action": f.action,
            "outcome_side": f.leg,
            "book_side": "bid" if f.leg == "yes" else "ask",
            "count_fp": fp(f.qty),
            "yes_price_dollars": d4(f.yes_price),
            "no_price_dollars": d4(DOLLAR - f.yes_price),
            "is_taker": f.is_taker,
            "created_time": rfc3339(f.ts_ms),
            "fee_cost": d4(f.fee),
            "ts": f.ts_ms // 1000,
            "subaccount_number": 0,
        }
        if self.legacy:
            out.update(
                count=_n(f.qty),
                price=f.yes_price / DOLLAR,
                yes_price=_c(f.yes_price),
                no_price=_c(DOLLAR - f.yes_price),
                yes_price_fixed=d4(f.yes_price),
                no_price_fixed=d4(DOLLAR - f.yes_price),
            )
        return out

    def settlement(self, s: SettlementRow) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticker": s.ticker,
            "event_ticker": s.event_ticker,
            "market_result": s.result,
            "yes_count_fp": fp(s.yes_count),
            "yes_total_cost_dollars": d4(s.yes_total_cost),
            "no_count_fp": fp(s.no_count),
            "no_total_cost_dollars": d4(s.no_total_cost),
            "revenue": _c(s.revenue),
            "settled_time": rfc3339(s.ts_ms),
            "fee_cost": d4(s.fee_cost),
            # payout of one YES contract in cents (nullable): none for void, which returns cost
            "value": None if s.value is None else s.value // CENT,
        }
        if self.legacy:
            out.update(
                yes_count=_n(s.yes_count),
                no_count=_n(s.no_count),
                yes_total_cost=_c(s.yes_total_cost),
                no_total_cost=_c(s.no_total_cost),
            )
        return out

    def market_position(self, account: str, ticker: str) -> dict[str, Any]:
        acct = self.engine.accounts[account]
        p = acct.positions[ticker]
        resting = sum(1 for o in acct.orders.values() if o.ticker == ticker and o.status == "resting")
        out: dict[str, Any] = {
            "ticker": ticker,
            "position_fp": fp(p.qty),
            "total_traded_dollars": d4(p.total_traded),
            "market_exposure_dollars": d4(p.cost),
            "realized_pnl_dollars": d4(p.realized_pnl),
            "fees_paid_dollars": d4(p.fees_paid),
            "resting_orders_count": resting,
            "last_updated_ts": rfc3339(p.updated_ms),
        }
        if self.legacy:
            out.update(
                position=_n(p.qty) if p.qty >= 0 else -_n(-p.qty),
                total_traded=_c(p.total_traded),
                market_exposure=_c(p.cost),
                realized_pnl=_c(p.realized_pnl),
                fees_paid=_c(p.fees_paid),
            )
        return out

    def event_position(self, account: str, event_ticker: str, tickers: list[str]) -> dict[str, Any]:
        acct = self.engine.accounts[account]
        ps = [acct.positions[t] for t in tickers]
        cost = sum(p.cost for p in ps)
        shares = sum(abs(p.qty) for p in ps)
        pnl = sum(p.realized_pnl for p in ps)
        fees = sum(p.fees_paid for p in ps)
        out: dict[str, Any] = {
            "event_ticker": event_ticker,
            "total_cost_dollars": d4(cost),
            "total_cost_shares_fp": fp(shares),
            "event_exposure_dollars": d4(cost),
            "realized_pnl_dollars": d4(pnl),
            "fees_paid_dollars": d4(fees),
        }
        if self.legacy:
            out.update(
                total_cost=_c(cost),
                total_cost_shares=_n(shares),
                event_exposure=_c(cost),
                realized_pnl=_c(pnl),
                fees_paid=_c(fees),
            )
        return out
