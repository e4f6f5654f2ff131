"""End to end: the three shapes of issue 13's "Why" import with one command each (the commands
of docs/data-format.md "Importing"), and a backtest runs on the result."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pandas as pd

from framework import Strategy, cents, contracts, run_backtest
from framework.cli import main

TK = "KXHIGHNY-26NOV20-B48.5"


class BuyOnce(Strategy):
    """Buys 5 YES at up to 60c the first time it sees the market, then holds to settlement."""

    def on_book(self, book):
        if not self.open_orders(book.ticker) and self.position(book.ticker) == 0:
            self.buy(book.ticker, contracts(5), price=cents(60))


def _markets(tmp_path, cat):
    """A markets page saved from GET /markets (settled YES at 22:00 UTC)."""
    p = tmp_path / "markets.json"
    p.write_text(json.dumps({"cursor": "", "markets": [
        {"ticker": TK, "event_ticker": "KXHIGHNY-26NOV20", "open_time": "2026-11-20T14:00:00Z",
         "close_time": "2026-11-20T21:00:00Z", "settlement_ts": "2026-11-20T22:00:00Z", "result": "yes",
         "settlement_value_dollars": "1.0000", "title": "48-49"}]}))
    assert main(["import", "markets", str(p), "--catalog", str(cat)]) == 0


def test_top_of_book_csv_in_cents_with_new_york_times(tmp_path):
    cat = tmp_path / "cat"
    _markets(tmp_path, cat)
    src = tmp_path / "tob.csv"
    src.write_text("time,market,bid,ask_no,bid_qty,ask_qty\n" + "".join(
        f"2026-11-20 10:{m:02d}:00,{TK},{40 + m % 3},{55 - m % 3},10,{10 + m}\n" for m in range(30)))
    assert main(["import", "quotes", str(src), "--catalog", str(cat), "--tz", "America/New_York",
                 "--price-unit", "cents", "--map",
                 "ts=time,ticker=market,yes_bid=bid,no_bid=ask_no,yes_bid_size=bid_qty,no_bid_size=ask_qty"]) == 0
    r = run_backtest(BuyOnce, cat, equity_interval=None, fee_taker="0")
    f = r.fills.iloc[0]
    # 10:00 New York = 15:00 UTC; the YES ask is $1 - the 55c NO bid
    assert (f.ts, f.price, f.qty) == (pd.Timestamp("2026-11-20T15:00:00Z"), cents(45), contracts(5))
    assert r.metrics["settled_pnl"] == Decimal("2.75")  # 5 x ($1 - $0.45), settled YES


def test_five_minute_candles(tmp_path):
    cat = tmp_path / "cat"
    _markets(tmp_path, cat)
    src = tmp_path / "bars.csv.gz"
    src.write_bytes(gzip.compress((
        "end,ticker,o,h,l,c,vol,bid,ask\n"
        f"2026-11-20T15:05:00Z,{TK},0.50,0.52,0.49,0.51,100,0.50,0.52\n"
        f"2026-11-20T15:10:00Z,{TK},0.51,0.53,0.50,0.52,100,0.51,0.53\n"
        f"2026-11-20T15:15:00Z,{TK},0.52,0.52,0.45,0.46,500,0.45,0.47\n").encode()))
    assert main(["import", "candles", str(src), "--catalog", str(cat), "--price-unit", "dollars", "--period", "5",
                 "--map", "ts=end,open=o,high=h,low=l,close=c,volume=vol,yes_bid_close=bid,yes_ask_close=ask"]) == 0

    class BuyDip(Strategy):
        def on_book(self, book):
            if not self.open_orders(book.ticker) and self.position(book.ticker) == 0:
                self.buy(book.ticker, contracts(10), price=cents(48))

    r = run_backtest(BuyDip, cat, equity_interval=None, kinds=["candles"], fee_maker="0")
    # sent at the 15:05 bar; 15:10 never traded down to 48; 15:15 did (low 45): filled at the limit
    assert [(f.ts, f.price, f.qty) for f in r.fills.itertuples()] == [
        (pd.Timestamp("2026-11-20T15:15:00Z"), cents(48), contracts(10))]
    assert r.metrics["settled_pnl"] == Decimal("5.20")


def test_l2_insert_cancel_log(tmp_path):
    cat = tmp_path / "cat"
    _markets(tmp_path, cat)
    src = tmp_path / "l2.csv"
    src.write_text("ts_ms,ticker,side,px,qty,op\n"
                   "1795186800000,KXHIGHNY-26NOV20-B48.5,yes,40,5,insert\n"
                   "1795186800000,KXHIGHNY-26NOV20-B48.5,no,57,2,insert\n"
                   "1795186800000,KXHIGHNY-26NOV20-B48.5,no,55,3,insert\n"
                   "1795186800000,KXHIGHNY-26NOV20-B48.5,no,55,4,insert\n"      # 7 rest at NO 55
                   "1795186801000,KXHIGHNY-26NOV20-B48.5,no,57,2,cancel\n"      # NO 57 gone: ask 45c
                   "1795186802000,KXHIGHNY-26NOV20-B48.5,no,55,3,cancel\n")     # 4 left at NO 55
    assert main(["import", "book", str(src), "--catalog", str(cat), "--price-unit", "cents",
                 "--map", "ts=ts_ms,price=px,size=qty,action=op"]) == 0

    class BuyLater(Strategy):
        def on_book(self, book):  # waits for the last update, then takes what rests
            if book.ts >= 1_795_186_802 * 10**9 and not self.open_orders(book.ticker) and not self.position(book.ticker):
                self.buy(book.ticker, contracts(10), price=cents(45))

    r = run_backtest(BuyLater, cat, equity_interval=None, fee_taker="0")
    # only 4 contracts rest at the 45c ask (NO 55): the insert/cancel log was summed per level
    assert [(f.price, f.qty) for f in r.fills.itertuples() if not f.is_maker] == [(cents(45), contracts(4))]
