"""kalshi import of Kalshi's own REST shapes (candlesticks, orderbook), without a mapping, and a
check that every field the presets read exists in Kalshi's OpenAPI spec."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from framework.cli import main
from framework.data.catalog import CatalogError, read_table
from framework.data.import_presets import SPEC_FIELDS
from framework.data.importer import import_files
from framework.units import contracts, dollars

T = 1_795_186_800  # 2026-11-20T15:00:00Z, Unix seconds
TK = "KXHIGHNY-26NOV20-B48.5"


def _candle(i: int, close: str = "0.4400") -> dict:
    """One MarketCandlestick as GET /series/{s}/markets/{t}/candlesticks returns it (2026)."""
    return {"end_period_ts": T + 60 * i,
            "yes_bid": {"open_dollars": "0.4000", "low_dollars": "0.3900", "high_dollars": "0.4200", "close_dollars": "0.4100"},
            "yes_ask": {"open_dollars": "0.4500", "low_dollars": "0.4300", "high_dollars": "0.4700", "close_dollars": "0.4400"},
            "price": {"open_dollars": "0.4300", "low_dollars": "0.4200", "high_dollars": "0.4500", "close_dollars": close,
                      "mean_dollars": "0.4350", "previous_dollars": "0.4200"},
            "volume_fp": "12.00", "open_interest_fp": "300.00"}


def test_spec_has_every_field_the_presets_read():
    from kalshi_spec import openapi

    schemas = openapi()["components"]["schemas"]
    for name, fields in SPEC_FIELDS.items():
        assert name in schemas, f"{name} is not a schema of Kalshi's openapi.yaml"
        props = schemas[name].get("properties", {})
        missing = [f for f in fields if f not in props]
        assert not missing, f"{name} has no field(s) {missing}; the import preset reads them"


def test_spec_candlestick_responses_are_the_shapes_the_preset_expands():
    """The list keys the preset walks hold the candlestick schemas it flattens."""
    from kalshi_spec import openapi

    s = openapi()["components"]["schemas"]

    def ref(node):
        return node["$ref"].rsplit("/", 1)[-1]

    assert ref(s["GetMarketCandlesticksResponse"]["properties"]["candlesticks"]["items"]) == "MarketCandlestick"
    assert ref(s["GetMarketCandlesticksHistoricalResponse"]["properties"]["candlesticks"]["items"]) == \
        "MarketCandlestickHistorical"
    assert ref(s["BatchGetMarketCandlesticksResponse"]["properties"]["markets"]["items"]) == "MarketCandlesticksResponse"
    assert ref(s["GetEventCandlesticksResponse"]["properties"]["market_candlesticks"]["items"]["items"]) == \
        "MarketCandlestick"
    mc = s["MarketCandlestick"]["properties"]
    assert (ref(mc["yes_bid"]), ref(mc["price"])) == ("BidAskDistribution", "PriceDistribution")
    assert ref(s["GetMarketOrderbookResponse"]["properties"]["orderbook_fp"]) == "OrderbookCountFp"


def test_candlesticks_response_imports_without_a_mapping(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"ticker": TK, "candlesticks": [_candle(1), _candle(2, "0.4500")]}))
    import_files("candles", [p], tmp_path / "cat")
    c = read_table(tmp_path / "cat", "candles")
    assert c["period"].tolist() == [1, 1]  # from the spacing of end_period_ts
    assert c["ts"].iloc[0] == pd.Timestamp(T + 60, unit="s", tz="UTC") and c["ticker"].tolist() == [TK, TK]
    assert c["close"].tolist() == [dollars("0.44"), dollars("0.45")]
    assert c["yes_bid_low"].iloc[0] == dollars("0.39") and c["yes_ask_high"].iloc[0] == dollars("0.47")
    assert c["volume"].iloc[0] == contracts(12) and c["open_interest"].iloc[0] == contracts(300)


def test_candlesticks_batch_event_historical_and_jsonl_shapes(tmp_path):
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"markets": [{"market_ticker": "KXA-1", "candlesticks": [_candle(0), _candle(60)]},
                                             {"market_ticker": "KXA-2", "candlesticks": [_candle(0)]}]}))
    import_files("candles", [batch], tmp_path / "b")
    c = read_table(tmp_path / "b", "candles")
    assert sorted(c["ticker"]) == ["KXA-1", "KXA-1", "KXA-2"] and set(c["period"]) == {60}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"market_tickers": ["KXA-1", "KXA-2"], "adjusted_end_ts": T,
                                 "market_candlesticks": [[_candle(0), _candle(1)], [_candle(1)]]}))
    import_files("candles", [event], tmp_path / "e")
    assert sorted(read_table(tmp_path / "e", "candles")["ticker"]) == ["KXA-1", "KXA-1", "KXA-2"]
    # historical: un-suffixed OHLC keys (dollars strings), volume/open_interest without _fp
    hist = {"end_period_ts": T, "yes_bid": {"open": "0.40", "low": "0.39", "high": "0.42", "close": "0.41"},
            "yes_ask": {"open": "0.45", "low": "0.43", "high": "0.47", "close": "0.44"},
            "price": {"open": None, "low": None, "high": None, "close": None, "mean": None, "previous": "0.42"},
            "volume": "0.00", "open_interest": "5.00"}
    p = tmp_path / "h.jsonl.zst"  # JSONL of responses, zstd-compressed
    lines = [json.dumps({"ticker": TK, "candlesticks": [dict(hist, end_period_ts=T + 3600 * i)]}) for i in range(3)]
    with pa.CompressedOutputStream(str(p), "zstd") as f:
        f.write("\n".join(lines).encode())
    import_files("candles", [p], tmp_path / "h")
    h = read_table(tmp_path / "h", "candles")
    assert h["period"].tolist() == [60] * 3 and h["close"].isna().all() and h["yes_bid_close"].iloc[0] == dollars("0.41")


def test_candlesticks_ticker_and_period_options(tmp_path, capsys):
    p = tmp_path / "rows.json"  # a JSON array of candlesticks: no ticker anywhere
    p.write_text(json.dumps([_candle(0)]))
    args = ["import", "candles", str(p), "--catalog", str(tmp_path / "cat")]
    assert main(args) == 2
    assert "a candlestick without a market ticker" in capsys.readouterr().err
    assert main(args + ["--ticker", TK]) == 2  # one candle: the spacing says nothing
    assert "cannot tell the candles' period" in capsys.readouterr().err
    assert main(args + ["--ticker", TK, "--period", "1"]) == 0
    assert read_table(tmp_path / "cat", "candles")["period"].tolist() == [1]
    q = tmp_path / "c.json"
    q.write_text(json.dumps({"candlesticks": [_candle(0), _candle(1)]}))
    with pytest.raises(CatalogError, match=r"c.json: candlesticks without a market ticker .*pass --ticker"):
        import_files("candles", [q], tmp_path / "x")
    q.write_text(json.dumps({"ticker": "KXA-1", "candlesticks": [_candle(0), _candle(1)]}))
    with pytest.raises(CatalogError, match="is for market 'KXA-1' but --ticker says"):
        import_files("candles", [q], tmp_path / "x", ticker="KXB-1")


def test_orderbook_snapshot_needs_a_time_and_imports_as_a_snapshot(tmp_path, capsys):
    p = tmp_path / "ob.json"  # the body of GET /markets/{ticker}/orderbook, as saved
    p.write_text(json.dumps({"orderbook_fp": {"yes_dollars": [["0.4000", "25.00"], ["0.4200", "3.50"]],
                                              "no_dollars": [["0.5500", "7.00"]]}}))
    args = ["import", "book", str(p), "--catalog", str(tmp_path / "cat"), "--ticker", TK]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "has no time (Kalshi's response carries none); pass --ts TIME" in err and err.count("\n") == 1
    assert main(args + ["--ts", "2026-11-20T15:00:00Z"]) == 0
    b = read_table(tmp_path / "cat", "book")
    assert b["snapshot"].all() and (b["ts"] == pd.Timestamp("2026-11-20T15:00:00Z")).all()
    assert list(zip(b["side"], b["price"], b["size"], strict=True)) == [
        ("yes", dollars("0.40"), contracts(25)), ("yes", dollars("0.42"), contracts("3.5")), ("no", dollars("0.55"), contracts(7))]


def test_orderbook_jsonl_of_wrapped_snapshots_legacy_and_empty(tmp_path):
    p = tmp_path / "obs.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in [
        {"ts": "2026-11-20T15:00:01Z", "ticker": TK, "orderbook_fp": {"yes_dollars": [["0.4000", "1.00"]], "no_dollars": []}},
        {"ts": T, "ticker": TK, "orderbook": {"yes": [[41, 2]], "no": [[50, 4]]}},  # legacy cents, epoch s
        {"ts": "2026-11-20T15:00:02Z", "ticker": TK, "orderbook_fp": {"yes_dollars": [], "no_dollars": []}},
    ]) + "\n")
    import_files("book", [p], tmp_path / "cat")
    b = read_table(tmp_path / "cat", "book")
    assert b["ts"].dt.second.tolist() == [0, 0, 1, 2]  # sorted by time
    assert b["price"].tolist() == [dollars("0.41"), dollars("0.50"), dollars("0.40"), 1]
    assert b["size"].tolist() == [contracts(2), contracts(4), contracts(1), 0]  # empty book: one size-0 row


def test_trades_jsonl_of_items_and_array_of_pages(tmp_path):
    trade = {"trade_id": "a", "ticker": TK, "created_time": "2026-11-20T15:00:00Z", "yes_price_dollars": "0.5600",
             "no_price_dollars": "0.4400", "count_fp": "3.00", "taker_side": "no"}
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(trade) + "\n" + json.dumps(dict(trade, trade_id="b")) + "\n")
    import_files("trades", [p], tmp_path / "cat")
    q = tmp_path / "pages.json"
    q.write_text(json.dumps([{"trades": [dict(trade, trade_id="c")], "cursor": "x"},
                             {"trades": [dict(trade, trade_id="d")], "cursor": ""}]))
    import_files("trades", [q], tmp_path / "cat")
    t = read_table(tmp_path / "cat", "trades")
    assert sorted(t["trade_id"]) == ["a", "b", "c", "d"] and set(t["count"]) == {contracts(3)}


def test_kalshi_candles_and_orderbook_refuse_other_units(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"ticker": TK, "candlesticks": [_candle(0), _candle(1)]}))
    with pytest.raises(CatalogError, match="read in dollars and contracts .*drop --price-unit"):
        import_files("candles", [p], tmp_path / "cat", price_unit="cents")


def _instance(spec: dict, node: dict, name: str = "") -> object:
    """A value shaped exactly as the spec's schema ``node`` says: every property present, strings
    from the schema's example, integers as times (the only integers the presets read)."""
    schemas = spec["components"]["schemas"]
    if "$ref" in node:
        return _instance(spec, schemas[node["$ref"].rsplit("/", 1)[-1]], name)
    if "allOf" in node:
        return _instance(spec, node["allOf"][0], name)
    if "example" in node:
        return node["example"]
    kind = node.get("type")
    if kind == "object":
        return {k: _instance(spec, v, k) for k, v in node.get("properties", {}).items()}
    if kind == "array":
        return [_instance(spec, node["items"], name)]
    if kind == "integer":
        return T
    return TK if "ticker" in name else "x"


@pytest.mark.parametrize("schema", ["GetMarketCandlesticksResponse", "GetMarketCandlesticksHistoricalResponse",
                                    "BatchGetMarketCandlesticksResponse", "GetEventCandlesticksResponse"])
def test_a_response_built_from_the_spec_imports_every_column(tmp_path, schema):
    from kalshi_spec import openapi

    spec = openapi()
    doc = _instance(spec, spec["components"]["schemas"][schema])
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    import_files("candles", [p], tmp_path / "cat", period=60)
    c = read_table(tmp_path / "cat", "candles")
    assert len(c) == 1 and c["ts"].iloc[0] == pd.Timestamp(T, unit="s", tz="UTC")
    assert not c.isna().any().any(), c.iloc[0].to_dict()  # every column filled from the spec's fields
    assert c["close"].iloc[0] == dollars("0.56") and c["volume"].iloc[0] == contracts(10)


def test_an_orderbook_built_from_the_spec_imports(tmp_path):
    from kalshi_spec import openapi

    spec = openapi()
    p = tmp_path / "ob.json"
    p.write_text(json.dumps(_instance(spec, spec["components"]["schemas"]["GetMarketOrderbookResponse"])))
    import_files("book", [p], tmp_path / "cat", ticker=TK, ts="2026-11-20T15:00:00Z")
    b = read_table(tmp_path / "cat", "book")
    assert list(zip(b["side"], b["price"], b["size"], strict=True)) == [
        ("yes", dollars("0.15"), contracts(100)), ("no", dollars("0.15"), contracts(100))]


def test_two_snapshots_with_one_ts_are_refused(tmp_path):
    p = tmp_path / "obs.jsonl"
    book = {"orderbook_fp": {"yes_dollars": [["0.4000", "1.00"]], "no_dollars": []}}
    p.write_text(json.dumps(book) + "\n" + json.dumps(book) + "\n")
    with pytest.raises(CatalogError, match=r"obs.jsonl:line 2: a second orderbook snapshot of .* at "
                                           r"2026-11-20T15:00:00Z \(the first is .*obs.jsonl:line 1\)"):
        import_files("book", [p], tmp_path / "cat", ticker=TK, ts="2026-11-20T15:00:00Z")
    q = tmp_path / "b.json"
    p.write_text(json.dumps(book))
    q.write_text(json.dumps(book))
    with pytest.raises(CatalogError, match=r"another file has a snapshot of .* at the same time"):
        import_files("book", [p, q], tmp_path / "cat", ticker=TK, ts="2026-11-20T15:00:00Z")
