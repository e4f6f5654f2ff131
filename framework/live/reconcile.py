"""Restart reconciliation: journal first, then the exchange, then the strategy.

``reconcile(engine, broker, journal, client)`` runs before the strategy gets control:

1. **Journal**: the portfolio (cash, positions) and the orders that were not terminal are
   rebuilt from the journal (restored orders get ids ``<old id>/s<session>``).
2. **Orders**: each restored order is looked up on the exchange: by exchange order id when it
   was acknowledged, else by listing the ticker's orders and matching ``client_order_id``
   (an intent journaled before a crash, or an UNKNOWN outcome). Found: its state (and any fills)
   are applied. Not found: the order never reached the exchange; it is marked REJECTED and
   listed as *missing*.
3. **Fills** since the last journaled one (with a minute of overlap; duplicates are dropped by
   fill id) are applied, including fills of orders that were not journaled (*adopted*).
4. **Resting orders** the exchange has and the journal lacks are *adopted*: they become open
   orders of this run, flagged ``adopted`` in the journal.
5. **Positions** are compared with ``GET /portfolio/positions``; a difference is reported and
   the exchange's position is adopted (the exchange is the truth), except for a market that
   Kalshi *finalized* while the process was down: that one is settled as in a run ($1 per winning
   contract, listed in ``settled``), so the payout lands in cash. **Cash** is compared with the
   available balance plus what our resting orders hold back.

The result is a :class:`ReconcileReport`, journaled and handed to ``Strategy.on_reconciled``.
When it found differences (cash mismatch, position mismatches, failed lookups) the run starts
REDUCING by default (``on_differences="halt"``: HALTED; ``"continue"``: as before), and the
report says so.
On a first run (empty journal) the portfolio is seeded from the exchange (balance, positions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..brokers.live.hooks import checkpoint
from ..kalshi.errors import KalshiError, KalshiNotFound
from ..model.orders import ACTIVE_STATUSES, Order, OrderStatus, Settlement
from ..model.portfolio import Portfolio
from ..units import DOLLAR, fmt_contracts, fmt_money, notional
from .risk import HALTED, REDUCING

__all__ = ["ON_DIFFERENCES", "ReconcileReport", "reconcile"]

#: what a restart does when reconciliation finds differences (``[live] on_reconcile_differences``)
ON_DIFFERENCES = ("reducing", "halt", "continue")

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What restart reconciliation found (``str(report)`` is a human summary)."""

    session: int = 0
    first_run: bool = False
    restored: list[str] = field(default_factory=list)  # journaled open orders brought back
    resolved: list[dict[str, Any]] = field(default_factory=list)  # {order_id, client_order_id, was, now}
    missing: list[str] = field(default_factory=list)  # client ids journaled but not on the exchange
    adopted: list[str] = field(default_factory=list)  # exchange order ids adopted (not in the journal)
    fills_recovered: int = 0
    duplicate_fills: int = 0  # fills the exchange reported that the journal already had
    position_mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # ticker: (ours, exchange)
    settled: dict[str, tuple[str, int]] = field(default_factory=dict)  # finalized while down: (result, payout)
    cash: int = 0
    exchange_cash: int | None = None  # available balance + what our resting orders hold back
    balance: int | None = None  # the exchange's available balance
    open_orders: int = 0
    errors: list[str] = field(default_factory=list)
    policy: str = "reducing"  # on_reconcile_differences: reducing | halt | continue
    action: str | None = None  # the risk state the run starts in because of differences (REDUCING/HALTED)

    @property
    def ok(self) -> bool:
        return not self.position_mismatches and not self.errors and (
            self.exchange_cash is None or self.exchange_cash == self.cash)

    def differences(self) -> list[str]:
        """One short phrase per kind of difference (empty when :attr:`ok`)."""
        out = []
        if self.exchange_cash is not None and self.exchange_cash != self.cash:
            out.append(f"cash {fmt_money(self.cash)} in the journal vs {fmt_money(self.exchange_cash)} on the "
                       f"exchange ({fmt_money(self.exchange_cash - self.cash)})")
        if self.position_mismatches:
            out.append(f"{len(self.position_mismatches)} position mismatch(es) "
                       f"({', '.join(sorted(self.position_mismatches)[:3])})")
        if self.errors:
            out.append(f"{len(self.errors)} lookup error(s)")
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def __str__(self) -> str:
        lines = [f"reconciliation (session {self.session}{', first run' if self.first_run else ''}): "
                 f"{'OK' if self.ok else 'DIFFERENCES FOUND'}",
                 f"  open orders {self.open_orders} (restored {len(self.restored)}, adopted {len(self.adopted)}), "
                 f"resolved {len(self.resolved)}, missing {len(self.missing)}",
                 f"  fills recovered {self.fills_recovered} (already journaled: {self.duplicate_fills})",
                 f"  cash {fmt_money(self.cash)}; exchange {fmt_money(self.exchange_cash)} "
                 f"(available {fmt_money(self.balance)})"]
        for t, (result, payout) in sorted(self.settled.items()):
            lines.append(f"  {t} settled {result.upper()} while stopped: paid {fmt_money(payout)}")
        for t, (ours, theirs) in sorted(self.position_mismatches.items()):
            lines.append(f"  position {t}: journal {fmt_contracts(ours)}, exchange {fmt_contracts(theirs)} (adopted)")
        lines.extend(f"  error: {e}" for e in self.errors)
        if self.action is not None:
            what = ("only orders that reduce a position pass" if self.action == REDUCING else
                    "no new orders pass")
            lines.append(f"  -> the run starts {self.action} (on_reconcile_differences = {self.policy!r}): {what}; "
                         "check the differences, then restart (set [live] on_reconcile_differences = 'continue' "
                         "to trade on regardless)")
        elif not self.ok:
            lines.append("  -> trading on regardless (on_reconcile_differences = 'continue')")
        return "\n".join(lines)


class _QuietSink:
    """Sink used while reconciling: updates the engine's cache, no strategy callbacks."""

    def __init__(self, engine) -> None:
        self.engine = engine

    @property
    def now(self) -> int:
        return self.engine.now

    def order_update(self, order: Order) -> None:
        order.updated_ts = self.engine.now
        if order.status in ACTIVE_STATUSES:
            self.engine.open[order.order_id] = order
        else:
            self.engine.open.pop(order.order_id, None)

    def fill(self, order: Order, fill) -> None:
        eng = self.engine
        eng.portfolio.apply_fill(fill.ticker, fill.side, fill.action, fill.price, fill.qty, fill.fee)
        eng.fills.append(fill)
        if order.status == OrderStatus.FILLED:
            eng.open.pop(order.order_id, None)


def _set_position(pf: Portfolio, ticker: str, net: int, cost: int | None) -> None:
    p = pf.position(ticker)
    p.yes, p.no = (net, 0) if net >= 0 else (0, -net)
    c = abs(cost) if cost is not None else 0
    p.yes_cost, p.no_cost = (c, 0) if net > 0 else (0, c) if net < 0 else (0, 0)


def _holds(orders: list[Order], pf: Portfolio) -> int:
    """Cash the exchange holds back for our resting orders (cost of the opening part)."""
    total = 0
    closable: dict[tuple[str, str], int] = {}
    for o in orders:
        if o.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED) or o.price is None:
            continue
        leg = o.side if o.action == "buy" else ("no" if o.side == "yes" else "yes")
        leg_price = o.price if o.action == "buy" else DOLLAR - o.price
        key = (o.ticker, leg)
        if key not in closable:
            net = pf.net(o.ticker)
            closable[key] = max(0, -net if leg == "yes" else net)
        remaining = o.qty - o.filled_qty
        closing = min(remaining, closable[key])
        closable[key] -= closing
        total += notional(leg_price, remaining - closing)
    return total


def reconcile(engine, broker, journal, client, *, session: int = 0, adopt_positions: bool = True,
              starting_cash: int | None = None, netting: bool = True,
              on_differences: str = "reducing", empty_result: str = "void") -> ReconcileReport:
    """Rebuild state from ``journal`` and check it against the exchange (see the module docstring).

    ``engine.portfolio`` is replaced by the journaled (or exchange-seeded) portfolio; restored and
    adopted orders are registered with the broker and the engine. Strategy callbacks are not
    called; the caller hands the report to ``Strategy.on_reconciled``. When the report is not
    :attr:`~ReconcileReport.ok`, ``on_differences`` decides how the run starts: ``"reducing"``
    (default: the engine's risk gate goes REDUCING), ``"halt"`` (HALTED) or ``"continue"``.
    ``empty_result``: how a finalized market with an empty result settles (``"void"`` or
    ``"unsettled"``, :mod:`framework.kalshi.outcome`)."""
    if on_differences not in ON_DIFFERENCES:
        raise ValueError(f"on_reconcile_differences must be one of {', '.join(ON_DIFFERENCES)}, "
                         f"got {on_differences!r}")
    from ..kalshi.outcome import check_empty_result

    check_empty_result(empty_result)  # a bad [live] empty_result fails at the start, not at a settlement
    rep = ReconcileReport(session=session, policy=on_differences)
    pf = journal.load_portfolio(netting=netting)
    rep.first_run = pf is None
    if pf is None:
        pf = Portfolio(0 if starting_cash is None else starting_cash, netting=netting)
    engine.portfolio = pf
    broker.portfolio = pf
    real_sink = broker.sink
    quiet = _QuietSink(engine)
    broker.sink = quiet
    try:
        _run(engine, broker, journal, client, rep, pf, adopt_positions, empty_result)
    finally:
        broker.sink = real_sink
    _apply_policy(rep, getattr(engine, "risk", None))
    journal.save_portfolio(pf, "reconciled", rep.to_dict())
    checkpoint("after_reconcile")
    return rep


def _apply_policy(rep: ReconcileReport, gate) -> None:
    """Differences found: start REDUCING or HALTED (per ``rep.policy``) instead of trading on as if
    nothing happened."""
    if rep.ok or rep.policy == "continue":
        return
    rep.action = REDUCING if rep.policy == "reducing" else HALTED
    why = "restart reconciliation found differences: " + "; ".join(rep.differences())
    log.warning("%s; starting %s", why, rep.action)
    if gate is not None:
        (gate.reduce_only if rep.action == REDUCING else gate.halt)(why)


def _run(engine, broker, journal, client, rep: ReconcileReport, pf: Portfolio, adopt_positions: bool,
         empty_result: str = "void") -> None:
    now_s = int(time.time())
    # 1. journaled open orders
    restored: list[Order] = []
    intents: dict[str, int] = {}
    for jo in journal.orders(active_only=True):
        order = jo.to_order(f"{jo.order_id}/s{jo.session}")
        intents[order.client_order_id] = jo.intent_ns // 1_000_000_000
        broker._register(order)
        engine.open[order.order_id] = order
        engine.order_log.append(order)
        restored.append(order)
        rep.restored.append(order.order_id)
    # 2. look each one up on the exchange
    for order in restored:
        was = order.status
        try:
            k = None
            if order.exchange_order_id:
                try:
                    k = client.get_order(order.exchange_order_id)
                except KalshiNotFound:  # the exchange forgot that id (it restarted?): try the client id
                    k = None
            if k is None:
                since = intents[order.client_order_id] - 60
                for o in client.iter_orders(ticker=order.ticker, min_ts=since):
                    if o.client_order_id == order.client_order_id:
                        k = o
                        break
        except KalshiError as e:
            rep.errors.append(f"could not look up order {order.order_id} ({order.client_order_id}): {e}")
            order.status = OrderStatus.UNKNOWN
            continue
        if k is None and order.exchange_order_id:
            broker._update(order, OrderStatus.CANCELLED, "missing: acknowledged, but the exchange no longer "
                           "has it (by order id or client id)", kind="missing")
            rep.missing.append(order.client_order_id)
            continue
        if k is None:
            broker._update(order, OrderStatus.REJECTED, "missing: journaled but not found on the exchange "
                           "(the process stopped before the order was sent)", kind="missing")
            rep.missing.append(order.client_order_id)
            continue
        for kf in broker._fills_of(k):
            if broker.apply_fill(kf, "reconcile"):
                rep.fills_recovered += 1
        broker.apply_state(order, k, "resolved" if was in (OrderStatus.PENDING, OrderStatus.UNKNOWN) else "state")
        if was in (OrderStatus.PENDING, OrderStatus.UNKNOWN) or order.status != was:
            rep.resolved.append({"order_id": order.order_id, "client_order_id": order.client_order_id,
                                 "was": was, "now": order.status})
    # 3. fills since the last journaled one
    last = journal.get("last_fill_ts")
    first_intent = min(intents.values(), default=None)
    since = (int(last) // 1_000_000_000 if last else first_intent or now_s) - 60
    before_dups = broker.duplicate_fills
    try:
        fills = sorted(client.iter_fills(min_ts=max(0, since)), key=lambda f: f.created_time)
    except KalshiError as e:
        rep.errors.append(f"could not read fills: {e}")
        fills = []
    if not rep.first_run:
        for kf in fills:
            if broker.apply_fill(kf, "reconcile"):
                rep.fills_recovered += 1
    else:  # the seeded positions below already include them: only mark them seen
        for kf in fills:
            broker.seen_fills.add(kf.fill_id)
    rep.duplicate_fills = broker.duplicate_fills - before_dups
    # 4. resting orders we do not know
    try:
        resting = list(client.iter_orders(status="resting"))
    except KalshiError as e:
        rep.errors.append(f"could not list resting orders: {e}")
        resting = []
    for k in resting:
        if k.order_id in broker.by_xid or (k.client_order_id and k.client_order_id in broker.by_coid):
            continue
        side = k.side or k.outcome_side or "yes"
        action = k.action or "buy"
        price = k.yes_price if side == "yes" else k.no_price
        qty = (k.fill_count or 0) + (k.remaining_count or 0)
        coid = k.client_order_id or f"external-{k.order_id}"
        order = Order(f"A{len(rep.adopted) + 1}/s{rep.session}", k.ticker, side, action, qty, price, "gtc",
                      ts=engine.now, client_order_id=coid)
        order.exchange_order_id = k.order_id
        order.filled_qty = k.fill_count or 0
        order.status = OrderStatus.PARTIALLY_FILLED if order.filled_qty else OrderStatus.ACCEPTED
        order.reason = "adopted: resting on the exchange, not in the journal"
        journal.add_order(order, rep.session, "adopted")
        broker._register(order)
        engine.open[order.order_id] = order
        engine.order_log.append(order)
        rep.adopted.append(k.order_id)
    # 5. positions and cash
    try:
        positions = {p.ticker: p for p in client.iter_positions()}
        balance = client.get_balance().balance
    except KalshiError as e:
        rep.errors.append(f"could not read positions/balance: {e}")
        positions, balance = None, None
    open_orders = [o for o in broker.live.values()]
    if rep.first_run and positions is not None:
        for t, p in positions.items():
            if p.position:
                _set_position(pf, t, p.position, p.market_exposure)
        pf.cash = pf.starting_cash = balance + _holds(open_orders, pf)
    elif positions is not None:
        tickers = set(positions) | {t for t, p in pf.positions.items() if p.yes or p.no}
        for t in sorted(tickers):
            ours = pf.net(t)
            theirs = positions[t].position if t in positions else 0
            if ours and not theirs and _settled_while_down(engine, journal, client, rep, pf, t, empty_result):
                continue
            if ours != theirs:
                rep.position_mismatches[t] = (ours, theirs)
                if adopt_positions:
                    _set_position(pf, t, theirs, positions[t].market_exposure if t in positions else 0)
    rep.cash = pf.cash
    rep.balance = balance
    rep.exchange_cash = None if balance is None else balance + _holds(open_orders, pf)
    rep.open_orders = len(broker.live)


def _settled_while_down(engine, journal, client, rep: ReconcileReport, pf: Portfolio, ticker: str,
                        empty_result: str = "void") -> bool:
    """Settle ``ticker`` if Kalshi finalized it with a result while we were stopped (read as the
    settlement watcher reads it, :func:`framework.kalshi.outcome.market_outcome`)."""
    from ..kalshi.outcome import FINAL_STATUSES, market_outcome

    try:
        market = client.get_market(ticker)
    except KalshiError as e:
        rep.errors.append(f"could not read market {ticker}: {e}")
        return False
    if market.status not in FINAL_STATUSES:
        return False
    outcome, _ = market_outcome(market, empty_result)
    if outcome is None:
        return False
    payout, net = pf.settle(ticker, outcome.result, outcome.value)
    rep.settled[ticker] = (outcome.result, payout)
    journal.record_settlement(Settlement(ticker, outcome.result, engine.now, payout, net, outcome.value), pf)
    return True
