"""FixBroker against the local FIX acceptor: engine-driven strategy, faults, fix-check."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization

from framework.brokers.simulated import SimulatedBroker
from framework.core.engine import Engine
from framework.core.events import QUOTE
from framework.exchange.fix_testing import DEFAULT_TICKER as T
from framework.exchange.fix_testing import FixTestBed
from framework.kalshi.fix_check import main as fix_check_main
from framework.model.orders import Order, OrderStatus
from framework.model.portfolio import Portfolio
from framework.strategy import Strategy
from framework.units import DOLLAR, cents, contracts

S = OrderStatus
START = 1_767_225_600_000_000_000


class Sink:
    now = 0

    def __init__(self) -> None:
        self.fills = []

    def order_update(self, o):
        pass

    def fill(self, o, f):
        self.fills.append(f)


def bound(broker):
    sink = Sink()
    broker.bind(sink, {}, None)
    return sink


def new(oid, side="yes", action="buy", qty=2, price=40, tif="gtc"):
    return Order(oid, T, side, action, contracts(qty), None if price is None else cents(price), tif)


# ---------------------------------------------------------------------------------------- engine run
class Taker(Strategy):
    """Buys 10 YES at the market on the first quote, rests a 40c bid, cancels it on the next."""

    def on_book(self, book):
        if not hasattr(self, "step"):
            self.step = 0
        self.step += 1
        if self.step == 1:
            self.buy(T, contracts(10))
            self.rest = self.buy(T, contracts(3), cents(40))
        elif self.step == 2:
            self.cancel(self.rest)


class Feed:
    """Three identical QUOTE chunks; between chunks the live broker is polled (the live runner's job)."""

    def __init__(self, broker=None) -> None:
        self.broker = broker

    def subscribe(self, tickers):
        pass

    def chunks(self):
        for i in range(3):
            yield QUOTE, ([START + i * 1_000_000_000], [T], [cents(45)], [cents(50)], [contracts(100)], [contracts(100)])
            if self.broker is not None:
                assert self.broker.poll_until(self.settled, 5)

    def settled(self) -> bool:
        b = self.broker
        return not any(o.status == S.PENDING or o.order_id in b._cancel_deadline for o in b.live.values())


def run_engine(broker, feed):
    strat = Taker()
    pf = Portfolio(1000 * DOLLAR)
    eng = Engine(strat, feed, broker, pf, markets=[{"ticker": T, "open_ts": START - 1}], equity_interval=None)
    eng.run()
    return eng, strat, pf


def test_strategy_over_fix_matches_simulated_accounting():
    with FixTestBed("NR") as bed:
        bed.quote(yes_bid=cents(45), no_bid=cents(50), size=contracts(100))
        broker = bed.broker()
        cash0 = bed.engine.account(bed.key_id).cash
        eng, strat, pf = run_engine(broker, Feed(broker))
        sim_eng, _, sim_pf = run_engine(SimulatedBroker(), Feed())
        assert [(f.side, f.action, f.price, f.qty, f.fee) for f in eng.fills] == \
               [(f.side, f.action, f.price, f.qty, f.fee) for f in sim_eng.fills]
        assert pf.cash == sim_pf.cash and pf.net(T) == sim_pf.net(T) == contracts(10)
        assert strat.rest.status == S.CANCELLED
        # and the exchange agrees with our books
        assert bed.engine.account(bed.key_id).cash - cash0 == pf.cash - 1000 * DOLLAR
        assert bed.engine.account(bed.key_id).positions[T].qty == contracts(10)


# ---------------------------------------------------------------------------------------- faults
@pytest.mark.parametrize("flags", [
    {},  # recommended flags (21011/21026/21007/21008/21012 = Y)
    {"skip_pending_exec_reports": False, "always_new_before_trade": False, "ioc_cancel_report": False,
     "preserve_original_qty": False, "use_expired_status": False},  # Kalshi's defaults
    {"use_dollars": True},
])
def test_order_flow_under_each_flag_set(flags):
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker(ioc_grace_s=0.2, **flags)
        sink = bound(b)
        rest, take, ioc = new("O1", price=40), new("O2", price=55, qty=3), new("O3", "no", "buy", 200, 55, "ioc")
        for o in (rest, take, ioc):
            b.submit(o)
        assert b.poll_until(lambda: rest.status == S.ACCEPTED and take.status == S.FILLED
                            and ioc.status == S.CANCELLED)
        assert ioc.filled_qty == contracts(100)  # took the whole YES bid at 45 -> NO at 55
        assert {f.price for f in sink.fills if f.order_id == "O3"} == {cents(55)}
        b.cancel(rest)
        assert b.poll_until(lambda: rest.status == S.CANCELLED)


def test_rt_lost_report_is_recovered_by_resend_with_possdup():
    with FixTestBed("RT") as bed:
        bed.quote()
        b = bed.broker()
        sink = bound(b)
        bed.acceptor.faults.lose_reports(1)  # the New of O1 is lost in transit
        o1, o2 = new("O1"), new("O2", qty=1, price=55)
        b.submit(o1)
        b.submit(o2)
        assert b.poll_until(lambda: o1.status == S.ACCEPTED and o2.status == S.FILLED)
        assert any(k == "gap" for k, _ in b.events) and any(k == "gap_filled" for k, _ in b.events)
        assert len(sink.fills) == 1


def test_rt_skipped_numbers_are_gap_filled():
    with FixTestBed("RT") as bed:
        bed.quote()
        b = bed.broker()
        bed.acceptor.faults.skip_seq(2)
        o1, o2 = new("O1"), new("O2")
        b.submit(o1)
        b.submit(o2)
        assert b.poll_until(lambda: o1.status == S.ACCEPTED and o2.status == S.ACCEPTED)
        assert b.session.next_in == bed.acceptor.seq_state(bed.key_id)[0]


@pytest.mark.parametrize("poss_dup", [True, False])
def test_duplicate_reports_counted_once(poss_dup):
    with FixTestBed("RT") as bed:
        bed.quote()
        b = bed.broker(always_new_before_trade=False)
        sink = bound(b)
        bed.acceptor.faults.duplicate_reports(5, poss_dup=poss_dup)
        o = new("O1", qty=3, price=55)
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.FILLED)
        b.poll(0.1)
        assert len(sink.fills) == 1 and o.filled_qty == contracts(3)


def test_rt_client_resends_when_acceptor_lost_our_message():
    with FixTestBed("RT") as bed:
        bed.quote()
        b = bed.broker()
        bed.acceptor.faults.lose_inbound_messages(1)  # our NewOrderSingle "never arrives"
        o1, o2 = new("O1"), new("O2")
        b.submit(o1)
        b.submit(o2)  # the acceptor sees a gap, asks for a resend, we resend O1 with 43=Y
        assert b.poll_until(lambda: o1.status == S.ACCEPTED and o2.status == S.ACCEPTED)
        assert bed.acceptor.seq_state(bed.key_id)[1] == b.session.next_out


def test_nr_lost_report_reconnects_and_reconciles():
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker()
        sink = bound(b)
        bed.acceptor.faults.lose_reports(1)  # the trade report of O1 is lost
        o1, o2 = new("O1", qty=2, price=55, tif="gtc"), new("O2", price=40)
        b.submit(o1)
        b.submit(o2)
        assert b.poll_until(lambda: o1.status == S.FILLED and o2.status == S.ACCEPTED and not b.frozen
                            and b.session.logons >= 2, 30)  # reconnect + REST lookup: slow on a loaded machine
        assert any(k == "gap" and not i["retransmission"] for k, i in b.events)
        assert sum(f.qty for f in sink.fills if f.order_id == "O1") == contracts(2)


def test_withheld_report_times_out_to_unknown_then_reconciles():
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker(ack_timeout_s=0.3)
        bed.acceptor.faults.withhold_reports(1)
        o = new("O1")
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.UNKNOWN or (o.status == S.ACCEPTED and o.reason == "reconciled"))
        assert b.poll_until(lambda: o.status == S.ACCEPTED and not b.frozen)


@pytest.mark.parametrize("applied", [True, False])
def test_exchange_unavailable_is_unknown_until_reconciled(applied):
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker(reconciler=False)
        bed.acceptor.faults.exchange_unavailable(1, applied=applied)
        o = new("O1")
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.UNKNOWN)
        blocked = new("O2")
        b.submit(blocked)
        assert blocked.status == S.REJECTED and "frozen" in blocked.reason
        from framework.exchange.fix_acceptor import engine_reconciler

        b.reconcile(engine_reconciler(bed.engine, bed.key_id)([o]), [o])
        assert o.status == (S.ACCEPTED if applied else S.REJECTED) and not b.frozen


def test_delayed_reports_still_arrive():
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker()
        bed.acceptor.faults.delay_reports(0.2, 1)
        o = new("O1")
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.ACCEPTED)


def test_dropped_connection_reconnects_and_reconciles():
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker()
        o = new("O1")
        b.submit(o)
        assert b.poll_until(lambda: o.status == S.ACCEPTED)
        bed.acceptor.drop_connections()
        assert b.poll_until(lambda: b.session.logons >= 2 and b.session.logged_on)
        assert b.poll_until(lambda: o.status == S.ACCEPTED and not b.frozen)


def test_mass_cancel_and_replace():
    with FixTestBed("NR") as bed:
        bed.quote()
        b = bed.broker()
        a, c = new("O1", price=40), new("O2", price=41)
        b.submit(a)
        b.submit(c)
        assert b.poll_until(lambda: a.status == S.ACCEPTED and c.status == S.ACCEPTED)
        b.replace(a, price=cents(42), qty=contracts(5))
        assert b.poll_until(lambda: a.qty == contracts(5) and a.price == cents(42))
        b.cancel_all()
        assert b.poll_until(lambda: a.status == S.CANCELLED and c.status == S.CANCELLED)


def test_unsupported_message_gets_business_reject():
    with FixTestBed("NR") as bed:
        b = bed.broker()
        got = []
        b.session.on_message = got.append
        b.session.send("H", [(11, "x"), (55, T)])
        deadline = time.monotonic() + 3
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got and got[0].msg_type == "j" and got[0].get(380) == "3"


# ---------------------------------------------------------------------------------------- fix-check
def test_fix_check_against_local_acceptor(tmp_path, capsys):
    with FixTestBed("NR") as bed:
        kf = tmp_path / "key.pem"
        kf.write_bytes(bed.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        base = ["fix-check", "--host", "127.0.0.1", "--port", str(bed.acceptor.port), "--target-comp-id", "KalshiNR",
                "--key-file", str(kf), "--no-tls", "--timeout", "3"]
        assert fix_check_main(base + ["--sender-comp-id", bed.key_id, "--order", T]) == 0
        out = capsys.readouterr().out
        assert out.count("[ok]") == 5 and "cancelled" in out
        assert fix_check_main(base + ["--sender-comp-id", "unknown-key"]) == 1
        assert "unknown SenderCompID" in capsys.readouterr().out
        assert fix_check_main(base + ["--sender-comp-id", bed.key_id, "--order", "NO-SUCH-MARKET"]) == 1
        assert "MARKET_NOT_FOUND" in capsys.readouterr().out
