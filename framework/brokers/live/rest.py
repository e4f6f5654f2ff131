"""RestBroker: the engine's Broker over Kalshi REST orders (for accounts without FIX).

Threading: the engine thread never waits for the network. ``submit``/``cancel``/``replace``
journal what they are about to do and put a command on a queue; one worker thread sends the
commands in order and polls for fills and order states; a second thread (optional) listens to
the WebSocket ``fill`` channel. Both threads only put results on a queue: every state change
(order status, fills, cash, positions, the journal) happens on the engine thread in ``poll()``,
which the engine calls after every chunk in live mode.

Order entry rules:

* every order carries a ``client_order_id`` (uuid4), journaled with the intent BEFORE the send;
* a create whose outcome is unknown (timeout, reset after sending, 5xx) is never resent blindly:
  the worker first lists the ticker's orders and matches the ``client_order_id``. Found: it is
  adopted as the answer. Not found: it was not placed and is sent again with the same id (the
  exchange answers a duplicate id with 409, which is again resolved by listing), so an order can
  never be doubled. While that is being settled the order is ``UNKNOWN``;
* a marketable order (``price=None``) goes out as an IOC limit at the visible opposite price of
  the engine's book, buys with ``buy_max_cost`` (a cost cap; Kalshi then treats the order as
  fill-or-kill, turn it off with ``marketable_cost_cap=False``); never ``type=market``. With no
  visible price it is cancelled locally, like the simulated broker does;
* prices and sizes go out as ``*_dollars`` / ``count_fp`` strings (``OrderRequest``).

Fills come from the WS ``fill`` channel when it is up, and from ``GET /portfolio/fills``
(polled every ``fill_poll_interval`` seconds, less often while the socket is up, and at once
after a reconnect); order states from ``GET /portfolio/orders``. Fills are deduplicated by
``fill_id`` (also across restarts, through the journal), so a duplicated WS message or a fill
seen on both paths counts once. Fees are the exchange's (``fee_cost``).
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ...kalshi.errors import (
    KalshiAPIError,
    KalshiConflict,
    KalshiConnectionError,
    KalshiError,
    KalshiParseError,
    KalshiRateLimited,
    UnknownOutcome,
)
from ...kalshi.models import Fill as KFill
from ...kalshi.models import Order as KOrder
from ...kalshi.rest import KalshiRestClient, OrderRequest
from ...model.fees import fee_for
from ...model.orders import TERMINAL_STATUSES, Order, OrderStatus
from ...units import CENT, notional
from .exchange_fills import count_fill, fill_problem, foreign_order, journaled_order
from .hooks import checkpoint

__all__ = ["RestBroker"]

log = logging.getLogger(__name__)

_LOOKUP_FAILED = object()
_URGENT = frozenset({"cancel", "batch_cancel"})
BATCH_CANCEL_MAX = 20  # Kalshi: DELETE /portfolio/orders/batched cancels "up to 20 orders at once"


def _ceil_cent(units: int) -> int:
    return -(-units // CENT) * CENT


class RestBroker:
    """Broker over Kalshi REST. ``start()`` starts the threads; ``stop()`` ends them.

    Args:
        client: a :class:`KalshiRestClient` (give it a short read timeout: an order write whose
            answer does not come within it is treated as an unknown outcome and reconciled).
        journal: a :class:`framework.live.journal.Journal` (optional; the live runner passes one).
        session: the journal session number of this run.
        ws_url / signer: enable the WS ``fill`` listener (``use_ws=False`` turns it off).
        fill_poll_interval / order_poll_interval: REST polling periods in seconds.
        marketable_cost_cap: send ``buy_max_cost`` with marketable buys.
        max_resends: sends of one create before it is rejected (not-placed outcomes only).
    """

    def __init__(self, client: KalshiRestClient, *, journal=None, session: int = 0, ws_url: str | None = None,
                 signer=None, use_ws: bool = True, fill_poll_interval: float = 1.0,
                 order_poll_interval: float = 2.0, marketable_cost_cap: bool = True, max_resends: int = 3,
                 retry_backoff: float = 0.2, fill_lookback_s: int = 5,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.journal = journal
        self.session = session
        self.ws_url = ws_url
        self.signer = signer if signer is not None else getattr(client, "signer", None)
        self.use_ws = use_ws and ws_url is not None and self.signer is not None
        self.fill_poll_interval = fill_poll_interval
        self.order_poll_interval = order_poll_interval
        self.marketable_cost_cap = marketable_cost_cap
        self.max_resends = max_resends
        self.retry_backoff = retry_backoff
        self.fill_lookback_s = fill_lookback_s
        self.monotonic = monotonic
        self.active: set[str] = set()  # nothing to simulate: the engine never calls on_book for us
        self.sink = None
        self.books: dict = {}
        self.portfolio = None
        # engine-thread state
        self.by_coid: dict[str, Order] = {}
        self.by_xid: dict[str, Order] = {}
        self.live: dict[str, Order] = {}  # client_order_id -> non-terminal order
        self.seen_fills: set[str] = set(journal.fill_ids()) if journal is not None else set()
        self._cancel_wanted: set[str] = set()
        self._cancel_inflight: set[str] = set()
        self._acked: set[str] = set()  # client ids whose create answer (or resolution) was applied
        self._foreign = itertools.count(1)
        self.duplicate_fills = 0
        self.stats = {"sent": 0, "resent": 0, "unknown": 0, "rejected": 0, "fills": 0}
        # engine thread: ``on_alert(ticker | None, reason)`` when the exchange sent something that
        # cannot be true (the live runner sets the market REDUCING); refused fills are listed here
        self.on_alert: Callable[[str | None, str], None] | None = None
        self.quarantined: list[dict] = []
        # shared with the worker (under _lock): what to poll
        self._lock = threading.Lock()
        self._watch: dict[str, tuple[str, str | None]] = {}  # coid -> (ticker, exchange id)
        self._unresolved: dict[str, tuple[OrderRequest, int, float]] = {}  # coid -> (req, send_ts_s, next try)
        self._fill_cursor_s = int(time.time()) - fill_lookback_s
        # (priority, n, command): cancels and mass cancels (0) go ahead of queued creates and
        # modifications (1), so a stop under load is not stuck behind thousands of creates
        self._cmds: queue.PriorityQueue = queue.PriorityQueue()
        self._cmd_n = itertools.count()
        self._halted: str | None = None  # set by halt(): queued creates are not sent any more
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._ws_thread: threading.Thread | None = None
        self.ws_up = False
        self._ws_conn = None
        self._poll_now = threading.Event()
        self._busy = 0  # commands queued or running

    # ------------------------------------------------------------------ lifecycle
    def bind(self, sink, books, portfolio) -> None:
        self.sink = sink
        self.books = books
        self.portfolio = portfolio

    def start(self) -> RestBroker:
        if self._worker is None:
            self._stop.clear()
            self._worker = threading.Thread(target=self._work, name="rest-broker", daemon=True)
            self._worker.start()
            if self.use_ws:
                self._ws_thread = threading.Thread(target=self._ws_loop, name="rest-broker-ws", daemon=True)
                self._ws_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        conn = self._ws_conn
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass
        for t in (self._worker, self._ws_thread):
            if t is not None:
                t.join(timeout)
        self._worker = self._ws_thread = None

    def set_fill_cursor(self, unix_s: int) -> None:
        """Poll fills from this time on (Unix seconds; a few seconds of overlap are deduplicated)."""
        with self._lock:
            self._fill_cursor_s = int(unix_s)

    @property
    def idle(self) -> bool:
        """No command queued or in flight and no create left to resolve."""
        with self._lock:
            return self._busy == 0 and not self._unresolved

    # ------------------------------------------------------------------ engine thread: order entry
    def _now(self) -> int:
        return getattr(self.sink, "now", 0) if self.sink is not None else 0

    def _marketable_price(self, order: Order) -> int | None:
        book = self.books.get(order.ticker)
        return None if book is None else book.touch_price(order.side, order.action)

    def _update(self, order: Order, status: str | None = None, reason: str | None = None, kind: str | None = None,
                acked: bool = False, detail: Any = None) -> None:
        if status is not None:
            order.status = status
        if reason is not None:
            order.reason = reason
        if order.status in TERMINAL_STATUSES:
            self._forget(order)
        if self.journal is not None:
            self.journal.update_order(order, kind, detail, acked=acked)
        if self.sink is not None:
            self.sink.order_update(order)

    def _forget(self, order: Order) -> None:
        coid = order.client_order_id
        self.live.pop(coid, None)
        self._cancel_wanted.discard(coid)
        self._cancel_inflight.discard(coid)
        with self._lock:
            self._watch.pop(coid, None)
            self._unresolved.pop(coid, None)

    def _register(self, order: Order) -> None:
        coid = order.client_order_id
        self.by_coid[coid] = order
        if order.exchange_order_id:
            self.by_xid[order.exchange_order_id] = order
            self._acked.add(coid)
        if order.status not in TERMINAL_STATUSES:
            self.live[coid] = order
            with self._lock:
                self._watch[coid] = (order.ticker, order.exchange_order_id)

    def _put(self, cmd: tuple) -> None:
        with self._lock:
            self._busy += 1
        self._cmds.put((0 if cmd[0] in _URGENT else 1, next(self._cmd_n), cmd))

    def halt(self, reason: str = "the run is stopping") -> None:
        """Send no more creates (thread-safe): the queued ones are REJECTED ``not sent``; cancels
        still go out. The runner calls it first thing when it stops."""
        self._halted = reason

    def submit(self, order: Order) -> None:
        price, tif = order.price, order.tif
        if price is None:
            price = self._marketable_price(order)
            tif = "ioc"
            if price is None:
                order.status = OrderStatus.CANCELLED
                order.reason = "no liquidity on the opposite side"
                if self.sink is not None:
                    self.sink.order_update(order)
                return
        if order.client_order_id == order.order_id:
            order.client_order_id = str(uuid.uuid4())
        try:
            req = OrderRequest(
                order.ticker, order.side, order.action, order.qty, price,
                time_in_force="immediate_or_cancel" if tif == "ioc" else "good_till_canceled",
                client_order_id=order.client_order_id, post_only=order.post_only, reduce_only=order.reduce_only,
                buy_max_cost=(_ceil_cent(notional(price, order.qty) + fee_for(price, order.qty))
                              if order.price is None and order.action == "buy" and self.marketable_cost_cap else None))
        except ValueError as e:
            order.status = OrderStatus.REJECTED
            order.reason = f"not sent: {e}"
            if self.sink is not None:
                self.sink.order_update(order)
            return
        if self.journal is not None:
            self.journal.record_intent(order, self.session, price, tif)  # BEFORE the send
        self._register(order)
        self._put(("create", order.client_order_id, req, int(time.time())))

    def cancel(self, order: Order) -> None:
        coid = order.client_order_id
        if coid not in self.live or coid in self._cancel_inflight:
            return
        if order.exchange_order_id is None:  # ack (or resolution) still outstanding: cancel after it
            self._cancel_wanted.add(coid)
            return
        self._cancel_inflight.add(coid)
        if self.journal is not None:
            self.journal.event("cancel_request", {"exchange_order_id": order.exchange_order_id}, coid)
        self._put(("cancel", coid, order.exchange_order_id))

    def cancel_all(self, ticker: str | None = None) -> None:
        """Cancel every open order (of ``ticker``): one batch request for the acknowledged ones."""
        batch = []
        for order in list(self.live.values()):
            if ticker is not None and order.ticker != ticker:
                continue
            coid = order.client_order_id
            if coid in self._cancel_inflight:
                continue
            if order.exchange_order_id is None:
                self._cancel_wanted.add(coid)
                continue
            self._cancel_inflight.add(coid)
            batch.append((coid, order.exchange_order_id))
        if batch:
            if self.journal is not None:
                self.journal.event("cancel_all", {"orders": [c for c, _ in batch]})
            for i in range(0, len(batch), BATCH_CANCEL_MAX):
                self._put(("batch_cancel", batch[i:i + BATCH_CANCEL_MAX]))

    def replace(self, order: Order, price: int | None = None, qty: int | None = None) -> None:
        """Change a resting order: new own-side ``price`` and/or new total ``qty``. A pure size
        decrease uses ``decrease`` (keeps queue priority), anything else ``amend``."""
        coid = order.client_order_id
        if coid not in self.live or order.exchange_order_id is None or order.status not in (
                OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            return
        new_price = order.price if price is None else price
        new_qty = order.qty if qty is None else qty
        if new_qty <= order.filled_qty:
            return self.cancel(order)
        if self.journal is not None:
            self.journal.event("replace_request", {"price": new_price, "qty": new_qty}, coid)
        if new_price == order.price and new_qty < order.qty:
            self._put(("decrease", coid, order.exchange_order_id, new_qty - order.filled_qty))
        else:
            self._put(("amend", coid, order.exchange_order_id,
                       dict(ticker=order.ticker, side=order.side, action=order.action, price=new_price,
                            count=new_qty)))

    # ------------------------------------------------------------------ exchange-side events (none for REST)
    def on_book(self, book) -> None:
        return None

    def on_trade(self, trade) -> None:
        return None

    def market_closed(self, ticker: str, ts: int) -> None:
        return None  # the exchange cancels resting orders; the order poll reports it

    # ------------------------------------------------------------------ engine thread: results
    def poll(self) -> int:
        """Apply everything the threads received (engine thread). Returns the number of items."""
        n = 0
        results = self._results
        while True:
            try:
                item = results.get_nowait()
            except queue.Empty:
                break
            n += 1
            try:
                self._dispatch(item)
            except Exception:
                log.exception("RestBroker: failed to apply %s", item[0])
        return n

    def wait(self, predicate: Callable[[], bool], timeout: float, on_poll: Callable[[], None] | None = None) -> bool:
        """Poll until ``predicate()`` holds or ``timeout`` seconds pass (tools, shutdown, tests)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if on_poll is not None:
                on_poll()
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _dispatch(self, item: tuple) -> None:
        kind = item[0]
        if kind == "fills":
            for kf in item[1]:
                self.apply_fill(kf, item[2])
        elif kind == "order":  # authoritative order state (ack, cancel answer, poll, resolution)
            _, coid, korder, fills, what = item
            for kf in fills:
                self.apply_fill(kf, "rest")
            order = self.by_coid.get(coid)
            if order is not None:
                total = (korder.fill_count or 0) + (korder.remaining_count or 0)
                if what != "amend" and total > order.qty and not (order.reason or "").startswith("adopted"):
                    return self._quarantine(order.ticker, f"order {order.order_id}: the exchange reports "
                                            f"{total / 100:g} contracts on an order of {order.qty / 100:g}",
                                            {"order_id": korder.order_id, "source": what})
                self.apply_state(order, korder, what)
        elif kind == "reject":
            _, coid, reason = item
            order = self.by_coid.get(coid)
            if order is not None and order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                self.stats["rejected"] += 1
                self._update(order, OrderStatus.REJECTED, reason, kind="reject", acked=True)
        elif kind == "unknown":
            _, coid, reason = item
            order = self.by_coid.get(coid)
            if order is not None and order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                self.stats["unknown"] += 1
                log.warning("order %s: outcome unknown (%s); reconciling", coid, reason)
                self._update(order, OrderStatus.UNKNOWN, f"outcome unknown: {reason}", kind="unknown")
        elif kind == "sent":
            _, coid, resend = item
            self.stats["resent" if resend else "sent"] += 1
            if self.journal is not None:
                if resend:
                    self.journal.event("resend", None, coid)
                else:
                    self.journal.mark_sent(coid)
        elif kind == "cancel_failed":
            _, coid, reason = item
            self._cancel_inflight.discard(coid)
            order = self.by_coid.get(coid)
            if order is not None and order.status not in TERMINAL_STATUSES:
                self._update(order, None, reason, kind="cancel_failed")
        elif kind == "bad_payload":  # a model refused a REST/WS payload (KalshiParseError)
            self._quarantine(item[1], item[2], {"source": item[3]})
        elif kind == "note":
            if self.journal is not None:
                self.journal.event(item[1], item[2], item[3] if len(item) > 3 else None)

    def apply_state(self, order: Order, korder: KOrder, what: str = "state") -> None:
        """Bring ``order`` in line with the exchange's view of it."""
        acked = order.client_order_id not in self._acked
        self._acked.add(order.client_order_id)
        if korder.order_id and order.exchange_order_id != korder.order_id:
            order.exchange_order_id = korder.order_id
            self.by_xid[korder.order_id] = order
            with self._lock:
                if order.client_order_id in self._watch:
                    self._watch[order.client_order_id] = (order.ticker, korder.order_id)
                self._unresolved.pop(order.client_order_id, None)
        before = (order.status, order.qty, order.reason)
        st = korder.status
        filled = order.filled_qty
        unsettled = order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
        ioc = order.tif == "ioc" or order.price is None
        reason = None if unsettled else order.reason
        if st == "resting":
            if korder.fill_count is not None and korder.remaining_count is not None:
                order.qty = max(filled, korder.fill_count + korder.remaining_count)
            status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED
            if what == "amend":
                reason = "replaced"
        elif st == "executed":
            # FILLED once every fill has arrived (they may still be on their way)
            status = OrderStatus.FILLED if filled >= order.qty else (
                OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED)
        elif st == "canceled":
            if filled >= order.qty:
                status = OrderStatus.FILLED
            else:
                status = OrderStatus.CANCELLED
                reason = ("cancelled by strategy" if what == "cancel" else
                          ("IOC remainder cancelled" if filled else "IOC not filled") if ioc else
                          "cancelled by the exchange")
        else:
            status = order.status
        order.reason = reason
        changed = (status, order.qty, reason) != before
        if changed or acked:
            kind = "ack" if acked else ("cancelled" if status == OrderStatus.CANCELLED else what)
            self._update(order, status, None, kind=kind, acked=acked,
                         detail={"exchange_order_id": order.exchange_order_id, "exchange_status": st,
                                 "status": status, "fill_count": korder.fill_count})
        if order.client_order_id in self._cancel_wanted and order.status not in TERMINAL_STATUSES:
            self._cancel_wanted.discard(order.client_order_id)
            self.cancel(order)

    def _foreign_order(self, kf: KFill) -> Order:
        order = foreign_order(kf, f"X{next(self._foreign)}", self._now())
        self.by_coid[order.client_order_id] = order
        self.by_xid[kf.order_id] = order
        if self.journal is not None:
            self.journal.add_order(order, self.session, "adopted,foreign", detail={"fill_id": kf.fill_id})
        log.warning("fill %s belongs to order %s that this run did not place; adopted", kf.fill_id, kf.order_id)
        return order

    def apply_fill(self, kf: KFill, source: str = "rest") -> bool:
        """Apply one exchange fill once (engine thread). Returns False for a duplicate."""
        fid = kf.fill_id
        if fid in self.seen_fills:
            self.duplicate_fills += 1
            return False
        self.seen_fills.add(fid)
        order = self.by_xid.get(kf.order_id)
        if order is None and kf.client_order_id:
            order = self.by_coid.get(kf.client_order_id)
            if order is not None and order.exchange_order_id is None:
                order.exchange_order_id = kf.order_id
                self.by_xid[kf.order_id] = order
        if order is None and self.journal is not None:  # an order of an earlier session
            order = journaled_order(self.journal, kf)
            if order is not None:
                order.exchange_order_id = kf.order_id
                self.by_coid[order.client_order_id] = order
                self.by_xid[kf.order_id] = order
        problem = fill_problem(order, kf)
        if problem is not None:
            self._quarantine(kf.ticker, problem, {"fill_id": fid, "order_id": kf.order_id, "source": source})
            return False
        if order is None:
            order = self._foreign_order(kf)
        if order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
            order.reason = None  # a fill settles an unknown outcome
        fill = count_fill(order, kf, kf.count, self._now())
        self.stats["fills"] += 1
        if order.status in TERMINAL_STATUSES:
            self._forget(order)
        if self.sink is not None:
            self.sink.fill(order, fill)
        if self.journal is not None:
            self.journal.record_fill(fid, fill, order, self.portfolio, source, kf.created_time)
        checkpoint("after_fill")
        return True

    def _quarantine(self, ticker: str | None, problem: str, detail: dict | None = None) -> None:
        """Refuse an exchange payload (nothing of it is applied), log it and alert (engine thread)."""
        self.quarantined.append(dict(detail or {}, ticker=ticker, problem=problem))
        log.warning("quarantined (%s): %s", ticker or "unknown market", problem)
        if self.journal is not None:
            self.journal.event("quarantined", dict(detail or {}, ticker=ticker, problem=problem))
        if self.on_alert is not None:
            self.on_alert(ticker, f"implausible exchange data quarantined: {problem}")

    # ------------------------------------------------------------------ worker thread
    def _done(self) -> None:
        with self._lock:
            self._busy -= 1

    def _work(self) -> None:
        next_fills = next_orders = 0.0
        while not self._stop.is_set():
            try:
                cmd = self._cmds.get(timeout=0.02)[2]
            except queue.Empty:
                cmd = None
            if cmd is not None:
                try:
                    self._run(cmd)
                except Exception:
                    log.exception("RestBroker worker: %s failed", cmd[0])
                finally:
                    self._done()
                continue
            now = self.monotonic()
            if self._poll_now.is_set() or now >= next_fills:
                self._poll_now.clear()
                self._poll_fills()
                period = self.fill_poll_interval * (5 if self.ws_up else 1)
                next_fills = self.monotonic() + period
            if now >= next_orders:
                self._poll_orders()
                next_orders = self.monotonic() + self.order_poll_interval

    def _run(self, cmd: tuple) -> None:
        kind = cmd[0]
        if kind == "create" and self._halted:
            self._results.put(("reject", cmd[1], f"not sent: {self._halted}"))
        elif kind == "create":
            self._create(cmd[1], cmd[2], cmd[3])
        elif kind == "cancel":
            self._cancel(cmd[1], cmd[2])
        elif kind == "batch_cancel":
            self._batch_cancel(cmd[1])
        elif kind == "decrease":
            self._modify(cmd[1], cmd[2], "decrease", lambda: self.client.decrease_order(cmd[2], reduce_to=cmd[3]))
        elif kind == "amend":
            self._modify(cmd[1], cmd[2], "amend",
                         lambda: self.client.amend_order(cmd[2], **cmd[3]).order)
        elif kind == "poll":
            self._poll_fills()
            self._poll_orders()

    def _fills_of(self, korder: KOrder) -> list[KFill]:
        if not korder.fill_count:
            return []
        try:
            return sorted(self.client.iter_fills(order_id=korder.order_id), key=lambda f: f.created_time)
        except KalshiError as e:
            log.warning("could not read fills of order %s (%s); the fill poll will catch up", korder.order_id, e)
            self._poll_now.set()
            return []

    def _lookup(self, req: OrderRequest, send_ts: int):
        """The exchange's order with ``req.client_order_id``, None if it has none, or _LOOKUP_FAILED."""
        try:
            for o in self.client.iter_orders(ticker=req.ticker, min_ts=send_ts - 60):
                if o.client_order_id == req.client_order_id:
                    return o
        except KalshiError as e:
            log.warning("could not list %s orders to resolve %s (%s)", req.ticker, req.client_order_id, e)
            return _LOOKUP_FAILED
        return None

    def _create(self, coid: str, req: OrderRequest, send_ts: int, resolving: bool = False) -> None:
        sends = 0
        while not self._stop.is_set():
            if resolving:
                found = self._lookup(req, send_ts)
                if found is _LOOKUP_FAILED:
                    with self._lock:
                        self._unresolved[coid] = (req, send_ts, self.monotonic() + self.order_poll_interval)
                    return
                if found is not None:
                    self._results.put(("order", coid, found, self._fills_of(found), "resolved"))
                    return
                if sends >= self.max_resends:
                    self._results.put(("reject", coid, f"not placed after {sends} attempts (outcomes unknown, "
                                                       "the exchange has no such order)"))
                    return
                resolving = False
            if sends == 0:
                checkpoint("after_intent")
            sends += 1
            try:
                korder = self.client.create_order(req)
            except UnknownOutcome as e:
                self._results.put(("unknown", coid, e.reason))
                resolving = True
                continue
            except KalshiConflict:
                resolving = True  # the id exists on the exchange: an earlier send got through
                continue
            except (KalshiConnectionError, KalshiRateLimited) as e:  # certainly not executed
                if sends >= self.max_resends:
                    self._results.put(("reject", coid, f"not sent: {e}"))
                    return
                self._stop.wait(self.retry_backoff * sends)
                continue
            except KalshiAPIError as e:
                self._results.put(("reject", coid, f"rejected by the exchange: {e}"))
                return
            except KalshiError as e:
                self._results.put(("unknown", coid, str(e)))
                resolving = True
                continue
            checkpoint("after_send")
            self._results.put(("sent", coid, sends > 1))
            self._results.put(("order", coid, korder, self._fills_of(korder), "ack"))
            return
        with self._lock:  # stopping: leave it to the restart reconciliation
            self._unresolved.pop(coid, None)

    def _cancel(self, coid: str, xid: str) -> None:
        for attempt in range(self.max_resends):
            try:
                res = self.client.cancel_order(xid)
            except (UnknownOutcome, KalshiConnectionError, KalshiRateLimited) as e:
                log.warning("cancel of %s: %s; reading the order", xid, e)
                try:
                    k = self.client.get_order(xid)
                except KalshiError:
                    self._stop.wait(self.retry_backoff * (attempt + 1))
                    continue
                if k.status != "resting":
                    self._results.put(("order", coid, k, self._fills_of(k), "cancel"))
                    return
                self._stop.wait(self.retry_backoff * (attempt + 1))
                continue
            except KalshiAPIError as e:
                try:
                    k = self.client.get_order(xid)
                    self._results.put(("order", coid, k, self._fills_of(k), "cancel"))
                except KalshiError:
                    self._results.put(("cancel_failed", coid, f"cancel refused: {e}"))
                return
            if res.order is not None:
                self._results.put(("order", coid, res.order, self._fills_of(res.order), "cancel"))
            else:
                try:
                    k = self.client.get_order(xid)
                    self._results.put(("order", coid, k, self._fills_of(k), "cancel"))
                except KalshiError as e:
                    self._results.put(("cancel_failed", coid, f"cancel answer without an order ({e})"))
            return
        self._results.put(("cancel_failed", coid, "cancel outcome unknown after retries; the order poll will tell"))

    def _batch_cancel(self, batch: list[tuple[str, str]]) -> None:
        try:
            res = self.client.batch_cancel_orders([x for _, x in batch])
        except KalshiError as e:
            log.warning("batch cancel failed (%s); cancelling one by one", e)
            for coid, xid in batch:
                self._cancel(coid, xid)
            return
        by_x = {r.order_id: r for r in res}
        for coid, xid in batch:
            r = by_x.get(xid)
            if r is not None and r.order is not None:
                self._results.put(("order", coid, r.order, self._fills_of(r.order), "cancel"))
            else:
                self._cancel(coid, xid)

    def _modify(self, coid: str, xid: str, what: str, call: Callable[[], KOrder]) -> None:
        try:
            k = call()
        except KalshiError as e:
            try:
                k = self.client.get_order(xid)
            except KalshiError:
                self._results.put(("cancel_failed", coid, f"{what} failed: {e}"))
                return
            self._results.put(("order", coid, k, self._fills_of(k), "state"))
            self._results.put(("cancel_failed", coid, f"{what} failed: {e}"))
            return
        self._results.put(("order", coid, k, self._fills_of(k), what))

    def _poll_fills(self) -> None:
        with self._lock:
            cursor = self._fill_cursor_s
        try:
            fills = sorted(self.client.iter_fills(min_ts=max(0, cursor - self.fill_lookback_s)),
                           key=lambda f: f.created_time)
        except KalshiParseError as e:
            self._results.put(("bad_payload", None, f"GET /portfolio/fills: {e}", "rest"))
            return
        except KalshiError as e:
            log.debug("fill poll failed: %s", e)
            return
        if fills:
            newest = fills[-1].created_time // 1_000_000_000
            with self._lock:
                self._fill_cursor_s = max(self._fill_cursor_s, newest)
            self._results.put(("fills", fills, "rest"))

    def _poll_orders(self) -> None:
        with self._lock:
            watch = dict(self._watch)
            due = [(c, v) for c, v in self._unresolved.items() if v[2] <= self.monotonic()]
        for coid, (req, send_ts, _) in due:
            with self._lock:
                self._unresolved.pop(coid, None)
            self._create(coid, req, send_ts, resolving=True)
        known = {c: x for c, (_, x) in watch.items() if x}
        if not known:
            return
        try:
            resting = {o.order_id for o in self.client.iter_orders(status="resting")}
        except KalshiParseError as e:
            self._results.put(("bad_payload", None, f"GET /portfolio/orders: {e}", "rest"))
            return
        except KalshiError as e:
            log.debug("order poll failed: %s", e)
            return
        for coid, xid in known.items():
            if xid in resting:
                continue
            if self._halted:
                break  # stopping: cancels must not wait behind one read per order (the stop checks the exchange)
            try:
                k = self.client.get_order(xid)
            except KalshiError:
                continue
            self._results.put(("order", coid, k, self._fills_of(k), "state"))

    # ------------------------------------------------------------------ WS fill listener
    def _ws_loop(self) -> None:
        from websockets.sync.client import connect

        delay = 0.25
        path = urlsplit(self.ws_url).path
        while not self._stop.is_set():
            try:
                with connect(self.ws_url, additional_headers=self.signer.headers("GET", path),
                             open_timeout=5, close_timeout=1) as ws:
                    self._ws_conn = ws
                    ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["fill"]}}))
                    self.ws_up = True
                    self._poll_now.set()  # catch anything missed while the socket was down
                    self._results.put(("note", "ws_up", None))
                    delay = 0.25
                    while not self._stop.is_set():
                        try:
                            raw = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        msg = json.loads(raw)
                        if msg.get("type") == "fill" and isinstance(msg.get("msg"), dict):
                            try:
                                kf = KFill.from_json(msg["msg"])
                            except KalshiError as e:
                                ticker = msg["msg"].get("market_ticker") or msg["msg"].get("ticker")
                                self._results.put(("bad_payload", ticker if isinstance(ticker, str) else None,
                                                   f"WebSocket fill: {e}", "ws"))
                                continue
                            self._results.put(("fills", [kf], "ws"))
            except Exception as e:  # refused, dropped, 403 ...: fall back to REST polling
                if self._stop.is_set():
                    break
                if self.ws_up:
                    self._results.put(("note", "ws_down", {"reason": f"{type(e).__name__}: {e}"}))
                log.info("fill socket down (%s: %s); polling fills over REST", type(e).__name__, e)
            finally:
                self._ws_conn = None
                self.ws_up = False
            self._stop.wait(delay)
            delay = min(delay * 2, 5.0)
