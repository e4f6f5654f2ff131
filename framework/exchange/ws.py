"""WebSocket v2 of the local exchange (``/trade-api/ws/v2``).

Frames are handled by ``websockets``' sans-I/O :class:`~websockets.server.ServerProtocol` on top
of the exchange's own asyncio HTTP transport, so REST and WebSocket share one port.

Engine events arrive on any thread; they are queued onto the event loop in engine order. Book
deltas carry the market's ``book_version`` so a subscription never applies a delta that its
snapshot already contains.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from framework.units import DOLLAR

from .kalshi_json import d4, fp, rfc3339

if TYPE_CHECKING:
    from .server import LocalExchange

__all__ = ["WsConnection", "WsHub"]

log = logging.getLogger(__name__)

CHANNELS = ("orderbook_delta", "trade", "ticker", "fill")
SEQUENCED = ("orderbook_delta", "trade")
MAX_BUFFER = 16 * 1024 * 1024

ERR = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    11: "Invalid parameter",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    25: "Buffer overflow",
}


@dataclass
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None = all markets
    seq: int = 0
    snap_version: dict[str, int] = field(default_factory=dict)
    last_ticker: dict[str, tuple[Any, ...]] = field(default_factory=dict)


class WsConnection:
    def __init__(self, hub: WsHub, protocol: ServerProtocol, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, key_id: str) -> None:
        self.hub = hub
        self.protocol = protocol
        self.reader = reader
        self.writer = writer
        self.key_id = key_id
        self.subs: dict[int, Subscription] = {}
        self.next_sid = 1
        self.closed = False
        self._fragments: list[bytes] = []

    # ------------------------------------------------------------------ io
    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            else:
                self._close_transport()
                return
        if self.writer.transport.get_write_buffer_size() > MAX_BUFFER:
            self.protocol.send_close(1008, "buffer overflow")  # slow consumer
            self._close_transport()

    def _close_transport(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.writer.close()
            except Exception:
                pass

    def send(self, obj: dict[str, Any]) -> None:
        if self.closed or self.protocol.state is not State.OPEN:
            return
        data = json.dumps(obj).encode()
        copies = 2 if "type" in obj and obj.get("type") not in ("error",) and self.hub.ex.faults.take_ws_duplicate() else 1
        for _ in range(copies):
            self.protocol.send_text(data)
        self.flush()

    def drop(self) -> None:
        """Abruptly drop the TCP connection (fault injection)."""
        self.closed = True
        try:
            self.writer.transport.abort()
        except Exception:
            pass

    async def run(self) -> None:
        ping_task = asyncio.create_task(self._pinger())
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    self.protocol.receive_eof()
                    self.flush()
                    break
                self.protocol.receive_data(data)
                for ev in self.protocol.events_received():
                    self._on_frame(ev)
                self.flush()
                if self.protocol.state is State.CLOSED:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            ping_task.cancel()
            self._close_transport()

    async def _pinger(self) -> None:
        interval = self.hub.ex.ws_ping_interval
        if not interval:
            return
        while not self.closed:
            await asyncio.sleep(interval)
            if self.protocol.state is State.OPEN:
                self.protocol.send_ping(b"heartbeat")
                self.flush()

    def _on_frame(self, frame: Any) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY) or (frame.opcode is Opcode.CONT and self._fragments):
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                raw = b"".join(self._fragments)
                self._fragments = []
                self._command(raw)

    # ------------------------------------------------------------------ commands
    def error(self, cid: int | None, code: int, extra: str = "", **more: Any) -> None:
        msg: dict[str, Any] = {"code": code, "msg": ERR.get(code, "Error") + (f": {extra}" if extra else "")}
        out: dict[str, Any] = {"id": cid or 0, "type": "error", "msg": msg}
        out.update(more)
        self.send(out)

    def _command(self, raw: bytes) -> None:
        try:
            cmd = json.loads(raw)
            if not isinstance(cmd, dict):
                raise ValueError
        except ValueError:
            self.error(0, 1, "message is not a JSON object")
            return
        cid = cmd.get("id", 0)
        name = cmd.get("cmd")
        params = cmd.get("params")
        with self.hub.ex.engine.lock:
            if name == "subscribe":
                self._subscribe(cid, params)
            elif name == "unsubscribe":
                self._unsubscribe(cid, params)
            elif name == "update_subscription":
                self._update(cid, params)
            elif name == "list_subscriptions":
                self.send({"id": cid, "type": "ok", "msg": [
                    {"channel": s.channel, "sid": s.sid, "market_tickers": sorted(s.tickers) if s.tickers is not None else []}
                    for s in self.subs.values()]})
            else:
                self.error(cid, 5, str(name))

    @staticmethod
    def _tickers(params: dict[str, Any]) -> list[str] | None:
        ts = params.get("market_tickers")
        if ts is None and params.get("market_ticker"):
            ts = [params["market_ticker"]]
        if ts is None:
            return None
        return [str(t) for t in ts]

    def _subscribe(self, cid: int, params: Any) -> None:
        if not isinstance(params, dict):
            self.error(cid, 2)
            return
        channels = params.get("channels")
        if not channels or not isinstance(channels, list):
            self.error(cid, 3)
            return
        for ch in channels:
            if ch not in CHANNELS:
                self.error(cid, 8, str(ch))
                return
        tickers = self._tickers(params)
        if tickers is not None:
            unknown = [t for t in tickers if t not in self.hub.ex.engine.markets]
            if unknown:
                self.error(cid, 11, f"unknown market ticker {unknown[0]}")
                return
        if "orderbook_delta" in channels and not tickers:
            self.error(cid, 14)
            return
        for ch in channels:
            sub = Subscription(self.next_sid, ch, set(tickers) if tickers else None)
            self.next_sid += 1
            self.subs[sub.sid] = sub
            self.send({"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sub.sid}})
            if ch == "orderbook_delta":
                for t in tickers or []:
                    self._snapshot(sub, t)
            elif ch == "ticker" and params.get("send_initial_snapshot"):
                for t in sorted(sub.tickers or self.hub.ex.engine.markets):
                    self._ticker(sub, t, force=True)

    def _unsubscribe(self, cid: int, params: Any) -> None:
        sids = params.get("sids") if isinstance(params, dict) else None
        if not sids or not isinstance(sids, list):
            self.error(cid, 4)
            return
        for sid in sids:
            sub = self.subs.pop(sid, None)
            if sub is None:
                self.error(cid, 7, str(sid))
                continue
            # the AsyncAPI schema requires seq >= 1 here even for a channel without sequence numbers
            # (ticker, fill); what Kalshi sends there is not documented, so 1 stands for "none yet"
            self.send({"id": cid, "sid": sid, "seq": max(sub.seq, 1), "type": "unsubscribed"})

    def _update(self, cid: int, params: Any) -> None:
        if not isinstance(params, dict):
            self.error(cid, 2)
            return
        sids = params.get("sids")
        if "sid" in params:
            sids = [params["sid"]]
        if not sids or not isinstance(sids, list) or len(sids) != 1:
            self.error(cid, 12)
            return
        sub = self.subs.get(sids[0])
        if sub is None:
            self.error(cid, 7, str(sids[0]))
            return
        action = params.get("action")
        if not action:
            self.error(cid, 15)
            return
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            self.error(cid, 13, str(action))
            return
        tickers = self._tickers(params)
        if action in ("add_markets", "delete_markets") and not tickers:
            self.error(cid, 14)
            return
        if tickers:
            unknown = [t for t in tickers if t not in self.hub.ex.engine.markets]
            if unknown:
                self.error(cid, 11, f"unknown market ticker {unknown[0]}")
                return
        if action == "get_snapshot":
            if sub.channel != "orderbook_delta":
                self.error(cid, 13, "get_snapshot is for orderbook_delta")
                return
            for t in tickers or sorted(sub.tickers or ()):
                if sub.tickers is not None and t in sub.tickers:
                    self._snapshot(sub, t)
            return
        assert tickers is not None
        new: list[str] = []
        if action == "add_markets":
            if sub.tickers is not None:
                new = [t for t in tickers if t not in sub.tickers]
                sub.tickers.update(tickers)
        else:
            if sub.tickers is not None:
                sub.tickers.difference_update(tickers)
                for t in tickers:
                    sub.snap_version.pop(t, None)
        ok: dict[str, Any] = {"id": cid, "sid": sub.sid, "type": "ok",
                              "msg": {"market_tickers": sorted(sub.tickers) if sub.tickers is not None else []}}
        if sub.seq:  # optional, and >= 1 when present
            ok["seq"] = sub.seq
        self.send(ok)
        if sub.channel == "orderbook_delta":
            for t in new:
                self._snapshot(sub, t)

    # ------------------------------------------------------------------ messages
    def _next_seq(self, sub: Subscription) -> int:
        sub.seq += 1
        if self.hub.ex.faults.take_ws_skip():
            sub.seq += 1
        return sub.seq

    def _snapshot(self, sub: Subscription, ticker: str) -> None:
        eng = self.hub.ex.engine
        yes, no, version = eng.orderbook(ticker)
        sub.snap_version[ticker] = version
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": eng.markets[ticker].market_id}
        if yes:
            msg["yes_dollars_fp"] = [[d4(p), fp(s)] for p, s in yes]
        if no:
            msg["no_dollars_fp"] = [[d4(p), fp(s)] for p, s in no]
        self.send({"type": "orderbook_snapshot", "sid": sub.sid, "seq": self._next_seq(sub), "msg": msg})

    def _ticker(self, sub: Subscription, ticker: str, force: bool = False) -> None:
        eng = self.hub.ex.engine
        m = eng.markets[ticker]
        top = eng.top(ticker)
        state = (top["yes_bid"], top["yes_ask"], top["yes_bid_size"], top["yes_ask_size"], m.last_price, m.volume, m.open_interest)
        if not force and sub.last_ticker.get(ticker) == state:
            return
        sub.last_ticker[ticker] = state
        now = eng.clock()
        last_size = 0
        for t in reversed(eng.trades):
            if t.ticker == ticker:
                last_size = t.qty
                break
        msg = {
            "market_ticker": ticker,
            "market_id": m.market_id,
            "price_dollars": d4(m.last_price),
            "yes_bid_dollars": d4(top["yes_bid"]),
            "yes_ask_dollars": d4(top["yes_ask"] if top["yes_ask"] is not None else DOLLAR),
            "yes_bid_size_fp": fp(top["yes_bid_size"]),
            "yes_ask_size_fp": fp(top["yes_ask_size"]),
            "last_trade_size_fp": fp(last_size),
            "volume_fp": fp(m.volume),
            "open_interest_fp": fp(m.open_interest),
            "dollar_volume": m.volume // 100 // 2,
            "dollar_open_interest": m.open_interest // 100 // 2,
            "ts": now // 1000,
            "ts_ms": now,
            "time": rfc3339(now),
        }
        self.send({"type": "ticker", "sid": sub.sid, "msg": msg})

    def on_event(self, ev: dict[str, Any]) -> None:
        typ = ev["type"]
        for sub in list(self.subs.values()):
            if typ == "book":
                t = ev["ticker"]
                if sub.channel == "orderbook_delta" and sub.tickers is not None and t in sub.tickers:
                    if ev["version"] <= sub.snap_version.get(t, 0):
                        continue  # already in the snapshot
                    msg: dict[str, Any] = {
                        "market_ticker": t,
                        "market_id": self.hub.ex.engine.markets[t].market_id,
                        "price_dollars": d4(ev["price"]),
                        "delta_fp": fp(ev["delta"]),
                        "side": ev["side"],
                        "ts_ms": ev["ts_ms"],
                        "ts": rfc3339(ev["ts_ms"]),
                    }
                    if ev.get("account") == self.key_id:
                        msg["client_order_id"] = ev.get("client_order_id", "")
                        msg["subaccount"] = 0
                    self.send({"type": "orderbook_delta", "sid": sub.sid, "seq": self._next_seq(sub), "msg": msg})
                elif sub.channel == "ticker" and (sub.tickers is None or t in sub.tickers):
                    self._ticker(sub, t)
            elif typ == "trade":
                tr = ev["trade"]
                if sub.tickers is not None and tr.ticker not in sub.tickers:
                    continue
                if sub.channel == "trade":
                    self.send({"type": "trade", "sid": sub.sid, "seq": self._next_seq(sub), "msg": {
                        "trade_id": tr.trade_id,
                        "market_ticker": tr.ticker,
                        "yes_price_dollars": d4(tr.yes_price),
                        "no_price_dollars": d4(DOLLAR - tr.yes_price),
                        "count_fp": fp(tr.qty),
                        "taker_side": tr.taker_leg,
                        "taker_outcome_side": tr.taker_leg,
                        "taker_book_side": "bid" if tr.taker_leg == "yes" else "ask",
                        "is_block_trade": False,
                        "ts": tr.ts_ms // 1000,
                        "ts_ms": tr.ts_ms,
                    }})
                elif sub.channel == "ticker":
                    self._ticker(sub, tr.ticker)
            elif typ == "fill":
                f = ev["fill"]
                if sub.channel != "fill" or f.account != self.key_id:
                    continue
                if sub.tickers is not None and f.ticker not in sub.tickers:
                    continue
                self.send({"type": "fill", "sid": sub.sid, "msg": {
                    "trade_id": f.trade_id,
                    "order_id": f.order_id,
                    "client_order_id": f.client_order_id,
                    "market_ticker": f.ticker,
                    "is_taker": f.is_taker,
                    "side": f.side,
                    "action": f.action,
                    "purchased_side": f.leg,
                    "outcome_side": f.leg,
                    "book_side": "bid" if f.leg == "yes" else "ask",
                    "yes_price_dollars": d4(f.yes_price),
                    "no_price_dollars": d4(DOLLAR - f.yes_price),
                    "count_fp": fp(f.qty),
                    "fee_cost": d4(f.fee),
                    "post_position_fp": fp(f.post_position),
                    "ts": f.ts_ms // 1000,
                    "ts_ms": f.ts_ms,
                    "exchange_index": 0,
                    "subaccount": 0,
                }})


class WsHub:
    """All live WS connections; receives engine events and fans them out on the event loop."""

    def __init__(self, exchange: LocalExchange) -> None:
        self.ex = exchange
        self.conns: set[WsConnection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def engine_listener(self, ev: dict[str, Any]) -> None:
        """Called by the engine (any thread, engine lock held)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not self.conns:
            return
        if ev["type"] not in ("book", "trade", "fill"):
            return
        try:
            loop.call_soon_threadsafe(self._dispatch, ev)
        except RuntimeError:  # loop shutting down
            pass

    def _dispatch(self, ev: dict[str, Any]) -> None:
        with self.ex.engine.lock:
            for c in list(self.conns):
                if c.closed:
                    continue
                try:
                    c.on_event(ev)
                except Exception:
                    log.exception("ws dispatch failed")

    def drop_all(self) -> int:
        n = 0
        for c in list(self.conns):
            c.drop()
            n += 1
        return n

    def now_ms(self) -> int:
        return int(time.time() * 1000)
