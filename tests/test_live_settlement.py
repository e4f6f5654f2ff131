"""Settlements during paper and live runs: the watcher, Engine.settle_market, and a live run
against the local exchange whose market is settled mid-run (and a restart that must not settle
it again)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from framework import Strategy
from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.live.config import load_live_config
from framework.live.examples import OneShot
from framework.live.journal import Journal
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.settlement import SettlementWatcher
from framework.live.testing import run_in_thread, wait_for, write_live_config
from framework.model.portfolio import Portfolio
from framework.units import CONTRACT, DOLLAR, contracts

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


@pytest.mark.parametrize("policy, settled", [("void", [("E-1", "void", None)]), ("unsettled", [])])
def test_watcher_reads_a_finalized_empty_result_per_policy(policy, settled):
    """Kalshi's Market.result has no 'void': a finalized market with result "" is void by default."""
    c = FakeClient()
    errors = []
    w = SettlementWatcher(c, ["E-1", "O-1"], 30, on_error=errors.append, empty_result=policy)
    c.markets = {"E-1": ("finalized", ""), "O-1": ("closed", "")}  # closed: nothing decided yet
    assert w.poll_once() == settled
    assert errors == ([] if settled else [errors[0]]) and all("E-1" in e and "empty result" in e for e in errors)
    with pytest.raises(ValueError, match="empty_result must be one of void, unsettled"):
        SettlementWatcher(c, ["E-1"], 30, empty_result="refund")


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


@pytest.mark.parametrize("result, value", [("yes", None), ("scalar", 3700), ("void", None)])
def test_a_market_finalized_while_stopped_is_settled_at_restart(tmp_path, exch, result, value):
    ex, kid, _ = exch
    s, runner = _live_runner(tmp_path, exch, _Listen({"qty": 2}))
    t, _ = run_in_thread(runner)
    acct = ex.engine.account(kid)
    assert wait_for(lambda: T in acct.positions and acct.positions[T].qty != 0, 20)
    held, cost = acct.positions[T].qty, acct.positions[T].cost
    runner.stop("test: stop before the settlement")
    t.join(30)
    ex.settle(T, result, value)  # while nothing runs
    payout = {"yes": held * DOLLAR // CONTRACT, "scalar": held * 3700 // CONTRACT, "void": cost}[result]
    assert acct.settlements[-1].revenue == payout  # what the exchange credited

    strat = _Listen({"qty": 2})
    _, runner2 = _live_runner(tmp_path, exch, strat)
    runner2.s.duration_s = 1.5
    summary = runner2.run()
    rep = runner2.report
    assert rep.settled == {T: (result, payout)} and not rep.position_mismatches
    assert rep.ok and summary["cash_units"] == acct.cash and summary["positions"] == {}
    assert f"{T} settled {result.upper()} while stopped" in str(rep)
    assert strat.settled == []  # the report tells the strategy; the watcher does not settle it again
    j = Journal(s.state_dir / "journal.sqlite")
    assert j.settled_tickers() == [T]
    j.close()


class _Legs(Strategy):
    """First run: one marketable buy of ``qty`` per market, NO in the ``no`` markets, YES elsewhere."""

    params = {"qty": 3, "no": ""}

    def on_reconciled(self, report):
        self.first_run = report.first_run

    def on_start(self):
        self.placed, self.settled = set(), []
        if not hasattr(self, "first_run"):
            self.first_run = True
        self.subscribe(list(self.markets))

    def on_book(self, book):
        t = book.ticker
        if self.first_run and t not in self.placed and book.yes_bid is not None and book.no_bid is not None:
            self.placed.add(t)
            self.buy(t, contracts(self.params["qty"]), side="no" if t in self.params["no"].split(",") else "yes")

    def on_settlement(self, settlement):
        self.settled.append(settlement)


# scalar: YES held / NO held; void: YES held / NO held
SCALAR_YES, SCALAR_NO = "KXLOCALTEMP-26JAN01-B1", "KXLOCALTEMP-26JAN01-B2"
VOID_YES, VOID_NO = "KXLOCALRATE-26JAN02-B1", "KXLOCALRATE-26JAN02-B2"
LEGS = [SCALAR_YES, SCALAR_NO, VOID_YES, VOID_NO]
SCALAR_VALUE = 3700  # $0.37 per YES contract, $0.63 per NO contract


def _legs_runner(tmp_path, exch):
    ex, kid, priv = exch
    strat = _Legs({"qty": 3, "no": f"{SCALAR_NO},{VOID_NO}"})
    p = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=LEGS,
                          live={"settlement_poll": 0.2, "duration": "30s"})
    s = resolve_settings(load_live_config(p), out=str(tmp_path / "out"))
    return strat, s, LiveRunner(s, strategy=strat, install_signals=False, echo=None)


def test_live_run_settles_scalar_and_void_markets_to_the_unit(tmp_path, exch):
    """YES and NO held in a market the exchange finalizes as scalar and in one it voids: the run
    is paid what the exchange credits (scalar: the value per YES contract, the rest per NO
    contract; void: the cost of the contracts, fees not returned), on_settlement fires once per
    market, and a restart agrees with the exchange without settling anything again. The local
    exchange serves the void markets as the spec allows (``result: ""``, finalized)."""
    ex, kid, _ = exch
    strat, s, runner = _legs_runner(tmp_path, exch)
    t, box = run_in_thread(runner)
    acct = ex.engine.account(kid)

    def applied():  # the exchange has the positions and the run has booked every fill
        eng = runner.engine
        return eng is not None and all(
            x in acct.positions and acct.positions[x].qty and eng.portfolio.net(x) == acct.positions[x].qty
            for x in LEGS)

    assert wait_for(applied, 20)
    held = {x: acct.positions[x].qty for x in LEGS}
    cost = {x: acct.positions[x].cost for x in LEGS}
    assert held[SCALAR_YES] > 0 > held[SCALAR_NO] and held[VOID_YES] > 0 > held[VOID_NO]
    assert ex.serializer.market(ex.engine.markets[VOID_YES])["result"] == ""  # until voided, and after
    cash_before = acct.cash
    ex.settle(SCALAR_YES, "scalar", SCALAR_VALUE)
    ex.settle(SCALAR_NO, "scalar", SCALAR_VALUE)
    ex.settle(VOID_YES, "void")
    ex.settle(VOID_NO, "void")
    assert wait_for(lambda: len(strat.settled) == 4, 20), strat.settled
    assert ex.serializer.market(ex.engine.markets[VOID_YES])["result"] == ""  # the spec has no "void" here
    time.sleep(0.5)  # a few more watcher polls: nothing may settle twice
    runner.stop("test done")
    t.join(30)
    summary = box["summary"]

    paid = {st.ticker: st for st in strat.settled}
    assert sorted(paid) == sorted(LEGS) and len(strat.settled) == 4  # once per market
    assert paid[SCALAR_YES].result == "scalar" and paid[SCALAR_YES].value == SCALAR_VALUE
    assert paid[SCALAR_YES].payout == held[SCALAR_YES] * SCALAR_VALUE // CONTRACT
    assert paid[SCALAR_NO].payout == -held[SCALAR_NO] * (DOLLAR - SCALAR_VALUE) // CONTRACT
    assert paid[VOID_YES].result == paid[VOID_NO].result == "void"
    assert paid[VOID_YES].payout == cost[VOID_YES] and paid[VOID_NO].payout == cost[VOID_NO]
    credited = {r.ticker: r.revenue for r in acct.settlements}
    assert credited == {x: paid[x].payout for x in LEGS}  # what the exchange paid, to the $0.0001
    assert acct.cash == cash_before + sum(credited.values())
    assert summary["cash_units"] == acct.cash and summary["positions"] == {}
    j = Journal(s.state_dir / "journal.sqlite")
    assert sorted(j.settled_tickers()) == sorted(LEGS)
    j.close()

    # a restart: reconciliation agrees with the exchange, and nothing is settled again
    strat2 = _Legs({"qty": 3})
    runner2 = LiveRunner(s, strategy=strat2, install_signals=False, echo=None)
    runner2.s.duration_s = 1.5
    summary2 = runner2.run()
    assert summary2["reconciled_ok"] and strat2.settled == [] and summary2["settlements"] == []
    assert summary2["cash_units"] == acct.cash and summary2["positions"] == {}
