"""Latency models: order entry, responses, market data; seeded distributions; measured profiles."""

from __future__ import annotations

import json
import sqlite3

import pytest
from helpers import at, make_catalog, market
from test_simulated_broker import TK, Script, q

from framework.backtest import run_backtest
from framework.brokers.latency import (
    ConstantLatency,
    EmpiricalLatency,
    LogNormalLatency,
    UniformLatency,
    parse_latency,
)
from framework.brokers.simulated import SimulatedBroker
from framework.units import cents, contracts

MS = 1_000_000


def test_plain_duration_is_entry_latency_only_as_before():
    lat = parse_latency("50ms")
    assert isinstance(lat.entry.model, ConstantLatency) and lat.entry.model.ns == 50 * MS
    assert lat.response is None and lat.market_data is None
    assert parse_latency(0).entry is None and parse_latency("0ms").entry is None
    assert SimulatedBroker(latency="50ms").latency == 50 * MS


def test_legs_and_models_parse():
    lat = parse_latency({"entry": "20ms", "response": "lognormal:median=15ms,sigma=0.5",
                         "market_data": "uniform:low=1ms,high=3ms"}, seed=3)
    assert lat.entry.model.ns == 20 * MS
    assert isinstance(lat.response.model, LogNormalLatency) and lat.response.model.median == 15 * MS
    assert isinstance(lat.market_data.model, UniformLatency)
    assert all(MS <= lat.market_data.model.sample() <= 3 * MS for _ in range(100))
    assert lat.describe() == {"entry": "20ms", "response": "lognormal:median=15ms,sigma=0.5",
                              "market_data": "uniform:low=1ms,high=3ms"}


@pytest.mark.parametrize("bad, msg", [
    ("-5ms", "latency must be"), ("fast", "latency must be"), ({"exit": "1ms"}, "unknown leg"),
    ({"entry": "lognormal:median=1ms"}, "expected"), ({"entry": "gamma:k=1"}, "expected"),
    ({"entry": "uniform:low=5ms,high=1ms"}, "low <= high"), ({"entry": "lognormal:median=1ms,sigma=-1"}, "sigma"),
    ("profile:/nonexistent/p.json", "not found"),
])
def test_bad_latency_settings_say_what_is_wrong(bad, msg):
    with pytest.raises(ValueError, match=msg):
        parse_latency(bad)


def test_seeded_distributions_repeat_and_differ_by_seed():
    def draws(seed):
        ch = parse_latency({"entry": "lognormal:median=20ms,sigma=0.5"}, seed=seed).entry
        return [ch.model.sample() for _ in range(50)]

    assert draws(1) == draws(1) != draws(2)
    s = sorted(draws(1) + draws(2) + draws(3))
    assert 10 * MS < s[len(s) // 2] < 40 * MS  # the median is near 20ms


def test_a_leg_is_fifo_no_message_overtakes_an_earlier_one():
    ch = parse_latency({"response": "uniform:low=0ms,high=100ms"}, seed=5).response
    arrivals = [ch.arrival(t * MS) for t in range(200)]
    assert arrivals == sorted(arrivals)
    assert all(a >= t * MS for t, a in enumerate(arrivals))


# ---- in a backtest ---------------------------------------------------------------------------
class Probe(Script):
    """Records when (engine time) each callback happened and what the strategy saw then."""

    def on_start(self):
        self.seen: list[tuple] = []

    def on_book(self, book):
        self.seen.append(("book", self.now, book.ts, book.yes_bid, self.book(TK).yes_bid))
        super().on_book(book)

    def on_fill(self, fill):
        self.seen.append(("fill", self.now, fill.ts, self.position(TK)))
        super().on_fill(fill)

    def on_order(self, order):
        self.seen.append(("order", self.now, order.status))


def test_response_latency_delays_acks_fills_and_positions(tmp_path):
    s = Probe({1: lambda s, b: s.buy(TK, contracts(5))})
    run_backtest_in(tmp_path, s, quotes=[q(1, 40, 50, 100, 100), q(9, 41, 50, 100, 100)],
                    latency={"response": "250ms"})
    fill = [x for x in s.seen if x[0] == "fill"][0]
    # executed at t=1 at the exchange (fill.ts), reported 250ms later with the position
    assert fill == ("fill", at(1) + 250 * MS, at(1), contracts(5))
    assert s.fills[0].price == cents(50)


def test_a_fill_still_in_flight_when_the_data_ends_is_in_the_results(tmp_path):
    s = Probe({1: lambda s, b: s.buy(TK, contracts(5))})
    res = run_backtest_in(tmp_path, s, quotes=[q(1, 40, 50, 100, 100)], latency={"response": "10s"})
    assert [x[0] for x in s.seen if x[0] == "fill"] == ["fill"]
    assert len(res.fills) == 1 and s.position(TK) == contracts(5)


def test_market_data_latency_shows_the_book_as_it_was_and_matches_the_current_one(tmp_path):
    # the strategy reacts to the 1s quote only at 1.5s; by then the ask moved from 50c to 60c
    quotes = [q(1, 40, 50, 100, 100), q("2026-01-01T00:00:01.200", 40, 40, 100, 100), q(5, 40, 40, 100, 100)]
    s = Probe({})
    s.script = {at(1): lambda s, b: s.buy(TK, contracts(5))}
    run_backtest_in(tmp_path, s, quotes=quotes, latency={"market_data": "500ms"})
    books = [x for x in s.seen if x[0] == "book"]
    assert books[0] == ("book", at(1) + 500 * MS, at(1), cents(40), cents(40))
    assert books[1][1] == at("2026-01-01T00:00:01.200") + 500 * MS
    # the order (sent at 1.5s on the 1s view) fills against the book of 1.2s: ask 60c
    assert [f.price for f in s.fills] == [cents(60)] and s.fills[0].ts == at(1) + 500 * MS


def test_market_data_latency_zero_is_the_same_run(tmp_path):
    def fills(lat):
        s = Script({1: lambda s, b: s.buy(TK, contracts(5)), 3: lambda s, b: s.sell(TK, contracts(5))})
        run_backtest_in(tmp_path / str(lat), s, quotes=[q(t, 40 + t, 50, 100, 100) for t in range(1, 6)],
                        latency=lat)
        return [(f.ts, f.price, f.qty, f.fee) for f in s.fills]

    assert fills(0) == fills({"entry": "0ms", "response": "0ms", "market_data": "0ms"})


def test_seeded_entry_latency_same_seed_same_fills(tmp_path):
    def fills(seed, sub):
        s = Script({t: (lambda s, b: s.buy(TK, contracts(1))) for t in range(1, 30, 2)})
        quotes = [q(t, 40, 30 + t, 100, 100) for t in range(1, 40)]
        run_backtest_in(tmp_path / sub, s, quotes=quotes, seed=seed,
                        latency={"entry": "lognormal:median=800ms,sigma=1"})
        return [(f.ts, f.price) for f in s.fills]

    a, b, c = fills(7, "a"), fills(7, "b"), fills(8, "c")
    assert a == b and a != c
    assert all(ts > at(1) for ts, _ in a)


def run_backtest_in(root, strategy, quotes, **kw):
    make_catalog(root, markets=[market(TK, 0, 3600)], quotes=quotes)
    return run_backtest(strategy, root, equity_interval=None, **kw)


# ---- a profile measured from a journal --------------------------------------------------------
def make_journal(path, acks_ms, fill_delays_ms):
    from framework.live.journal import Journal

    Journal(path).close()  # the real schema
    db = sqlite3.connect(path)
    t0 = 1_800_000_000_000_000_000
    for i, rtt in enumerate(acks_ms):
        db.execute("INSERT INTO orders(client_order_id, order_id, session, ticker, side, action, qty, tif, "
                   "post_only, reduce_only, status, created_ns, intent_ns, sent_ns, acked_ns, updated_ns) "
                   "VALUES (?,?,1,'M-1','yes','buy',100,'gtc',0,0,'filled',?,?,?,?,?)",
                   (f"c{i}", f"O{i}", t0, t0 + i, t0 + i + MS, t0 + i + rtt * MS, t0))
    for i, d in enumerate(fill_delays_ms):
        db.execute("INSERT INTO fills(fill_id, ticker, side, action, price, qty, fee, is_maker, ts, recorded_ns, "
                   "source) VALUES (?,'M-1','yes','buy',5000,100,0,0,?,?,'ws')", (f"f{i}", t0, t0 + d * MS))
    db.commit()
    db.close()


def test_profile_from_a_journal_and_replayed(tmp_path, capsys):
    from framework.cli import main

    run = tmp_path / "run"
    (run / "state").mkdir(parents=True)
    make_journal(run / "state" / "journal.sqlite", acks_ms=[40, 50, 60, 70, 80], fill_delays_ms=[10, 20, 30, -5])
    assert main(["latency", str(run)]) == 0
    out = capsys.readouterr().out
    assert "response  n=3" in out and "dropped 1 negative" in out
    prof = json.loads((run / "latency_profile.json").read_text())
    assert prof["legs"]["response"]["samples"] == [10 * MS, 20 * MS, 30 * MS]
    assert prof["legs"]["response"]["p50"] == 20 * MS
    # entry = round trip - median response (20ms)
    assert prof["legs"]["entry"]["samples"] == [x * MS for x in (20, 30, 40, 50, 60)]
    assert "market_data" not in prof["legs"]
    lat = parse_latency(f"profile:{run / 'latency_profile.json'}", seed=1)
    assert isinstance(lat.entry.model, EmpiricalLatency) and lat.market_data is None
    assert {lat.response.model.sample() for _ in range(200)} == {10 * MS, 20 * MS, 30 * MS}
    with pytest.raises(ValueError, match="no market_data samples"):
        parse_latency({"market_data": f"profile:{run / 'latency_profile.json'}"})
    # and a backtest replays it: the fill is reported one profile sample after it happened
    s = Probe({1: lambda s, b: s.buy(TK, contracts(5))})
    run_backtest_in(tmp_path / "bt", s, quotes=[q(1, 40, 50, 100, 100), q(5, 40, 50, 100, 100)],
                    latency=f"profile:{run / 'latency_profile.json'}")
    (fill,) = [x for x in s.seen if x[0] == "fill"]
    assert fill[1] - fill[2] in (10 * MS, 20 * MS, 30 * MS) and fill[2] - at(1) in (20 * MS, 30 * MS, 40 * MS,
                                                                                       50 * MS, 60 * MS)


def test_latency_cli_errors_are_one_line(tmp_path, capsys):
    from framework.cli import main

    assert main(["latency", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no journal" in err
    make_journal(tmp_path / "journal.sqlite", [], [])
    assert main(["latency", str(tmp_path)]) == 2
    assert "no acked orders and no fills" in capsys.readouterr().err




def test_the_worked_example_of_docs_simulation_timing(tmp_path):
    t0 = "2026-01-01T00:10:00"
    quotes = [q(f"{t0}.000", 40, 50, 100, 100), q(f"{t0}.012", 40, 48, 100, 100), q(f"{t0}.100", 40, 48, 100, 100)]
    s = Probe({})
    s.script = {at(f"{t0}.000"): lambda s, b: s.buy(TK, contracts(5))}
    run_backtest_in(tmp_path, s, quotes=quotes, latency={"entry": "20ms", "response": "15ms", "market_data": "5ms"})
    book0 = [x for x in s.seen if x[0] == "book"][0]
    assert book0[1] == at(f"{t0}.005") and book0[3] == cents(40)
    (fill,) = [x for x in s.seen if x[0] == "fill"]
    assert fill == ("fill", at(f"{t0}.040"), at(f"{t0}.025"), contracts(5))
    assert s.fills[0].price == cents(52)
