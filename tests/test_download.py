"""``kalshi download`` against the local exchange (127.0.0.1, port 0, no background traders)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from framework import Strategy, contracts, run_backtest
from framework.data import download as dl
from framework.data.catalog import kind_files, read_markets, read_table
from framework.data.download import DownloadError, Manifest, download, make_client, parse_time_arg
from framework.data.download_cli import add_parser
from framework.exchange.server import LocalExchange

SERIES = "KXLOCALTEMP"


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exchange-state")  # the generated key is reused by every test


@pytest.fixture
def ex(state_dir):
    exchange = LocalExchange(port=0, seed=7, state_dir=state_dir, background=False).start()
    try:
        yield exchange
    finally:
        exchange.stop()


class Counter:
    """Wraps a client's session to record (path, query) of every request."""

    def __init__(self, client):
        self.calls: list[tuple[str, dict]] = []
        orig = client.session.request

        def request(method, url, **kw):
            self.calls.append((urlsplit(url).path, dict(kw.get("params") or {})))
            return orig(method, url, **kw)

        client.session.request = request

    def paths(self, suffix: str) -> list[dict]:
        return [q for p, q in self.calls if p.endswith(suffix)]

    def data_calls(self) -> list[tuple[str, dict]]:
        return [(p, q) for p, q in self.calls if p.endswith("/markets/trades") or p.endswith("/candlesticks")]


def client_for(ex, state_dir, **kw):
    kw.setdefault("backoff_base", 0.001)
    return make_client("local", base_url=ex.rest_url, state_dir=state_dir, **kw)


def temp_tickers(ex) -> list[str]:
    return sorted(t for t in ex.engine.markets if t.startswith(SERIES))


def settle_all(ex) -> None:
    for i, t in enumerate(temp_tickers(ex)):
        ex.settle(t, "yes" if i == 0 else "no")


def exchange_trade_ids(ex, tickers) -> set[str]:
    return {t.trade_id for t in ex.engine.trades if t.ticker in set(tickers)}


def run_dl(client, out, **kw):
    kw.setdefault("period", 1)
    kw.setdefault("safety_lag_s", 0)
    kw.setdefault("progress", False)
    return download(client, out, [SERIES], **kw)


class FollowTrades(Strategy):
    """Rests a 1-contract YES bid at the first print of each market; a later print through it fills."""

    def on_trade(self, trade) -> None:
        if not self.position(trade.ticker) and not self.open_orders(trade.ticker):
            self.buy(trade.ticker, contracts(1), price=trade.yes_price)


# --------------------------------------------------------------------------- tests


def test_download_fills_a_replayable_catalog(ex, state_dir, tmp_path):
    ex.step(120)
    settle_all(ex)
    out = tmp_path / "cat"
    with client_for(ex, state_dir) as c:
        rep = run_dl(c, out)
    assert rep.ok, rep.summary()
    tickers = temp_tickers(ex)
    m = read_markets(out)
    assert list(m["ticker"]) == tickers
    assert set(m["series_ticker"]) == {SERIES}
    assert list(m["result"]) == ["yes", "no", "no"]
    assert m["settle_ts"].notna().all() and (m["close_ts"] >= m["open_ts"]).all()
    tr = read_table(out, "trades")
    assert len(tr) == rep.trades > 0
    assert set(tr["trade_id"]) == exchange_trade_ids(ex, tickers)
    assert tr["trade_id"].is_unique
    assert set(tr["taker_side"]) <= {"yes", "no"}
    # trades are Hive-partitioned files written by write_table
    assert all("series=KXLOCALTEMP" in p.as_posix() for p in kind_files(out, "trades"))
    cd = read_table(out, "candles")
    assert len(cd) == rep.candles > 0 and set(cd["period"]) == {1}
    assert cd["volume"].sum() == tr["count"].sum()  # every trade is in exactly one 1-minute candle
    # the other series was not touched
    assert not any("KXLOCALRATE" in p.as_posix() for p in kind_files(out, "trades"))

    res = run_backtest(FollowTrades, out, kinds=["trades"])
    assert res.metrics["n_events"] == len(tr)
    assert res.metrics["n_orders"] >= 1
    # and LongshotFade (a book strategy) replays the same catalog without errors: no books, no orders
    res2 = run_backtest("strategies.longshot:LongshotFade", out)
    assert res2.metrics["n_events"] == len(tr) and res2.metrics["n_orders"] == 0


def test_resume_skips_done_units_and_refetches_a_forgotten_one(ex, state_dir, tmp_path):
    ex.step(80)
    settle_all(ex)
    out = tmp_path / "cat"
    with client_for(ex, state_dir) as c:
        rep1 = run_dl(c, out)
        files1 = sorted(kind_files(out, "trades") + kind_files(out, "candles"))
        rows1 = len(read_table(out, "trades"))
        counter = Counter(c)
        rep2 = run_dl(c, out)
        assert rep2.ok and rep2.units_planned == 0 and rep2.units_skipped == rep1.units_done
        assert counter.data_calls() == []  # only series / cutoff / markets listing
        assert sorted(kind_files(out, "trades") + kind_files(out, "candles")) == files1

        # forget one unit: exactly that one is fetched again, and nothing is duplicated
        path = out / "_download" / "manifest.json"
        manifest = json.loads(path.read_text())
        victim = next(k for k in manifest["units"] if k.startswith("trades|") and tickers_of(k) == temp_tickers(ex)[1])
        del manifest["units"][victim]
        path.write_text(json.dumps(manifest))
        counter.calls.clear()
        rep3 = run_dl(c, out)
    assert rep3.ok and rep3.units_done == 1 and rep3.units_planned == 1
    calls = counter.data_calls()
    assert [p.rsplit("/", 1)[-1] for p, _ in calls] == ["trades"]
    assert calls[0][1]["ticker"] == temp_tickers(ex)[1]
    assert sorted(kind_files(out, "trades") + kind_files(out, "candles")) == files1
    tr = read_table(out, "trades")
    assert len(tr) == rows1 and tr["trade_id"].is_unique
    assert victim in Manifest(out).units


def tickers_of(key: str) -> str:
    return key.split("|")[1]


def test_failed_unit_leaves_a_consistent_catalog_and_rerun_completes(ex, state_dir, tmp_path):
    ex.step(80)
    settle_all(ex)
    out = tmp_path / "cat"
    with client_for(ex, state_dir, max_retries=1) as c:
        # the first trades request and its one retry get 503: that unit fails, the others finish
        ex.faults.server_errors(2, status=503, path="/trade-api/v2/markets/trades")
        rep1 = run_dl(c, out)
        assert not rep1.ok and len(rep1.failed) == 1 and "trades" in rep1.failed[0][0]
        assert rep1.units_done == rep1.units_planned - 1
        # consistent: every file reads, no duplicates, the failed unit is not in the manifest
        tr1 = read_table(out, "trades")
        assert tr1["trade_id"].is_unique
        assert len(Manifest(out).units) == rep1.units_done
        counter = Counter(c)
        rep2 = run_dl(c, out)
    assert rep2.ok and rep2.units_done == 1
    assert len(counter.paths("/markets/trades")) == 1
    tr = read_table(out, "trades")
    assert set(tr["trade_id"]) == exchange_trade_ids(ex, temp_tickers(ex)) and tr["trade_id"].is_unique


def test_crash_after_files_before_manifest_redownloads_that_unit_without_duplicates(ex, state_dir, tmp_path,
                                                                                        monkeypatch):
    ex.step(80)
    settle_all(ex)
    out = tmp_path / "cat"
    real_record = Manifest.record
    seen = []

    def crashing_record(self, unit, rows, files):
        seen.append(unit)
        if len(seen) == 2:  # the unit's files are on disk, its manifest entry is not
            raise KeyboardInterrupt
        return real_record(self, unit, rows, files)

    with client_for(ex, state_dir) as c:
        monkeypatch.setattr(Manifest, "record", crashing_record)
        with pytest.raises(KeyboardInterrupt):
            run_dl(c, out)
        monkeypatch.setattr(Manifest, "record", real_record)
        assert len(Manifest(out).units) == 1  # the first unit survived the crash
        counter = Counter(c)
        rep = run_dl(c, out)
    assert rep.ok
    assert rep.units_planned == len(temp_tickers(ex)) * 2 - 1
    assert len(counter.data_calls()) == rep.units_planned
    tr = read_table(out, "trades")
    assert tr["trade_id"].is_unique and set(tr["trade_id"]) == exchange_trade_ids(ex, temp_tickers(ex))
    cd = read_table(out, "candles")
    assert not cd.duplicated(["ticker", "period", "ts"]).any()


def test_markets_upsert_when_a_result_appears_later(ex, state_dir, tmp_path):
    ex.step(60)
    out = tmp_path / "cat"
    first = temp_tickers(ex)[0]
    with client_for(ex, state_dir) as c:
        rep1 = run_dl(c, out, candles=False)
        m1 = read_markets(out)
        assert m1["result"].isna().all() and m1["settle_ts"].isna().all()
        assert rep1.markets_updated == 3
        ex.step(40)  # more trades on the open markets
        ex.settle(first, "yes")
        rep2 = run_dl(c, out, candles=False)
    assert rep2.ok and rep2.markets_updated == 1
    m2 = read_markets(out).set_index("ticker")
    assert m2.loc[first, "result"] == "yes" and m2.loc[first, "settle_ts"] is not None
    assert m2.drop(index=first)["result"].isna().all()
    assert len(kind_files(out, "markets")) == 1  # one consolidated file per series, rewritten
    tr = read_table(out, "trades")
    assert tr["trade_id"].is_unique
    # the settled market is complete; the open ones only miss the current second (not final yet)
    got = set(tr[tr["ticker"] == first]["trade_id"])
    assert got == exchange_trade_ids(ex, [first])


def settle_each_way(ex) -> list[str]:
    """Settle the three KXLOCALTEMP markets yes, scalar ($0.37 per YES) and void; their tickers."""
    tickers = temp_tickers(ex)
    ex.settle(tickers[0], "yes")
    ex.settle(tickers[1], "scalar", 3700)
    ex.settle(tickers[2], "void")
    return tickers


def test_download_stores_void_and_scalar_results_and_the_backtest_pays_them(ex, state_dir, tmp_path):
    ex.step(120)
    tickers = settle_each_way(ex)
    out = tmp_path / "cat"
    with client_for(ex, state_dir) as c:
        rep = run_dl(c, out, candles=False)
    assert rep.ok, rep.summary()
    m = read_markets(out).set_index("ticker")
    assert list(m.loc[tickers, "result"]) == ["yes", "scalar", "void"]
    assert m.loc[tickers[1], "settlement_value"] == 3700  # Kalshi's settlement_value_dollars "0.3700"
    assert m.loc[[tickers[0], tickers[2]], "settlement_value"].isna().all()
    assert m["settle_ts"].notna().all() and (m["settle_ts"] >= m["close_ts"]).all()
    # the local exchange serves a void market as the spec allows (result ""), so it is inferred, and said so
    assert [w for w in rep.warnings if "read as void" in w] == [
        w for w in rep.warnings if w.startswith(tickers[2])] and any("read as void" in w for w in rep.warnings)

    res = run_backtest(FollowTrades, out, kinds=["trades"])
    st = res.settlements.set_index("ticker")
    assert list(st.loc[tickers, "result"]) == ["yes", "scalar", "void"]
    fills = res.fills
    for t in tickers:
        held, payout = int(st.loc[t, "position"]), int(st.loc[t, "payout"])
        if t == tickers[1]:
            assert payout == held * 3700 // 100  # YES held: $0.37 per contract
        elif t == tickers[2]:
            f = fills[fills["ticker"] == t]
            assert payout == int((f["price"] * f["qty"] // 100).sum())  # void: the cost comes back
    assert (st["position"] != 0).any(), "FollowTrades bought nothing: the settlement checks above ran on nothing"


def test_download_empty_result_policy_and_a_literal_void(ex, state_dir, tmp_path):
    ex.step(40)
    tickers = settle_each_way(ex)
    with client_for(ex, state_dir) as c:
        rep = run_dl(c, tmp_path / "a", candles=False, trades=False, empty_result="unsettled")
        with pytest.raises(DownloadError, match="--empty-result must be one of void, unsettled"):
            run_dl(c, tmp_path / "b", empty_result="maybe")
    m = read_markets(tmp_path / "a").set_index("ticker")
    assert pd.isna(m.loc[tickers[2], "result"]) and pd.isna(m.loc[tickers[2], "settle_ts"])
    assert any(w.startswith(tickers[2]) and "null result" in w for w in rep.warnings), rep.warnings
    # an exchange that sends the word "void" (older API versions): stored as void, nothing inferred
    old = LocalExchange(port=0, seed=7, state_dir=state_dir, background=False, void_result="void").start()
    try:
        old.step(10)
        ts = settle_each_way(old)
        with client_for(old, state_dir) as c:
            rep2 = run_dl(c, tmp_path / "c", candles=False, trades=False)
    finally:
        old.stop()
    assert read_markets(tmp_path / "c").set_index("ticker").loc[ts[2], "result"] == "void"
    assert not any("read as void" in w for w in rep2.warnings)


def test_markets_filter_and_range_errors(ex, state_dir, tmp_path):
    ex.step(20)
    settle_all(ex)
    t0, t1 = temp_tickers(ex)[:2]
    with client_for(ex, state_dir) as c:
        rep = run_dl(c, tmp_path / "a", markets=[t1], candles=False)
        assert rep.ok and rep.markets == 1 and list(read_markets(tmp_path / "a")["ticker"]) == [t1]
        rep = download(c, tmp_path / "b", [], markets=[t0], candles=False, safety_lag_s=0, progress=False)
        assert rep.series == [SERIES]
        with pytest.raises(DownloadError, match="unknown series 'KXNOPE'"):
            download(c, tmp_path / "c", ["KXNOPE"])
        with pytest.raises(DownloadError, match="no markets of KXLOCALTEMP between"):
            run_dl(c, tmp_path / "d", end="2001-01-01")
        with pytest.raises(DownloadError, match="not found on the exchange: NOPE-1"):
            run_dl(c, tmp_path / "e", markets=["NOPE-1"])
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(DownloadError, match="not a directory"):
            run_dl(c, blocker)
        with pytest.raises(DownloadError, match="--end .* must be after --start"):
            run_dl(c, tmp_path / "f", start="2026-11-20", end="2026-11-01")
        with pytest.raises(DownloadError, match="--period"):
            run_dl(c, tmp_path / "g", period=5)


def test_parse_time_arg():
    assert parse_time_arg("2026-11-20") == 1795132800
    assert parse_time_arg("2026-11-20", end=True) == 1795132800 + 86400
    assert parse_time_arg("2026-11-20T01:00:00Z") == 1795132800 + 3600
    assert parse_time_arg("2026-11-20T01:00") == 1795132800 + 3600
    with pytest.raises(DownloadError, match="cannot read --start"):
        parse_time_arg("yesterday")


def test_gaps():
    assert dl._gaps(0, 10, []) == [(0, 10)]
    assert dl._gaps(0, 10, [(0, 4), (6, 8)]) == [(4, 6), (8, 10)]
    assert dl._gaps(0, 10, [(0, 12)]) == []
    assert dl._gaps(5, 10, [(0, 6), (7, 9)]) == [(6, 7), (9, 10)]


# --------------------------------------------------------------------------- CLI


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kalshi")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_local_env_finds_the_key_and_backtest_replays(ex, state_dir, tmp_path, capsys):
    ex.step(60)
    settle_all(ex)
    out = tmp_path / "cat"
    rc = cli(["download", "--env", "local", "--port", str(ex.port), "--state-dir", str(state_dir),
              "--series", SERIES, "--period", "1", "--quiet", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert len(read_markets(out)) == 3 and len(read_table(out, "trades")) > 0
    res = run_backtest(FollowTrades, out)  # kinds="auto" picks trades: the catalog has no quotes/book
    assert res.metrics["n_events"] == len(read_table(out, "trades"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--series", "KXNOPE"], "unknown series 'KXNOPE'"),
        (["--series", SERIES, "--end", "2001-01-01"], "no markets of KXLOCALTEMP"),
        (["--series", SERIES, "--start", "soon"], "cannot read --start"),
        ([], "give at least one --series"),
    ],
)
def test_cli_errors_are_one_line(ex, state_dir, tmp_path, capsys, extra, message):
    rc = cli(["download", "--env", "local", "--base-url", ex.rest_url, "--state-dir", str(state_dir),
              "--quiet", "--out", str(tmp_path / "cat"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("kalshi: error: ") and message in err and "\n" not in err


def test_cli_unwritable_out_and_missing_local_key(ex, state_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = cli(["download", "--env", "local", "--base-url", ex.rest_url, "--state-dir", str(state_dir),
              "--series", SERIES, "--out", str(blocker / "cat")])
    assert rc == 2 and "cannot write to the output folder" in capsys.readouterr().err
    rc = cli(["download", "--env", "local", "--base-url", ex.rest_url, "--state-dir", str(tmp_path / "none"),
              "--series", SERIES, "--out", str(tmp_path / "cat")])
    err = capsys.readouterr().err
    assert rc == 2 and "no local exchange key" in err and "kalshi exchange" in err


# --------------------------------------------------------------------------- historical partition (REST stub)


def test_historical_partition_is_read_below_the_cutoffs(tmp_path):
    """Kalshi moves old data behind /historical/*: the local exchange has no such partition, so
    this uses the REST stub of tests/kalshi_stub.py."""
    import time as _time

    from cryptography.hazmat.primitives.asymmetric import rsa
    from kalshi_stub import KalshiStub

    from framework.kalshi.auth import KalshiSigner
    from framework.kalshi.rest import KalshiRestClient

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cut = (int(_time.time()) // 86400 - 30) * 86400  # both cutoffs, 30 days ago at midnight

    def iso(s: int) -> str:
        return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(s))

    def market(ticker, open_s, close_s, settle_s, result):
        return {"ticker": ticker, "event_ticker": "KXOLD-E", "status": "finalized", "open_time": iso(open_s),
                "close_time": iso(close_s), "result": result, "settlement_ts": iso(settle_s), "title": ticker}

    old = market("KXOLD-E-A", cut - 10 * 86400, cut - 9 * 86400, cut - 9 * 86400 + 3600, "no")
    new = market("KXOLD-E-B", cut - 3600, cut + 7200, cut + 10800, "yes")

    def trade(tid, ticker, s, price):
        return {"trade_id": tid, "ticker": ticker, "count_fp": "2.00", "yes_price_dollars": price,
                "taker_outcome_side": "yes", "created_time": iso(s)}

    live_trades = [trade("b2", "KXOLD-E-B", cut + 60, "0.6100")]
    hist_trades = {"KXOLD-E-A": [trade("a1", "KXOLD-E-A", cut - 9 * 86400 - 100, "0.2000")],
                   "KXOLD-E-B": [trade("b1", "KXOLD-E-B", cut - 60, "0.5900")]}

    def by_ticker(rows):
        return lambda r: (200, {"trades": [t for t in rows if t["ticker"] == r.query["ticker"][0]], "cursor": ""})

    ohlc = {"open_dollars": "0.5900", "high_dollars": "0.6100", "low_dollars": "0.5900", "close_dollars": "0.6100"}
    live_candle = {"end_period_ts": cut + 86400, "price": ohlc, "yes_bid": ohlc, "yes_ask": ohlc,
                   "volume_fp": "4.00", "open_interest_fp": "4.00"}
    hist_ohlc = {"open": "0.2000", "high": "0.2000", "low": "0.2000", "close": "0.2000"}
    hist_candle = {"end_period_ts": cut - 9 * 86400, "price": hist_ohlc, "yes_bid": hist_ohlc,
                   "yes_ask": hist_ohlc, "volume": "2.00", "open_interest": "2.00"}
    with KalshiStub(public_key=key.public_key()) as stub:
        stub.route("GET", "/series/KXOLD", (200, {"series": {"ticker": "KXOLD"}}))
        stub.route("GET", "/historical/cutoff", (200, {"market_settled_ts": iso(cut), "trades_created_ts": cut,
                                                       "orders_updated_ts": cut}))
        stub.route("GET", "/markets", (200, {"markets": [new], "cursor": ""}))
        stub.route("GET", "/historical/markets", (200, {"markets": [old], "cursor": ""}))
        stub.route("GET", "/markets/trades", by_ticker(live_trades))
        stub.route("GET", "/historical/trades", lambda r: (200, {"trades": hist_trades[r.query["ticker"][0]]}))
        stub.route("GET", "/series/KXOLD/markets/KXOLD-E-B/candlesticks",
                   (200, {"ticker": "KXOLD-E-B", "candlesticks": [live_candle]}))
        stub.route("GET", "/historical/markets/KXOLD-E-A/candlesticks",
                   (200, {"ticker": "KXOLD-E-A", "candlesticks": [hist_candle]}))
        client = KalshiRestClient(stub.base_url, KalshiSigner("kid", key), max_retries=0)
        rep = download(client, tmp_path, ["KXOLD"], period=1440, progress=False)
        assert rep.ok, rep.summary()
        # B's trade window straddles the trades cutoff: split between both partitions
        q_live = stub.calls("GET", "/markets/trades")[0].query
        assert int(q_live["min_ts"][0]) == cut
        q_hist = [c.query for c in stub.calls("GET", "/historical/trades") if c.query["ticker"] == ["KXOLD-E-B"]]
        assert int(q_hist[0]["max_ts"][0]) == cut
        assert not stub.calls("GET", "/series/KXOLD/markets/KXOLD-E-A/candlesticks")
    m = read_markets(tmp_path).set_index("ticker")
    assert m.loc["KXOLD-E-A", "result"] == "no" and m.loc["KXOLD-E-B", "result"] == "yes"
    tr = read_table(tmp_path, "trades")
    assert tr["trade_id"].tolist() == ["a1", "b1", "b2"]
    assert tr["yes_price"].tolist() == [2000, 5900, 6100] and set(tr["count"]) == {200}
    cd = read_table(tmp_path, "candles").set_index("ticker")
    assert cd.loc["KXOLD-E-A", "close"] == 2000 and cd.loc["KXOLD-E-A", "volume"] == 200
    assert cd.loc["KXOLD-E-B", "high"] == 6100 and cd.loc["KXOLD-E-B", "period"] == 1440


def test_rate_limit_storm_is_absorbed_by_retries(ex, state_dir, tmp_path):
    ex.step(40)
    settle_all(ex)
    with client_for(ex, state_dir, max_retries=4) as c:
        ex.faults.rate_limit_storm(3)  # the next three requests get 429
        rep = run_dl(c, tmp_path / "cat")
    assert rep.ok and len(read_table(tmp_path / "cat", "trades")) == len(exchange_trade_ids(ex, temp_tickers(ex)))


def test_cli_without_any_key_downloads_public_data_unsigned(ex, tmp_path, capsys, monkeypatch):
    for v in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "KALSHI_PRIVATE_KEY"):
        monkeypatch.delenv(v, raising=False)
    ex.step(60)
    settle_all(ex)
    out = tmp_path / "cat"
    # env prod pointed at the local exchange: no local key lookup, no key anywhere
    rc = cli(["download", "--env", "prod", "--base-url", ex.rest_url, "--series", SERIES, "--period", "1",
              "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "reading Kalshi's public market data unsigned" in err
    assert len(read_markets(out)) == 3 and len(read_table(out, "trades")) > 0
    # half a key is still an error, not a silent fallback
    rc = cli(["download", "--env", "prod", "--base-url", ex.rest_url, "--series", SERIES, "--key-id", "abc",
              "--quiet", "--out", str(tmp_path / "c2")])
    assert rc == 2 and "key" in capsys.readouterr().err


def test_download_stores_the_series_fee_schedule_and_changes(ex, state_dir, tmp_path):
    from framework.data.fees_catalog import read_fee_schedule
    from framework.exchange.matching import SeriesFeeChange

    ex.step(30)
    eng = ex.engine
    eng.series[SERIES].fee_type = "quadratic_with_maker_fees"
    eng.series[SERIES].fee_multiplier = "1"
    past, future = eng.clock() - 3_600_000, eng.clock() + 86_400_000
    eng.add_fee_change(SeriesFeeChange("fc-1", SERIES, "quadratic", "0.5", past))
    eng.add_fee_change(SeriesFeeChange("fc-2", SERIES, "quadratic_with_maker_fees", "2", future))
    eng.add_fee_change(SeriesFeeChange("fc-3", "KXOTHER", "flat", "1", past))
    out = tmp_path / "cat"
    with client_for(ex, state_dir) as c:
        counter = Counter(c)
        assert [x["id"] for x in c.get_series_fee_changes(SERIES, show_historical=False)] == ["fc-2"]
        rep = run_dl(c, out, candles=False)
    assert rep.ok and rep.fee_schedules == 1
    assert counter.paths("/series/fee_changes")[-1] == {"series_ticker": SERIES, "show_historical": "true"}
    sched = read_fee_schedule(out)
    assert sched.series == {SERIES}
    assert sched.at(SERIES, None) == ("quadratic_with_maker_fees", 1_000_000)  # as downloaded
    assert sched.at(SERIES, past * 1_000_000) == ("quadratic", 500_000)
    assert sched.at(SERIES, future * 1_000_000 - 1) == ("quadratic", 500_000)
    assert sched.at(SERIES, future * 1_000_000) == ("quadratic_with_maker_fees", 2_000_000)
    assert read_table(out, "trades").shape[0] == rep.trades  # the fee tables do not disturb the data kinds


def test_local_exchange_applies_a_fee_change_from_its_time():
    from framework.exchange.matching import Engine, MarketInfo, SeriesFeeChange, SeriesInfo

    now = [1_000]
    e = Engine(id_seed=1, clock=lambda: now[0])
    e.add_series(SeriesInfo("S"))
    e.add_market(MarketInfo("S-1", "S-E", "S"))
    e.add_fee_change(SeriesFeeChange("c", "S", "quadratic", "0.5", 2_000))
    for t in (1_500, 2_000):
        now[0] = t
        e.place_order("M", "S-1", "yes", "sell", 5000, 1000)
        e.place_order("T", "S-1", "yes", "buy", 5000, 1000)
    assert [f.fee for f in e.account("T").fills] == [1800, 900]  # $0.18, then x0.5: 0.0875 -> $0.09
