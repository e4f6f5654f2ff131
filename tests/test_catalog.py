"""Tests for framework.data.catalog: round trips, validation errors, file discovery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from framework.data.catalog import (
    KINDS,
    SCHEMAS,
    CatalogError,
    kind_files,
    read_markets,
    read_table,
    validate_file,
    write_table,
)
from framework.units import CENT, CONTRACT, DOLLAR

T0 = pd.Timestamp("2026-11-20T10:00:00Z")


def ts(*secs: float) -> pd.Series:
    return pd.Series([T0 + pd.Timedelta(seconds=s) for s in secs])


def markets_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["KXA-1-X", "KXA-1-Y", "KXB-2-Z"],
            "event_ticker": ["KXA-1", "KXA-1", "KXB-2"],
            "series_ticker": ["KXA", "KXA", "KXB"],
            "open_ts": [T0, T0, T0],
            "close_ts": [T0 + pd.Timedelta(days=1)] * 3,
            "settle_ts": [T0 + pd.Timedelta(days=1, hours=3), T0 + pd.Timedelta(days=1, hours=3), pd.NaT],
            "result": ["yes", "no", None],
            "title": ["x", None, "z"],
        }
    )


def quotes_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": ts(0, 1, 1, 86_400),
            "ticker": ["KXA-1-X", "KXB-2-Z", "KXA-1-X", "KXA-1-X"],
            "yes_bid": [56 * CENT, 0, 57 * CENT, 99 * CENT - 1],
            "no_bid": [42 * CENT, 10 * CENT, 41 * CENT, 0],
            "yes_bid_size": pd.array([10 * CONTRACT, None, 250, 1], dtype="Int64"),
            "no_bid_size": pd.array([5 * CONTRACT, 1, 2, None], dtype="Int64"),
        }
    )


def book_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": ts(0, 0, 0, 5, 86_400),
            "ticker": ["KXA-1-X"] * 5,
            "side": ["yes", "yes", "no", "yes", "no"],
            "price": [56 * CENT, 55 * CENT, 42 * CENT, 56 * CENT, 42 * CENT],
            "size": [1000, 2000, 300, 0, 150],
            "seq": pd.array([1, 1, 1, 2, None], dtype="Int64"),
            "snapshot": [True, True, True, False, False],
        }
    )


def trades_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": ts(3, 3, 90_000),
            "ticker": ["KXA-1-X", "KXB-2-Z", "KXA-1-X"],
            "trade_id": ["t1", "t2", "t3"],
            "yes_price": [56 * CENT, 1, DOLLAR - 1],
            "count": [250, 1 * CONTRACT, 7 * CONTRACT],
            "taker_side": ["yes", "no", "yes"],
        }
    )


FRAMES = {"markets": markets_df, "quotes": quotes_df, "book": book_df, "trades": trades_df}


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    """Comparable form: timestamps as int ns, nulls as None, plain object columns."""
    out = {}
    for c in df.columns:
        s = df[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[c] = [None if pd.isna(x) else x.value for x in s]
        else:
            out[c] = [None if (x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x))) else x
                      for x in s.tolist()]
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- schema


def test_schemas_cover_kinds():
    # data kinds, then the fee tables (framework.data.fees_catalog: no ts/ticker columns)
    assert KINDS == ("markets", "quotes", "book", "trades", "candles", "fees", "fee_waivers")
    assert set(SCHEMAS) == set(KINDS)
    for kind in KINDS[1:5]:
        assert SCHEMAS[kind].field("ts").type == pa.timestamp("ns", tz="UTC")
        assert SCHEMAS[kind].field("ticker").type == pa.string()
    assert SCHEMAS["markets"].names == [
        "ticker", "event_ticker", "series_ticker", "open_ts", "close_ts", "settle_ts", "result", "title",
        "settlement_value",
    ]


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", ["quotes", "book", "trades"])
@pytest.mark.parametrize("partition", [None, "series"])
def test_round_trip(tmp_path: Path, kind: str, partition: str | None):
    df = FRAMES[kind]()
    paths = write_table(tmp_path, kind, df, partition_by=partition)
    assert paths and all(p.exists() for p in paths)
    for p in paths:
        schema = validate_file(p, kind)
        assert schema.field("ts").type == pa.timestamp("ns", tz="UTC")
        t = pq.read_table(p)
        tsv = t.column("ts").cast(pa.int64()).to_numpy()
        assert (np.diff(tsv) >= 0).all()
    if partition:
        rel = sorted(str(p.relative_to(tmp_path)) for p in paths)
        assert f"{kind}/series=KXA/date=2026-11-20/part-0.parquet" in rel
        assert f"{kind}/series=KXA/date=2026-11-21/part-0.parquet" in rel
    else:
        assert [p.relative_to(tmp_path) for p in paths] == [Path(kind) / "part-0.parquet"]
    back = read_table(tmp_path, kind)
    assert list(back.columns) == SCHEMAS[kind].names
    assert str(back["ts"].dtype) == "datetime64[ns, UTC]"
    exp = df.sort_values("ts", kind="stable").reset_index(drop=True)
    if partition:  # rows with equal ts come back in file order (series=KXA before KXB)
        exp = exp.assign(_s=exp["ticker"].str[:3]).sort_values(["ts", "_s"], kind="stable")
        exp = exp.drop(columns="_s").reset_index(drop=True)
    pd.testing.assert_frame_equal(_norm(back), _norm(exp))


def test_round_trip_dtypes(tmp_path: Path):
    write_table(tmp_path, "quotes", quotes_df())
    write_table(tmp_path, "book", book_df())
    q = read_table(tmp_path, "quotes")
    assert q["yes_bid"].dtype == np.int64 and q["no_bid"].dtype == np.int64
    assert str(q["yes_bid_size"].dtype) == "Int64"
    assert q["yes_bid_size"].isna().sum() == 1
    b = read_table(tmp_path, "book")
    assert b["snapshot"].dtype == bool and b["size"].dtype == np.int64
    assert str(b["seq"].dtype) == "Int64"


@pytest.mark.parametrize("partition", [None, "series"])
def test_markets_round_trip(tmp_path: Path, partition: str | None):
    paths = write_table(tmp_path, "markets", markets_df(), partition_by=partition)
    if partition:
        assert sorted(p.parent.name for p in paths) == ["series=KXA", "series=KXB"]
    m = read_markets(tmp_path)
    assert list(m.columns) == SCHEMAS["markets"].names
    assert m["ticker"].tolist() == ["KXA-1-X", "KXA-1-Y", "KXB-2-Z"]
    assert m["result"].tolist()[:2] == ["yes", "no"] and pd.isna(m["result"].iloc[2])
    assert pd.isna(m["settle_ts"].iloc[2])
    assert m["open_ts"].iloc[0] == T0
    assert read_markets(tmp_path, tickers=["KXB-2-Z"])["ticker"].tolist() == ["KXB-2-Z"]
    assert read_table(tmp_path, "markets", tickers=["KXA-1-Y"])["ticker"].tolist() == ["KXA-1-Y"]


def test_markets_title_optional_and_later_file_wins(tmp_path: Path):
    m = markets_df().drop(columns="title")
    write_table(tmp_path, "markets", m, filename="a.parquet")
    upd = m.iloc[[2]].copy()
    upd["result"] = "yes"
    upd["settle_ts"] = T0 + pd.Timedelta(days=2)
    write_table(tmp_path, "markets", upd, filename="b.parquet")
    out = read_markets(tmp_path)
    assert len(out) == 3 and out["title"].isna().all()
    assert out.set_index("ticker").loc["KXB-2-Z", "result"] == "yes"


def test_empty_reads(tmp_path: Path):
    for kind in KINDS:
        df = read_table(tmp_path, kind)
        assert df.empty and list(df.columns) == SCHEMAS[kind].names
    assert read_markets(tmp_path).empty


def test_read_filters(tmp_path: Path):
    write_table(tmp_path, "quotes", quotes_df(), partition_by="series")
    q = read_table(tmp_path, "quotes", tickers=["KXA-1-X"])
    assert set(q["ticker"]) == {"KXA-1-X"} and len(q) == 3
    q = read_table(tmp_path, "quotes", start=T0 + pd.Timedelta(seconds=1), end="2026-11-21T10:00:00")
    assert len(q) == 2  # start inclusive, end exclusive
    q = read_table(tmp_path, "quotes", start=(T0 + pd.Timedelta(days=1)).value)
    assert len(q) == 1
    q = read_table(tmp_path, "quotes", tickers="KXB-2-Z")
    assert q["ticker"].tolist() == ["KXB-2-Z"]
    with pytest.raises(CatalogError, match="start/end"):
        read_table(tmp_path, "markets", start=T0)


def test_timestamp_inputs(tmp_path: Path):
    base = trades_df()
    naive = base.assign(ts=base["ts"].dt.tz_localize(None))
    ints = base.assign(ts=base["ts"].dt.as_unit("ns").astype("int64"))
    other_tz = base.assign(ts=base["ts"].dt.tz_convert("America/New_York"))
    pydt = base.assign(ts=pd.Series([x.to_pydatetime() for x in base["ts"]], dtype=object))
    for i, df in enumerate([naive, ints, other_tz, pydt]):
        write_table(tmp_path / str(i), "trades", df)
        back = read_table(tmp_path / str(i), "trades")
        assert back["ts"].tolist() == base["ts"].tolist(), i


def test_lossless_conversions(tmp_path: Path):
    df = trades_df()
    df["yes_price"] = df["yes_price"].astype(float)  # integral floats are fine
    df["count"] = df["count"].astype(object)
    write_table(tmp_path, "trades", df)
    back = read_table(tmp_path, "trades")
    assert back["yes_price"].tolist() == trades_df()["yes_price"].tolist()
    q = quotes_df()
    q["yes_bid_size"] = [1000.0, np.nan, 250.0, 1.0]  # NaN -> null in a nullable column
    write_table(tmp_path, "quotes", q)
    assert read_table(tmp_path, "quotes")["yes_bid_size"].isna().sum() == 1


def test_filename_and_append(tmp_path: Path):
    p1 = write_table(tmp_path, "trades", trades_df())
    p2 = write_table(tmp_path, "trades", trades_df())
    assert [p.name for p in p1 + p2] == ["part-0.parquet", "part-1.parquet"]
    p3 = write_table(tmp_path, "trades", trades_df(), filename="part-0.parquet")
    assert p3 == p1  # explicit filename overwrites
    assert len(read_table(tmp_path, "trades")) == 6
    with pytest.raises(CatalogError, match="filename"):
        write_table(tmp_path, "trades", trades_df(), filename="x.csv")
    assert not list(tmp_path.rglob("*.tmp"))


def test_partition_series_sources(tmp_path: Path):
    # explicit series column wins and is not stored in the file
    df = trades_df().assign(series=["S1", "S1", "S2"])
    paths = write_table(tmp_path / "a", "trades", df, partition_by="series")
    assert {p.parts[-3] for p in paths} == {"series=S1", "series=S2"}
    assert "series" not in pq.read_schema(paths[0]).names
    # markets table in the catalog is used when present
    m = markets_df()
    m["series_ticker"] = ["FROMMKT", "FROMMKT", "OTHER"]
    write_table(tmp_path / "b", "markets", m)
    paths = write_table(tmp_path / "b", "trades", trades_df(), partition_by="series")
    assert {p.parts[-3] for p in paths} == {"series=FROMMKT", "series=OTHER"}
    with pytest.raises(CatalogError, match="series"):
        write_table(tmp_path / "c", "trades", trades_df().assign(series="S"))  # not partitioning
    with pytest.raises(CatalogError, match="partition_by"):
        write_table(tmp_path / "c", "trades", trades_df(), partition_by="date")


def test_sorted_check_is_per_file(tmp_path: Path):
    # globally unsorted, but sorted within each (series, date) file: accepted
    df = pd.concat([trades_df().iloc[[1]], trades_df().iloc[[0, 2]]]).reset_index(drop=True)
    df.loc[0, "ts"] = T0 + pd.Timedelta(seconds=30)
    write_table(tmp_path, "trades", df, partition_by="series")
    with pytest.raises(CatalogError, match=r"ts is not sorted.*row 1"):
        write_table(tmp_path / "flat", "trades", df)


def _interleaved_quotes(n: int = 3000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-sorted quotes over 3 UTC days, markets of 4 series interleaved row by row (so the
    (series, date) groups are not contiguous), a shuffled index; and a markets table whose
    series differ from the ticker prefix (``KXQ-9`` is not in it: prefix fallback)."""
    rng = np.random.default_rng(seed)
    tickers = [f"KXP{i % 3}-E-{i}" for i in range(8)]
    m = markets_df().iloc[[0] * 8].reset_index(drop=True)
    m["ticker"], m["event_ticker"] = tickers, [t.rsplit("-", 1)[0] for t in tickers]
    m["series_ticker"] = [f"SER{i % 4}" for i in range(8)]
    m["close_ts"], m["settle_ts"], m["result"] = T0 + pd.Timedelta(days=4), pd.NaT, None
    ns = T0.value + np.sort(rng.integers(0, 3 * 86_400 * 10**9, n))
    df = pd.DataFrame({
        "ts": pd.to_datetime(ns, utc=True),
        "ticker": np.array([*tickers, "KXQ-9"])[rng.integers(0, 9, n)],
        "yes_bid": rng.integers(1, DOLLAR // 2, n),
        "no_bid": rng.integers(1, DOLLAR // 2, n),
        "yes_bid_size": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 999, n)), dtype="Int64"),
        "no_bid_size": rng.integers(0, 999, n),
    }, index=rng.permutation(n) + 1000)
    return df, m


@pytest.mark.parametrize("layout", ["interleaved", "grouped", "series column"])
def test_partitioned_files_match_groupby_reference(tmp_path: Path, layout: str):
    """Each (series, date) file holds exactly its rows in input order, as a row-order-preserving
    pandas groupby builds them, whether the groups arrive interleaved or one after another."""
    df, m = _interleaved_quotes()
    series = df["ticker"].map(dict(zip(m["ticker"], m["series_ticker"], strict=True))).fillna("KXQ")
    if layout == "grouped":  # one series after another: each file a contiguous run of rows
        df, series = df.iloc[np.argsort(series.to_numpy(), kind="stable")], series.iloc[
            np.argsort(series.to_numpy(), kind="stable")]
    if layout == "series column":
        df = df.assign(series=series.str.lower())  # the column wins over the markets table
        series = df["series"]
    write_table(tmp_path, "markets", m)
    paths = write_table(tmp_path, "quotes", df, partition_by="series")
    day = df["ts"].dt.strftime("%Y-%m-%d")
    expected = {
        Path(tmp_path, "quotes", f"series={s}", f"date={d}", "part-0.parquet"): g
        for (s, d), g in df.drop(columns="series", errors="ignore").groupby([series, day], sort=True)
    }
    assert len(expected) == 20  # 5 series (4 from the markets table, KXQ by prefix) x 4 UTC dates
    assert paths == sorted(expected)
    for path, g in expected.items():
        got = pq.read_table(path).to_pandas()
        pd.testing.assert_frame_equal(_norm(got), _norm(g.reset_index(drop=True)))


def test_unsorted_partition_writes_nothing_and_names_the_callers_row(tmp_path: Path):
    df, m = _interleaved_quotes(200)
    write_table(tmp_path, "markets", m)
    # a late row of series SER3 (the last in file order) goes back to the first day: refused
    # before any file is written (the files of KXQ, SER0..SER2 sort first)
    last = df.index[(df["ticker"] == "KXP1-E-7").to_numpy()][-1]
    pos = df.index.get_loc(last)
    df.loc[last, "ts"] = df["ts"].iloc[0]
    day = df["ts"].iloc[0].strftime("%Y-%m-%d")
    with pytest.raises(CatalogError, match=rf"not sorted ascending in series=SER3 date={day}: "
                                           rf"row {pos} \(index {last}\) is earlier"):
        write_table(tmp_path, "quotes", df, partition_by="series")
    assert not kind_files(tmp_path, "quotes")


# ----------------------------------------------------------------------------- validation errors


def _bad(kind: str, **changes) -> pd.DataFrame:
    df = FRAMES[kind]()
    for col, (row, value) in changes.items():
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
    return df


@pytest.mark.parametrize(
    "kind, df, match",
    [
        ("quotes", quotes_df().drop(columns=["yes_bid", "ticker"]), r"missing required column\(s\) ticker, yes_bid"),
        ("trades", trades_df().assign(foo=1, bar=2), r"unknown column\(s\) foo, bar"),
        ("trades", trades_df().assign(yes_price=[0.56, 0.5, 0.3]), r"yes_price has non-integer value 0\.56.*5600"),
        ("trades", _bad("trades", yes_price=(1, "56")), r"yes_price has non-integer value '56'"),
        ("quotes", quotes_df().assign(yes_bid=["a", "b", "c", "d"]), r"column yes_bid"),
        ("book", book_df().assign(size=[True] * 5), r"column size has dtype bool"),
        ("trades", _bad("trades", yes_price=(0, 0)), r"yes_price value 0 at row 0 .*\$0\.0001"),
        ("trades", _bad("trades", yes_price=(2, DOLLAR)), r"yes_price value 10000 at row 2"),
        ("book", _bad("book", price=(1, 0)), r"column price value 0 at row 1"),
        ("book", _bad("book", price=(1, DOLLAR)), r"column price value 10000"),
        ("quotes", _bad("quotes", yes_bid=(2, DOLLAR)), r"column yes_bid value 10000 .*dollars"),
        ("quotes", _bad("quotes", no_bid=(0, -1)), r"column no_bid value -1"),
        ("quotes", _bad("quotes", yes_bid_size=(0, -5)), r"column yes_bid_size has negative value -5"),
        ("book", _bad("book", size=(2, -100)), r"column size has negative value -100 at row 2"),
        ("trades", _bad("trades", count=(1, -100)), r"column count has negative value"),
        ("trades", _bad("trades", count=(1, 0)), r"column count has zero value"),
        ("book", _bad("book", side=(0, "buy")), r"column side has value 'buy'"),
        ("trades", _bad("trades", taker_side=(2, "YES")), r"column taker_side has value 'YES'"),
        ("markets", _bad("markets", result=(0, "maybe")), r"column result has value 'maybe'"),
        ("trades", _bad("trades", ticker=(1, None)), r"column ticker has a null/NaN at row 1"),
        ("quotes", _bad("quotes", yes_bid=(1, None)), r"column yes_bid has a null"),
        ("book", _bad("book", snapshot=(0, None)), r"column snapshot has a null"),
        ("book", _bad("book", snapshot=(0, "yes")), r"column snapshot has non-boolean"),
        ("markets", _bad("markets", open_ts=(1, pd.NaT)), r"column open_ts has a null"),
        ("trades", _bad("trades", ts=(1, None)), r"column ts has a null"),
        ("trades", trades_df().assign(ts=["2026-11-20"] * 3), r"column ts has dtype"),
        ("trades", trades_df().assign(ts=[1.5, 2.5, 3.5]), r"column ts has dtype"),
        ("trades", trades_df().iloc[[2, 0, 1]].reset_index(drop=True), r"column ts is not sorted ascending: row 1"),
        ("markets", _bad("markets", close_ts=(0, T0 - pd.Timedelta(days=1))), r"close_ts is before open_ts"),
        ("markets", pd.concat([markets_df(), markets_df().iloc[[0]]]), r"ticker has duplicate 'KXA-1-X'"),
        ("trades", _bad("trades", ticker=(0, "")), r"column ticker has an empty string"),
        ("trades", _bad("trades", ticker=(0, 7)), r"column ticker has non-string value 7"),
    ],
)
def test_validation_errors(tmp_path: Path, kind: str, df: pd.DataFrame, match: str):
    with pytest.raises(CatalogError, match=match):
        write_table(tmp_path, kind, df)
    assert not list(tmp_path.rglob("*.parquet"))


def test_unsorted_names_index_label(tmp_path: Path):
    df = trades_df().iloc[[0, 2, 1]]  # index labels 0, 2, 1
    with pytest.raises(CatalogError, match=r"row 2 \(index 1\)"):
        write_table(tmp_path, "trades", df)


def test_unknown_kind_and_not_dataframe(tmp_path: Path):
    with pytest.raises(CatalogError, match="unknown kind 'orders'"):
        write_table(tmp_path, "orders", trades_df())
    with pytest.raises(CatalogError, match="unknown kind"):
        kind_files(tmp_path, "orders")
    with pytest.raises(CatalogError, match="DataFrame"):
        write_table(tmp_path, "trades", trades_df().to_dict())


def test_catalog_error_is_value_error():
    assert issubclass(CatalogError, ValueError)


# ----------------------------------------------------------------------------- files


def test_missing_root(tmp_path: Path):
    missing = tmp_path / "nope"
    with pytest.raises(CatalogError, match=r"catalog not found: .*nope; create one with data/make_sample.py"):
        kind_files(missing, "trades")
    with pytest.raises(CatalogError, match="catalog not found"):
        read_table(missing, "trades")
    with pytest.raises(CatalogError, match="catalog not found"):
        read_markets(missing)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(CatalogError, match="catalog not found"):
        kind_files(f, "trades")


def test_kind_files_ordering(tmp_path: Path):
    assert kind_files(tmp_path, "trades") == []
    base = tmp_path / "trades"
    names = [
        "series=B/date=2026-11-02/part-0.parquet",
        "series=A/date=2026-11-10/part-1.parquet",
        "series=A/date=2026-11-10/part-0.parquet",
        "series=A/date=2026-11-02/part-0.parquet",
        "flat.parquet",
        "series=A/.hidden.parquet",
        "series=A/_meta.parquet",
        "series=A/notes.txt",
        ".tmpdir/x.parquet",
        "series=A/date=2026-11-02/.part-9.parquet.tmp",
    ]
    for n in names:
        (base / n).parent.mkdir(parents=True, exist_ok=True)
        (base / n).write_bytes(b"")
    got = [str(p.relative_to(base)) for p in kind_files(tmp_path, "trades")]
    assert got == [
        "flat.parquet",
        "series=A/date=2026-11-02/part-0.parquet",
        "series=A/date=2026-11-10/part-0.parquet",
        "series=A/date=2026-11-10/part-1.parquet",
        "series=B/date=2026-11-02/part-0.parquet",
    ]


def test_corrupt_file(tmp_path: Path):
    p = tmp_path / "trades" / "bad.parquet"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(CatalogError, match=r"corrupt or unreadable Parquet file .*bad\.parquet"):
        validate_file(p, "trades")
    with pytest.raises(CatalogError, match="corrupt or unreadable"):
        read_table(tmp_path, "trades")
    # truncated real file
    good = write_table(tmp_path / "g", "trades", trades_df())[0]
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(CatalogError, match="corrupt or unreadable"):
        validate_file(good, "trades")
    with pytest.raises(CatalogError, match="corrupt or unreadable"):
        validate_file(tmp_path / "missing.parquet", "trades")


def test_validate_file_schema_checks(tmp_path: Path):
    t = pa.table(
        {
            "ts": pa.array([1, 2], type=pa.timestamp("us")),  # other unit, naive: allowed
            "ticker": pa.array(["A", "A"], type=pa.large_string()),
            "trade_id": ["x", "y"],
            "yes_price": pa.array([100, 200], type=pa.int32()),
            "count": [100, 100],
            "taker_side": ["yes", "no"],
            "extra": [1, 2],  # extra columns in a file are ignored
        }
    )
    p = tmp_path / "trades" / "ok.parquet"
    p.parent.mkdir(parents=True)
    pq.write_table(t, p)
    assert "extra" in validate_file(p, "trades").names
    back = read_table(tmp_path, "trades")
    assert list(back.columns) == SCHEMAS["trades"].names
    assert back["ts"].iloc[1] == pd.Timestamp("1970-01-01T00:00:00.000002Z")
    assert back["yes_price"].dtype == np.int64

    pq.write_table(t.drop_columns(["count"]), p)
    with pytest.raises(CatalogError, match=r"missing column\(s\) count"):
        validate_file(p, "trades")
    pq.write_table(t.set_column(3, "yes_price", pa.array([1.0, 2.0])), p)
    with pytest.raises(CatalogError, match=r"column yes_price has type double, expected int64"):
        validate_file(p, "trades")
    pq.write_table(t.set_column(0, "ts", pa.array(["a", "b"])), p)
    with pytest.raises(CatalogError, match=r"column ts has type string"):
        read_table(tmp_path, "trades")


def test_naive_datetime_object_and_date_partition(tmp_path: Path):
    df = trades_df()
    df["ts"] = [dt.datetime(2026, 11, 20, 23, 59, 59), dt.datetime(2026, 11, 21, 0, 0), dt.datetime(2026, 11, 21, 1)]
    paths = write_table(tmp_path, "trades", df, partition_by="series")
    dates = sorted({p.parent.name for p in paths})
    assert dates == ["date=2026-11-20", "date=2026-11-21"]
    # the date partition pruning must not drop rows at the day boundary
    q = read_table(tmp_path, "trades", start="2026-11-21T00:00:00", end="2026-11-21T00:00:01")
    assert q["trade_id"].tolist() == ["t2"]
