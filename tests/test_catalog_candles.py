"""The ``candles`` catalog kind: schema, validation rules, Hive writing and reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from framework.data.catalog import (
    CANDLE_PERIODS,
    KINDS,
    SCHEMAS,
    CatalogError,
    kind_files,
    read_table,
    validate_file,
    write_table,
)
from framework.data.replay import ParquetReplayFeed
from framework.units import DOLLAR, contracts, dollars

T = "KXHIGHNY-26NOV20-B48.5"


def candles(n: int = 3, **over) -> pd.DataFrame:
    base = pd.Timestamp("2026-11-20T15:00:00Z")
    df = pd.DataFrame({
        "ts": [base + pd.Timedelta(hours=i) for i in range(n)],
        "ticker": [T] * n,
        "period": [60] * n,
        "open": pd.array([dollars("0.50")] * n, dtype="Int64"),
        "high": pd.array([dollars("0.55")] * n, dtype="Int64"),
        "low": pd.array([dollars("0.45")] * n, dtype="Int64"),
        "close": pd.array([dollars("0.52")] * n, dtype="Int64"),
        "volume": [contracts(10)] * n,
        "open_interest": pd.array([contracts(100)] * n, dtype="Int64"),
        "yes_bid_open": pd.array([dollars("0.49")] * n, dtype="Int64"),
        "yes_bid_high": pd.array([dollars("0.54")] * n, dtype="Int64"),
        "yes_bid_low": pd.array([0] * n, dtype="Int64"),
        "yes_bid_close": pd.array([dollars("0.51")] * n, dtype="Int64"),
        "yes_ask_open": pd.array([dollars("0.51")] * n, dtype="Int64"),
        "yes_ask_high": pd.array([DOLLAR] * n, dtype="Int64"),
        "yes_ask_low": pd.array([dollars("0.46")] * n, dtype="Int64"),
        "yes_ask_close": pd.array([dollars("0.53")] * n, dtype="Int64"),
    })
    for k, v in over.items():
        df[k] = v
    return df


def test_kind_and_schema():
    assert "candles" in KINDS
    s = SCHEMAS["candles"]
    assert s.names[:3] == ["ts", "ticker", "period"]
    assert not s.field("volume").nullable and s.field("close").nullable and s.field("open_interest").nullable
    assert CANDLE_PERIODS == (1, 60, 1440)


def test_roundtrip_hive_with_null_ohlc(tmp_path: Path):
    df = candles()
    for c in ("open", "high", "low", "close"):
        df.loc[1, c] = pd.NA  # no trade in that hour
    paths = write_table(tmp_path, "candles", df, partition_by="series")
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "candles/series=KXHIGHNY/date=2026-11-20/part-0.parquet"]
    validate_file(paths[0], "candles")
    assert pq.read_schema(paths[0]).field("ts").type == SCHEMAS["candles"].field("ts").type
    back = read_table(tmp_path, "candles")
    assert len(back) == 3 and str(back["close"].dtype) == "Int64"
    assert back["close"].isna().tolist() == [False, True, False]
    assert back["yes_ask_high"].tolist() == [DOLLAR] * 3
    assert kind_files(tmp_path, "candles") == paths


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"period": [60, 0, 60]}, "period has value 0 .*whole number of minutes >= 1"),
        ({"period": [60, -5, 60]}, "period has value -5"),
        ({"high": pd.array([dollars("0.40")] * 3, dtype="Int64")}, "outside \\[low, high\\]"),
        ({"yes_bid_close": pd.array([dollars("0.60")] * 3, dtype="Int64")}, "yes_bid_close is outside"),
        ({"open": pd.array([0, 5000, 5000], dtype="Int64")}, "column open value 0"),
        ({"yes_ask_high": pd.array([DOLLAR + 1] * 3, dtype="Int64")}, "yes_ask_high value 10001"),
        ({"volume": [-1, 0, 0]}, "volume has negative"),
        ({"volume": pd.array([None, 0, 0], dtype="Int64")}, "volume has a null"),
        ({"open_interest": pd.array([-5, 0, 0], dtype="Int64")}, "open_interest has negative"),
        ({"ts": [pd.Timestamp("2026-11-20T15:00:00Z")] * 3}, "duplicate \\(ticker, period, ts\\)"),
        ({"open": [0.5, 0.5, 0.5]}, "non-integer value 0.5"),
    ],
)
def test_validation(tmp_path: Path, over, message):
    with pytest.raises(CatalogError, match=message):
        write_table(tmp_path, "candles", candles(**over))


def test_missing_column_and_unsorted(tmp_path: Path):
    with pytest.raises(CatalogError, match="missing required column\\(s\\) open_interest"):
        write_table(tmp_path, "candles", candles().drop(columns=["open_interest"]))
    with pytest.raises(CatalogError, match="not sorted"):
        write_table(tmp_path, "candles", candles().iloc[::-1].reset_index(drop=True))


@pytest.mark.parametrize("period", [5, 15, 240, 10080])
def test_any_whole_minute_period_is_accepted(tmp_path: Path, period):
    """Imports bring other periods than Kalshi's 1/60/1440 (issue 13: 5-minute bars were refused)."""
    write_table(tmp_path, "candles", candles(period=[period] * 3))
    assert read_table(tmp_path, "candles")["period"].tolist() == [period] * 3


def test_two_periods_same_ts_are_fine(tmp_path: Path):
    df = pd.concat([candles(1), candles(1, period=[1440])], ignore_index=True)
    write_table(tmp_path, "candles", df)
    assert sorted(read_table(tmp_path, "candles")["period"]) == [60, 1440]


def test_replay_picks_candles_only_when_nothing_finer_exists(tmp_path: Path):
    write_table(tmp_path, "candles", candles())
    assert ParquetReplayFeed(tmp_path).kinds == ("candles",)  # was: refused (never replayed)
    trades = pd.DataFrame({"ts": [pd.Timestamp("2026-11-20T15:30:00Z")], "ticker": [T], "trade_id": ["a"],
                           "yes_price": [dollars("0.5")], "count": [contracts(1)], "taker_side": ["yes"]})
    write_table(tmp_path, "trades", trades)
    assert ParquetReplayFeed(tmp_path).kinds == ("trades",)


def test_replay_refuses_an_empty_catalog(tmp_path: Path):
    (tmp_path / "candles").mkdir()
    with pytest.raises(CatalogError, match="no quotes, book, trades or candles"):
        ParquetReplayFeed(tmp_path)
