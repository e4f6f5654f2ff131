"""Settlements during paper and live runs: the watcher, Engine.settle_market, and a live run
against the local exchange whose market is settled mid-run (and a restart that must not settle
it again)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.live.config import load_live_config
from framework.live.examples import OneShot
from framework.live.journal import Journal
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.settlement import SettlementWatcher
from framework.live.testing import run_in_thread, wait_for, write_live_config
from framework.model.portfolio import Portfolio
from framework.units import DOLLAR, contracts

T = "KXLOCALTEMP-26JAN01-B1"


class FakeClient:
    def __init__(self):
        self.markets = {}
        self.calls = 0
        self.fail = 0

    def iter_markets(self, tickers, mve_filter=None):
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise ConnectionError("exchange unavailable")
        rows = [self.markets.get(t, ("active", "")) for t in tickers]
        return [SimpleNamespace(ticker=t, status=r[0], result=r[1], settlement_value=r[2] if len(r) > 2 else None)
                for t, r in zip(tickers, rows)]


def test_watcher_reports_each_finalized_market_once():
    c = FakeClient()
    errors = []
    w = SettlementWatcher(c, ["A-1", "B-1", "C-1", "D-1"], 30, done=["D-1"], on_error=errors.append)
    c.markets = {"A-1": ("determined", "yes"), "B-1": ("finalized", "no"), "C-1": ("settled", "maybe"),
                 "D-1": ("finalized", "yes")}
    assert w.poll_once() == [("B-1", "no", None)]  # determined is not paid yet; D-1 was settled before
    assert errors and "C-1" in errors[0] and "'maybe'" in errors[0]
    c.markets["A-1"] = ("finalized", "yes")
    assert w.poll_once() == [("A-1", "yes", None)]
    assert w.poll_once() == []
    assert len(errors) == 1  # the unknown result is reported once, not at every poll
    assert w.take() == [("B-1", "no", None), ("A-1", "yes", None)] and w.take() == []


def test_watcher_reports_void_and_scalar_results():
    c = FakeClient()
    errors = []
    w = SettlementWatcher(c, ["V-1", "S-1", "S-2"], 30, on_error=errors.append)
    c.markets = {"V-1": ("finalized", "void"), "S-1": ("finalized", "scalar", 3700),
                 "S-2": ("finalized", "scalar")}  # a scalar without its value cannot be paid
    assert w.poll_once() == [("S-1", "scalar", 3700), ("V-1", "void", None)]
    assert len(errors) == 1 and "S-2" in errors[0] and "settlement_value" in errors[0]


def test_watcher_thread_survives_errors_and_stops_when_all_settled():
    c = FakeClient()
    errors = []
    c.fail = 2
    c.markets = {"A-1": ("finalized", "yes")}
    w = SettlementWatcher(c, ["A-1"], 0.01, on_error=errors.append)
    w.start()
    thread = w._thread
    assert wait_for(lambda: not thread.is_alive(), 5)  # ends by itself: nothing left to watch
    w.stop()
    assert w.take() == [("A-1", "yes", None)]
    assert w.errors == 2 and len(errors) == 2 and "exchange unavailable" in errors[0]
    assert c.calls == 3  # two failures, one success, then nothing left to watch
    with pytest.raises(ValueError, match="settlement_poll"):
        SettlementWatcher(c, ["A-1"], 0)


class _Listen(OneShot):
    def on_start(self):
        super().on_start()
        self.settled = []

    def on_settlement(self, settlement):
        self.settled.append(settlement)


class _EmptyFeed:
    def subscribe(self, tickers):
        pass

    def chunks(self):
        return iter(())

    def close(self):
        pass


def test_engine_settle_market_pays_one_dollar_per_winning_contract():
    strat = _Listen()
    pf = Portfolio(100 * DOLLAR)
    eng = Engine(strat, _EmptyFeed(), SimulatedBroker(), pf, [{"ticker": "A-1"}], equity_interval=None)
    eng.run()
    pos = pf.position("A-1")
    pos.no, pos.no_cost = contracts(3), 3 * 40 * 100  # 3 NO bought at $0.40
    pf.cash -= pos.no_cost
    s = eng.settle_market("A-1", "no", ts=5)
    assert s.payout == 3 * DOLLAR and s.position == -contracts(3) and s.ts == 5
    assert pf.cash == 100 * DOLLAR - 3 * 40 * 100 + 3 * DOLLAR
    assert pf.position("A-1").no == 0
    assert strat.settled == [s]
    assert eng.settle_market("A-1", "no") is None  # once per run
    eng._settle("A-1", 9)  # as a scheduled settlement would: still once
    assert len(eng.settlements) == 1 and strat.settled == [s]
    with pytest.raises(ValueError, match="result must be one of"):
        eng.settle_market("A-1", "maybe")
    with pytest.raises(ValueError, match="scalar settlement needs value"):
        eng.settle_market("B-1", "scalar")


def _live_runner(tmp_path, exch, strategy, mode="live"):
    ex, kid, priv = exch
    p = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], mode=mode,
                          live={"settlement_poll": 0.2, "duration": "20s"})
    s = resolve_settings(load_live_config(p), out=str(tmp_path / "out"))
    return s, LiveRunner(s, strategy=strategy, install_signals=False, echo=None)


def test_live_run_settles_a_market_the_exchange_finalized(tmp_path, exch):
    ex, kid, _ = exch
    strat = _Listen({"qty": 2})
    s, runner = _live_runner(tmp_path, exch, strat)
    t, box = run_in_thread(runner)
    acct = ex.engine.account(kid)
    assert wait_for(lambda: T in acct.positions and acct.positions[T].qty != 0, 20)
    held = acct.positions[T].qty
    ex.settle(T, "yes")
    assert wait_for(lambda: bool(getattr(strat, "settled", None)), 20)
    runner.stop("test done")
    t.join(30)
    summary = box["summary"]
    (st,) = strat.settled
    assert st.ticker == T and st.result == "yes" and st.payout == held * DOLLAR // 100
    assert summary["positions"] == {}
    assert summary["cash_units"] == acct.cash  # to the $0.0001, as the exchange paid it
    assert summary["settlements"] == [{"ticker": T, "result": "yes", "payout": f"${held / 100:,.2f}"}]
    j = Journal(s.state_dir / "journal.sqlite")
    assert j.settled_tickers() == [T]
    assert [d["ticker"] for _, _, _, d in j.events("settlement")] == [T]
    j.close()

    # a restart: reconciliation agrees with the exchange and the market is not settled again
    strat2 = _Listen({"qty": 2})
    s2, runner2 = _live_runner(tmp_path, exch, strat2)
    runner2.s.duration_s = 1.5
    summary2 = runner2.run()
    assert summary2["reconciled_ok"] and strat2.settled == [] and summary2["settlements"] == []
    assert summary2["cash_units"] == acct.cash


def test_paper_run_settles_its_simulated_position(tmp_path, exch):
    ex, kid, _ = exch
    strat = _Listen({"qty": 2})
    s, runner = _live_runner(tmp_path, exch, strat, mode="paper")
    t, box = run_in_thread(runner)
    assert wait_for(lambda: runner.engine is not None and runner.engine.fills, 20)
    ex.settle(T, "no")
    assert wait_for(lambda: bool(getattr(strat, "settled", None)), 20)
    runner.stop("test done")
    t.join(30)
    (st,) = strat.settled
    assert st.result == "no" and st.position == contracts(2) and st.payout == 0  # held YES, lost
    assert box["summary"]["positions"] == {} and not ex.engine.account(kid).orders


def test_a_market_finalized_while_stopped_is_settled_at_restart(tmp_path, exch):
    ex, kid, _ = exch
    s, runner = _live_runner(tmp_path, exch, _Listen({"qty": 2}))
    t, _ = run_in_thread(runner)
    acct = ex.engine.account(kid)
    assert wait_for(lambda: T in acct.positions and acct.positions[T].qty != 0, 20)
    held = acct.positions[T].qty
    runner.stop("test: stop before the settlement")
    t.join(30)
    ex.settle(T, "yes")  # while nothing runs

    strat = _Listen({"qty": 2})
    _, runner2 = _live_runner(tmp_path, exch, strat)
    runner2.s.duration_s = 1.5
    summary = runner2.run()
    rep = runner2.report
    assert rep.settled == {T: ("yes", held * DOLLAR // 100)} and not rep.position_mismatches
    assert rep.ok and summary["cash_units"] == acct.cash and summary["positions"] == {}
    assert f"{T} settled YES while stopped" in str(rep)
    assert strat.settled == []  # the report tells the strategy; the watcher does not settle it again
    j = Journal(s.state_dir / "journal.sqlite")
    assert j.settled_tickers() == [T]
    j.close()
