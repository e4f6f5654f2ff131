"""Candles as a replay kind: kind selection, one period, bars at their end time, backtests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import SEC, T0, market, write_rows

from framework import Strategy, cents, contracts, run_backtest
from framework.core.events import CANDLE
from framework.data.catalog import CatalogError, write_table
from framework.data.replay import ParquetReplayFeed
from framework.model.bars import Bar

M = "KXTEST-26JAN01-T50"
MIN = 60 * SEC


def candles(rows, period=5, ticker=M) -> pd.DataFrame:
    """rows: (end minute, open, high, low, close, volume, bid close, ask close), cents/contracts."""
    def price(v):
        return None if v is None else cents(v)

    recs = []
    for end, o, h, lo, c, vol, bid, ask in rows:
        recs.append({"ts": T0 + end * MIN, "ticker": ticker, "period": period, "open": price(o), "high": price(h),
                     "low": price(lo), "close": price(c), "volume": contracts(vol), "open_interest": None,
                     "yes_bid_open": price(bid), "yes_bid_high": price(bid), "yes_bid_low": price(bid),
                     "yes_bid_close": price(bid), "yes_ask_open": price(ask), "yes_ask_high": price(ask),
                     "yes_ask_low": price(ask), "yes_ask_close": price(ask)})
    df = pd.DataFrame(recs)
    df["ts"] = pd.to_datetime(df["ts"], unit="ns", utc=True)
    for c in df.columns[3:]:
        if c != "volume":
            df[c] = df[c].astype("Int64")
    return df


BARS = [(5, 50, 52, 49, 51, 100, 50, 52), (10, None, None, None, None, 0, 50, 53), (15, 45, 46, 38, 40, 500, 39, 41)]


def catalog(root: Path, bars=BARS, period=5, trades=False) -> Path:
    write_rows(root, "markets", [market(M, 0, 3600, 4000, "yes")])
    write_table(root, "candles", candles(bars, period))
    if trades:
        write_rows(root, "trades", [{"ts": 60, "ticker": M, "yes_price": 50, "count": 1}])
    return root


def rows(feed):
    out = []
    for kind, cols in feed.chunks():
        assert kind == CANDLE
        out += [Bar(*r) for r in zip(*cols, strict=True)]
    return out


def test_bars_are_emitted_at_their_end_with_nulls_kept(tmp_path):
    feed = ParquetReplayFeed(catalog(tmp_path))
    assert feed.kinds == ("candles",) and feed.candle_period == 5  # auto: nothing finer exists
    got = rows(feed)
    assert [b.ts for b in got] == [T0 + 5 * MIN, T0 + 10 * MIN, T0 + 15 * MIN]
    assert got[1] == Bar(T0 + 10 * MIN, M, 5, None, None, None, None, 0, cents(50), cents(53))
    assert got[2].start == T0 + 10 * MIN and got[2].low == cents(38)


def test_start_and_end_select_bars_by_their_end(tmp_path):
    feed = ParquetReplayFeed(catalog(tmp_path), start=T0 + 10 * MIN, end=T0 + 15 * MIN)
    assert [b.ts for b in rows(feed)] == [T0 + 10 * MIN]


def test_auto_prefers_finer_data_and_candles_replay_alone(tmp_path):
    root = catalog(tmp_path, trades=True)
    assert ParquetReplayFeed(root).kinds == ("trades",)
    assert ParquetReplayFeed(root, kinds=["candles"]).kinds == ("candles",)
    with pytest.raises(ValueError, match="'candles' replay alone"):
        ParquetReplayFeed(root, kinds=["candles", "trades"])
    with pytest.raises(ValueError, match="'quotes', 'book', 'trades' or 'candles'"):
        ParquetReplayFeed(root, kinds=["bars"])


def test_one_period_is_replayed(tmp_path):
    root = catalog(tmp_path)
    write_table(root, "candles", candles([(60, 50, 55, 45, 52, 900, 51, 53)], period=60), filename="hourly.parquet")
    with pytest.raises(CatalogError, match="periods 5, 60 minutes; choose one with \\[broker\\] candle_period"):
        ParquetReplayFeed(root)
    assert [b.period for b in rows(ParquetReplayFeed(root, candle_period=60))] == [60]
    assert [b.period for b in rows(ParquetReplayFeed(root, candle_period=5))] == [5, 5, 5]
    with pytest.raises(CatalogError, match="no 1-minute candles; periods present: 5, 60"):
        ParquetReplayFeed(root, candle_period=1)
    with pytest.raises(ValueError, match="candle_period must be a whole number of minutes"):
        ParquetReplayFeed(root, candle_period=0)


def test_periods_mixed_inside_one_file(tmp_path):
    both = pd.concat([candles(BARS), candles([(15, 50, 55, 45, 52, 900, 51, 53)], period=15)])
    both = both.sort_values("ts", kind="stable").reset_index(drop=True)
    write_rows(tmp_path, "markets", [market(M, 0, 3600)])
    write_table(tmp_path, "candles", both)
    with pytest.raises(CatalogError, match="periods 5, 15"):
        ParquetReplayFeed(tmp_path)
    assert [(b.ts - T0) // MIN for b in rows(ParquetReplayFeed(tmp_path, candle_period=15))] == [15]


def test_file_without_statistics_reads_the_period_column(tmp_path):
    write_rows(tmp_path, "markets", [market(M, 0, 3600)])
    path = write_table(tmp_path, "candles", candles(BARS))[0]
    pq.write_table(pq.read_table(path), path, write_statistics=False)
    assert pq.read_metadata(path).row_group(0).column(2).statistics is None
    assert ParquetReplayFeed(tmp_path).candle_period == 5


class BuyDip(Strategy):
    params = {"limit": 40}

    def on_book(self, book):
        if not self.open_orders(book.ticker) and self.position(book.ticker) == 0:
            self.buy(book.ticker, contracts(100), price=cents(self.params["limit"]))


def test_backtest_on_candles_uses_the_bar_rule(tmp_path):
    root = catalog(tmp_path)
    r = run_backtest(BuyDip, root, equity_interval=None, fee_maker="0")
    # sent at bar 5, bar 10 did not trade, bar 15 traded down to 38 < 40: 10% of 500 = 50 contracts
    assert [(f.ts, f.price, f.qty, f.is_maker) for f in r.fills.itertuples()] == [
        (pd.Timestamp(T0 + 15 * MIN, unit="ns", tz="UTC"), cents(40), contracts(50), True)]
    r = run_backtest(BuyDip, root, equity_interval=None, bar_volume_share="0.02")
    assert r.fills["qty"].tolist() == [contracts(10)]
    with pytest.raises(ValueError, match="bar_volume_share must be a fraction"):
        run_backtest(BuyDip, root, bar_volume_share="2")


def test_cli_one_line_error_for_candles_mixed_with_trades(tmp_path):
    root = catalog(tmp_path / "cat", trades=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\nstrategy = "{Path(__file__).resolve()}:BuyDip"\ncatalog = "{root}"\n'
                   '[broker]\nkinds = ["candles", "trades"]\nbar_spread_cents = 2\n')
    p = subprocess.run([sys.executable, "-m", "framework.cli", "backtest", str(cfg), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "'candles' replay alone" in p.stderr
