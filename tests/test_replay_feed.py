"""ParquetReplayFeed: deterministic merged replay of several files, kinds and partitions."""

from __future__ import annotations

import pytest
from helpers import at, events_of, make_catalog, market, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import Strategy
from framework.core.events import BOOK, QUOTE, TRADE
from framework.data.catalog import CatalogError
from framework.data.replay import ParquetReplayFeed
from framework.units import cents, contracts


def q(t, tk, yb=40, nb=55, ybs=10, nbs=10):
    return {"ts": t, "ticker": tk, "yes_bid": yb, "no_bid": nb, "yes_bid_size": ybs, "no_bid_size": nbs}


def lvl(t, tk, side="yes", price=40, size=5, snapshot=False):
    return {"ts": t, "ticker": tk, "side": side, "price": price, "size": size, "snapshot": snapshot}


def tr(t, tk, yes_price=45, count=1, trade_id=None):
    return {"ts": t, "ticker": tk, "yes_price": yes_price, "count": count, "trade_id": trade_id or f"{tk}@{t}"}


def _key(e):
    return e[0], e[1], e[2]


def test_multiple_files_per_kind_merged_by_time(tmp_path):
    make_catalog(tmp_path, quotes=[[q(1, "A-1", 41), q(4, "A-1", 44), q(5, "A-1", 45)],
                                   [q(2, "B-1", 42), q(3, "B-1", 43), q(5, "B-1", 46)]])
    ev = events_of(ParquetReplayFeed(tmp_path))
    assert [(e[0], e[2], e[3]) for e in ev] == [
        (at(1), "A-1", cents(41)), (at(2), "B-1", cents(42)), (at(3), "B-1", cents(43)),
        (at(4), "A-1", cents(44)), (at(5), "A-1", cents(45)), (at(5), "B-1", cents(46)),
    ]
    assert all(e[1] == QUOTE for e in ev)
    assert ParquetReplayFeed(tmp_path).total_rows == 6


def test_equal_ts_rows_keep_file_order_then_row_order(tmp_path):
    make_catalog(tmp_path, quotes=[[q(1, "Z-1", 10), q(1, "Y-1", 11)], [q(1, "A-1", 12), q(1, "B-1", 13)]])
    ev = events_of(ParquetReplayFeed(tmp_path))
    assert [e[2] for e in ev] == ["Z-1", "Y-1", "A-1", "B-1"]


def test_kind_rank_book_quotes_trades(tmp_path):
    make_catalog(tmp_path, quotes=[q(1, "A-1")], book=[lvl(1, "A-1")],
                 trades=[tr(1, "A-1"), tr(1, "A-1", trade_id="x")])
    ev = events_of(ParquetReplayFeed(tmp_path, kinds=["trades", "quotes", "book"]))
    assert [e[1] for e in ev] == [BOOK, QUOTE, TRADE, TRADE]
    ids = [e[3] for e in ev if e[1] == TRADE]
    assert ids == ["A-1@1", "x"]


def test_hive_partitions(tmp_path):
    day2 = 86_400
    markets = [market("AAA-1"), market("BBB-1")]
    quotes = [q(5, "BBB-1", 20), q(5, "AAA-1", 21), q(day2 + 1, "AAA-1", 22), q(day2 + 1, "BBB-1", 23),
              q(7, "AAA-1", 24)]
    quotes_sorted = sorted(quotes, key=lambda r: r["ts"])
    make_catalog(tmp_path, markets=markets, quotes=quotes_sorted, partition_by="series")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "quotes").rglob("*.parquet"))
    assert files == ["quotes/series=AAA/date=2026-01-01/part-0.parquet",
                     "quotes/series=AAA/date=2026-01-02/part-0.parquet",
                     "quotes/series=BBB/date=2026-01-01/part-0.parquet",
                     "quotes/series=BBB/date=2026-01-02/part-0.parquet"]
    ev = events_of(ParquetReplayFeed(tmp_path))
    # by time; equal times in path order (series=AAA before series=BBB)
    assert [(e[0], e[2], e[3]) for e in ev] == [
        (at(5), "AAA-1", cents(21)), (at(5), "BBB-1", cents(20)), (at(7), "AAA-1", cents(24)),
        (at(day2 + 1), "AAA-1", cents(22)), (at(day2 + 1), "BBB-1", cents(23)),
    ]


def test_ticker_filter_and_time_window(tmp_path):
    make_catalog(tmp_path, quotes=[q(t, tk) for t in range(6) for tk in ("A-1", "B-1", "C-1")],
                 trades=[tr(t, tk) for t in range(6) for tk in ("A-1", "C-1")])
    ev = events_of(ParquetReplayFeed(tmp_path, markets=["A-1", "B-1"], start=at(2), end=at(4)))
    assert {e[2] for e in ev} == {"A-1", "B-1"}
    assert sorted({e[0] for e in ev}) == [at(2), at(3)]
    assert [(e[0], e[1], e[2]) for e in ev] == [
        (at(2), QUOTE, "A-1"), (at(2), QUOTE, "B-1"), (at(2), TRADE, "A-1"),
        (at(3), QUOTE, "A-1"), (at(3), QUOTE, "B-1"), (at(3), TRADE, "A-1"),
    ]


def test_subscribe_narrows_unread_batches(tmp_path):
    make_catalog(tmp_path, quotes=[q(t, tk) for t in range(4) for tk in ("A-1", "B-1")])
    feed = ParquetReplayFeed(tmp_path, markets=["A-1", "B-1"])
    feed.subscribe(["B-1", "C-1"])  # C-1 is outside the run's markets
    assert {e[2] for e in events_of(feed)} == {"B-1"}


def test_bad_kinds_and_empty_catalog(tmp_path):
    make_catalog(tmp_path, markets=[market("A-1")])
    with pytest.raises(CatalogError):
        ParquetReplayFeed(tmp_path)
    with pytest.raises(ValueError):
        ParquetReplayFeed(tmp_path, kinds=["orders"])


# ---- batch size never changes the sequence ------------------------------------------------------
def _tie_heavy_catalog(root):
    """Many equal timestamps across kinds, files and markets: the hardest case for the merge."""
    book = [[], []]
    quotes = [[], []]
    trades = []
    for t in range(0, 12, 2):
        for i, tk in enumerate(("A-1", "B-1")):
            snap = t % 4 == 0
            for p in (30, 31, 32):
                book[i].append(lvl(t, tk, "yes", p + t, 1 + p % 3, snapshot=snap))
            book[i].append(lvl(t, tk, "no", 50 + t, 2, snapshot=snap))
            quotes[i].append(q(t, tk, 40 + t, 50))
            quotes[i].append(q(t + 1, tk, 41 + t, 50))
            trades.append(tr(t, tk, 45, 1, trade_id=f"{tk}-{t}-a"))
            trades.append(tr(t, tk, 46, 1, trade_id=f"{tk}-{t}-b"))
    make_catalog(root, book=book, quotes=quotes, trades=trades)
    return root


@pytest.fixture(scope="module")
def tie_catalog(tmp_path_factory):
    return _tie_heavy_catalog(tmp_path_factory.mktemp("ties"))


KINDS = ["book", "quotes", "trades"]


def test_reference_order_is_ts_kind_file_row(tie_catalog):
    ev = events_of(ParquetReplayFeed(tie_catalog, kinds=KINDS))
    assert len(ev) == ParquetReplayFeed(tie_catalog, kinds=KINDS).total_rows
    rank = {BOOK: 0, QUOTE: 1, TRADE: 2}
    keys = [(e[0], rank[e[1]]) for e in ev]
    assert keys == sorted(keys)
    # within one kind and ts, file A (part-0) rows come before file B (part-1) rows
    first_ts_book = [e[2] for e in ev if e[0] == at(0) and e[1] == BOOK]
    assert first_ts_book == ["A-1"] * 4 + ["B-1"] * 4
    first_ts_trades = [e[3] for e in ev if e[0] == at(0) and e[1] == TRADE]
    assert first_ts_trades == ["A-1-0-a", "A-1-0-b", "B-1-0-a", "B-1-0-b"]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 64])
def test_batch_size_does_not_change_sequence(tie_catalog, batch_size):
    ref = events_of(ParquetReplayFeed(tie_catalog, kinds=KINDS))
    got = events_of(ParquetReplayFeed(tie_catalog, kinds=KINDS, batch_size=batch_size))
    assert got == ref


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch_size=st.integers(min_value=1, max_value=40))
def test_any_batch_size_gives_identical_sequence(tie_catalog, batch_size):
    ref = events_of(ParquetReplayFeed(tie_catalog, kinds=KINDS))
    got = events_of(ParquetReplayFeed(tie_catalog, kinds=KINDS, batch_size=batch_size))
    assert got == ref


def test_single_source_batch_size(tmp_path):
    make_catalog(tmp_path, quotes=[q(t // 3, "A-1", 10 + t) for t in range(20)])
    ref = events_of(ParquetReplayFeed(tmp_path))
    for bs in (1, 4, 7):
        assert events_of(ParquetReplayFeed(tmp_path, batch_size=bs)) == ref


# ---- snapshots through the engine ----------------------------------------------------------------
class BookLog(Strategy):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_book(self, book):
        self.calls.append((self.now, book.ticker, book.levels("yes"), book.levels("no")))


SNAP_BOOK = [
    lvl(1, "A-1", "yes", 40, 1), lvl(1, "A-1", "yes", 41, 2), lvl(1, "A-1", "no", 50, 1),
    lvl(2, "A-1", "yes", 30, 1, True), lvl(2, "A-1", "yes", 31, 2, True), lvl(2, "A-1", "yes", 32, 3, True),
    lvl(2, "A-1", "yes", 33, 4, True), lvl(2, "A-1", "yes", 34, 5, True), lvl(2, "A-1", "no", 60, 6, True),
    lvl(2, "A-1", "no", 61, 7, True), lvl(2, "A-1", "no", 62, 8, True),
    lvl(2, "B-1", "yes", 20, 1, True), lvl(2, "B-1", "no", 70, 1, True),
    lvl(3, "A-1", "yes", 34, 0),
]

A_AFTER_SNAPSHOT = ([(cents(p), contracts(s)) for p, s in ((34, 5), (33, 4), (32, 3), (31, 2), (30, 1))],
                    [(cents(p), contracts(s)) for p, s in ((62, 8), (61, 7), (60, 6))])


@pytest.mark.parametrize("batch_size", [65_536, 7, 2])
def test_snapshot_replaces_book_one_callback_per_group(tmp_path, batch_size):
    s = BookLog()
    run(tmp_path, s, book=SNAP_BOOK, batch_size=batch_size)
    # 3 delta rows at t=1: one callback each
    assert [c[0] for c in s.calls[:3]] == [at(1)] * 3
    snaps = [c for c in s.calls if c[0] == at(2)]
    # one callback per snapshot group (A-1, then B-1), after the whole group was applied
    assert [(c[1], c[2], c[3]) for c in snaps] == [
        ("A-1", *A_AFTER_SNAPSHOT),
        ("B-1", [(cents(20), contracts(1))], [(cents(70), contracts(1))]),
    ]
    last = s.calls[-1]
    assert last[0] == at(3) and last[2] == A_AFTER_SNAPSHOT[0][1:]  # delta removed 34 after the snapshot
    assert len(s.calls) == 6


def test_snapshot_groups_at_different_ts_are_separate(tmp_path):
    book = [lvl(1, "A-1", "yes", 40, 1, True), lvl(1, "A-1", "no", 50, 1, True),
            lvl(2, "A-1", "yes", 41, 1, True)]
    s = BookLog()
    run(tmp_path, s, book=book)
    assert [(c[0], c[2], c[3]) for c in s.calls] == [
        (at(1), [(cents(40), contracts(1))], [(cents(50), contracts(1))]),
        (at(2), [(cents(41), contracts(1))], []),  # a new snapshot replaces both sides
    ]


# ---- many files: the parallel start-up path gives the same sequence as file-by-file -------------
def _many_files_catalog(root, n_files=40):
    """Small files (each one batch) of two kinds with varied schemas: some sizes all null, some
    int32 columns written straight with pyarrow, one file bigger than the batch size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    quotes = []
    for i in range(n_files):
        size = None if i % 5 == 0 else 3 + i % 4
        quotes.append([q(t, f"M{i:02d}-1", 10 + (t + i) % 50, 40, ybs=size, nbs=size)
                       for t in range(i % 3, 60, 1 + i % 4)])
    trades = [[tr(t, f"M{i:02d}-1", 30 + t % 20, 1 + t % 3, trade_id=f"{i}-{t}") for t in range(i % 7, 60, 5)]
              for i in range(n_files)]
    make_catalog(root, quotes=quotes, trades=trades)
    for i in range(3):  # same data model, narrower integer types
        ts = pa.array([at(t) for t in range(0, 60, 2)], pa.timestamp("ns", tz="UTC"))
        n = len(ts)
        table = pa.table({"ts": ts, "ticker": pa.array([f"N{i}-1"] * n),
                          "yes_bid": pa.array([cents(20 + i)] * n, pa.int32()),
                          "no_bid": pa.array([cents(70)] * n, pa.int32()),
                          "yes_bid_size": pa.array([contracts(1)] * n, pa.int32()),
                          "no_bid_size": pa.array([contracts(2)] * n, pa.int32())})
        pq.write_table(table, root / "quotes" / f"zz-{i}.parquet")
    return root


@pytest.mark.parametrize("batch_size", [8, 65_536])
def test_many_files_parallel_open_matches_sequential(tmp_path, monkeypatch, batch_size):
    import framework.data.replay as replay

    root = _many_files_catalog(tmp_path)
    feed = ParquetReplayFeed(root, batch_size=batch_size)
    assert len(feed.files) >= 2 * replay._PARALLEL_OPEN_MIN
    if batch_size > 1000:  # every file fits one batch: all but the 3 int32 files are scanned
        sources = [replay._Source(p, k, i, batch_size, feed, meta)
                   for i, ((k, p), meta) in enumerate(zip(feed.files, feed._metadata))]
        narrow = {s.index for s in sources if s.path.name.startswith("zz-")}
        assert len(narrow) == 3  # a schema group too small to scan: opened on the thread pool
        assert replay._preload_small_files(sources) == set(range(len(sources))) - narrow
    fast = events_of(feed)
    monkeypatch.setattr(replay, "_PARALLEL_OPEN_MIN", 10**9)
    slow = events_of(ParquetReplayFeed(root, batch_size=batch_size))
    assert fast == slow
    assert len(fast) == feed.total_rows
    rank = {QUOTE: 1, TRADE: 2}
    assert [(e[0], rank[e[1]]) for e in fast] == sorted((e[0], rank[e[1]]) for e in fast)
    assert {e[3] for e in fast if e[2] == "N1-1"} == {cents(21)}


def test_many_files_filters_apply_to_preloaded_batches(tmp_path):
    root = _many_files_catalog(tmp_path)
    feed = ParquetReplayFeed(root, markets=["M03-1", "M07-1", "N2-1"], start=at(10), end=at(30))
    ev = events_of(feed)
    assert {e[2] for e in ev} == {"M03-1", "M07-1", "N2-1"}
    assert all(at(10) <= e[0] < at(30) for e in ev)


def test_many_files_corrupt_one_is_named(tmp_path):
    root = _many_files_catalog(tmp_path)
    bad = root / "quotes" / "part-7.parquet"
    feed = ParquetReplayFeed(root)  # footers are read here; damage the data pages afterwards
    data = bad.read_bytes()
    bad.write_bytes(data[:4] + b"\0" * (len(data) - 12) + data[-8:])
    with pytest.raises(CatalogError, match="part-7.parquet"):
        events_of(feed)
