"""Recorder: live feed -> catalog -> ParquetReplayFeed reproduces the live books; CLI; crash safety."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_live_helpers import client_of, env_of, exchange_book, signer_of, start_exchange

from framework.core.events import BOOK, MIXED, TRADE
from framework.data.catalog import kind_files, read_markets, read_table
from framework.data.live import make_live_feed
from framework.data.record_cli import add_parser
from framework.data.recorder import Recorder, markets_rows, recover_compactions
from framework.data.replay import ParquetReplayFeed

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    x = start_exchange(tmp_path_factory.mktemp("rec-ex"), seed=11)
    yield x
    x.stop()


class States:
    """Book state after every (ticker, ts) run of rows, rebuilt the way the engine applies rows."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[dict, dict]] = {}
        self.at: dict[tuple[int, str], tuple] = {}
        self.trades: list[tuple] = []
        self._snap = None

    def rows(self, kind, cols):
        if kind == MIXED:
            ts, kinds, tk, a, b, c, d, e = cols
            for i in range(len(ts)):
                if kinds[i] == BOOK:
                    yield BOOK, (ts[i], tk[i], a[i], b[i], c[i], d[i], e[i])
                elif kinds[i] == TRADE:
                    yield TRADE, (ts[i], tk[i], a[i], b[i], c[i], d[i])
        elif kind in (BOOK, TRADE):
            for row in zip(*cols):
                yield kind, row

    def apply(self, kind, cols) -> None:
        for k, row in self.rows(kind, cols):
            if k == TRADE:
                self.trades.append(row)
                continue
            ts, tk, is_yes, price, size, _seq, snap = row
            yes, no = self.books.setdefault(tk, ({}, {}))
            if snap and self._snap != (tk, ts):
                yes.clear()
                no.clear()
            self._snap = (tk, ts) if snap else None
            ladder = yes if is_yes else no
            if size > 0:
                ladder[price] = size
            else:
                ladder.pop(price, None)
            self.at[(ts, tk)] = (tuple(sorted(yes.items())), tuple(sorted(no.items())))

    def final(self, ticker):
        yes, no = self.books[ticker]
        return tuple(sorted(yes.items())), tuple(sorted(no.items()))


def record_while_trading(ex, out, feed_kind, *, steps=12, rotate_minutes=60.0, faults=None, **feed_opts):
    tickers = sorted(ex.engine.markets)[:4]
    client = client_of(ex)
    rows = markets_rows(client.iter_markets(tickers=",".join(tickers)))
    feed = make_live_feed(env_of(ex), feed_kind, signer=signer_of(ex), client=client, markets=tickers,
                          poll_interval=0.1, **feed_opts)
    live = States()
    rec = Recorder(feed, out, markets=rows, flush_seconds=0.2, rotate_minutes=rotate_minutes, on_chunk=live.apply)
    t = threading.Thread(target=rec.run, kwargs={"duration": 30}, daemon=True)
    t.start()

    def wait_synced(timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(live.final(tk) == exchange_book(ex, tk) for tk in tickers):
                    return
            except (KeyError, RuntimeError):
                pass
            time.sleep(0.01)
        raise AssertionError("live books never matched the exchange")

    wait_synced()
    for i in range(steps):
        if faults is not None:
            faults(i)
        ex.step(1)
        wait_synced()
    rec.stop()
    t.join(timeout=15)
    assert not t.is_alive()
    return tickers, live, rec


def replay_states(out, tickers):
    replay = States()
    for kind, cols in ParquetReplayFeed(out, batch_size=7).chunks():
        replay.apply(kind, cols)
    return replay


@pytest.mark.parametrize("feed_kind", ["ws", "rest"])
def test_round_trip_replay_reproduces_live_books(ex, tmp_path, feed_kind):
    out = tmp_path / "cat"
    tickers, live, rec = record_while_trading(ex, out, feed_kind)
    replay = replay_states(out, tickers)
    assert live.at == replay.at  # same book at every point the live feed produced
    for tk in tickers:
        assert replay.final(tk) == live.final(tk) == exchange_book(ex, tk)
    assert [r[2] for r in replay.trades] == [r[2] for r in live.trades]
    # files: markets + partitioned book/trades/quotes with the documented names
    m = read_markets(out)
    assert sorted(m["ticker"]) == tickers
    files = kind_files(out, "book")
    assert files and all("series=" in str(p) and "date=" in str(p) and p.name.startswith("part-") for p in files)
    q = read_table(out, "quotes")
    assert len(q) > 0 and q["ts"].is_monotonic_increasing
    assert rec.stats.rows["book"] == len(read_table(out, "book"))


def test_gaps_are_recorded_as_snapshots(ex, tmp_path):
    out = tmp_path / "gap"

    def faults(i):
        if i in (2, 6):
            ex.faults.skip_ws_seq(1)

    try:
        tickers, live, _ = record_while_trading(
            ex, out, "ws", faults=faults, backoff_base=0.05, backoff_cap=0.2, resync_timeout=3.0)
    finally:
        ex.faults.reset()
    book = read_table(out, "book")
    groups = book[book["snapshot"]].groupby(["ticker", "ts"]).size()
    assert len(groups) > len(tickers)  # initial snapshots + resync snapshots
    replay = replay_states(out, tickers)
    assert live.at == replay.at
    for tk in tickers:
        assert replay.final(tk) == exchange_book(ex, tk)


def test_rotation_compacts_and_checkpoints(ex, tmp_path):
    out = tmp_path / "rot"
    # a 0.6 s period spans three 0.2 s flushes, so each period has several parts to merge even
    # when a loaded machine delays some of them (0.24 s periods sometimes held one part only)
    tickers, live, rec = record_while_trading(ex, out, "ws", steps=16, rotate_minutes=0.01,
                                              faults=lambda i: time.sleep(0.12), backoff_base=0.05,
                                              backoff_cap=0.2)
    assert rec.stats.rotations >= 2
    names = [p.name for p in kind_files(out, "book")]
    assert any(n.count("-") == 3 for n in names)  # part-<session>-<first>-<last>.parquet
    assert not list(out.rglob("_compact-*"))
    replay = replay_states(out, tickers)
    for key, state in live.at.items():
        assert replay.at[key] == state
    for tk in tickers:
        assert replay.final(tk) == exchange_book(ex, tk)


def test_recover_interrupted_compaction(tmp_path):
    d = tmp_path / "book" / "series=S" / "date=2026-01-01"
    d.mkdir(parents=True)
    for n in ("part-a-000001.parquet", "part-a-000002.parquet"):
        (d / n).write_bytes(b"x")
    # crash after the merged file and manifest were written, one part already removed
    (d / "part-a-000001.parquet").unlink()
    (d / "_compact-part-a-000001-000002.parquet").write_bytes(b"merged")
    (d / "_compact-part-a-000001-000002.json").write_text('{"parts": ["part-a-000001.parquet", "part-a-000002.parquet"]}')
    # and an orphan merged file without a manifest elsewhere (crash before the manifest)
    (d / "_compact-part-b-000001-000002.parquet").write_bytes(b"orphan")
    assert recover_compactions(tmp_path) == 2
    assert sorted(p.name for p in d.iterdir()) == ["part-a-000001-000002.parquet"]


def test_cli_records_local_exchange(ex, tmp_path, monkeypatch):
    monkeypatch.setenv("KALSHI_LOCAL_STATE_DIR", str(ex.state_dir))
    monkeypatch.delenv("KALSHI_API_KEY_ID", raising=False)
    monkeypatch.delenv("KALSHI_PRIVATE_KEY_PATH", raising=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out = tmp_path / "cli"
    series = sorted(ex.engine.markets)[0].split("-")[0]
    args = parser.parse_args(["record", "--env", "local", "--port", str(ex.port), "--series", series, "--out",
                              str(out), "--feed", "ws", "--duration", "1.5", "--flush-seconds", "0.3"])
    stepper = threading.Timer(0.5, lambda: ex.step(3))
    stepper.start()
    assert args.func(args) == 0
    stepper.join()
    assert set(read_markets(out)["ticker"]) == {t for t in ex.engine.markets if t.startswith(series + "-")}
    book = read_table(out, "book")
    assert len(book) and book["snapshot"].any()


def test_cli_reports_unknown_market(ex, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KALSHI_LOCAL_STATE_DIR", str(ex.state_dir))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["record", "--env", "local", "--port", str(ex.port), "--markets", "NOPE-1",
                              "--out", str(tmp_path / "x")])
    assert args.func(args) == 2
    assert "unknown market" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_flushes_and_exits_cleanly(tmp_path):
    state = tmp_path / "state"
    from framework.exchange.server import LocalExchange

    x = LocalExchange(port=0, seed=4, state_dir=state, background=True, tick=0.05)
    x.start()
    try:
        out = tmp_path / "sig"
        code = ("import argparse,sys;from framework.data.record_cli import add_parser;"
                "p=argparse.ArgumentParser();add_parser(p.add_subparsers());a=p.parse_args(sys.argv[1:]);"
                "sys.exit(a.func(a))")
        env = {**os.environ, "KALSHI_LOCAL_STATE_DIR": str(state), "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-c", code, "record", "--env", "local", "--port", str(x.port),
                                 "--markets", sorted(x.engine.markets)[0], "--out", str(out), "--feed", "auto",
                                 "--flush-seconds", "60"], env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (out / "markets").exists():
            time.sleep(0.05)
        time.sleep(0.8)  # let it receive some data (the buffer is only written at exit)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "recorded" in err
        book = read_table(out, "book")
        assert len(book) > 0
        for p in kind_files(out, "book"):
            pq.read_metadata(p)  # complete files only
    finally:
        x.stop()


def test_markets_rows_hide_unsettled_results(ex):
    client = client_of(ex)
    rows = markets_rows(client.iter_markets(tickers=sorted(ex.engine.markets)[0]))
    assert rows[0]["result"] is None and rows[0]["settle_ts"] is None
    assert pd.Timestamp(rows[0]["close_ts"]) >= pd.Timestamp(rows[0]["open_ts"])


def test_cli_duration_takes_seconds_or_a_duration():
    from framework.data.record_cli import _seconds

    assert _seconds("1.5") == 1.5 and _seconds("30s") == 30.0 and _seconds("10min") == 600.0
    for bad in ("banana", "0", "-3s"):
        with pytest.raises(argparse.ArgumentTypeError):
            _seconds(bad)


def test_recorder_adds_markets_listed_while_recording(tmp_path):
    from framework.exchange.matching import MarketInfo
    from framework.units import CENT

    x = start_exchange(tmp_path / "ex", seed=5)
    try:
        series = sorted(x.engine.markets)[0].split("-")[0]
        client = client_of(x)
        calls = []

        def discover():
            calls.append(1)
            if len(calls) == 2:
                raise ConnectionError("exchange unavailable")  # one failed lookup: logged, retried
            return markets_rows(client.iter_markets(series_ticker=series, status="open"), series=series)

        rows = discover()
        feed = make_live_feed(env_of(x), "ws", signer=signer_of(x), client=client,
                              markets=[r["ticker"] for r in rows], poll_interval=0.1)
        seen: set[str] = set()

        def on_chunk(kind, cols):
            if kind == BOOK:
                seen.update(cols[1])

        added: list[str] = []
        out = tmp_path / "out"
        rec = Recorder(feed, out, markets=rows, flush_seconds=0.2, on_chunk=on_chunk, discover=discover,
                       discover_seconds=0.2, on_new_markets=added.extend)
        t = threading.Thread(target=rec.run, kwargs={"duration": 30}, daemon=True)
        t.start()
        new = f"{series}-99DEC31-NEW"
        x.engine.add_market(MarketInfo(ticker=new, event_ticker=f"{series}-99DEC31", series_ticker=series))
        x.market_makers.fair[new] = 50 * CENT
        deadline = time.monotonic() + 20
        while new not in seen and time.monotonic() < deadline:
            x.step(1)
            time.sleep(0.1)
        rec.stop()
        t.join(15)
        assert added == [new] and new in seen
        assert rec.stats.discovered == 1 and rec.stats.discovery_errors == 1
        assert "1 market(s) added while recording" in rec.stats.summary()
        assert new in set(read_markets(out)["ticker"])
        assert (read_table(out, "book")["ticker"] == new).any()
    finally:
        x.stop()
