"""The column-wise result build (framework/analysis/columns.py, pnl._sums_by_column) gives exactly
what the row-wise build gave: same dtypes and values as pandas inferring the rows, same market
sums as the per-fill loop (which stays as the fallback and the reference here)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.analysis.columns import fill_columns, frame, typed
from framework.analysis.pnl import _sums_by_column, _sums_by_fill
from framework.model.orders import Fill

COLUMNS = [
    [1, 2, 3], [True, False], ["a", "b"], [], [1, None], [None, None], [1, 2.5], [1.0, 2.0],
    [1, True], [True, 1], ["a", None], ["a", 1], [2**63, 1], [-(2**63), 1], [2**70], [0, -5],
    [None, "a"], [1, "a"],
]


@pytest.mark.parametrize("values", COLUMNS, ids=repr)
def test_typed_column_equals_pandas_inference(values):
    ours = pd.DataFrame({"c": typed(list(values))})
    theirs = pd.DataFrame({"c": list(values)})
    assert ours.dtypes.tolist() == theirs.dtypes.tolist()
    assert ours.equals(theirs)


def _rows_frame(fills):
    return pd.DataFrame(fills, columns=list(Fill._fields))


fill_st = st.builds(
    Fill, ticker=st.sampled_from(["A", "B", "C-1", "D"]), side=st.sampled_from(["yes", "no"]),
    action=st.sampled_from(["buy", "sell"]), price=st.integers(0, 10_000), qty=st.integers(1, 10**6),
    fee=st.integers(0, 10**5), ts=st.integers(0, 2**62), order_id=st.text(min_size=1, max_size=5),
    is_maker=st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(fill_st, min_size=1, max_size=40),
       st.dictionaries(st.sampled_from(["A", "B", "C-1", "D"]), st.sampled_from(["yes", "no", "void", "scalar"])))
def test_column_sums_equal_the_per_fill_loop(fills, results):
    cols = fill_columns(fills, Fill._fields)
    assert _sums_by_column(cols, results) == _sums_by_fill(fills, results)
    built = frame(cols, list(Fill._fields))
    assert built.dtypes.tolist() == _rows_frame(fills).dtypes.tolist()
    assert built.equals(_rows_frame(fills))


def test_column_sums_fall_back_when_int64_could_overflow():
    fills = [Fill("A", "yes", "buy", 10_000, 2**60, 0, 0, "o1", False),
             Fill("A", "yes", "buy", 10_000, 2**60, 0, 0, "o2", False)]
    cols = fill_columns(fills, Fill._fields)
    assert _sums_by_column(cols, {"A": "yes"}) is None  # the caller then uses the exact loop
    assert _sums_by_fill(fills, {"A": "no"})["A"]["edge"] == -2 * 10_000 * 2**60


def test_a_run_without_fills_writes_the_same_empty_fills_table_as_before(tmp_path):
    """No fills: the object columns the row-built frame had (e7120df's column-wise build gave
    float64 columns, so fills.parquet held a 'double' ticker)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from framework import Strategy, run_backtest

    class Idle(Strategy):
        def on_book(self, book):
            pass

    sample = Path(__file__).resolve().parent.parent / "data" / "sample"
    res = run_backtest(Idle, sample, equity_interval=None)
    assert res.fills.empty
    res.write(tmp_path)
    schema = pq.read_schema(tmp_path / "fills.parquet")
    assert not any(pa.types.is_floating(schema.field(c).type) for c in schema.names)
    assert [str(t) for t in res.fills.dtypes[1:]] == ["object"] * (len(res.fills.columns) - 1)
