"""Kalshi's own REST JSON shapes for ``kalshi import`` (field names from Kalshi's OpenAPI spec).

A saved response (one JSON object holding its list), a JSON array of responses or of items, and
JSONL of either are flattened into rows of the catalog's column names (or, for ``markets`` and
``trades``, of Kalshi's flat field names, renamed by :data:`PRESETS`). Values stay as Kalshi
writes them, dollars strings and fixed-point contract counts, and are converted exactly by the
importer (``price_unit="dollars"``); legacy integer cents fields are rewritten as dollars.

:data:`SPEC_FIELDS` lists, per schema of the spec, every field read here; a test checks each
against ``openapi.yaml`` so a renamed field fails loudly instead of importing nulls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from .catalog import CatalogError

__all__ = ["PRESETS", "SPEC_FIELDS", "flatten", "is_kalshi"]

# markets and trades: catalog column -> field of one list item (flat items)
PRESETS: dict[str, dict[str, str]] = {
    "trades": {"ts": "created_time", "ticker": "ticker", "trade_id": "trade_id",
               "yes_price": "yes_price_dollars", "count": "count_fp", "taker_side": "taker_side"},
    "markets": {"ticker": "ticker", "event_ticker": "event_ticker", "open_ts": "open_time",
                "close_ts": "close_time", "settle_ts": "settlement_ts", "result": "result",
                "title": "title", "settlement_value": "settlement_value_dollars"},
}

_OHLC = ("open", "high", "low", "close")
# candlesticks: catalog column prefix -> nested object of a MarketCandlestick
_CANDLE_GROUPS = {"": "price", "yes_bid_": "yes_bid", "yes_ask_": "yes_ask"}
_WRAPPER_TS = ("ts", "time", "timestamp", "fetched_at", "received_at", "saved_at", "as_of")

# schema name in openapi.yaml -> the fields this module (and PRESETS) reads from it
SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "GetMarketsResponse": ("markets",),
    "GetMarketResponse": ("market",),
    "Market": tuple(v for k, v in PRESETS["markets"].items() if k != "title") + ("title",),
    "GetTradesResponse": ("trades",),
    "Trade": tuple(PRESETS["trades"].values()),
    "GetMarketCandlesticksResponse": ("ticker", "candlesticks"),
    "GetMarketCandlesticksHistoricalResponse": ("ticker", "candlesticks"),
    "BatchGetMarketCandlesticksResponse": ("markets",),
    "MarketCandlesticksResponse": ("market_ticker", "candlesticks"),
    "GetEventCandlesticksResponse": ("market_tickers", "market_candlesticks"),
    "MarketCandlestick": ("end_period_ts", *_CANDLE_GROUPS.values(), "volume_fp", "open_interest_fp"),
    "MarketCandlestickHistorical": ("end_period_ts", *_CANDLE_GROUPS.values(), "volume", "open_interest"),
    "BidAskDistribution": tuple(f"{x}_dollars" for x in _OHLC),
    "PriceDistribution": tuple(f"{x}_dollars" for x in _OHLC),
    "BidAskDistributionHistorical": _OHLC,
    "PriceDistributionHistorical": _OHLC,
    "GetMarketOrderbookResponse": ("orderbook_fp",),
    "OrderbookCountFp": ("yes_dollars", "no_dollars"),
}

Item = tuple[str, Any]  # (location in the file, parsed JSON value)


def _cents_to_dollars(v: Any) -> Any:
    """Legacy integer cents fields -> a dollars string; strings (dollars) pass through."""
    return str(Decimal(v) / 100) if isinstance(v, int) and not isinstance(v, bool) else v


def _scalar(v: Any) -> str | None:
    return None if v is None else str(v)


def _candle_row(c: Any, ticker: str | None, at: str) -> dict[str, str | None]:
    if not isinstance(c, Mapping) or "end_period_ts" not in c:
        raise CatalogError(f"{at}: not a Kalshi candlestick (no end_period_ts); save the response of "
                           "GET /series/{s}/markets/{t}/candlesticks, or map a flat file with --map")
    row: dict[str, str | None] = {"ts": _scalar(c["end_period_ts"]), "ticker": ticker}
    for prefix, group in _CANDLE_GROUPS.items():
        ohlc = c.get(group) if isinstance(c.get(group), Mapping) else {}
        for x in _OHLC:  # "<x>_dollars" (live), "<x>" strings (historical, dollars) or ints (legacy cents)
            v = ohlc.get(f"{x}_dollars", ohlc.get(x))
            row[prefix + x] = _scalar(_cents_to_dollars(v))
    row["volume"] = _scalar(c.get("volume_fp", c.get("volume")))
    row["open_interest"] = _scalar(c.get("open_interest_fp", c.get("open_interest")))
    return row


def _candles(doc: Any, ticker: str | None, at: str) -> Iterator[tuple[str, dict]]:
    def one(t: str | None, candles: Any, where: str) -> Iterator[tuple[str, dict]]:
        t = t or ticker
        if ticker and t != ticker:
            raise CatalogError(f"{where}: the response is for market {t!r} but --ticker says {ticker!r}; drop --ticker")
        if t is None:
            raise CatalogError(f"{where}: candlesticks without a market ticker (the response has no 'ticker'); "
                               "pass --ticker TICKER")
        for i, c in enumerate(candles or ()):
            loc = f"{where} candlestick {i}"
            yield loc, _candle_row(c, t, loc)

    if isinstance(doc, Mapping) and isinstance(doc.get("candlesticks"), list):  # one market
        yield from one(doc.get("ticker") or doc.get("market_ticker"), doc["candlesticks"], at)
    elif isinstance(doc, Mapping) and isinstance(doc.get("markets"), list):  # batch
        for j, m in enumerate(doc["markets"]):
            if isinstance(m, Mapping):
                yield from one(m.get("market_ticker") or m.get("ticker"), m.get("candlesticks"), f"{at} market {j}")
    elif isinstance(doc, Mapping) and isinstance(doc.get("market_candlesticks"), list):  # event
        tickers = doc.get("market_tickers") or []
        for j, candles in enumerate(doc["market_candlesticks"]):
            yield from one(tickers[j] if j < len(tickers) else None, candles, f"{at} market {j}")
    else:  # one candlestick per item (JSONL or an array of candlesticks)
        t = (doc.get("ticker") if isinstance(doc, Mapping) else None) or ticker
        if t is None:
            raise CatalogError(f"{at}: a candlestick without a market ticker (Kalshi's candlestick items carry "
                               "none); pass --ticker TICKER")
        yield at, _candle_row(doc, t, at)


def _levels(levels: Any, legacy: bool, at: str) -> Iterator[tuple[Any, Any]]:
    for lv in levels or ():
        if not isinstance(lv, (list, tuple)) or len(lv) != 2:
            raise CatalogError(f"{at}: an orderbook level {lv!r} is not a [price, count] pair")
        yield (_cents_to_dollars(lv[0]) if legacy else lv[0]), lv[1]


def _orderbook(doc: Any, ticker: str | None, ts: str | None, at: str) -> Iterator[tuple[str, dict]]:
    if not isinstance(doc, Mapping):
        raise CatalogError(f"{at}: not a Kalshi orderbook response (expected a JSON object)")
    book = next((doc[k] for k in ("orderbook_fp", "orderbook") if isinstance(doc.get(k), Mapping)), None)
    inner = next((doc[k] for k in ("response", "body", "data") if isinstance(doc.get(k), Mapping)), None)
    if book is None and inner is not None:  # a wrapper {"ts": ..., "ticker": ..., "response": {...}}
        book = next((inner[k] for k in ("orderbook_fp", "orderbook") if isinstance(inner.get(k), Mapping)), None)
    if book is None:
        raise CatalogError(f"{at}: not a Kalshi orderbook response (no 'orderbook_fp' or 'orderbook'); save the "
                           "body of GET /markets/{ticker}/orderbook")
    when = next((doc[k] for k in _WRAPPER_TS if doc.get(k) not in (None, "")), None) or ts
    if when is None:
        raise CatalogError(f"{at}: an orderbook snapshot has no time (Kalshi's response carries none); pass "
                           "--ts TIME (e.g. --ts 2026-11-20T15:00:00Z) or save it wrapped as "
                           '{"ts": ..., "orderbook_fp": ...}')
    t = doc.get("ticker") or doc.get("market_ticker") or ticker
    if t is None:
        raise CatalogError(f"{at}: an orderbook snapshot has no market ticker (Kalshi's response carries none); "
                           "pass --ticker TICKER")
    rows = []
    for side in ("yes", "no"):
        key = next((k for k in (f"{side}_dollars", f"{side}_dollars_fp") if book.get(k) is not None), None)
        pairs = _levels(book[key], False, at) if key else _levels(book.get(side), True, at)
        rows += [{"ts": _scalar(when), "ticker": t, "side": side, "price": _scalar(p), "size": _scalar(n),
                  "snapshot": "true"} for p, n in pairs]
    if not rows:  # an empty book: one snapshot row of size 0 (docs/data-format.md, snapshot semantics)
        rows = [{"ts": _scalar(when), "ticker": t, "side": "yes", "price": "0.0001", "size": "0", "snapshot": "true"}]
    for i, r in enumerate(rows):
        yield f"{at} level {i}", r


def _flat(doc: Any, key: str, single: str, at: str) -> Iterator[tuple[str, dict]]:
    listed = isinstance(doc, Mapping) and isinstance(doc.get(key), list)
    if listed:
        items = doc[key]
    elif isinstance(doc, Mapping) and isinstance(doc.get(single), Mapping):
        items = [doc[single]]
    else:
        items = [doc]
    for i, r in enumerate(items):
        loc = f"{at} {single} {i}" if listed else at
        if not isinstance(r, Mapping):
            raise CatalogError(f"{loc}: expected a JSON object, got {type(r).__name__}")
        yield loc, r  # flat: nested fields are dropped when the table is built


def is_kalshi(kind: str, doc: Any) -> bool:
    """Whether one parsed JSON value is a Kalshi REST response (or item) of ``kind``."""
    if not isinstance(doc, Mapping):
        return False
    if kind == "candles":
        return any(k in doc for k in ("candlesticks", "market_candlesticks", "end_period_ts")) or (
            isinstance(doc.get("markets"), list) and any(isinstance(m, Mapping) and "candlesticks" in m
                                                         for m in doc["markets"]))
    if kind == "book":
        return any(k in doc for k in ("orderbook_fp", "orderbook", "response", "body", "data"))
    if kind == "trades":
        return isinstance(doc.get("trades"), list) or {"created_time", "yes_price_dollars"} <= doc.keys()
    if kind == "markets":
        return isinstance(doc.get("markets"), list) or isinstance(doc.get("market"), Mapping) or (
            {"open_time", "close_time"} <= doc.keys())
    return False


def flatten(kind: str, items: Iterable[Item], *, ticker: str | None = None,
            ts: str | None = None) -> tuple[list[str], list[dict]]:
    """Rows (and their locations) of Kalshi REST responses or items of ``kind``."""
    locs, rows = [], []
    snapshots: dict[tuple, str] = {}  # (ticker, time) -> where the first snapshot of it was
    for at, doc in items:
        if kind == "book":  # two snapshots at one time would merge into one book
            gen = list(_orderbook(doc, ticker, ts, at))
            key = (gen[0][1]["ticker"], gen[0][1]["ts"])
            if key in snapshots:
                raise CatalogError(f"{at}: a second orderbook snapshot of {key[0]} at {key[1]} (the first is "
                                   f"{snapshots[key]}); save each with its own time, as {{\"ts\": ..., "
                                   "\"orderbook_fp\": ...}, instead of one --ts for all")
            snapshots[key] = at
            locs += [loc for loc, _ in gen]
            rows += [row for _, row in gen]
            continue
        if kind == "candles":
            gen = _candles(doc, ticker, at)
        elif kind in ("trades", "markets"):
            gen = _flat(doc, kind, kind[:-1], at)
        else:
            raise CatalogError(f"{at}: Kalshi's REST API has no {kind} response; save them as CSV/JSONL rows "
                               "and map the columns with --map")
        for loc, row in gen:
            locs.append(loc)
            rows.append(row)
    return locs, rows
