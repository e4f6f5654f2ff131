"""Restart reconciliation that finds differences (a cash gap, failed lookups) starts the run
REDUCING by default (``[live] on_reconcile_differences``: reducing | halt | continue), and the
report and the summary say so. Against the local exchange, in process."""

from __future__ import annotations

import pytest

from framework import CENT, CONTRACT, Strategy
from framework.core.config import ConfigError
from framework.live.config import load_live_config
from framework.live.journal import Journal
from framework.live.runner import LiveRunner, resolve_settings
from framework.live.testing import write_live_config
from framework.model.orders import OrderStatus

T = "KXLOCALTEMP-26JAN01-B1"


class Probe(Strategy):
    """Sends one opening order (a 1-contract YES bid at 1 cent) at its first book."""

    def on_reconciled(self, report) -> None:
        self.report = report

    def on_start(self) -> None:
        self.sent = False
        self.orders = []
        self.subscribe(list(self.markets))

    def on_book(self, book) -> None:
        if not self.sent and book.yes_bid is not None:
            self.sent = True
            self.buy(book.ticker, CONTRACT, price=CENT)

    def on_order(self, order) -> None:
        self.orders.append((order.status, order.reason))


def _run(tmp_path, exch, strategy=None, **live):
    ex, kid, priv = exch
    live.setdefault("duration", "1s" if strategy is None else "20s")
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T], live=live)
    s = resolve_settings(load_live_config(cfg), out=str(tmp_path / "out"))
    # a probe run stops once its order has an answer (the duration is only a backstop)
    stop = (lambda: any(st != OrderStatus.PENDING for st, _ in strategy.orders)) if strategy is not None else None
    runner = LiveRunner(s, strategy=strategy, install_signals=False, echo=None, stop_when=stop)
    return s, runner.run(), runner


@pytest.fixture
def restarted(tmp_path, exch):
    """A first run (OneShot trades), then the exchange's cash moves by $0.21 while it is stopped."""
    ex, kid, _ = exch
    _run(tmp_path, exch)
    ex.engine.account(kid).cash += 2100  # $0.21 the journal knows nothing about
    return ex, kid


@pytest.mark.parametrize(("policy", "state", "denial"), [
    (None, "REDUCING", "risk: reducing only (restart reconciliation found differences: cash "),
    ("halt", "HALTED", "risk: trading halted (restart reconciliation found differences: cash "),
])
def test_cash_gap_starts_the_run_reducing_or_halted(tmp_path, exch, restarted, policy, state, denial):
    ex, kid = restarted
    orders_before = len(ex.engine.account(kid).orders)
    probe = Probe({})
    live = {"on_reconcile_differences": policy} if policy else {}
    s, summary, runner = _run(tmp_path, exch, strategy=probe, **live)
    rep = probe.report
    assert not rep.ok and rep.action == state and rep.exchange_cash - rep.cash == 2100
    assert f"the run starts {state}" in str(rep)
    assert probe.sent and probe.orders[-1][0] == OrderStatus.REJECTED and probe.orders[-1][1].startswith(denial)
    assert len(ex.engine.account(kid).orders) == orders_before  # the opening order never left
    # the summary says so
    assert summary["reconciled_ok"] is False and summary["reconcile_action"] == state
    assert any("cash" in d and "$0.21" in d for d in summary["reconcile_differences"])
    j = Journal(s.state_dir / "journal.sqlite")
    assert j.events("reconciled")[-1][3]["action"] == state
    # journaled: the gate went to that state for this reason (the stop halts it at the end)
    states = [(d["state"], d["reason"]) for _, _, _, d in j.events("risk_state")]
    assert [st for st, why in states if (why or "").startswith("restart reconciliation found differences")] == [state]
    j.close()


def test_continue_trades_on_as_before(tmp_path, exch, restarted):
    ex, kid = restarted
    orders_before = len(ex.engine.account(kid).orders)
    probe = Probe({})
    _, summary, _ = _run(tmp_path, exch, strategy=probe, on_reconcile_differences="continue")
    assert not probe.report.ok and probe.report.action is None
    assert "trading on regardless" in str(probe.report)
    assert OrderStatus.ACCEPTED in [st for st, _ in probe.orders]
    assert len(ex.engine.account(kid).orders) == orders_before + 1
    assert summary["reconcile_action"] is None


def test_lookup_errors_start_the_run_reducing(tmp_path, exch):
    ex, kid, _ = exch
    _run(tmp_path, exch)
    ex.faults.server_errors(50, path="*/portfolio/balance")  # every retry of the balance read fails
    probe = Probe({})
    _, summary, _ = _run(tmp_path, exch, strategy=probe)
    ex.faults.reset()
    rep = probe.report
    assert any("could not read positions/balance" in e for e in rep.errors)
    assert rep.action == "REDUCING" and summary["reconcile_action"] == "REDUCING"
    assert "1 lookup error(s)" in summary["reconcile_differences"]
    assert probe.orders[-1][0] == OrderStatus.REJECTED


def test_clean_restart_starts_active(tmp_path, exch):
    _run(tmp_path, exch)
    probe = Probe({})
    _, summary, _ = _run(tmp_path, exch, strategy=probe)
    assert probe.report.ok and probe.report.action is None and summary["reconcile_differences"] == []
    assert OrderStatus.ACCEPTED in [st for st, _ in probe.orders]


def test_unknown_policy_is_a_config_error(tmp_path, exch):
    ex, kid, priv = exch
    cfg = write_live_config(tmp_path / "live.toml", ex, kid, priv, markets=[T],
                            live={"on_reconcile_differences": "ignore"})
    with pytest.raises(ConfigError, match="on_reconcile_differences must be one of reducing, halt, continue"):
        load_live_config(cfg)
