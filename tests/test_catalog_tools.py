"""`kalshi catalog info` and `kalshi catalog compact` (framework/data/catalog_tools.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import at, events_of

from framework.cli import main
from framework.data.catalog import CatalogError, kind_files, read_table
from framework.data.catalog_tools import catalog_info, compact, format_info
from framework.data.replay import ParquetReplayFeed

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SECOND = 1_000_000_000


def _split(dst: Path) -> Path:
    """The sample as `kalshi download` lays data out: one file per market per series/date folder.

    Timestamps are floored to the second so that rows of different files tie, and files are
    named so that path order is the reverse of ticker order: a compaction that broke ties by
    ticker (or unstably) would reorder events.
    """
    shutil.copytree(SAMPLE / "markets", dst / "markets")
    for kind in ("quotes", "book", "trades", "candles"):
        for path in kind_files(SAMPLE, kind):
            t = pq.read_table(path)
            if kind != "candles":
                ts = t.column("ts").cast(pa.int64()).to_numpy() // SECOND * SECOND
                t = t.set_column(0, "ts", pa.array(ts, pa.timestamp("ns", tz="UTC")))
            out = dst / path.relative_to(SAMPLE).parent
            out.mkdir(parents=True, exist_ok=True)
            tickers = sorted(set(t.column("ticker").to_pylist()))
            for i, tk in enumerate(tickers):
                sub = t.filter(pc.equal(t.column("ticker"), tk))
                pq.write_table(sub, out / f"dl-{len(tickers) - i:03d}-{tk}.parquet")
    return dst


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    return _split(tmp_path_factory.mktemp("split") / "cat")


def _copy(src: Path, tmp_path: Path, name: str = "cat") -> Path:
    return Path(shutil.copytree(src, tmp_path / name))


def test_info_counts_match_the_data():
    info = catalog_info(SAMPLE)
    for kind in ("quotes", "book", "trades", "candles"):
        df = read_table(SAMPLE, kind)
        k = info["kinds"][kind]
        assert k.rows == len(df) and k.files == len(kind_files(SAMPLE, kind))
        assert k.ts_min == df["ts"].min().value and k.ts_max == df["ts"].max().value
    assert info["kinds"]["candles"].periods == [5]
    assert (info["markets"], info["events"], info["series"]) == (11, 3, 2)
    assert info["bytes"] == sum(p.stat().st_size for p in SAMPLE.rglob("*.parquet"))
    text = format_info(info)
    assert "markets 11" in text and "periods 5 min" in text


def test_info_cli(capsys):
    assert main(["catalog", "info", str(SAMPLE)]) == 0
    assert "book" in capsys.readouterr().out
    assert main(["catalog", "info", "/nonexistent/cat"]) == 2
    assert "catalog not found" in capsys.readouterr().err


def test_compact_keeps_the_replay_event_order(split, tmp_path):
    cat = _copy(split, tmp_path)
    before = events_of(ParquetReplayFeed(cat, kinds=["book", "quotes", "trades"]))
    ts = [e[0] for e in before]
    assert len(ts) != len(set(ts))  # ties across files exist, so the order below is tested
    n_files = {k: len(kind_files(cat, k)) for k in ("quotes", "book", "trades")}
    plan = compact(cat)
    assert plan.files_before == sum(n_files.values()) + len(kind_files(split, "candles"))
    for k in ("quotes", "book", "trades", "candles"):
        files = kind_files(cat, k)
        assert len(files) == len({p.parent for p in kind_files(split, k)})
        assert all(p.name == "compact-0.parquet" for p in files)
    after = events_of(ParquetReplayFeed(cat, kinds=["book", "quotes", "trades"]))
    assert after == before
    # nothing left to do; no hidden staging folders left behind
    assert compact(cat).groups == []
    assert not [p for p in cat.rglob(".*")]


def _backtest(cat: Path, out: Path) -> tuple[bytes, bytes, bytes]:
    from framework import run_backtest
    from framework.core.config import load_config

    cfg = load_config(ROOT / "backtests" / "market_maker.toml")
    r = run_backtest(cfg.strategy, cat, params=cfg.params, starting_cash=cfg.starting_cash,
                     **cfg.model_options())
    assert r.metrics["n_fills"] > 0
    r.write(out)
    return tuple((out / f).read_bytes() for f in ("fills.parquet", "orders.parquet", "metrics.json"))


def test_backtest_on_compacted_catalog_is_byte_identical(split, tmp_path):
    cat = _copy(split, tmp_path)
    before = _backtest(cat, tmp_path / "run-before")
    compact(cat)
    after = _backtest(cat, tmp_path / "run-after")
    assert after == before


def test_dry_run_changes_nothing(split, tmp_path, capsys):
    cat = _copy(split, tmp_path)
    files = sorted(p for p in cat.rglob("*") if p.is_file())
    assert main(["catalog", "compact", str(cat), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"would merge {len(files) - 1:,} files into ")
    assert sorted(p for p in cat.rglob("*") if p.is_file()) == files
    assert main(["catalog", "compact", str(cat), "--kinds", "trades", "--quiet"]) == 0
    assert all(p.name == "compact-0.parquet" for p in kind_files(cat, "trades"))
    assert len(kind_files(cat, "book")) == len(kind_files(split, "book"))


def _two_files(tmp_path: Path) -> tuple[Path, Path]:
    cat = tmp_path / "cat"
    src = kind_files(SAMPLE, "trades")[0]
    d = cat / src.relative_to(SAMPLE).parent
    d.mkdir(parents=True)
    t = pq.read_table(src)
    half = t.num_rows // 2
    pq.write_table(t.slice(0, half), d / "a.parquet")
    pq.write_table(t.slice(half), d / "b.parquet")
    return cat, d


def test_refuses_an_unsorted_file_and_leaves_the_folder(tmp_path, capsys):
    cat, d = _two_files(tmp_path)
    t = pq.read_table(d / "b.parquet")
    pq.write_table(t.take(pa.array(np.arange(t.num_rows)[::-1].copy())), d / "b.parquet")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    assert main(["catalog", "compact", str(cat), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "b.parquet: ts is not sorted ascending" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_refuses_a_column_it_would_drop(tmp_path):
    cat, d = _two_files(tmp_path)
    t = pq.read_table(d / "a.parquet")
    pq.write_table(t.append_column("note", pa.array(["x"] * t.num_rows)), d / "a.parquet")
    with pytest.raises(CatalogError, match="column 'note' is not in the trades schema"):
        compact(cat)
    assert sorted(p.name for p in d.iterdir()) == ["a.parquet", "b.parquet"]


def test_skips_a_folder_with_files_and_subfolders(tmp_path):
    cat, d = _two_files(tmp_path)
    flat = cat / "trades"
    for name in ("x.parquet", "y.parquet"):
        shutil.copy(d / "a.parquet", flat / name)
    plan = compact(cat)
    assert [g[1] for g in plan.groups] == [d]
    assert "holds files and sub-folders" in plan.skipped[0]
    assert (flat / "x.parquet").exists() and (flat / "y.parquet").exists()


def test_recovers_an_interrupted_swap(tmp_path):
    cat, d = _two_files(tmp_path)
    rows = read_table(cat, "trades")
    old = d.with_name(f".{d.name}.compact-old")
    d.rename(old)  # crashed between "live -> old" and "new -> live"
    (d.parent / f".{d.name}.compact-new").mkdir()
    plan = compact(cat)
    assert any("restored" in r for r in plan.recovered)
    assert not old.exists() and not (d.parent / f".{d.name}.compact-new").exists()
    assert read_table(cat, "trades").equals(rows)
    assert [p.name for p in kind_files(cat, "trades")] == ["compact-0.parquet"]


def test_check_clean_sample(capsys):
    assert main(["catalog", "check", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s), 0 warning(s)" in out and "11 of 11 markets settled" in out
    from framework.data.catalog_tools import check_catalog
    rep = check_catalog(SAMPLE)
    trades = read_table(SAMPLE, "trades")
    assert rep["kinds"]["trades"]["per_market"] == trades["ticker"].value_counts().to_dict()
    assert rep["kinds"]["trades"]["max_gap_ns"] > 0


def test_check_reports_unsorted_file_cents_and_coverage(tmp_path, capsys):
    cat, d = _two_files(tmp_path)
    shutil.copytree(SAMPLE / "markets", cat / "markets")
    t = pq.read_table(d / "b.parquet")
    pq.write_table(t.take(pa.array(np.arange(t.num_rows)[::-1].copy())), d / "b.parquet")
    a = pq.read_table(d / "a.parquet")
    cents = pc.cast(pc.add(pc.divide(a.column("yes_price"), 100), 1), pa.int64())
    pq.write_table(a.set_column(a.schema.get_field_index("yes_price"), "yes_price", cents), d / "a.parquet")
    assert main(["catalog", "check", str(cat)]) == 2
    out = capsys.readouterr().out
    assert "1 problem(s)" in out and "b.parquet: row 1: ts goes backwards" in out
    assert "a.parquet: every price is below" in out
    assert "listed without data" in out and " 0 listed without data" not in out


# --------------------------------------------------------------------------- check: gaps, units, coverage

H = 3600


def _gappy(tmp_path: Path) -> Path:
    """A-1 open 0..5 h, quotes at 0, 10 min, 3 h, 3 h 1 min and 7 h (after its close), one
    crossed; B-1 listed, unsettled, without data; C-1 in two files that overlap in time."""
    from helpers import make_catalog, market

    a = [{"ts": t, "ticker": "A-1", "yes_bid": 40, "no_bid": 55} for t in (0, 600, 3 * H, 3 * H + 60, 7 * H)]
    a[1]["no_bid"] = 65  # 40 + 65 >= 100: crossed
    c1 = [{"ts": t, "ticker": "C-1", "yes_bid": 40, "no_bid": 55} for t in (0, 2 * H)]
    c2 = [{"ts": t, "ticker": "C-1", "yes_bid": 40, "no_bid": 55} for t in (H, 4 * H)]
    return make_catalog(tmp_path / "cat", markets=[
        market("A-1", 0, 5 * H, settle_ts=6 * H, result="yes"), market("B-1", 0, 5 * H),
        market("C-1", 0, 5 * H, settle_ts=6 * H, result="no")], quotes=[a, c1, c2])


def test_check_reports_gaps_while_open(tmp_path):
    from framework.data.catalog_check import check_catalog

    cat = _gappy(tmp_path)
    g = check_catalog(cat)["kinds"]["quotes"]["gaps"]
    # 10 min -> 3 h (2 h 50 min) and 3 h 1 min -> 7 h, clipped at the 5 h close (1 h 59 min)
    a = [x for x in g["largest"] if x[1] == "A-1"]
    assert [(n, s, e) for n, _, s, e in a] == [(10_200 * SECOND, at(600), at(3 * H)),
                                               (7_140 * SECOND, at(3 * H + 60), at(5 * H))]
    assert g["per_market"]["A-1"] == [2, (10_200 + 7_140) * SECOND]
    assert g["overlapping"] == ["C-1"]  # its second file starts before the first one ends
    assert g["threshold_ns"] == H * SECOND
    two = check_catalog(cat, gap_ns=2 * H * SECOND)["kinds"]["quotes"]["gaps"]
    assert two["per_market"]["A-1"] == [1, 10_200 * SECOND]


def test_check_reports_crossed_units_unsorted_and_settlement(tmp_path, capsys):
    from framework.data.catalog_check import check_catalog

    cat = _gappy(tmp_path)
    rep = check_catalog(cat)
    q = rep["kinds"]["quotes"]
    assert (q["crossed"], q["quotes"]) == (1, 9)
    assert q["max_price"] == 6500
    m = rep["markets"]
    assert (m["result_and_settle_ts"], m["neither"], m["result_without_settle_ts"]) == (2, 1, 0)
    assert m["without_data"] == ["B-1"] and m["unlisted_with_data"] == []
    assert rep["unsorted"] == []
    assert main(["catalog", "check", str(cat), "--gap", "2h", "--per-market"]) == 0
    out = capsys.readouterr().out
    assert "gaps > 2.0 h while open: 2 in 2 markets" in out
    assert "crossed 1 of 9 quotes (11.11 %)" in out
    assert "A-1: 5, 1 gaps (2.8 h)" in out
    assert "result and settle_ts 2; result without settle_ts 0; settle_ts without result 0; neither 1" in out
    assert main(["catalog", "check", str(cat), "--gap", "soon"]) == 2
    assert "--gap 'soon': use a positive duration" in capsys.readouterr().err


def test_check_lists_unsorted_files(tmp_path):
    from framework.data.catalog_check import check_catalog

    cat, d = _two_files(tmp_path)
    shutil.copytree(SAMPLE / "markets", cat / "markets")
    t = pq.read_table(d / "b.parquet")
    pq.write_table(t.take(pa.array(np.arange(t.num_rows)[::-1].copy())), d / "b.parquet")
    assert check_catalog(cat)["unsorted"] == [str(d / "b.parquet")]


def test_check_verifies_page_checksums_as_the_replay_does(tmp_path):
    """A flipped bit that leaves every value plausible is caught only by the page checksum."""
    from framework.data.catalog_check import check_catalog

    cat = _gappy(tmp_path)
    path = cat / "quotes" / "part-0.parquet"
    t = pq.read_table(path)
    sizes = pa.array([1_234_567 + i for i in range(t.num_rows)], pa.int64())
    t = t.set_column(t.schema.get_field_index("no_bid_size"), "no_bid_size", sizes)
    pq.write_table(t, path, compression="none", write_page_checksum=True)
    raw = bytearray(path.read_bytes())
    at_ = raw.find((1_234_569).to_bytes(8, "little"))
    assert at_ > 0
    raw[at_] ^= 0x01  # 1,234,569 -> 1,234,568: still a valid size
    path.write_bytes(bytes(raw))
    with pytest.raises(CatalogError, match="corrupt or unreadable Parquet file"):
        list(ParquetReplayFeed(cat).chunks())
    problems = check_catalog(cat)["problems"]
    assert len(problems) == 1 and str(path) in problems[0] and "corrupt or unreadable" in problems[0]


def test_check_refuses_a_book_side_the_replay_refuses(tmp_path):
    from framework.data.catalog_check import check_catalog

    src = kind_files(SAMPLE, "book")[0]
    cat = tmp_path / "cat"
    shutil.copytree(SAMPLE / "markets", cat / "markets")
    t = pq.read_table(src)
    side = t.column("side").to_pylist()
    side[3] = "yex"
    (cat / "book").mkdir()
    pq.write_table(t.set_column(t.schema.get_field_index("side"), "side", pa.array(side)), cat / "book" / "x.parquet")
    with pytest.raises(CatalogError, match="neither 'yes' nor 'no'"):
        list(ParquetReplayFeed(cat, kinds=["book"]).chunks())
    problems = check_catalog(cat)["problems"]
    assert len(problems) == 1 and "side holds a value that is neither 'yes' nor 'no'" in problems[0]
