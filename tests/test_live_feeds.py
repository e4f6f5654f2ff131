"""Live feeds against the local exchange: 403 on Origin, seq gaps, reconnects, REST diffs, fallback."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from test_live_helpers import Pump, client_of, env_of, signer_of, start_exchange
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from framework.data.live import (
    AutoFeed,
    RestPollingFeed,
    WebSocketFeed,
    explain_ws_error,
    make_live_feed,
    markets_per_interval,
    ws_connect_kwargs,
)
from framework.kalshi.auth import KalshiSigner, generate_key_pair, load_private_key

FAST_WS = {"backoff_base": 0.05, "backoff_cap": 0.25, "resync_timeout": 3.0}


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    x = start_exchange(tmp_path_factory.mktemp("live-ex"))
    yield x
    x.stop()


@pytest.fixture(autouse=True)
def _reset(ex):
    ex.faults.reset()
    yield
    ex.faults.reset()


@pytest.fixture
def tickers(ex):
    return sorted(ex.engine.markets)[:3]


def ws_feed(ex, tickers, **kw):
    opts = {**FAST_WS, "rng": random.Random(1), **kw}
    return WebSocketFeed(env_of(ex), signer_of(ex), markets=tickers, **opts)


# ---------------------------------------------------------------------------------- 403 / Origin
def test_origin_header_is_refused_with_403_and_explained(ex):
    kw = ws_connect_kwargs(ex.ws_url, signer_of(ex))
    kw["origin"] = "https://example.com"  # what some client libraries add by default

    async def attempt():
        async with connect(ex.ws_url, **kw):
            pass

    with pytest.raises(InvalidStatus) as info:
        asyncio.run(attempt())
    assert info.value.response.status_code == 403
    text = explain_ws_error(info.value, ex.ws_url)
    assert "403" in text and "Origin header" in text
    assert "\n" not in text and text.count(". ") == 0  # one plain sentence


def test_feed_connects_without_origin(ex, tickers):
    feed = ws_feed(ex, tickers)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers), what="WS books")
        sent = {k.lower(): v for k, v in feed.sent_headers.items()}
        assert "origin" not in sent
        assert sent["kalshi-access-key"] == ex.key_id
        assert {"kalshi-access-timestamp", "kalshi-access-signature"} <= set(sent)
        # level updates follow the snapshots
        ex.step(3)
        p.until(lambda: p.matches(ex, tickers), what="WS books after activity")
        assert any(not r[6] for r in p.book_rows)
        assert p.monotonic_ok
    finally:
        feed.close()


def test_refused_credentials_are_explained(ex, tmp_path, tickers):
    priv, _ = generate_key_pair(tmp_path, "stranger")
    feed = WebSocketFeed(env_of(ex), KalshiSigner("not-registered", load_private_key(priv)), markets=tickers,
                         **FAST_WS)
    try:
        p = Pump(feed)
        p.until(lambda: feed.last_error is not None, timeout=10, what="a refused handshake")
        assert "401" in feed.last_error and "credentials" in feed.last_error
        assert not feed.connected.is_set()
        assert feed.stale == set(tickers)
    finally:
        feed.close()


def test_idle_chunks_while_quiet(ex, tickers):
    feed = ws_feed(ex, tickers)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers), what="WS books")
        before = p.n_idle
        p.until(lambda: p.n_idle >= before + 3, timeout=5, what="IDLE chunks")
    finally:
        feed.close()


# ---------------------------------------------------------------------------------- seq handling
def test_seq_gap_resyncs_to_the_exchange_book(ex, tickers, caplog):
    feed = ws_feed(ex, tickers)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers), what="WS books")
        snaps_before = sum(1 for r in p.book_rows if r[6])
        with caplog.at_level(logging.WARNING, logger="framework.data.live"):
            for _ in range(6):
                ex.faults.skip_ws_seq(1)
                ex.step(1)
                p.until(lambda: feed.n_gaps >= 1, timeout=10, what="a detected gap") if feed.n_gaps == 0 else None
            ex.step(2)
            p.until(lambda: feed.n_gaps >= 1 and not feed._awaiting and p.matches(ex, tickers), what="resync")
        assert any("sequence gap" in r.getMessage() for r in caplog.records)
        # the resync arrived as snapshot rows (what the recorder stores)
        assert sum(1 for r in p.book_rows if r[6]) > snaps_before
        rest = client_of(ex)
        for t in tickers:
            ob = rest.get_orderbook(t)
            assert p.levels(t) == (ob.yes, ob.no)
    finally:
        feed.close()


def test_duplicates_are_ignored(ex, tickers):
    feed = ws_feed(ex, tickers)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers), what="WS books")
        for _ in range(5):
            ex.faults.duplicate_ws(2)
            ex.step(1)
        p.until(lambda: feed.n_duplicates >= 1 and p.matches(ex, tickers), what="duplicates skipped")
        assert feed.n_gaps == 0
    finally:
        feed.close()


def test_dropped_socket_reconnects_and_resnapshots(ex, tickers):
    feed = ws_feed(ex, tickers)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers) and feed.n_connects == 1, what="first connection")
        assert ex.drop_ws_connections() >= 1
        ex.step(3)  # activity while disconnected
        p.until(lambda: feed.n_connects >= 2 and feed.connected.is_set() and p.matches(ex, tickers),
                what="reconnect + resnapshot")
        assert "broke" in (feed.last_error or "broke")
    finally:
        feed.close()


def test_backoff_is_capped_exponential_with_seeded_jitter(ex):
    a = WebSocketFeed(env_of(ex), None, backoff_base=0.5, backoff_cap=8.0, rng=random.Random(3))
    b = WebSocketFeed(env_of(ex), None, backoff_base=0.5, backoff_cap=8.0, rng=random.Random(3))
    da = [a.backoff(i) for i in range(10)]
    assert da == [b.backoff(i) for i in range(10)]
    for i, d in enumerate(da):
        cap = min(8.0, 0.5 * 2 ** i)
        assert cap / 2 <= d <= cap


# ---------------------------------------------------------------------------------- REST polling
def test_rest_polling_matches_ws_deltas_on_the_same_activity(ex, tickers):
    ws = ws_feed(ex, tickers)
    rest = RestPollingFeed(client_of(ex), markets=tickers, poll_interval=0.1, trades="per_market")
    try:
        pw, pr = Pump(ws), Pump(rest)
        pw.until(lambda: pw.matches(ex, tickers), what="WS books")
        pr.until(lambda: pr.matches(ex, tickers), what="REST books")
        states_ws, states_rest = [], []
        for _ in range(8):
            ex.step(1)
            pw.until(lambda: pw.matches(ex, tickers), what="WS after a step")
            pr.until(lambda: pr.matches(ex, tickers), what="REST after a step")
            states_ws.append({t: pw.levels(t) for t in tickers})
            states_rest.append({t: pr.levels(t) for t in tickers})
        assert states_ws == states_rest
        # REST emits one snapshot per market, then only level updates (like WS deltas)
        snap_groups = {(r[1], r[0]) for r in pr.book_rows if r[6]}
        assert len(snap_groups) == len(tickers)
        assert all(r[5] is None for r in pr.book_rows if not r[6])
        # the same trades, deduplicated by trade_id
        pr.until(lambda: {r[2] for r in pr.trades} >= {r[2] for r in pw.trades}, what="REST trades")
        assert len({r[2] for r in pr.trades}) == len(pr.trades)
        ws_trades = {r[2]: r[1:] for r in pw.trades}
        assert {r[2]: r[1:] for r in pr.trades if r[2] in ws_trades} == ws_trades
        assert pr.monotonic_ok and pw.monotonic_ok
    finally:
        ws.close()
        rest.close()


def test_rest_polling_reports_stale_markets(ex, tickers, caplog):
    rest = RestPollingFeed(client_of(ex), markets=tickers[:1], poll_interval=0.1, trades="per_market")
    try:
        p = Pump(rest)
        p.until(lambda: p.matches(ex, tickers[:1]), what="REST book")
        with caplog.at_level(logging.WARNING, logger="framework.data.live"):
            ex.faults.server_errors(40, status=503, path="*/orderbook")
            p.until(lambda: tickers[0] in rest.stale, what="stale market")
        assert any("could not be refreshed" in r.getMessage() for r in caplog.records)
        ex.faults.reset()
        p.until(lambda: tickers[0] not in rest.stale, what="fresh again")
    finally:
        rest.close()


def test_markets_per_interval_table():
    assert markets_per_interval("basic") == 10
    assert markets_per_interval("basic", trades="global") == 19
    assert markets_per_interval("premier") == 50
    assert markets_per_interval("prime", trades="global") == 399
    assert markets_per_interval("basic", read_share=0.8) == 8


# ---------------------------------------------------------------------------------- AutoFeed
def test_auto_falls_back_to_rest_and_switches_back(ex, tickers, caplog):
    feed = make_live_feed(env_of(ex), "auto", signer=signer_of(ex), client=client_of(ex), markets=tickers,
                          poll_interval=0.1, ws_options={**FAST_WS, "rng": random.Random(2)})
    assert isinstance(feed, AutoFeed)
    try:
        p = Pump(feed)
        p.until(lambda: p.matches(ex, tickers) and feed.mode == "ws", what="WS books")
        with caplog.at_level(logging.WARNING, logger="framework.data.live"):
            ex.faults.reject_ws_upgrades(True)
            ex.drop_ws_connections()
            p.until(lambda: feed.mode == "rest", what="fallback to REST")
        switch = [r.getMessage() for r in caplog.records if "switched to REST" in r.getMessage()]
        assert len(switch) == 1 and "because" in switch[0]
        n_rows = len(p.book_rows)
        # the strategy keeps receiving books while the WebSocket is refused
        for _ in range(4):
            ex.step(1)
            p.until(lambda: p.matches(ex, tickers), what="REST-driven books")
        assert feed.mode == "rest" and feed.ws.last_error and "403" in feed.ws.last_error
        polled = p.book_rows[n_rows:]
        assert polled and not any(r[6] for r in polled)  # diffs against the WS book, no reset
        ex.faults.reject_ws_upgrades(False)
        p.until(lambda: feed.mode == "ws" and p.matches(ex, tickers), what="switch back to WS")
        ex.step(2)
        p.until(lambda: p.matches(ex, tickers), what="WS books after switching back")
        assert [m for _, m, _ in feed.switches] == ["rest", "ws"]
        assert p.monotonic_ok
    finally:
        feed.close()


def test_auto_starts_on_rest_when_the_socket_is_refused(ex, tickers):
    ex.faults.reject_ws_upgrades(True)
    feed = make_live_feed(env_of(ex), "auto", signer=signer_of(ex), client=client_of(ex), markets=tickers[:2],
                          poll_interval=0.1, ws_options=FAST_WS)
    try:
        p = Pump(feed)
        p.until(lambda: feed.mode == "rest" and p.matches(ex, tickers[:2]), what="REST books")
        assert "403" in (feed.reason or "")
        feed.subscribe([tickers[2]])  # subscriptions added while polling are polled too
        p.until(lambda: p.matches(ex, tickers), what="added market")
    finally:
        feed.close()


def test_make_live_feed_rejects_unknown_kind(ex):
    with pytest.raises(ValueError, match="unknown feed"):
        make_live_feed(env_of(ex), "carrier-pigeon", signer=None)


def test_engine_runs_on_a_live_feed(ex, tickers):
    """A strategy driven by the AutoFeed in live mode sees books and timers; close() ends the run."""
    import time

    from framework import Strategy
    from framework.brokers.simulated import SimulatedBroker
    from framework.core.engine import Engine
    from framework.model.portfolio import Portfolio
    from framework.units import DOLLAR

    feed = make_live_feed(env_of(ex), "auto", signer=signer_of(ex), client=client_of(ex),
                          poll_interval=0.1, ws_options=FAST_WS)

    class S(Strategy):
        n_books = 0
        n_timers = 0

        def on_start(self):
            self.subscribe(tickers)
            self.set_timer("t", every="50ms")

        def on_book(self, book):
            S.n_books += 1

        def on_timer(self, name):
            S.n_timers += 1
            if S.n_timers == 5:
                ex.faults.reject_ws_upgrades(True)
                ex.drop_ws_connections()
            if S.n_timers > 5:
                ex.step(1)
            # end once both were seen (a loaded machine can take seconds for the first book)
            if (S.n_timers >= 40 and S.n_books > 0) or time.monotonic() > deadline:
                feed.close()

    deadline = time.monotonic() + 20
    eng = Engine(S(), feed, SimulatedBroker(), Portfolio(100 * DOLLAR), clock=time.time_ns)
    eng.run()
    assert S.n_books > 0 and S.n_timers >= 40
    assert feed.mode == "rest"
    assert set(tickers) <= set(eng.books)
