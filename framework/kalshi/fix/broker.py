"""FixBroker: the engine's Broker over a Kalshi FIX order-entry session.

Mapping (kalshi-fix.md section 5): Kalshi treats every order as a bid or ask on the YES contract.

=================  ======  ========================  ===============================
our order          54      44 (YES price)            meaning on Kalshi
=================  ======  ========================  ===============================
buy  YES at p      ``1``   ``p``                     YES bid
sell YES at p      ``2``   ``p``                     YES ask
buy  NO  at q      ``2``   ``DOLLAR - q``            YES ask == NO bid at q
sell NO  at q      ``1``   ``DOLLAR - q``            YES bid == NO ask at q
=================  ======  ========================  ===============================

Fill prices come back as YES prices (LastPx 31) and are turned into the order's own side.
Marketable orders (``price=None``) go out as IOC limits at the visible opposite price in the
engine's book, never as market orders (Kalshi has none); with no visible price they are
cancelled locally like the simulated broker does.

The state machine is driven by ExecutionReports and tolerates every default Kalshi behaviour:
a New folded into the first Trade, no cancel report for an IOC remainder (``ioc_grace_s``),
shrinking OrderQty, duplicates and resends (deduplicated by ExecID; fills are taken from CumQty
deltas so a resent or reordered report can never double-count), OrderCancelReject,
BusinessMessageReject and session Reject (matched to our request by RefSeqNum). Unknown
outcomes (no answer within ``ack_timeout_s``, a socket failure while sending, the
``EXCHANGE_UNAVAILABLE`` reject, a sequence gap or disconnect on a session without
retransmission) mark the order ``UNKNOWN`` and freeze its market: no new order for that market
is sent until the order is reconciled, either by an authoritative ExecutionReport or by the
``reconciler`` (e.g. REST ``GET /portfolio/orders``), see :meth:`FixBroker.reconcile`.

Threading: the session's reader thread only enqueues; every state change happens on the
engine thread inside :meth:`submit`, :meth:`cancel` and :meth:`poll`.

Journaling hooks (all optional, all called on the engine thread; the live runner sets them):

* ``before_send(kind, order, clordid, info)``: called BEFORE a NewOrderSingle (``kind="new"``,
  ``info = {"price": own-side limit, "tif": ...}``), OrderCancelRequest (``"cancel"``),
  OrderCancelReplaceRequest (``"replace"``, ``info = {"price", "qty"}``) or mass cancel
  (``"mass"``, ``order=None``) is written to the session. If it raises, nothing is sent (a new
  order is REJECTED ``not sent: ...``), so an order can never go out without its intent;
* ``after_send(kind, order, clordid, seq)``: the message is on the wire (stored, MsgSeqNum ``seq``);
* ``on_fill(order, fill, fill_key)``: after the sink saw a fill; ``fill_key`` is a stable id of
  it (TrdMatchID 880 when the report is one whole trade, else ``fix:<order>:<CumQty>``).

A new order's ClOrdID (11) IS its ``client_order_id``: a uuid4 unless the strategy set one, so
it is unique across restarts (engine order ids such as ``O1`` restart from 1 and are never used).
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...model.fees import FeeModel
from ...model.orders import TERMINAL_STATUSES, Fill, Order, OrderStatus
from ...units import DOLLAR, UnitError, dollars
from .codec import Message, MsgType, Tag, format_price, format_qty, parse_price, parse_qty
from .config import FixConfig
from .session import FixSession, NotLoggedOn, SendFailed
from .store import SeqStore

__all__ = ["EXCHANGE_UNAVAILABLE", "FixBroker", "OrderSnapshot", "exchange_order_id", "fix_side_price"]

log = logging.getLogger(__name__)

EXCHANGE_UNAVAILABLE = "EXCHANGE_UNAVAILABLE"
_RESTING = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
_CLORDID_RE = re.compile(r"^[-\w:+=/]{1,64}$")  # Kalshi: <= 64 chars of [-\w:+=/]
# OrderID (37) values that stand for "no order": an EXCHANGE_UNAVAILABLE reject carries 37=NONE
_PLACEHOLDER_IDS = frozenset({"", "NONE", "NULL", "0", "-1", "UNKNOWN", "N/A", "NA"})


def exchange_order_id(value: str | None) -> str | None:
    """An OrderID (37) worth storing, or None for a placeholder such as ``NONE``."""
    if value is None or value.strip().upper() in _PLACEHOLDER_IDS:
        return None
    return value


def fix_side_price(side: str, action: str, price: int) -> tuple[str, int]:
    """Our (side, action, own-side price) -> (Side 54, YES price for 44)."""
    if side == "yes":
        return ("1" if action == "buy" else "2"), price
    return ("2" if action == "buy" else "1"), DOLLAR - price


@dataclass
class OrderSnapshot:
    """What a reconciliation source (REST, drop copy, the local exchange) knows about an order.

    ``avg_price`` is on the order's own side; ``fee`` is the total fee charged so far."""

    client_order_id: str
    status: str  # an OrderStatus value
    filled_qty: int
    avg_price: int | None = None
    fee: int | None = None
    exchange_order_id: str | None = None


@dataclass
class _Req:
    kind: str  # "new" | "cancel" | "replace" | "mass"
    order: Order | None
    clordid: str


class FixBroker:
    """Broker over FIX. ``start()`` logs on (raises ``LogonError``); ``stop()`` logs out."""

    def __init__(self, config: FixConfig, signer=None, *, fees: FeeModel | None = None,
                 session: FixSession | None = None, store: SeqStore | None = None,
                 reconciler: Callable[[list[Order]], Iterable[OrderSnapshot]] | None = None,
                 connector=None, monotonic: Callable[[], float] = time.monotonic,
                 reconcile_interval_s: float = 2.0) -> None:
        self.config = config
        self.fees = fees or FeeModel()
        self.monotonic = monotonic
        self.reconciler = reconciler
        self.reconcile_interval_s = reconcile_interval_s
        self.active: set[str] = set()  # the engine's hot loop reads it: nothing to simulate
        self.sink = None
        self.books: dict = {}
        self.portfolio = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.session = session or FixSession(config, signer, store=store, on_message=self._on_message,
                                             on_event=self._on_event, connector=connector)
        if session is not None:
            session.on_message = self._on_message
            session.on_event = self._on_event
        self._prefix = uuid.uuid4().hex[:12] + "-"
        self._ids = itertools.count(1)
        self.by_clordid: dict[str, Order] = {}
        self.by_exchange_id: dict[str, Order] = {}
        self.live: dict[str, Order] = {}  # order_id -> non-terminal order
        self._clid: dict[str, str] = {}  # order_id -> ClOrdID of the last accepted change
        self._limit: dict[str, int] = {}  # order_id -> own-side limit actually sent
        self._tif: dict[str, str] = {}  # order_id -> "gtc" | "ioc" as sent
        self._reqs: dict[int, _Req] = {}  # our MsgSeqNum -> request
        self._seen_exec: set[str] = set()
        self._ack_deadline: dict[str, float] = {}
        self._cancel_deadline: dict[str, float] = {}
        self._ioc_deadline: dict[str, float] = {}
        self.frozen: dict[str, set[str]] = {}  # ticker -> order_ids whose outcome is unknown
        self._need_reconcile_at: float | None = None
        self._unknown_since: dict[str, float] = {}  # order_id -> when its outcome became unknown
        self._alerted: set[str] = set()  # order_ids whose unresolved outcome was alerted
        # called on the engine thread when a market needs a human: an order unresolved for
        # ``unresolved_alert_s`` or an implausible report (quarantined). The live runner sets
        # the market REDUCING; ``on_alert(ticker, reason)``
        self.on_alert: Callable[[str | None, str], None] | None = None
        self.quarantined: list[dict] = []  # reports refused by the sanity checks (tools, tests)
        # reconciliation in the background (set both): ``reconcile_fetch(orders) -> data`` does the
        # I/O on a worker thread, ``reconcile_apply(data, orders) -> snapshots`` runs in poll() on
        # the engine thread, so a slow or failing lookup never stalls market data or the kill switch
        self.reconcile_fetch: Callable[[list[Order]], object] | None = None
        self.reconcile_apply: Callable[[object, list[Order]], Iterable[OrderSnapshot]] | None = None
        self._reconcile_job: threading.Thread | None = None
        self.events: list[tuple[str, dict]] = []  # session events seen (for tools and tests)
        # journaling hooks (see the module docstring)
        self.before_send: Callable[[str, Order | None, str, dict], None] | None = None
        self.after_send: Callable[[str, Order | None, str, int], None] | None = None
        self.on_fill: Callable[[Order, Fill, str], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FixBroker:
        self.session.start()
        return self

    def stop(self) -> None:
        self.session.stop()

    def __enter__(self) -> FixBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def bind(self, sink, books, portfolio) -> None:
        self.sink = sink
        self.books = books
        self.portfolio = portfolio

    # ------------------------------------------------------------------ session callbacks (reader thread)
    def _on_message(self, msg: Message) -> None:
        self._inbox.put(("msg", msg))

    def _on_event(self, kind: str, info: dict) -> None:
        self._inbox.put(("event", (kind, info)))

    # ------------------------------------------------------------------ order entry
    def _new_clordid(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    def _now(self) -> int:
        return getattr(self.sink, "now", 0) if self.sink is not None else 0

    def _update(self, order: Order, status: str | None = None, reason: str | None = None) -> None:
        self._set_state(order, status, reason)
        if self.sink is not None:
            self.sink.order_update(order)

    def _set_state(self, order: Order, status: str | None, reason: str | None) -> None:
        """Change the order's status/reason; stop tracking it once it is final."""
        if status is not None:
            order.status = status
        if reason is not None:
            order.reason = reason
        if order.status in TERMINAL_STATUSES:
            self._forget(order)

    def _forget(self, order: Order) -> None:
        oid = order.order_id
        self.live.pop(oid, None)
        self._unknown_since.pop(oid, None)
        self._ack_deadline.pop(oid, None)
        self._cancel_deadline.pop(oid, None)
        self._ioc_deadline.pop(oid, None)

    def _reject(self, order: Order, reason: str) -> None:
        self._update(order, OrderStatus.REJECTED, reason)

    def _mark_unknown(self, order: Order, reason: str) -> None:
        if order.status in TERMINAL_STATUSES:
            return  # a definitive answer already came (a reject, a fill, a cancel): it stands
        self._unknown_since.setdefault(order.order_id, self.monotonic())
        if order.order_id not in self._alerted:
            self.frozen.setdefault(order.ticker, set()).add(order.order_id)
        self._ack_deadline.pop(order.order_id, None)
        self._cancel_deadline.pop(order.order_id, None)
        if self._need_reconcile_at is None:
            self._need_reconcile_at = self.monotonic()
        if order.status != OrderStatus.UNKNOWN or order.reason != reason:
            log.warning("FIX: order %s outcome unknown (%s); market %s frozen until reconciled",
                        order.order_id, reason, order.ticker)
            self._update(order, OrderStatus.UNKNOWN, reason)

    def _unfreeze(self, order: Order) -> None:
        self._unknown_since.pop(order.order_id, None)
        s = self.frozen.get(order.ticker)
        if s is not None:
            s.discard(order.order_id)
            if not s:
                del self.frozen[order.ticker]

    def _alert(self, ticker: str | None, reason: str) -> None:
        log.error("FIX ALERT (%s): %s", ticker or "all markets", reason)
        if self.on_alert is not None:
            self.on_alert(ticker, reason)

    def _alert_unresolved(self, now: float) -> None:
        """Orders UNKNOWN for ``unresolved_alert_s``: alert, lift their market's freeze (the alert
        makes the market REDUCING instead) and keep reconciling them."""
        limit = self.config.unresolved_alert_s
        for oid, since in list(self._unknown_since.items()):
            if oid in self._alerted or now - since < limit:
                continue
            order = self.live.get(oid)
            if order is None:
                self._unknown_since.pop(oid, None)
                continue
            self._alerted.add(oid)
            s = self.frozen.get(order.ticker)
            if s is not None:
                s.discard(oid)
                if not s:
                    del self.frozen[order.ticker]
            self._alert(order.ticker, f"order {order.order_id} ({order.client_order_id}) unresolved for "
                                      f"{now - since:.0f} s ({order.reason}); still reconciling")

    def _marketable_price(self, order: Order) -> int | None:
        book = self.books.get(order.ticker)
        if book is None:
            return None
        if order.action == "buy":
            opp = book.no_bid if order.side == "yes" else book.yes_bid
            return None if opp is None else DOLLAR - opp
        return book.yes_bid if order.side == "yes" else book.no_bid

    def submit(self, order: Order) -> None:
        if order.ticker in self.frozen:
            return self._reject(order, f"market {order.ticker} is frozen: an earlier order's outcome is "
                                       "unknown and must be reconciled first")
        price, tif = order.price, order.tif
        if price is None:
            price = self._marketable_price(order)
            tif = "ioc"
            if price is None:
                return self._update(order, OrderStatus.CANCELLED, "no liquidity on the opposite side")
        if order.reduce_only and tif != "ioc":
            return self._reject(order, "reduce-only orders must be IOC on Kalshi FIX (ExecInst E)")
        side, yes_price = fix_side_price(order.side, order.action, price)
        try:
            px = format_price(yes_price, self.config.use_dollars)
            qty = format_qty(order.qty, self.config.qty_decimals)
        except ValueError as e:
            return self._reject(order, str(e))
        if not order.client_order_id or order.client_order_id == order.order_id:
            order.client_order_id = str(uuid.uuid4())
        clid = order.client_order_id
        if not _CLORDID_RE.match(clid):
            return self._reject(order, f"client_order_id {clid!r} is not a valid ClOrdID (<= 64 chars of [-\\w:+=/])")
        if clid in self.by_clordid:
            return self._reject(order, f"client_order_id {clid!r} was used before")
        inst = "6" if order.post_only else ("E" if order.reduce_only else None)
        body = [(Tag.ClOrdID, clid), (Tag.Symbol, order.ticker), (Tag.Side, side), (Tag.OrderQty, qty),
                (Tag.OrdType, "2"), (Tag.Price, px),
                (Tag.TimeInForce, "3" if tif == "ioc" else self.config.time_in_force_gtc), (Tag.ExecInst, inst)]
        self.by_clordid[clid] = order
        self._clid[order.order_id] = clid
        self._limit[order.order_id] = price
        self._tif[order.order_id] = tif
        if self.before_send is not None:
            try:
                self.before_send("new", order, clid, {"price": price, "tif": tif})  # BEFORE the send
            except Exception as e:
                log.exception("FIX: before_send hook failed; order %s not sent", order.order_id)
                return self._reject(order, f"not sent: could not record the intent ({type(e).__name__}: {e})")
        try:
            seq = self.session.send(MsgType.NewOrderSingle, body)
        except NotLoggedOn as e:
            return self._reject(order, f"not sent: {e}")
        except SendFailed as e:
            self.live[order.order_id] = order
            return self._mark_unknown(order, str(e))
        if self.after_send is not None:
            self.after_send("new", order, clid, seq)
        self._reqs[seq] = _Req("new", order, clid)
        self.live[order.order_id] = order
        self._ack_deadline[order.order_id] = self.monotonic() + self.config.ack_timeout_s
        return None

    def cancel(self, order: Order) -> None:
        if order.status not in (OrderStatus.PENDING, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            return
        if order.order_id in self._cancel_deadline:
            return  # one cancel in flight at a time
        orig = self._clid.get(order.order_id)
        if orig is None:
            return
        side, _ = fix_side_price(order.side, order.action, self._limit.get(order.order_id, 1))
        clid = self._new_clordid()
        body = [(Tag.ClOrdID, clid), (Tag.OrigClOrdID, orig), (Tag.OrderID, order.exchange_order_id),
                (Tag.Side, side), (Tag.Symbol, order.ticker)]
        if not self._hook_before("cancel", order, clid, {"orig_clordid": orig}):
            return None
        self.by_clordid[clid] = order
        try:
            seq = self.session.send(MsgType.OrderCancelRequest, body)
        except NotLoggedOn as e:
            order.reason = f"cancel not sent: {e}"
            return self._update(order)
        except SendFailed as e:
            return self._mark_unknown(order, f"cancel: {e}")
        if self.after_send is not None:
            self.after_send("cancel", order, clid, seq)
        self._reqs[seq] = _Req("cancel", order, clid)
        self._cancel_deadline[order.order_id] = self.monotonic() + self.config.ack_timeout_s

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> None:
        """OrderCancelReplaceRequest: new own-side ``price`` and/or new *total* ``qty``."""
        if order.status not in _RESTING or order.order_id in self._cancel_deadline:
            return
        new_price = self._limit.get(order.order_id, order.price) if price is None else price
        new_qty = order.qty if qty is None else qty
        side, yes_price = fix_side_price(order.side, order.action, new_price)
        try:
            px = format_price(yes_price, self.config.use_dollars)
        except ValueError as e:
            order.reason = f"replace not sent: {e}"
            return self._update(order)
        clid = self._new_clordid()
        body = [(Tag.ClOrdID, clid), (Tag.OrigClOrdID, self._clid[order.order_id]),
                (Tag.OrderID, order.exchange_order_id), (Tag.OrderQty, format_qty(new_qty, self.config.qty_decimals)),
                (Tag.OrdType, "2"), (Tag.Price, px), (Tag.Side, side), (Tag.Symbol, order.ticker)]
        if not self._hook_before("replace", order, clid, {"price": new_price, "qty": new_qty,
                                                          "orig_clordid": self._clid[order.order_id]}):
            return None
        self.by_clordid[clid] = order
        try:
            seq = self.session.send(MsgType.OrderCancelReplaceRequest, body)
        except NotLoggedOn as e:
            order.reason = f"replace not sent: {e}"
            return self._update(order)
        except SendFailed as e:
            return self._mark_unknown(order, f"replace: {e}")
        if self.after_send is not None:
            self.after_send("replace", order, clid, seq)
        self._reqs[seq] = _Req("replace", order, clid)
        self._cancel_deadline[order.order_id] = self.monotonic() + self.config.ack_timeout_s

    def cancel_all(self, ticker: str | None = None) -> None:
        """Mass cancel (35=q, 530=6) where the session supports it, else one cancel per order."""
        if ticker is None and self.config.mass_cancel_supported and self.session.logged_on:
            clid = self._new_clordid()
            if not self._hook_before("mass", None, clid, {"orders": [o.client_order_id for o in self.live.values()]}):
                return
            try:
                seq = self.session.send(MsgType.OrderMassCancelRequest,
                                        [(Tag.ClOrdID, clid), (Tag.MassCancelRequestType, "6")])
                if self.after_send is not None:
                    self.after_send("mass", None, clid, seq)
                self._reqs[seq] = _Req("mass", None, clid)
                return
            except (NotLoggedOn, SendFailed) as e:
                log.warning("FIX: mass cancel not sent (%s); cancelling one by one", e)
        for order in list(self.live.values()):
            if ticker is None or order.ticker == ticker:
                self.cancel(order)

    def _hook_before(self, kind: str, order: Order | None, clid: str, info: dict) -> bool:
        """Run ``before_send`` for a cancel/replace/mass cancel; False (nothing sent) if it fails."""
        if self.before_send is None:
            return True
        try:
            self.before_send(kind, order, clid, info)
            return True
        except Exception as e:
            log.exception("FIX: before_send hook failed; %s not sent", kind)
            if order is not None:
                order.reason = f"{kind} not sent: could not record it ({type(e).__name__}: {e})"
                self._update(order)
            return False

    def _emit_fill(self, order: Order, fill: Fill, fill_key: str) -> None:
        if self.sink is not None:
            self.sink.fill(order, fill)
        if self.on_fill is not None:
            self.on_fill(order, fill, fill_key)

    # ------------------------------------------------------------------ market events (exchange-side)
    def on_book(self, book) -> None:
        return None

    def on_trade(self, trade) -> None:
        return None

    def market_closed(self, ticker: str, ts: int) -> None:
        return None  # the exchange cancels/expires resting orders and reports it

    # ------------------------------------------------------------------ poll (engine thread)
    def poll(self, timeout: float = 0.0) -> int:
        """Apply everything the session received; run timers. Returns the number of items handled.

        ``timeout > 0`` blocks until at least one item arrives or the time is up."""
        n = 0
        inbox = self._inbox
        if timeout > 0:
            try:
                item = inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is not None:
                self._dispatch(item)
                n += 1
        while True:
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            self._dispatch(item)
            n += 1
        self._timers()
        return n

    def poll_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll until ``predicate()`` is true or ``timeout`` seconds pass (tests, tools)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(timeout=min(left, 0.05))
        return True

    def _dispatch(self, item) -> None:
        kind, payload = item
        try:
            if kind == "msg":
                self._handle(payload)
            elif kind == "reconciled":
                self._apply_reconciliation(*payload)
            else:
                self._handle_event(*payload)
        except Exception:
            log.exception("FIX broker: failed to handle %s", kind)

    def _timers(self) -> None:
        now = self.monotonic()
        for oid, t in list(self._ack_deadline.items()):
            if now >= t:
                order = self.live.get(oid)
                if order is not None:
                    self._mark_unknown(order, f"no answer to NewOrderSingle within {self.config.ack_timeout_s:g} s")
                self._ack_deadline.pop(oid, None)
        for oid, t in list(self._cancel_deadline.items()):
            if now >= t:
                self._cancel_deadline.pop(oid, None)
                order = self.live.get(oid)
                if order is not None:
                    self._mark_unknown(order, "no answer to a cancel/replace request")
        for oid, t in list(self._ioc_deadline.items()):
            if now >= t:
                order = self.live.get(oid)
                self._ioc_deadline.pop(oid, None)
                if order is not None and order.status in (OrderStatus.PENDING, OrderStatus.PARTIALLY_FILLED,
                                                          OrderStatus.ACCEPTED):
                    self._update(order, OrderStatus.CANCELLED, "IOC remainder cancelled (no cancel report)")
        if (self._need_reconcile_at is not None and now >= self._need_reconcile_at
                and (self.reconciler is not None or self.reconcile_fetch is not None)):
            self._run_reconciler()
        if self._unknown_since:
            self._alert_unresolved(now)

    # ------------------------------------------------------------------ inbound
    def _handle_event(self, kind: str, info: dict) -> None:
        self.events.append((kind, info))
        if kind == "disconnected" and not self.config.retransmission:
            # NR: reports sent while we were away are gone for good
            for order in list(self.live.values()):
                self._mark_unknown(order, f"FIX session lost ({info.get('reason')}); reconciling")
        elif kind == "gap" and not info.get("retransmission"):
            for order in list(self.live.values()):
                self._mark_unknown(order, "sequence gap on a session without retransmission; reconciling")

    def _handle(self, msg: Message) -> None:
        mt = msg.msg_type
        if mt == MsgType.ExecutionReport:
            self._on_exec(msg)
        elif mt == MsgType.OrderCancelReject:
            self._on_cancel_reject(msg)
        elif mt == MsgType.BusinessMessageReject:
            self._on_request_reject(msg, "business reject", msg.get(Tag.BusinessRejectReason))
        elif mt == MsgType.Reject:
            self._on_request_reject(msg, "session reject", msg.get(Tag.SessionRejectReason))
        elif mt == MsgType.OrderMassCancelReport:
            if msg.get(Tag.MassCancelResponse) == "0":
                log.warning("FIX: mass cancel rejected: %s", msg.get(Tag.Text))
        else:
            log.info("FIX: unhandled message type %r", mt)

    def _find(self, msg: Message) -> Order | None:
        for tag in (Tag.ClOrdID, Tag.OrigClOrdID):
            v = msg.get(tag)
            if v and v in self.by_clordid:
                return self.by_clordid[v]
        oid = exchange_order_id(msg.get(Tag.OrderID))
        return self.by_exchange_id.get(oid) if oid else None

    def _on_exec(self, msg: Message) -> None:
        order = self._find(msg)
        if order is None:
            log.info("FIX: ExecutionReport for an unknown order ignored: %s", msg.get(Tag.ClOrdID))
            return
        exec_id = msg.get(Tag.ExecID)
        if exec_id and exec_id != "-1;-1":
            if exec_id in self._seen_exec:
                return
            self._seen_exec.add(exec_id)
        problem = self._implausible(order, msg)
        if problem is not None:
            return self._quarantine(order, msg, problem)
        oid = exchange_order_id(msg.get(Tag.OrderID))
        if oid:
            order.exchange_order_id = oid
            self.by_exchange_id[oid] = order
        self._ack_deadline.pop(order.order_id, None)
        was_unknown = order.status == OrderStatus.UNKNOWN
        et = msg.get(Tag.ExecType)
        st = msg.get(Tag.OrdStatus)
        text = msg.get(Tag.Text)
        cum = _qty(msg.get(Tag.CumQty))
        if et == "F" or (cum is not None and cum > order.filled_qty):
            self._apply_trade(order, msg, cum)
        if et == "0":
            if order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                self._update(order, OrderStatus.PARTIALLY_FILLED if order.filled_qty else OrderStatus.ACCEPTED)
        elif et == "F":
            self._after_trade(order, msg, st)
        elif et in ("4", "C"):
            self._cancel_deadline.pop(order.order_id, None)
            if order.status != OrderStatus.FILLED:
                status = OrderStatus.EXPIRED if (et == "C" or st == "C") else OrderStatus.CANCELLED
                self._update(order, status, text or ("expired" if status == OrderStatus.EXPIRED else "cancelled"))
        elif et == "5":
            self._on_replaced(order, msg)
        elif et == "8":
            if text == EXCHANGE_UNAVAILABLE:
                self._mark_unknown(order, EXCHANGE_UNAVAILABLE)
                return
            code = msg.get(Tag.OrdRejReason)
            self._update(order, OrderStatus.REJECTED, f"{text or 'rejected'}" + (f" (103={code})" if code else ""))
        elif et in ("A", "6", "E"):
            pass  # pending reports carry no decision
        if was_unknown and order.status != OrderStatus.UNKNOWN:
            self._unfreeze(order)

    def _implausible(self, order: Order, msg: Message) -> str | None:
        """Why an ExecutionReport cannot be true for ``order`` (None: plausible). Checked before
        anything of it is applied: quantities beyond the order, prices outside (0, $1), a fill
        worse than the limit, negative or unreadable fees, non-finite or absurd numbers."""
        ud = self.config.use_dollars
        qty = {}
        for tag, name in ((Tag.CumQty, "CumQty"), (Tag.LastQty, "LastQty"), (Tag.LeavesQty, "LeavesQty")):
            v = msg.get(tag)
            if v is None:
                continue
            try:
                qty[name] = parse_qty(v)
            except ValueError:
                return f"unreadable {name} {v!r}"
            if qty[name] < 0:
                return f"negative {name} {v}"
        cum, last = qty.get("CumQty"), qty.get("LastQty")
        limit_qty = max(order.qty, order.filled_qty)
        if cum is not None and cum > limit_qty:
            return f"CumQty {msg.get(Tag.CumQty)} exceeds the order's quantity ({limit_qty / 100:g})"
        if last is not None and last > limit_qty:
            return f"LastQty {msg.get(Tag.LastQty)} exceeds the order's quantity ({limit_qty / 100:g})"
        trade = msg.get(Tag.ExecType) == "F"
        for tag, name in ((Tag.LastPx, "LastPx"), (Tag.AvgPx, "AvgPx"), (Tag.Price, "Price")):
            v = msg.get(tag)
            if v is None or (name == "AvgPx" and not cum):
                continue  # AvgPx is 0 before the first fill
            try:
                px = parse_price(v, ud)
            except ValueError:
                return f"unreadable {name} {v!r}"
            if not 0 < px < DOLLAR:
                return f"{name} {v} is outside the (0, $1) price range"
            if name == "LastPx" and trade:
                limit = self._limit.get(order.order_id)
                own = px if order.side == "yes" else DOLLAR - px
                if limit is not None and (own > limit if order.action == "buy" else own < limit):
                    return (f"fill at {own / DOLLAR:.4f} is worse than the order's limit {limit / DOLLAR:.4f} "
                            f"({order.action} {order.side})")
        for g in msg.groups(Tag.NoMiscFees, Tag.MiscFeeAmt):
            v = g.get(Tag.MiscFeeAmt)
            try:
                fee = dollars(v)
            except (UnitError, TypeError):
                return f"unreadable fee {v!r}"
            if fee < 0:
                return f"negative fee {v}"
        return None

    def _quarantine(self, order: Order, msg: Message, problem: str) -> None:
        """Refuse a report (nothing of it reaches the order or the portfolio) and alert."""
        entry = {"order_id": order.order_id, "client_order_id": order.client_order_id, "ticker": order.ticker,
                 "problem": problem, "exec_id": msg.get(Tag.ExecID), "exec_type": msg.get(Tag.ExecType)}
        self.quarantined.append(entry)
        log.warning("FIX: ExecutionReport for order %s quarantined: %s", order.order_id, problem)
        self._alert(order.ticker, f"implausible ExecutionReport quarantined (order {order.order_id}): {problem}")

    def _after_trade(self, order: Order, msg: Message, st: str | None) -> None:
        if order.filled_qty >= order.qty or st == "2":
            if order.status != OrderStatus.FILLED:
                self._update(order, OrderStatus.FILLED)
            return
        if self._tif.get(order.order_id) == "ioc":
            leaves = _qty(msg.get(Tag.LeavesQty))
            if st in ("4", "C") or leaves == 0:
                self._update(order, OrderStatus.CANCELLED, "IOC remainder cancelled")
            else:
                self._ioc_deadline.setdefault(order.order_id, self.monotonic() + self.config.ioc_grace_s)

    def _apply_trade(self, order: Order, msg: Message, cum: int | None) -> None:
        last_qty = _qty(msg.get(Tag.LastQty))
        delta = (cum - order.filled_qty) if cum is not None else (last_qty or 0)
        if delta <= 0:
            return
        ud = self.config.use_dollars
        last_px = _px(msg.get(Tag.LastPx), ud)
        yes_px = last_px
        if last_px is None or (last_qty is not None and last_qty != delta):
            avg = _px(msg.get(Tag.AvgPx), ud)
            if avg is not None and cum:
                prev_yes = order.avg_price_num if order.side == "yes" else DOLLAR * order.filled_qty - order.avg_price_num
                yes_px = (avg * cum - prev_yes) // delta
        if yes_px is None:
            yes_px = fix_side_price(order.side, order.action, self._limit.get(order.order_id, order.price or 0))[1]
        own = yes_px if order.side == "yes" else DOLLAR - yes_px
        aggr = msg.get(Tag.AggressorIndicator)
        is_maker = (aggr == "N") if aggr in ("Y", "N") else order.status in _RESTING
        fee = self._exchange_fee(msg)
        if fee is None:
            fee = self.fees.charge(order, own, delta, is_maker)
        else:
            order.fee += fee
        order.filled_qty += delta
        order.avg_price_num += own * delta
        order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
        if order.status == OrderStatus.FILLED:
            self._forget(order)
        match_id = msg.get(Tag.TrdMatchID)
        key = match_id if (match_id and last_qty == delta) else \
            f"fix:{order.exchange_order_id or order.client_order_id}:{order.filled_qty}"
        self._emit_fill(order, Fill(order.ticker, order.side, order.action, own, delta, fee, self._now(),
                                    order.order_id, is_maker), key)

    @staticmethod
    def _exchange_fee(msg: Message) -> int | None:
        groups = msg.groups(Tag.NoMiscFees, Tag.MiscFeeAmt)
        if not groups:
            return None
        total = 0
        for g in groups:
            try:
                total += dollars(g[Tag.MiscFeeAmt])
            except (UnitError, KeyError):
                return None
        return total

    def _on_replaced(self, order: Order, msg: Message) -> None:
        self._cancel_deadline.pop(order.order_id, None)
        clid = msg.get(Tag.ClOrdID)
        if clid:
            self._clid[order.order_id] = clid
        px = _px(msg.get(Tag.Price), self.config.use_dollars)
        if px is not None:
            own = px if order.side == "yes" else DOLLAR - px
            self._limit[order.order_id] = own
            if order.price is not None:
                order.price = own
        cum, leaves = _qty(msg.get(Tag.CumQty)), _qty(msg.get(Tag.LeavesQty))
        if cum is not None and leaves is not None:
            order.qty = cum + leaves
        st = msg.get(Tag.OrdStatus)
        if st == "2" or order.filled_qty >= order.qty:
            self._update(order, OrderStatus.FILLED)
        else:
            self._update(order, OrderStatus.PARTIALLY_FILLED if order.filled_qty else OrderStatus.ACCEPTED,
                         "replaced")

    def _on_cancel_reject(self, msg: Message) -> None:
        order = self._find(msg)
        if order is None:
            return
        self._cancel_deadline.pop(order.order_id, None)
        text = msg.get(Tag.Text) or "cancel rejected"
        if text == EXCHANGE_UNAVAILABLE:
            return self._mark_unknown(order, f"cancel/replace: {EXCHANGE_UNAVAILABLE}")
        what = "replace" if msg.get(Tag.CxlRejResponseTo) == "2" else "cancel"
        code = msg.get(Tag.CxlRejReason)
        self._update(order, None, f"{what} rejected: {text}" + (f" (102={code})" if code else ""))

    def _on_request_reject(self, msg: Message, what: str, code: str | None) -> None:
        ref = _int(msg.get(Tag.RefSeqNum))
        req = self._reqs.get(ref) if ref is not None else None
        order = req.order if req is not None else None
        if order is None:
            rid = msg.get(Tag.BusinessRejectRefID)
            order = self.by_clordid.get(rid) if rid else None
            req = _Req("new", order, rid or "") if order is not None else None
        text = msg.get(Tag.Text) or what
        if order is None or req is None:
            log.warning("FIX: %s (code %s) of an unknown request: %s", what, code, text)
            return
        if text == EXCHANGE_UNAVAILABLE:
            return self._mark_unknown(order, f"{what}: {EXCHANGE_UNAVAILABLE}")
        reason = f"{what}" + (f" {code}" if code else "") + f": {text}"
        if req.kind == "new" and order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
            was_unknown = order.status == OrderStatus.UNKNOWN
            self._reject(order, reason)
            if was_unknown:
                self._unfreeze(order)
        elif req.kind in ("cancel", "replace"):
            self._cancel_deadline.pop(order.order_id, None)
            self._update(order, None, f"{req.kind} refused: {reason}")

    # ------------------------------------------------------------------ reconciliation
    def unknown_orders(self) -> list[Order]:
        return [o for o in self.live.values() if o.status == OrderStatus.UNKNOWN]

    def _run_reconciler(self) -> None:
        orders = self.unknown_orders()
        if not orders:
            self._need_reconcile_at = None
            return
        if not self.config.retransmission and not self.session.logged_on:
            return  # reconcile after the reconnect, so reports of the new session follow it
        if self.reconcile_fetch is not None:
            if self._reconcile_job is None:  # one lookup at a time; its answer comes via the inbox
                self._reconcile_job = threading.Thread(target=self._fetch_reconciliation, args=(orders,),
                                                       name="fix-reconcile", daemon=True)
                self._reconcile_job.start()
            return
        try:
            snaps = list(self.reconciler(orders))
        except Exception as e:
            log.warning("FIX: reconciliation failed (%s); retrying in %.1f s", e, self.reconcile_interval_s)
            self._need_reconcile_at = self.monotonic() + self.reconcile_interval_s
            return
        self.reconcile(snaps, orders)
        self._need_reconcile_at = (self.monotonic() + self.reconcile_interval_s) if self.unknown_orders() else None

    def _fetch_reconciliation(self, orders: list[Order]) -> None:
        """Worker thread: read the exchange's view of ``orders``; poll() applies it."""
        try:
            data, error = self.reconcile_fetch(orders), None
        except Exception as e:  # reported and retried on the engine thread
            data, error = None, e
        self._inbox.put(("reconciled", (data, orders, error)))

    def _apply_reconciliation(self, data, orders: list[Order], error: Exception | None) -> None:
        self._reconcile_job = None
        if error is not None:
            log.warning("FIX: reconciliation failed (%s); retrying in %.1f s", error, self.reconcile_interval_s)
            self._need_reconcile_at = self.monotonic() + self.reconcile_interval_s
            return
        # an execution report may have settled some of them while the lookup ran: those are known
        asked = [o for o in orders if o.status == OrderStatus.UNKNOWN]
        if asked:
            self.reconcile(list(self.reconcile_apply(data, asked)), asked)
        self._need_reconcile_at = (self.monotonic() + self.reconcile_interval_s) if self.unknown_orders() else None

    def reconcile(self, snapshots: Iterable[OrderSnapshot], asked: Iterable[Order] | None = None) -> None:
        """Apply what the exchange says about orders. Missed fills are reported (at the snapshot's
        average price); an UNKNOWN order the exchange does not know was never placed (REJECTED)."""
        seen: set[str] = set()
        for s in snapshots:
            order = self.by_clordid.get(s.client_order_id)
            if order is None:
                continue
            seen.add(order.order_id)
            xid = exchange_order_id(s.exchange_order_id)
            if xid:
                order.exchange_order_id = xid
                self.by_exchange_id[xid] = order
            missed = s.filled_qty - order.filled_qty
            if missed > 0:
                if s.avg_price is not None:
                    own = (s.avg_price * s.filled_qty - order.avg_price_num) // missed
                else:
                    own = self._limit.get(order.order_id, order.price or 0)
                if s.fee is not None:
                    fee = max(0, s.fee - order.fee)
                    order.fee += fee
                else:
                    fee = self.fees.charge(order, own, missed, False)
                order.filled_qty += missed
                order.avg_price_num += own * missed
                order.status = OrderStatus.FILLED if order.filled_qty >= order.qty else OrderStatus.PARTIALLY_FILLED
                self._emit_fill(order, Fill(order.ticker, order.side, order.action, own, missed, fee,
                                            self._now(), order.order_id, False),
                                f"fix:{order.exchange_order_id or order.client_order_id}:{order.filled_qty}")
            if s.status != order.status or s.status in TERMINAL_STATUSES:
                self._update(order, s.status, "reconciled")
            self._unfreeze(order)
        for order in asked or ():
            if order.order_id not in seen and order.status == OrderStatus.UNKNOWN:
                if exchange_order_id(order.exchange_order_id):  # acknowledged once, gone now
                    self._update(order, OrderStatus.CANCELLED, "not on the exchange any more (found neither by "
                                                               "order id nor by client id; exchange restarted?)")
                else:  # never acknowledged and not found by client id: it was never placed
                    self._reject(order, "not found on the exchange during reconciliation (never placed)")
                self._unfreeze(order)


def _qty(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return parse_qty(v)
    except ValueError:
        return None


def _px(v: str | None, use_dollars: bool) -> int | None:
    if v is None:
        return None
    try:
        return parse_price(v, use_dollars)
    except ValueError:
        return None


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None
