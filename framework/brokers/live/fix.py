"""The FIX broker of a live run: :class:`~framework.kalshi.fix.FixBroker` + the journal + REST.

:class:`JournaledFixBroker` gives the FIX order path the guarantees the RestBroker has:

* **intent before send**: the FixBroker's ``before_send`` hook journals the order (its
  ``client_order_id`` is the ClOrdID, a uuid4) before the NewOrderSingle is written; cancels,
  replaces and mass cancels are journaled as events first; ``after_send`` records ``sent_ns``;
* **every change journaled**: order states (the first exchange answer marks the order
  acknowledged), fills with the order, position and cash they change (one transaction);
* **unknown outcomes** (no answer, EXCHANGE_UNAVAILABLE, an NR disconnect) are resolved by the
  FixBroker's ``reconciler``, here a REST lookup (``GET /portfolio/orders`` by exchange id, else
  listing the ticker's orders and matching the client id; Kalshi has no FIX order-status
  request); fills the session missed are read from ``GET /portfolio/fills?order_id=...``;
* **restart**: it implements what :func:`framework.live.reconcile.reconcile` needs
  (``_register``, ``_update``, ``_fills_of``, ``apply_fill``, ``apply_state`` ...), so a FIX run
  is rebuilt from the journal and reconciled with the exchange exactly like a REST run.

Fills are counted per order by cumulative quantity, never twice: a FIX report adds ``CumQty``
minus what the order has; a REST fill of a known order adds only the part of the order's
exchange fills (in time order) beyond what the journal has. So a fill seen over FIX before a
crash and over REST after it counts once, whatever ids the two paths give it.

Sequence numbers live in the FixBroker's own SeqStore file ``<state_dir>/fix-seq.sqlite``
(written by the session's threads); they are mirrored into the journal's ``fix_seq`` table at
logon and stop. NR sessions log on with 141=Y (both sides restart at 1, as Kalshi requires);
RT sessions resume their numbers from the file.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from ...kalshi.errors import KalshiError, KalshiNotFound
from ...kalshi.fix.broker import FixBroker, OrderSnapshot, exchange_order_id
from ...kalshi.models import Fill as KFill
from ...kalshi.models import Order as KOrder
from ...model.orders import TERMINAL_STATUSES, Fill, Order, OrderStatus
from .exchange_fills import count_fill, fill_problem, foreign_order, journaled_order
from .hooks import checkpoint

__all__ = ["JournaledFixBroker"]

log = logging.getLogger(__name__)



class JournaledFixBroker(FixBroker):
    """A FixBroker whose orders and fills go through the live journal (see the module docstring).

    Args (besides FixBroker's): ``client`` a :class:`KalshiRestClient` (reconciliation),
    ``journal`` the run's :class:`~framework.live.journal.Journal`, ``session_no`` its session
    number.
    """

    start_before_reconcile = True  # the runner logs on before restart reconciliation

    def __init__(self, config, signer=None, *, client, journal=None, session_no: int = 0,
                 mass_cancel_interval_s: float = 1.0, **kw) -> None:
        super().__init__(config, signer, **kw)
        self.client = client
        self.journal = journal
        self.session_no = session_no
        self.mass_cancel_interval_s = mass_cancel_interval_s
        self.reconciler = self._rest_reconciler  # synchronous form (tools, tests)
        # during a run the REST lookups run on a worker thread (see FixBroker.reconcile_fetch)
        self.reconcile_fetch = self._rest_fetch
        self.reconcile_apply = self._rest_apply
        self.before_send = self._before_send
        self.after_send = self._after_send
        self.on_fill = self._on_fill
        self.seen_fills: set[str] = set(journal.fill_ids()) if journal is not None else set()
        self.duplicate_fills = 0
        self.stats = {"sent": 0, "cancels": 0, "replaces": 0, "unknown": 0, "rejected": 0, "fills": 0,
                      "reconciled": 0}
        self._journaled: set[str] = set()  # client ids with an orders row
        self._acked: set[str] = set()  # client ids whose first exchange answer is journaled
        self._synced: set[str] = set()  # exchange ids whose REST fills were counted (restart)
        self._contrib: set[str] = set()  # REST fill ids that added quantity (restart report)
        self._foreign = itertools.count(1)
        self._last_mass_cancel = float("-inf")
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> JournaledFixBroker:
        if not self._started:
            super().start()
            self._started = True
            self._mirror_seq("logon")
        return self

    def stop(self) -> None:
        if self._started:
            self._started = False
            try:
                super().stop()
            finally:
                self._mirror_seq("stop")

    def _mirror_seq(self, why: str) -> None:
        if self.journal is None:
            return
        s = self.session
        try:
            self.journal.set_fix_seq(self.config.session_key, s.next_out, s.next_in)
            self.journal.event("fix_seq", {"at": why, "session_key": self.config.session_key, "next_out": s.next_out,
                                              "next_in": s.next_in, "retransmission": self.config.retransmission})
        except Exception:
            log.exception("could not journal FIX sequence numbers")

    @property
    def idle(self) -> bool:
        """No request waiting for its answer (the runner's shutdown uses it)."""
        return not self._ack_deadline and not self._cancel_deadline and not self.unknown_orders()

    # the names restart reconciliation (framework.live.reconcile) uses
    @property
    def by_coid(self) -> dict[str, Order]:
        return self.by_clordid

    @property
    def by_xid(self) -> dict[str, Order]:
        return self.by_exchange_id

    # ------------------------------------------------------------------ hooks: journal before the wire
    def _before_send(self, kind: str, order: Order | None, clid: str, info: dict) -> None:
        j = self.journal
        if kind == "new":
            if j is not None:
                j.record_intent(order, self.session_no, info.get("price"), info.get("tif", order.tif))
                self._journaled.add(order.client_order_id)
            checkpoint("after_intent")
        elif j is not None:
            detail = dict(info, clordid=clid)
            if order is not None:
                detail["exchange_order_id"] = order.exchange_order_id
            j.event({"cancel": "cancel_request", "replace": "replace_request", "mass": "cancel_all"}[kind],
                    detail, order.client_order_id if order is not None else None)

    def _after_send(self, kind: str, order: Order | None, clid: str, seq: int) -> None:
        self.stats[{"new": "sent", "cancel": "cancels", "replace": "replaces"}.get(kind, "cancels")] += 1
        if kind == "new" and self.journal is not None and order is not None:
            self.journal.mark_sent(order.client_order_id)

    def cancel_all(self, ticker: str | None = None) -> None:
        # the runner's shutdown repeats cancel_all while orders are open: one mass cancel per interval
        if ticker is None and self.config.mass_cancel_supported and self.session.logged_on:
            now = self.monotonic()
            if now - self._last_mass_cancel < self.mass_cancel_interval_s:
                return
            self._last_mass_cancel = now
        super().cancel_all(ticker)

    # ------------------------------------------------------------------ journaled state changes
    def _first_answer(self, order: Order) -> bool:
        """True the first time the exchange's answer about ``order`` is about to be journaled."""
        coid = order.client_order_id
        if coid in self._acked or coid not in self._journaled or order.exchange_order_id is None:
            return False
        checkpoint("after_send")  # the exchange answered; the answer is not journaled yet
        self._acked.add(coid)
        return True

    def _update(self, order: Order, status: str | None = None, reason: str | None = None, kind: str | None = None,
                acked: bool = False, detail: Any = None) -> None:
        self._set_state(order, status, reason)
        if order.status == OrderStatus.UNKNOWN:
            self.stats["unknown"] += 1
        elif order.status == OrderStatus.REJECTED:
            self.stats["rejected"] += 1
        if self.journal is not None and order.client_order_id in self._journaled:
            first = self._first_answer(order)
            if kind is None:
                kind = "ack" if first else {"unknown": "unknown", "rejected": "reject", "cancelled": "cancelled",
                                            "expired": "expired"}.get(order.status, "state")
            self.journal.update_order(order, kind, detail if detail is not None else
                                      {"status": order.status, "reason": order.reason,
                                       "exchange_order_id": order.exchange_order_id,
                                       "clordid": self._clid.get(order.order_id)},
                                      acked=first or acked)
        if self.sink is not None:
            self.sink.order_update(order)

    def _on_replaced(self, order: Order, msg) -> None:
        super()._on_replaced(order, msg)
        if self.journal is not None and order.client_order_id in self._journaled:
            # cancels after a restart must name the ClOrdID of the last accepted change
            self.journal.event("fix_clordid", {"clordid": self._clid.get(order.order_id)}, order.client_order_id)

    def _on_fill(self, order: Order, fill: Fill, key: str, source: str = "fix", ts_ns: int | None = None) -> None:
        self.stats["fills"] += 1
        if self.journal is None:
            return
        first = self._first_answer(order)
        fid = key
        if fid in self.seen_fills or self.journal.has_fill(fid):
            fid = f"{key}#{order.client_order_id}:{order.filled_qty}"
        self.seen_fills.add(fid)
        self.journal.record_fill(fid, fill, order, self.portfolio, source, ts_ns)
        if first:
            self.journal.update_order(order, "ack", {"exchange_order_id": order.exchange_order_id,
                                                     "status": order.status}, acked=True)
        checkpoint("after_fill")

    # ------------------------------------------------------------------ REST: the reconciliation source
    def _status_of(self, order: Order, k: KOrder) -> str:
        filled = order.filled_qty
        if k.status == "resting":
            return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED
        if k.status == "executed" or filled >= order.qty:
            return OrderStatus.FILLED if filled >= order.qty else (
                OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED)
        if k.status == "canceled":
            return OrderStatus.CANCELLED
        return order.status

    def _lookup(self, order: Order, since_s: int | None = None) -> KOrder | None:
        """The exchange's view of ``order``: by exchange id, else (never acknowledged, or a 404
        for that id: the exchange restarted or forgot it) by listing the ticker's orders and
        matching the client id. None: the exchange has no such order, which is an answer (the
        caller resolves the order); raises KalshiError only when the exchange cannot be read."""
        xid = exchange_order_id(order.exchange_order_id)
        if xid:
            try:
                return self.client.get_order(xid)
            except KalshiNotFound:
                log.warning("order %s: exchange id %s not found (404); looking for client id %s",
                            order.order_id, xid, order.client_order_id)
        since = (since_s if since_s is not None else int(time.time()) - 3600) - 60
        for o in self.client.iter_orders(ticker=order.ticker, min_ts=since):
            if o.client_order_id == order.client_order_id:
                return o
        return None

    def _set_xid(self, order: Order, xid: str | None) -> None:
        xid = exchange_order_id(xid)
        if xid and order.exchange_order_id != xid:
            order.exchange_order_id = xid
        if xid:
            self.by_exchange_id[xid] = order

    def _fetch_fills(self, xid: str) -> list[KFill]:
        return sorted(self.client.iter_fills(order_id=xid), key=lambda f: (f.created_time, f.fill_id))

    def _sync_fills(self, order: Order, source: str) -> int:
        """Apply the order's exchange fills beyond what it has (REST, in time order). Returns how
        many fills added quantity."""
        xid = order.exchange_order_id
        if xid is None:
            return 0
        return self._apply_fills(order, xid, self._fetch_fills(xid), source)

    def _apply_fills(self, order: Order, xid: str, fills: list[KFill], source: str) -> int:
        self._synced.add(xid)
        cum = n = 0
        for kf in fills:
            prev, cum = cum, cum + kf.count
            if cum <= order.filled_qty:
                self.seen_fills.add(kf.fill_id)
                continue
            qty = cum - max(prev, order.filled_qty)
            problem = fill_problem(order, kf, qty)
            if problem is not None:
                self.seen_fills.add(kf.fill_id)
                self.quarantined.append({"fill_id": kf.fill_id, "ticker": order.ticker, "problem": problem})
                log.warning("REST fill quarantined: %s", problem)
                self._alert(order.ticker, f"implausible exchange fill quarantined: {problem}")
                break  # the later fills of this order count from a total we cannot trust
            self._apply_rest_fill(order, kf, qty, source)
            self._contrib.add(kf.fill_id)
            n += 1
        return n

    def _apply_rest_fill(self, order: Order, kf: KFill, qty: int, source: str) -> None:
        fill = count_fill(order, kf, qty, self._now())
        if order.status == OrderStatus.FILLED:
            self._forget(order)
        if self.sink is not None:
            self.sink.fill(order, fill)
        key = kf.fill_id if qty == kf.count else f"{kf.fill_id}#{qty}"
        self._on_fill(order, fill, key, source, kf.created_time)

    def _rest_reconciler(self, orders: list[Order]) -> list[OrderSnapshot]:
        """FixBroker ``reconciler``: what the exchange says about unknown orders (REST)."""
        return self._rest_apply(self._rest_fetch(orders), orders)

    def _rest_fetch(self, orders: list[Order]) -> dict[str, tuple[KOrder, list[KFill]]]:
        """The REST reads for ``orders`` (worker thread: reads ids only, changes nothing)."""
        out = {}
        for order in orders:
            k = self._lookup(order)
            if k is not None:
                out[order.order_id] = (k, self._fetch_fills(k.order_id))
        return out

    def _rest_apply(self, found: dict[str, tuple[KOrder, list[KFill]]], orders: list[Order]) -> list[OrderSnapshot]:
        """Apply what ``_rest_fetch`` read (engine thread): exchange ids, missed fills, states."""
        out = []
        for order in orders:
            if order.order_id not in found:
                continue
            k, fills = found[order.order_id]
            self._set_xid(order, k.order_id)
            self._apply_fills(order, k.order_id, fills, "reconcile")
            self.stats["reconciled"] += 1
            out.append(OrderSnapshot(order.client_order_id, self._status_of(order, k), order.filled_qty,
                                     exchange_order_id=k.order_id))
        return out

    def _handle_event(self, kind: str, info: dict) -> None:
        super()._handle_event(kind, info)
        if self.journal is not None and kind in ("disconnected", "gap", "logon"):
            self.journal.event("fix_" + kind, {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))})

    # ------------------------------------------------------------------ restart reconciliation API
    def _register(self, order: Order) -> None:
        """Bring back an order (journaled, or adopted from the exchange) so reports and cancels find it."""
        coid = order.client_order_id
        oid = order.order_id
        self._journaled.add(coid)
        clid = coid
        # an older version journaled the placeholder 37=NONE of an EXCHANGE_UNAVAILABLE reject
        order.exchange_order_id = exchange_order_id(order.exchange_order_id)
        if order.exchange_order_id:
            self._acked.add(coid)
            self.by_exchange_id[order.exchange_order_id] = order
        if self.journal is not None:
            for _, _, c, d in self.journal.events("fix_clordid"):
                if c == coid and d and d.get("clordid"):
                    clid = d["clordid"]
        self.by_clordid[coid] = order
        self.by_clordid[clid] = order
        self._clid[oid] = clid
        if order.price is not None:
            self._limit[oid] = order.price
        self._tif[oid] = order.tif
        if order.status not in TERMINAL_STATUSES:
            self.live[oid] = order
        if order.status == OrderStatus.UNKNOWN:
            self.frozen.setdefault(order.ticker, set()).add(oid)
            self._unknown_since.setdefault(oid, self.monotonic())
            if self._need_reconcile_at is None:
                self._need_reconcile_at = self.monotonic()

    def _fills_of(self, korder: KOrder) -> list[KFill]:
        if not korder.fill_count:
            return []
        try:
            return sorted(self.client.iter_fills(order_id=korder.order_id), key=lambda f: f.created_time)
        except KalshiError as e:
            log.warning("could not read fills of order %s (%s)", korder.order_id, e)
            return []

    def _order_of_fill(self, kf: KFill) -> Order | None:
        order = self.by_exchange_id.get(kf.order_id)
        if order is None and kf.client_order_id:
            order = self.by_clordid.get(kf.client_order_id)
        if order is None and self.journal is not None:  # an order of an earlier session
            order = journaled_order(self.journal, kf)
            if order is not None:
                self._register(order)
        if order is not None:
            self._set_xid(order, kf.order_id)
        return order

    def apply_fill(self, kf: KFill, source: str = "reconcile") -> bool:
        """Apply one exchange (REST) fill at most once. For our orders the order's whole fill list
        is counted against what the order has (see the module docstring). False: nothing new."""
        order = self._order_of_fill(kf)
        if order is None:
            if kf.fill_id in self.seen_fills:
                self.duplicate_fills += 1
                return False
            order = self._foreign_order(kf)
            self._apply_rest_fill(order, kf, kf.count, source)
            return True
        if kf.order_id not in self._synced:
            try:
                self._sync_fills(order, source)
            except KalshiError as e:
                log.warning("could not read fills of order %s (%s)", kf.order_id, e)
                return False
        if kf.fill_id in self._contrib:
            self._contrib.discard(kf.fill_id)
            return True
        self.duplicate_fills += 1
        return False

    def _foreign_order(self, kf: KFill) -> Order:
        order = foreign_order(kf, f"X{next(self._foreign)}", self._now())
        if self.journal is not None:
            self.journal.add_order(order, self.session_no, "adopted,foreign", detail={"fill_id": kf.fill_id})
        self._register(order)
        log.warning("fill %s belongs to order %s that this run did not place; adopted", kf.fill_id, kf.order_id)
        return order

    def apply_state(self, order: Order, korder: KOrder, what: str = "state") -> None:
        """Bring ``order`` in line with the exchange's view of it (restart reconciliation)."""
        self._set_xid(order, korder.order_id)
        if korder.order_id not in self._synced:
            try:
                self._sync_fills(order, "reconcile")
            except KalshiError as e:
                log.warning("could not read fills of order %s (%s)", korder.order_id, e)
        was = order.status
        if korder.status == "resting" and korder.fill_count is not None and korder.remaining_count is not None:
            order.qty = max(order.filled_qty, korder.fill_count + korder.remaining_count)
        status = self._status_of(order, korder)
        reason = order.reason
        if was in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
            reason = None
        if status == OrderStatus.CANCELLED and was != OrderStatus.CANCELLED:
            ioc = order.tif == "ioc" or order.price is None
            reason = ("IOC remainder cancelled" if order.filled_qty else "IOC not filled") if ioc else \
                "cancelled while the runner was down"
        first = order.client_order_id not in self._acked
        self._acked.add(order.client_order_id)
        order.reason = reason
        self._update(order, status, None, kind="ack" if first else what, acked=first,
                     detail={"exchange_order_id": order.exchange_order_id, "exchange_status": korder.status,
                             "status": status, "fill_count": korder.fill_count})
        if status != OrderStatus.UNKNOWN:
            self._unfreeze(order)
