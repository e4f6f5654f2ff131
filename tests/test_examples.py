"""The example strategies on constructed books: each does what its docstring says, and no more."""

from __future__ import annotations

import logging
from decimal import ROUND_CEILING, Decimal

import pytest
from helpers import at, market, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import CENT, CONTRACT
from framework.model.book import OrderBook
from strategies.event_arb import EventArbitrage
from strategies.favourite_longshot import FavouriteLongshot
from strategies.flow_momentum import TradeFlowMomentum
from strategies.market_maker import MarketMaker
from strategies.model_driven import ForecastTrader

EV = "KXEV-26JAN01"
LEGS = [f"{EV}-A", f"{EV}-B", f"{EV}-C"]


def _orders(result):
    return result.orders.to_dict("records")


# ---- event arbitrage ------------------------------------------------------------------------------
def _fee_dollars(price_cents: int, contracts: int) -> Decimal:
    """Kalshi's taker fee formula, rounded up to the cent, computed independently in Decimal."""
    p = Decimal(price_cents) / 100
    return (Decimal("0.07") * contracts * p * (1 - p)).quantize(Decimal("0.01"), rounding=ROUND_CEILING)


def _arb_books(asks: list[int], sizes: list[int], bids: list[int] | None = None):
    bids = bids or [a - 2 for a in asks]
    return [{"ts": 10, "ticker": t, "yes_bid": b, "no_bid": 100 - a, "yes_bid_size": s, "no_bid_size": s}
            for t, a, b, s in zip(LEGS, asks, bids, sizes)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asks=st.lists(st.integers(5, 60), min_size=3, max_size=3), size=st.integers(1, 30))
def test_event_arb_buys_the_basket_exactly_when_mispriced_after_fees(tmp_path_factory, asks, size):
    root = tmp_path_factory.mktemp("arb")
    res = run(root, EventArbitrage({"min_edge_cents": 1, "max_qty": 10}),
              markets=[market(t, 0, 3600) for t in LEGS], quotes=_arb_books(asks, [size] * 3))
    qty = min(size, 10)
    edge = qty - sum(Decimal(a) / 100 * qty + _fee_dollars(a, qty) for a in asks)
    buys = [o for o in _orders(res) if o["action"] == "buy"]
    if edge >= Decimal("0.01") * qty:
        assert sorted(o["ticker"] for o in buys) == LEGS
        assert all(o["qty"] == qty * CONTRACT and o["tif"] == "ioc" for o in buys)
        assert sorted(o["price"] for o in buys) == sorted(a * CENT for a in asks)
    else:
        assert buys == []


def test_event_arb_threshold_by_hand(tmp_path):
    # 30+30+34 = 94c, fees 0.15+0.15+0.16 on 10 each: cost $9.86 for $10: edge $0.14 >= $0.10
    res = run(tmp_path / "a", EventArbitrage({"max_qty": 10}), markets=[market(t, 0, 3600) for t in LEGS],
              quotes=_arb_books([30, 30, 34], [10, 10, 10]))
    assert len(_orders(res)) == 3 and res.metrics["n_fills"] == 3
    # 30+30+35 = 95c, fees $0.46: edge $0.04 < $0.10: nothing
    res = run(tmp_path / "b", EventArbitrage({"max_qty": 10}), markets=[market(t, 0, 3600) for t in LEGS],
              quotes=_arb_books([30, 30, 35], [10, 10, 10]))
    assert _orders(res) == []


def test_event_arb_sells_when_bids_sum_above_one_plus_fees_and_respects_sizes(tmp_path):
    # bids 40+35+33 = 108c on min size 4: fees 0.07*4*(.4*.6+.35*.65+.33*.67) -> 0.07+0.07+0.07 = $0.21
    books = _arb_books([45, 40, 38], [4, 6, 9], bids=[40, 35, 33])
    res = run(tmp_path, EventArbitrage({"max_qty": 10, "exhaustive": False}),
              markets=[market(t, 0, 3600) for t in LEGS], quotes=books)
    orders = _orders(res)
    assert sorted(o["ticker"] for o in orders) == LEGS
    assert all(o["action"] == "sell" and o["qty"] == 4 * CONTRACT for o in orders)  # smallest size shown


def test_event_arb_needs_every_leg(tmp_path):
    books = _arb_books([20, 20, 20], [5, 5, 5])[:2]  # the third market never quotes
    res = run(tmp_path, EventArbitrage(), markets=[market(t, 0, 3600) for t in LEGS], quotes=books)
    assert _orders(res) == []


# ---- market maker ----------------------------------------------------------------------------------
def _book(yes_bid: int, no_bid: int, size: int = 50) -> OrderBook:
    b = OrderBook("KXMM-26JAN01-T1")
    b.set_top(0, yes_bid * CENT, no_bid * CENT, size * CONTRACT, size * CONTRACT)
    return b


def test_market_maker_quotes_around_mid_with_inventory_skew():
    mm = MarketMaker({"half_spread_cents": 2, "skew_cents": 1, "qty": 5, "max_inventory": 20})
    mm.on_start = lambda: None
    mm.half, mm.skew, mm.qty, mm.max_inv = 2 * CENT, 1 * CENT, 5 * CONTRACT, 20 * CONTRACT
    book = _book(45, 45)  # YES 45 bid / 55 ask: mid 50
    mm.position = lambda t: 0
    assert mm.quotes_for(book) == (48 * CENT, 52 * CENT)
    mm.position = lambda t: 3 * CONTRACT  # long 3: lean 3 cents lower to sell
    assert mm.quotes_for(book) == (45 * CENT, 49 * CENT)
    mm.position = lambda t: -3 * CONTRACT
    assert mm.quotes_for(book) == (51 * CENT, 55 * CENT)  # short 3: lean 3 cents higher to buy
    mm.position = lambda t: 18 * CONTRACT  # another 5 would pass 20: no bid
    bid, offer = mm.quotes_for(book)
    assert bid is None and offer is not None
    tight = _book(49, 50)  # YES 49 / 50: quotes must not cross the book
    mm.position = lambda t: 0
    bid, offer = mm.quotes_for(tight)
    assert bid <= 49 * CENT and offer >= 50 * CENT


def test_market_maker_requotes_when_the_book_moves_and_flattens_before_close(tmp_path):
    t = "KXMM-26JAN01-T1"
    quotes = [{"ts": 10, "ticker": t, "yes_bid": 45, "no_bid": 45, "yes_bid_size": 50, "no_bid_size": 50},
              {"ts": 20, "ticker": t, "yes_bid": 45, "no_bid": 45, "yes_bid_size": 60, "no_bid_size": 50},
              {"ts": 30, "ticker": t, "yes_bid": 55, "no_bid": 35, "yes_bid_size": 50, "no_bid_size": 50},
              {"ts": 3500, "ticker": t, "yes_bid": 55, "no_bid": 35, "yes_bid_size": 50, "no_bid_size": 50}]
    res = run(tmp_path, MarketMaker({"flatten_minutes": 5}), markets=[market(t, 0, 3600)], quotes=quotes)
    got = [(o["action"], o["side"], o["price"], o["post_only"], o["status"]) for o in _orders(res)]
    assert got[:2] == [("buy", "yes", 48 * CENT, True, "cancelled"), ("sell", "yes", 52 * CENT, True, "filled")]
    # ts 20 (a size change, same prices): nothing new. ts 30: the YES bid jumps to 55 and takes our
    # 52 offer (maker fill); short 5 contracts, the quotes move up 5 cents around the new mid 60
    assert got[2:4] == [("buy", "yes", 63 * CENT, True, "cancelled"), ("sell", "yes", 67 * CENT, True, "cancelled")]
    # close - 5 min: quotes cancelled, the short closed by a reduce-only marketable NO sell
    assert got[4][:2] == ("sell", "no") and got[4][4] == "filled" and res.orders["reduce_only"].iloc[4]
    assert res.orders["ts"].iloc[4] == pd_ts(3300) and len(got) == 5
    assert res.positions.get(t, 0) == 0


# ---- favourite-longshot ----------------------------------------------------------------------------
def test_favourite_longshot_buys_favourites_only_late_and_in_band(tmp_path):
    t = "KXFL-26JAN01-T1"
    q = [{"ts": 3600, "ticker": t, "yes_bid": 85, "no_bid": 13, "yes_bid_size": 50, "no_bid_size": 50},  # early
         {"ts": 20000, "ticker": t, "yes_bid": 96, "no_bid": 3, "yes_bid_size": 50, "no_bid_size": 50},  # 97: out
         {"ts": 21000, "ticker": t, "yes_bid": 85, "no_bid": 13, "yes_bid_size": 50, "no_bid_size": 50}]  # ask 87
    res = run(tmp_path, FavouriteLongshot({"window_hours": 6, "clip": 5}),
              markets=[market(t, 0, 36000, settle_ts=36001, result="yes")], quotes=q)
    orders = _orders(res)
    assert len(orders) == 1 and orders[0]["price"] == 87 * CENT and orders[0]["side"] == "yes"
    assert orders[0]["ts"] == pd_ts(21000)
    assert res.metrics["n_predictions"] == 1


def pd_ts(seconds: int):
    import pandas as pd

    return pd.Timestamp(at(seconds), unit="ns", tz="UTC")


# ---- trade-flow momentum ---------------------------------------------------------------------------
def test_flow_momentum_follows_taker_flow_and_exits_on_timer(tmp_path):
    t = "KXTF-26JAN01-T1"
    book = [{"ts": s, "ticker": t, "yes_bid": 40, "no_bid": 55, "yes_bid_size": 100 + s, "no_bid_size": 100}
            for s in (1, 1000)]  # the data runs past the exit time
    trades = [{"ts": 10, "ticker": t, "yes_price": 45, "count": 30, "taker_side": "yes"},
              {"ts": 20, "ticker": t, "yes_price": 45, "count": 10, "taker_side": "no"},  # net 20
              {"ts": 30, "ticker": t, "yes_price": 45, "count": 40, "taker_side": "yes"}]  # net 60 >= 50
    res = run(tmp_path, TradeFlowMomentum({"threshold": 50, "qty": 5, "hold": "10min"}),
              markets=[market(t, 0, 36000)], quotes=book, trades=trades)
    orders = _orders(res)
    assert [(o["action"], o["side"], o["qty"]) for o in orders][:1] == [("buy", "yes", 5 * CONTRACT)]
    assert orders[0]["ts"] == pd_ts(30)
    assert orders[1]["action"] == "sell" and orders[1]["reduce_only"] and orders[1]["ts"] == pd_ts(630)
    assert res.positions.get(t, 0) == 0


def test_flow_momentum_warns_without_trades(tmp_path, caplog):
    t = "KXTF-26JAN01-T1"
    book = [{"ts": i, "ticker": t, "yes_bid": 40 + i % 3, "no_bid": 55, "yes_bid_size": 100, "no_bid_size": 100}
            for i in range(1, 12)]
    with caplog.at_level(logging.WARNING, logger="strategy"):
        res = run(tmp_path, TradeFlowMomentum({"warn_after_books": 10}), markets=[market(t, 0, 36000)], quotes=book)
    assert res.metrics["n_orders"] == 0
    text = caplog.text
    assert "no trade yet" in text and "needs the 'trades' kind" in text


# ---- model-driven ----------------------------------------------------------------------------------
def test_forecast_trader_uses_only_forecasts_made_before_now(tmp_path):
    t = "KXMD-26JAN01-T1"
    f = tmp_path / "f.csv"
    f.write_text("ts,ticker,probability\n"
                 f"{pd_ts(100).strftime('%Y-%m-%dT%H:%M:%SZ')},{t},0.9\n"
                 f"{pd_ts(300).strftime('%Y-%m-%dT%H:%M:%SZ')},{t},0.1\n")
    q = [{"ts": s, "ticker": t, "yes_bid": 48, "no_bid": 50, "yes_bid_size": 100, "no_bid_size": 100}
         for s in (50, 99, 150, 250, 350)]
    res = run(tmp_path / "cat", ForecastTrader({"forecasts": str(f), "qty": 5, "max_position": 5}),
              markets=[market(t, 0, 3600)], quotes=q)
    orders = _orders(res)
    # nothing before the first forecast exists (t=50, 99); at 150 p=0.9 vs ask 50: buy YES
    assert orders[0]["ts"] == pd_ts(150) and orders[0]["side"] == "yes" and orders[0]["price"] == 50 * CENT
    # at 350 p=0.1: NO is worth 90 vs NO ask 52: buy NO (netting closes the YES)
    assert orders[-1]["ts"] == pd_ts(350) and orders[-1]["side"] == "no"
    assert res.metrics.get("n_predictions", 0) == 0  # not settled: predictions are recorded, not scored
    delayed = run(tmp_path / "cat2", ForecastTrader({"forecasts": str(f), "delay": "60s"}),
                  markets=[market(t, 0, 3600)], quotes=q)
    assert _orders(delayed)[0]["ts"] == pd_ts(250)  # the 100 s forecast is usable from 160 s


def test_forecast_trader_refuses_naive_times(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("ts,ticker,probability\n2026-01-01T00:01:00,X,0.5\n")
    with pytest.raises(Exception, match="no time zone"):
        run(tmp_path / "cat", ForecastTrader({"forecasts": str(f)}), markets=[market("KXMD-26JAN01-T1", 0, 3600)],
            quotes=[{"ts": 1, "ticker": "KXMD-26JAN01-T1", "yes_bid": 40, "no_bid": 50}])


# ---- every example runs unchanged in paper mode on the local exchange ------------------------------
@pytest.mark.parametrize("strategy", [
    "strategies.market_maker:MarketMaker",
    "strategies.event_arb:EventArbitrage",
    "strategies.favourite_longshot:FavouriteLongshot",
    "strategies.flow_momentum:TradeFlowMomentum",
    "strategies.model_driven:ForecastTrader",
])
def test_example_runs_in_paper_mode(tmp_path, exch, strategy):
    from framework.live.config import load_live_config
    from framework.live.runner import LiveRunner, resolve_settings
    from framework.live.testing import write_live_config

    ex, kid, priv = exch
    markets = ["KXLOCALTEMP-26JAN01-B1", "KXLOCALTEMP-26JAN01-B2"]
    p = write_live_config(tmp_path / "paper.toml", ex, kid, priv, markets=markets, mode="paper",
                          strategy=strategy, live={"duration": "2s"})
    settings = resolve_settings(load_live_config(p), out=str(tmp_path / "out"))
    summary = LiveRunner(settings, install_signals=False, echo=None).run()
    assert summary["mode"] == "paper" and summary["reason"] == "duration reached", summary
    assert not [o for o in ex.engine.account(kid).orders.values()]  # paper sends nothing
