"""The same print in two trades files is refused before the replay starts; files that cannot
share a print (disjoint times or tickers, read from their footers) are never read."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from framework.data.catalog import CatalogError, kind_files, write_table
from framework.data.replay import ParquetReplayFeed
from framework.data.trade_overlap import check_duplicate_trades, overlapping_files


def _trades(ticker: str, start: str, ids: list[str]) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(ids), freq="1min", tz="UTC")
    return pd.DataFrame({"ts": ts, "ticker": ticker, "trade_id": ids, "yes_price": 5000, "count": 100,
                         "taker_side": "yes"})


def _files(root):
    return [(p, pq.read_metadata(p)) for p in kind_files(root, "trades")]


def test_disjoint_times_or_tickers_are_not_read(tmp_path):
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:00", ["a1", "a2"]), filename="a.parquet")
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 11:00", ["a1", "a2"]), filename="b.parquet")
    write_table(tmp_path, "trades", _trades("KXB-1", "2026-11-20 10:00", ["a1", "a2"]), filename="c.parquet")
    # same ids, but no two files share both a time range and a ticker: no print can be in two
    assert overlapping_files(_files(tmp_path)) == []
    check_duplicate_trades(_files(tmp_path))


def test_overlapping_files_with_distinct_prints_pass(tmp_path):
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:00", ["a1", "a2", "a3"]), filename="a.parquet")
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:01", ["b1", "b2"]), filename="b.parquet")
    assert len(overlapping_files(_files(tmp_path))) == 2
    check_duplicate_trades(_files(tmp_path))


def test_a_print_in_two_files_is_refused_naming_both(tmp_path):
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:00", ["a1", "a2", "a3"]), filename="a.parquet")
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:02", ["a3", "b1"]), filename="b.parquet")
    with pytest.raises(CatalogError) as e:
        ParquetReplayFeed(tmp_path, kinds="trades")
    msg = str(e.value)
    assert "trade_id 'a3'" in msg and "a.parquet" in msg and "b.parquet" in msg and "\n" not in msg
    ParquetReplayFeed(tmp_path, kinds="trades", check=False)  # the check is one of the read checks


def test_a_print_twice_in_one_file_that_overlaps_another_is_refused(tmp_path):
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:00", ["a1", "a1"]), filename="a.parquet")
    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:01", ["b1"]), filename="b.parquet")
    with pytest.raises(CatalogError, match=r"trade_id 'a1' is in .*a\.parquet twice"):
        check_duplicate_trades(_files(tmp_path))


def test_files_with_different_time_units_are_compared_in_one_unit(tmp_path):
    """A foreign file stored in ms overlaps an ns file in time: its raw statistics (ms counts)
    must not be compared with ns counts, or the shared print is never looked for."""
    import pyarrow as pa

    write_table(tmp_path, "trades", _trades("KXA-1", "2026-11-20 10:00", ["a1", "a2", "a3"]), filename="a.parquet")
    t = pa.Table.from_pandas(_trades("KXA-1", "2026-11-20 10:01", ["a2", "b1"]), preserve_index=False)
    t = t.set_column(0, "ts", t.column("ts").cast(pa.timestamp("ms", tz="UTC")))
    pq.write_table(t, tmp_path / "trades" / "b_ms.parquet")
    with pytest.raises(CatalogError, match=r"trade_id 'a2' is in both .*a\.parquet and .*b_ms\.parquet"):
        check_duplicate_trades(_files(tmp_path))
