"""The committed synthetic sample catalog in data/sample is valid, plausible and reproducible."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from framework.data.catalog import KINDS, kind_files, read_markets, read_table, validate_file
from framework.units import CENT, CONTRACT, DOLLAR

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


def _load_make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "data" / "make_sample.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {kind: read_table(SAMPLE, kind) for kind in KINDS}


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_file_validates():
    total = 0
    for kind in ("markets", "quotes", "book", "trades"):  # the sample has no candles
        files = kind_files(SAMPLE, kind)
        assert files, kind
        for f in files:
            validate_file(f, kind)
            total += f.stat().st_size
            if kind != "markets":
                rel = f.relative_to(SAMPLE / kind).parts
                assert rel[0].startswith("series=") and rel[1].startswith("date="), f
                assert rel[2] == "part-0.parquet"
    assert kind_files(SAMPLE, "markets") == [SAMPLE / "markets" / "markets.parquet"]
    assert total < 10_000_000
    assert "SYNTHETIC" in (SAMPLE / "README.md").read_text()


def test_files_sorted_by_ts_and_in_their_partition():
    for kind in ("quotes", "book", "trades"):
        for f in kind_files(SAMPLE, kind):
            t = pq.read_table(f)
            assert t.schema.field("ts").type.unit == "ns" and t.schema.field("ts").type.tz == "UTC"
            ts = pd.Series(t.column("ts").to_pandas())
            assert ts.is_monotonic_increasing, f
            day = f.parent.name.removeprefix("date=")
            assert (ts.dt.strftime("%Y-%m-%d") == day).all(), f
            series = f.parent.parent.name.removeprefix("series=")
            assert t.column("ticker").to_pandas().str.startswith(series + "-").all(), f


def test_markets(tables):
    m = tables["markets"]
    assert len(m) == 11
    assert m["series_ticker"].nunique() == 2
    sizes = m.groupby("event_ticker").size().to_dict()
    assert sizes == {"KXHIGHNY-26NOV20": 4, "KXHIGHNY-26NOV21": 4, "KXFED-26DEC": 3}
    assert set(m["result"]) == {"yes", "no"}
    yes = m[m["result"] == "yes"].groupby("event_ticker").size()
    assert (yes == 1).all() and len(yes) == 3
    assert (m["close_ts"] > m["open_ts"]).all()
    assert (m["settle_ts"] > m["close_ts"]).all()
    assert ((m["settle_ts"] - m["close_ts"]) <= pd.Timedelta(hours=6)).all()
    assert (m["open_ts"].dt.month == 11).all() and (m["open_ts"].dt.year == 2026).all()
    assert m["title"].notna().all()
    assert read_markets(SAMPLE)["ticker"].tolist() == m["ticker"].tolist()


def test_prices_and_sizes_in_bounds(tables):
    q, b, t = tables["quotes"], tables["book"], tables["trades"]
    for col in ("yes_bid", "no_bid"):
        assert q[col].between(CENT, 99 * CENT).all() and (q[col] % CENT == 0).all()
    assert (q["yes_bid"] + q["no_bid"] < DOLLAR).all()  # never crossed
    spread = DOLLAR - q["no_bid"] - q["yes_bid"]
    assert spread.between(CENT, 5 * CENT).all()
    assert (spread <= 4 * CENT).mean() > 0.95
    assert b["price"].between(CENT, 99 * CENT).all() and (b["price"] % CENT == 0).all()
    live = b["size"][b["size"] > 0]
    assert live.between(CONTRACT, 500 * CONTRACT).all() and (live % CONTRACT == 0).all()
    assert t["yes_price"].between(CENT, 99 * CENT).all()
    assert (t["count"] > 0).all()
    frac = t[t["count"] % CONTRACT != 0]
    assert 1 <= len(frac) <= 2 and (frac["count"] == 250).any()
    assert t["trade_id"].is_unique
    assert set(t["taker_side"]) == {"yes", "no"}
    assert set(b["side"]) == {"yes", "no"}


def test_row_counts_and_sorted(tables):
    total = sum(len(df) for df in tables.values())
    assert 100_000 <= total <= 300_000
    for kind in ("quotes", "book", "trades"):
        assert tables[kind]["ts"].is_monotonic_increasing, kind


def test_event_mids_sum_to_about_a_dollar(tables):
    q = tables["quotes"].copy()
    q["mid"] = (q["yes_bid"] + DOLLAR - q["no_bid"]) / 2
    q["event"] = q["ticker"].str.rsplit("-", n=1).str[0]
    for event, g in q.groupby("event"):
        piv = g.pivot_table(index="ts", columns="ticker", values="mid", aggfunc="last").ffill().dropna()
        total = piv.sum(axis=1) / DOLLAR
        assert total.between(0.85, 1.15).all(), event
        assert abs(total.mean() - 1.0) < 0.03, event


def test_winner_converges(tables):
    m = tables["markets"].set_index("ticker")
    last = tables["quotes"].groupby("ticker").tail(1).set_index("ticker")
    for ticker, row in last.iterrows():
        mid = (row["yes_bid"] + DOLLAR - row["no_bid"]) / 2
        if m.loc[ticker, "result"] == "yes":
            assert mid >= 90 * CENT, ticker
        else:
            assert mid <= 10 * CENT, ticker


def test_book_replay_matches_quotes_and_trades(tables):
    """Replaying book rows reproduces every quote row; trades print at the touch."""
    b, q, t = tables["book"], tables["quotes"], tables["trades"]
    books: dict[str, dict[str, dict[int, int]]] = {}
    seqs: dict[str, int] = {}
    tops: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    cols = zip(b["ts"].array.asi8, b["ticker"], b["side"], b["price"], b["size"], b["seq"], b["snapshot"],
               strict=True)
    snap_seen: set[str] = set()
    for ts, ticker, side, price, size, seq, snap in cols:
        if snap:
            assert ticker not in snap_seen or seqs[ticker] == seq
            snap_seen.add(ticker)
            books.setdefault(ticker, {"yes": {}, "no": {}})
        else:
            assert seq > seqs[ticker], ticker  # strictly increasing for deltas
        seqs[ticker] = int(seq)
        lv = books[ticker][side]
        if size:
            lv[price] = size
        else:
            assert price in lv
            del lv[price]
        yb = max(books[ticker]["yes"], default=0)
        nb = max(books[ticker]["no"], default=0)
        assert yb + nb < DOLLAR, (ticker, ts)  # no crossed state even mid-batch
        tops[(ticker, int(ts))] = (yb, nb, books[ticker]["yes"].get(yb, 0), books[ticker]["no"].get(nb, 0))
    assert len(snap_seen) == 11
    for ts, ticker, yb, nb, ybs, nbs in zip(q["ts"].array.asi8, q["ticker"], q["yes_bid"], q["no_bid"],
                                            q["yes_bid_size"], q["no_bid_size"], strict=True):
        assert tops[(ticker, int(ts))] == (yb, nb, ybs, nbs), (ticker, ts)
    # a quote row exists whenever the top changed after a batch
    changed = 0
    prev: dict[str, tuple] = {}
    for (ticker, _ts), top in tops.items():
        if prev.get(ticker) != top:
            changed += 1
        prev[ticker] = top
    assert changed == len(q)
    # trades at the touch of the quote in force just before the trade
    qq = q.rename(columns={"ts": "qts"}).sort_values("qts", kind="stable")
    tt = t.assign(before=t["ts"] - pd.Timedelta(1, "ns")).sort_values("before", kind="stable")
    merged = pd.merge_asof(tt, qq, left_on="before", right_on="qts", by="ticker")
    assert merged["yes_bid"].notna().all()
    yes_taker = merged["taker_side"] == "yes"
    assert (merged.loc[yes_taker, "yes_price"] == DOLLAR - merged.loc[yes_taker, "no_bid"]).all()
    assert (merged.loc[~yes_taker, "yes_price"] == merged.loc[~yes_taker, "yes_bid"]).all()


def test_regeneration_is_byte_identical(tmp_path: Path):
    mod = _load_make_sample()
    counts = mod.generate(tmp_path / "sample", seed=7)
    assert counts["markets"] == 11
    assert _hashes(tmp_path / "sample") == _hashes(SAMPLE)
    # a different seed gives different data (so the comparison above can fail)
    mod.generate(tmp_path / "other", seed=8)
    assert _hashes(tmp_path / "other") != _hashes(SAMPLE)


def test_generated_ts_are_integers_ns(tables):
    for kind in ("quotes", "book", "trades"):
        assert tables[kind]["ts"].dtype == "datetime64[ns, UTC]"
    assert np.issubdtype(tables["trades"]["count"].dtype, np.integer)
