"""The backtest's read of the markets table: one read per file, and the vectorised paths
(settlement rules, last-file-wins merge, rows and windows without pandas) equal to the per-row
Python they replaced, which is kept here as the reference."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from helpers import make_catalog, market, write_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import framework.data.catalog as catalog
from framework import Strategy
from framework.backtest import _market_windows, _select_markets, run_backtest
from framework.data.catalog import RESULTS, SCHEMAS, _merge_markets, read_markets, settlement_problem
from framework.units import DOLLAR

T = 1_800_000_000_000_000_000  # 2027, inside the plausible years


def _reference_settlement_problem(table: pa.Table):
    """settlement_problem as it was: a Python loop over every row."""
    import numpy as np

    def ns(name):
        return table.column(name).cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)

    o, c, s = ns("open_ts"), ns("close_ts"), ns("settle_ts")
    result, value = table.column("result").to_pylist(), table.column("settlement_value").to_pylist()
    if (c < o).any():
        return int(np.flatnonzero(c < o)[0]), "column close_ts is before open_ts"
    seen = set()
    for pos, (t, r, v) in enumerate(zip(table.column("ticker").to_pylist(), result, value, strict=True)):
        if r is not None and r not in RESULTS:
            return pos, "result"
        if r is not None and s[pos] < 0:
            return pos, "no settle_ts"
        if s[pos] >= 0 and s[pos] < c[pos]:
            return pos, "settle before close"
        if r == "scalar" and v is None:
            return pos, "scalar without value"
        if v is not None and not 0 <= v <= DOLLAR:
            return pos, "value range"
        if v is not None and r in ("yes", "no") and v != (DOLLAR if r == "yes" else 0):
            return pos, "value vs result"
        if t in seen:
            return pos, "duplicate"
        seen.add(t)
    return None


def _reference_merge(parts: list[pa.Table]) -> pa.Table:
    """read_markets' merge as it was: a dict of last positions, sorted by ticker in Python."""
    table = pa.concat_tables(parts) if parts else SCHEMAS["markets"].remove_metadata().empty_table()
    if table.num_rows:
        names = table.column("ticker").to_pylist()
        last = {t: i for i, t in enumerate(names)}
        table = table.take(pa.array(sorted(last.values(), key=lambda i: names[i]), type=pa.int64()))
    return table


_row = st.fixed_dictionaries({
    "ticker": st.sampled_from(["A", "B", "C", "D", "É-1", "b"]),
    "open": st.sampled_from([0, 0, 0, 0, 1]),  # now and then after the close (0)
    "close": st.integers(0, 3),
    "settle": st.one_of(st.none(), st.integers(-1, 4)),
    "result": st.one_of(st.none(), st.sampled_from([*RESULTS, "maybe"])),
    "value": st.one_of(st.none(), st.sampled_from([-1, 0, 3700, DOLLAR, DOLLAR + 1])),
})


def _table(rows: list[dict]) -> pa.Table:
    n = len(rows)
    ts = pa.timestamp("ns", tz="UTC")
    cols = {
        "ticker": pa.array([r["ticker"] for r in rows], pa.string()),
        "event_ticker": pa.array(["E"] * n, pa.string()),
        "series_ticker": pa.array(["S"] * n, pa.string()),
        "open_ts": pa.array([T + r["open"] for r in rows], pa.int64()).cast(ts),
        "close_ts": pa.array([T + r["close"] for r in rows], pa.int64()).cast(ts),
        "settle_ts": pa.array([None if r["settle"] is None else T + r["settle"] for r in rows], pa.int64()).cast(ts),
        "result": pa.array([r["result"] for r in rows], pa.string()),
        "title": pa.array([None] * n, pa.string()),
        "settlement_value": pa.array([r["value"] for r in rows], pa.int64()),
    }
    return pa.Table.from_pydict(cols, schema=SCHEMAS["markets"].remove_metadata())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_row, max_size=8))
def test_settlement_problem_finds_the_row_the_loop_found(rows):
    table = _table(rows)
    want, got = _reference_settlement_problem(table), settlement_problem(table)
    assert (want is None) == (got is None)
    if want is not None:
        assert got[0] == want[0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_row, max_size=6), max_size=4))
def test_merge_keeps_the_last_files_row_sorted_by_ticker(parts):
    tables = [_table(p) for p in parts]
    assert _merge_markets(tables).equals(_reference_merge(tables))


def _catalog(tmp_path):
    rows = [market("KXA-1-X", 0, 3600, 3700, "yes", title="x"), market("KXA-1-Y", 0, 3600, 3700, "scalar",
            settlement_value=3700), market("KXB-2-Z", 10, 7200)]
    root = make_catalog(tmp_path, markets=rows[:2], quotes=[{"ts": 5, "ticker": "KXA-1-X", "yes_bid": 40,
                                                             "no_bid": 55}])
    write_rows(root, "markets", rows[2:], filename="zz.parquet")  # a second markets file
    return root


def _reference_rows(root, markets=None, series=None):
    """_select_markets' rows as the pandas path made them."""
    table = read_markets(root)
    if series is not None:
        table = table[table["series_ticker"].isin({series})]
    if markets is not None:
        table = table[table["ticker"].isin(markets)]
    rows = []
    for rec in table.to_dict("records"):
        row = {}
        for k, v in rec.items():
            if k.endswith("_ts"):
                row[k] = None if v is None or v != v else int(v.value)
            elif k == "settlement_value":
                row[k] = None if v is None or v is pd.NA else int(v)
            else:
                row[k] = None if v is None or (isinstance(v, float) and v != v) else v
        rows.append(row)
    return rows


@pytest.mark.parametrize("markets, series", [(None, None), (["KXB-2-Z", "KXA-1-X"], None), (None, "KXA")])
def test_rows_and_windows_equal_the_pandas_path(tmp_path, markets, series):
    root = _catalog(tmp_path)
    rows = _select_markets(root, markets, series)
    assert rows == _reference_rows(root, markets, series)
    assert [type(v) for r in rows for v in r.values()] == [type(v) for r in _reference_rows(root, markets, series)
                                                          for v in r.values()]
    m = read_markets(root)
    want = {r.ticker: (int(r.open_ts.value), int((r.close_ts if pd.isna(r.settle_ts) else r.settle_ts).value))
            for r in m.itertuples()}
    assert _market_windows(root) == want


class _Noop(Strategy):
    def on_book(self, book):
        pass


def test_backtest_reads_each_markets_file_once(tmp_path, monkeypatch):
    root = _catalog(tmp_path)
    real, reads = catalog._read_file, []

    def counting(path, kind, tickers):
        if kind == "markets":
            reads.append(path)
        return real(path, kind, tickers)

    monkeypatch.setattr(catalog, "_read_file", counting)
    run_backtest(_Noop(), root, equity_interval=None)
    assert sorted(reads) == sorted(catalog.kind_files(root, "markets"))  # checks, rows and windows share it
