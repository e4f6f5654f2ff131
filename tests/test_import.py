"""kalshi import: the three shapes of issue 13 (top-of-book CSV in cents with local times,
5-minute OHLC candles, an L2 insert/cancel log), Kalshi REST pages without a mapping, and the
errors that replace silent guesses."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from framework.cli import main
from framework.data.catalog import CatalogError, kind_files, read_markets, read_table
from framework.data.importer import import_files


def _markets(root):
    rows = [{"ticker": "KXHIGHNY-26NOV20-B48.5", "event_ticker": "KXHIGHNY-26NOV20", "open_time": "2026-11-19T14:00:00Z",
             "close_time": "2026-11-21T04:59:00Z", "settlement_ts": "2026-11-21T06:00:00Z", "result": "yes",
             "settlement_value_dollars": "1.0000", "title": "48-49"},
            {"ticker": "KXHIGHNY-26NOV20-B50.5", "event_ticker": "KXHIGHNY-26NOV20", "open_time": "2026-11-19T14:00:00Z",
             "close_time": "2026-11-21T04:59:00Z", "settlement_ts": None, "result": "", "title": "50-51"}]
    p = root / "markets.json"
    p.write_text(json.dumps({"markets": rows, "cursor": ""}))
    return p


def test_kalshi_rest_pages_import_without_a_mapping(tmp_path):
    cat = tmp_path / "cat"
    import_files("markets", [_markets(tmp_path)], cat)
    m = read_markets(cat).set_index("ticker")
    assert m.loc["KXHIGHNY-26NOV20-B48.5", "result"] == "yes"
    assert m.loc["KXHIGHNY-26NOV20-B48.5", "series_ticker"] == "KXHIGHNY"
    assert pd.isna(m.loc["KXHIGHNY-26NOV20-B50.5", "result"])
    trades = [{"trade_id": f"t{i}", "ticker": "KXHIGHNY-26NOV20-B48.5", "created_time": f"2026-11-20T15:00:0{9 - i}Z",
               "yes_price_dollars": "0.5600", "no_price_dollars": "0.4400", "count_fp": "2.50", "taker_side": "yes"}
              for i in range(3)]  # newest first, as the API pages them
    p = tmp_path / "trades.json.gz"
    p.write_bytes(gzip.compress(json.dumps({"trades": trades, "cursor": ""}).encode()))
    import_files("trades", [p], cat)
    t = read_table(cat, "trades")
    assert t["yes_price"].tolist() == [5600] * 3 and t["count"].tolist() == [250] * 3
    assert t["trade_id"].tolist() == ["t2", "t1", "t0"]  # sorted by time
    assert "series=KXHIGHNY" in str(kind_files(cat, "trades")[0])


def test_top_of_book_csv_in_cents_with_local_times(tmp_path, capsys):
    cat = tmp_path / "cat"
    import_files("markets", [_markets(tmp_path)], cat)
    src = tmp_path / "tob.csv"
    src.write_text("time,market,bid,ask_no,bid_qty,ask_qty\n"
                   "2026-11-20 10:00:01,KXHIGHNY-26NOV20-B48.5,45,53,10,4\n"
                   "2026-11-20 10:00:00,KXHIGHNY-26NOV20-B48.5,44,54,3,2\n")
    args = ["import", "quotes", str(src), "--catalog", str(cat), "--map",
            "ts=time,ticker=market,yes_bid=bid,no_bid=ask_no,yes_bid_size=bid_qty,no_bid_size=ask_qty"]
    assert main(args) == 2 and "no timezone; pass --tz" in capsys.readouterr().err  # never silently UTC
    assert main(args + ["--tz", "America/New_York"]) == 2
    assert "look like cents; pass --price-unit cents" in capsys.readouterr().err
    assert not kind_files(cat, "quotes")  # nothing written by the failed attempts
    assert main(args + ["--tz", "America/New_York", "--price-unit", "cents"]) == 0
    q = read_table(cat, "quotes")
    assert q["ts"].tolist() == [pd.Timestamp("2026-11-20T15:00:00Z"), pd.Timestamp("2026-11-20T15:00:01Z")]
    assert q["yes_bid"].tolist() == [4400, 4500] and q["yes_bid_size"].tolist() == [300, 1000]


def test_five_minute_candles(tmp_path):
    src = tmp_path / "bars.csv"
    src.write_text("end,ticker,o,h,l,c,vol\n"
                   "2026-11-20T15:05:00Z,KXA-1,0.40,0.45,0.39,0.44,12\n"
                   "2026-11-20T15:10:00Z,KXA-1,0.44,0.44,0.41,0.42,3\n")
    bars = {"ts": "end", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "vol"}
    assert main(["import", "candles", str(src), "--catalog", str(tmp_path / "cat"), "--price-unit", "dollars",
                 "--period", "5", "--map", ",".join(f"{k}={v}" for k, v in bars.items())]) == 0
    c = read_table(tmp_path / "cat", "candles")
    assert c["period"].tolist() == [5, 5] and c["high"].tolist() == [4500, 4400] and c["volume"].tolist() == [1200, 300]
    # no period column and no --period: an error that names it
    with pytest.raises(CatalogError, match="no column for period"):
        import_files("candles", [src], tmp_path / "cat2", price_unit="dollars",
                     mapping={"ts": "end", "open": "o", "high": "h", "low": "l", "close": "c", "volume": "vol"})


def test_l2_insert_cancel_log(tmp_path):
    src = tmp_path / "l2.csv"
    src.write_text("ts_ms,ticker,side,px,qty,op\n"
                   "1795186800000,KXA-1,yes,40,5,insert\n"
                   "1795186800500,KXA-1,no,55,7,insert\n"
                   "1795186801000,KXA-1,yes,40,5,cancel\n")
    import_files("book", [src], tmp_path / "cat", price_unit="cents",
                 mapping={"ts": "ts_ms", "price": "px", "size": "qty", "action": "op"})
    b = read_table(tmp_path / "cat", "book")
    assert b["size"].tolist() == [500, 700, 0] and b["price"].tolist() == [4000, 5500, 4000]
    assert b["ts"].iloc[0] == pd.Timestamp(1795186800000, unit="ms", tz="UTC")


def test_bad_rows_name_file_and_line(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("ts,ticker,trade_id,yes_price,count,taker_side\n"
                   "2026-11-20T15:00:00Z,KXA-1,a,45,1,yes\n"
                   "2026-11-20T15:00:01Z,KXA-1,b,4x5,1,yes\n")
    with pytest.raises(CatalogError, match=r"t.csv:line 3: column yes_price: '4x5' is not a number"):
        import_files("trades", [src], tmp_path / "cat", price_unit="cents")
    assert not (tmp_path / "cat" / "trades").exists()


_Q = "ts,ticker,yes_bid,no_bid\n2026-11-20T15:00:00Z,KXA-1,45,50\n"


@pytest.mark.parametrize(("text", "opts", "message"), [
    (_Q + "\n2026-11-20T15:00:01Z,KXA-1,450,50\n", {"price_unit": "cents"},  # the blank line 3 counts
     r"q.csv:line 4: quotes: column yes_bid value 45000 is outside \[0, 9999\]"),
    (_Q + "2026-11-20T15:00:01Z,,45,50\n", {"price_unit": "cents"}, r"q.csv:line 3: column ticker is empty"),
    (_Q + "2026-11-20T15:00:01Z,KXA-1,0.12345,50\n", {"price_unit": "cents"},
     r"q.csv:line 3: column yes_bid: '0.12345' is finer than the framework's unit"),
    (_Q + "2026-11-20T15:00:01Z,KXA-1,922337203685477580,50\n", {"price_unit": "cents"},
     r"q.csv:line 3: column yes_bid: '922337203685477580' is too large"),
    (_Q + "2026-11-20T15:00:01Z,KXA-1,45,5O\n", {"price_unit": "cents"}, r"q.csv:line 3: column no_bid: '5O' is not a number"),
    (_Q + "2026-11-20T15:00:01Z,KXA-1,45,-5\n", {"price_unit": "cents"}, r"q.csv:line 3: quotes: column no_bid value -500"),
    (_Q + "2026-11-20T15:00:01Z,KXA-1,45,50,9\n", {"price_unit": "cents"}, r"q.csv: cannot read as csv: .*"),
    ("ts,ticker,yes_bid,no_bid\n2026-11-01 01:30:00,KXA-1,45,50\n", {"price_unit": "cents", "tz": "America/New_York"},
     r"q.csv:line 2: column ts: '2026-11-01 01:30:00' is ambiguous or does not exist in America/New_York"),
    ("ts,ticker,yes_bid,no_bid\n2026-11-20 10:00:00,KXA-1,45,50\n", {"price_unit": "cents", "tz": "Mars/Base"},
     r"--tz 'Mars/Base': unknown timezone"),
    ("ts,ticker,yes_bid,no_bid\n2026-11-20T10:00:00Z,KXA-1,45,50\nyesterday,KXA-1,45,50\n", {"price_unit": "cents"},
     r"q.csv:line 3: column ts: cannot read 'yesterday' as a time"),
    (_Q, {"price_unit": "cents", "mapping": {"yes_bid_size": "bid_qty"}}, r"--map yes_bid_size=bid_qty: the file has no column"),
])
def test_errors_are_one_line_with_file_and_line(tmp_path, text, opts, message):
    src = tmp_path / "q.csv"
    src.write_text(text)
    with pytest.raises(CatalogError, match=message) as e:
        import_files("quotes", [src], tmp_path / "cat", **opts)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "cat" / "quotes").exists()  # nothing written


def test_unsorted_files_are_sorted_stably_across_files_and_compressions(tmp_path):
    import pyarrow as pa

    a = tmp_path / "a.csv.gz"
    a.write_bytes(gzip.compress(b"ts,ticker,trade_id,yes_price,count,taker_side\n"
                                b"2026-11-20T15:00:02Z,KXA-1,a2,45,1,yes\n"
                                b"2026-11-20T15:00:01Z,KXA-1,a1,45,1,yes\n"
                                b"2026-11-20T15:00:01Z,KXA-1,a1b,45,1,no\n"))
    b = tmp_path / "b.csv.zst"
    with pa.CompressedOutputStream(str(b), "zstd") as f:
        f.write(b"ts,ticker,trade_id,yes_price,count,taker_side\n2026-11-20T15:00:01Z,KXA-1,b1,45,1,yes\n"
                b"2026-11-20T15:00:00Z,KXA-1,b0,45,1,yes\n")
    assert import_files("trades", [a, b], tmp_path / "cat", price_unit="cents") == {str(a): 3, str(b): 2}
    t = read_table(tmp_path / "cat", "trades")
    assert t["trade_id"].tolist() == ["b0", "a1", "a1b", "b1", "a2"]  # equal times keep file, then line order


def test_jsonl_rows_name_their_line(tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_text('{"ts": "2026-11-20T15:00:00Z", "ticker": "KXA-1", "yes_bid": 4500, "no_bid": 5000}\n\n'
                   '{"ts": "2026-11-20T15:00:01Z", "ticker": "KXA-1", "yes_bid": 45.5, "no_bid": 5000}\n')
    with pytest.raises(CatalogError, match=r"q.jsonl:line 3: column yes_bid: '45.5' is finer"):
        import_files("quotes", [src], tmp_path / "cat", price_unit="units")
    src.write_text('{"ts": "2026-11-20T15:00:00Z"}\n{"ts": \n')
    with pytest.raises(CatalogError, match=r"q.jsonl:line 2: not JSON"):
        import_files("quotes", [src], tmp_path / "cat", price_unit="units")


def test_a_bad_second_file_group_leaves_nothing_behind(tmp_path):
    """Rows of two days go to two files; the second day's bad row stops the import after the
    first file was written aside: neither file reaches the catalog, and the aside folder is gone."""
    src = tmp_path / "q.csv"
    src.write_text("ts,ticker,yes_bid,no_bid\n2026-11-20T15:00:00Z,KXA-1,45,50\n2026-11-21T15:00:00Z,KXA-1,450,50\n")
    with pytest.raises(CatalogError, match=r"q.csv:line 3: quotes: column yes_bid value 45000"):
        import_files("quotes", [src], tmp_path / "cat", price_unit="cents")
    assert sorted(p.name for p in (tmp_path / "cat").iterdir()) == []


def _final_markets(root):
    base = {"event_ticker": "KXHIGHNY-26NOV20", "open_time": "2026-11-19T14:00:00Z",
            "close_time": "2026-11-21T04:59:00Z", "settlement_ts": None, "result": ""}
    rows = [{**base, "ticker": "KXHIGHNY-26NOV20-B52.5", "status": "finalized"},  # voided: Kalshi sends ""
            {**base, "ticker": "KXHIGHNY-26NOV20-B54.5", "status": "active"}]  # still open: unsettled
    p = root / "final.json"
    p.write_text(json.dumps({"markets": rows, "cursor": ""}))
    return p


def test_finalized_market_with_an_empty_result_imports_as_void_like_download(tmp_path, capsys):
    cat = tmp_path / "cat"
    assert main(["import", "markets", str(_final_markets(tmp_path)), "--catalog", str(cat)]) == 0
    assert "1 finalized market(s) with an empty result read as void" in capsys.readouterr().out
    m = read_markets(cat).set_index("ticker")
    assert m.loc["KXHIGHNY-26NOV20-B52.5", "result"] == "void"
    assert m.loc["KXHIGHNY-26NOV20-B52.5", "settle_ts"] == m.loc["KXHIGHNY-26NOV20-B52.5", "close_ts"]
    assert pd.isna(m.loc["KXHIGHNY-26NOV20-B54.5", "result"])
    cat2 = tmp_path / "cat2"
    import_files("markets", [_final_markets(tmp_path)], cat2, empty_result="unsettled")
    assert read_markets(cat2)["result"].isna().all()
    with pytest.raises(ValueError, match="empty_result must be one of"):
        import_files("markets", [_final_markets(tmp_path)], tmp_path / "cat3", empty_result="maybe")
