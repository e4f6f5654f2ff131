"""WebSocketFeed: Kalshi WebSocket v2 order books and trades as engine chunks.

* Connects with ``websockets`` (``websockets.asyncio.client.connect``) and the signed
  ``KALSHI-ACCESS-*`` headers (signed again on every connect) and **no** ``Origin`` header:
  Kalshi's CDN answers an upgrade that carries ``Origin`` with HTTP 403 (see
  docs/live-data.md). ``origin=None`` is passed explicitly and the sent request is checked.
* Subscribes ``orderbook_delta`` + ``trade`` for the markets (and ``fill`` when a
  ``fill_handler`` is given), keeps L2 books from snapshot + deltas, checks every
  subscription's ``seq``: a duplicate (``seq <= last``) is ignored; a gap drops the affected
  books (held, or cleared with ``clear_on_gap=True``), discards their deltas and asks for fresh
  snapshots (``get_snapshot``); if they do not come within ``resync_timeout`` the connection is
  rebuilt. A gap on the trade channel is backfilled over REST when a ``client`` is given.
* Keepalive: the library answers the exchange's pings and sends its own every
  ``ping_interval`` s; no pong within ``ping_timeout`` s means the socket is dead.
* Reconnects with capped exponential backoff and jitter (``rng`` injectable); on reconnect it
  resubscribes and every book is replaced by a fresh snapshot.

The asyncio loop runs on a daemon thread; messages reach ``chunks()`` through a queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ...kalshi.auth import KalshiSigner
from ...kalshi.envs import Environment, resolve_env
from ...kalshi.models import Fill, OrderbookLevels, Trade
from ...units import CENT, CONTRACT, DOLLAR, contracts, dollars
from .base import LiveFeedBase
from .books import DELTA, DROP, SNAP, STATUS, TRADE_MSG

__all__ = ["WebSocketFeed", "explain_ws_error", "handshake_status", "ws_connect_kwargs"]

log = logging.getLogger("framework.data.live")

SUBSCRIBE_BATCH = 200  # market tickers per subscribe command


class _Reconnect(Exception):
    """Internal: rebuild the connection (the message is the reason)."""


def handshake_status(exc: BaseException) -> int | None:
    """The HTTP status of a refused WebSocket upgrade, else ``None``."""
    if isinstance(exc, InvalidStatus):
        return getattr(exc.response, "status_code", None)
    return None


def explain_ws_error(exc: BaseException, url: str = "") -> str:
    """One plain sentence saying why the WebSocket could not be used."""
    status = handshake_status(exc)
    where = f" by {urlsplit(url).netloc}" if url else ""
    if status == 403:
        cdn = ""
        try:
            if "cloudfront" in str(exc.response.headers.get("x-cache", "")).lower():  # type: ignore[attr-defined]
                cdn = " (answered by the CDN, x-cache: Error from cloudfront)"
        except Exception:
            pass
        return (f"the WebSocket upgrade was refused with HTTP 403{where}{cdn}: this usually means an Origin "
                "header was sent (Kalshi's CDN rejects upgrades that carry one; this feed sends none, so a "
                "proxy or a different WebSocket client added it) or the WebSocket is blocked for this network")
    if status == 401:
        return (f"the WebSocket upgrade was refused with HTTP 401{where}: the credentials were refused (check "
                "the key id and key file, that the key belongs to this environment (demo keys fail on prod), "
                "and that the computer clock is right)")
    if status is not None:
        return f"the WebSocket upgrade was refused with HTTP {status}{where}"
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        detail = f"code {rcvd.code}{(' ' + rcvd.reason) if rcvd.reason else ''}" if rcvd else "no close frame"
        return f"the WebSocket connection broke ({detail})"
    if isinstance(exc, InvalidHandshake):
        return f"the WebSocket handshake failed{where}: {exc}"
    if isinstance(exc, TimeoutError):
        return f"the WebSocket handshake{where} timed out"
    if isinstance(exc, ConnectionRefusedError):
        return f"the WebSocket connection was refused{where} (nothing listening at {url or 'the address'})"
    if isinstance(exc, OSError):
        return f"could not reach the WebSocket{where}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, _Reconnect):
        return str(exc)
    return f"the WebSocket failed: {type(exc).__name__}: {exc}"


def ws_connect_kwargs(ws_url: str, signer: KalshiSigner | None, *, ping_interval: float | None = 10.0,
                      ping_timeout: float | None = 20.0, open_timeout: float = 10.0) -> dict[str, Any]:
    """Keyword arguments for ``websockets.asyncio.client.connect``: signed headers, no Origin."""
    path = urlsplit(ws_url).path or "/"
    host = urlsplit(ws_url).hostname or ""
    kw: dict[str, Any] = {
        "additional_headers": signer.headers("GET", path) if signer is not None else {},
        "origin": None,  # never send Origin: Kalshi's CDN answers 403 to it
        "ping_interval": ping_interval,
        "ping_timeout": ping_timeout,
        "open_timeout": open_timeout,
        "max_size": 64 * 1024 * 1024,  # snapshots of deep books
        "compression": None,
    }
    if host in ("127.0.0.1", "localhost", "::1"):
        kw["proxy"] = None
    return kw


def _units(value: Any, places: int, slow: Callable[[Any], int]) -> int:
    """Fast exact parse of a fixed-point string (``"0.9600"``, ``"-54.00"``) into int units."""
    if isinstance(value, str):
        s = value.strip()
        neg = s.startswith("-")
        if neg or s.startswith("+"):
            s = s[1:]
        whole, _, frac = s.partition(".")
        if (whole.isdigit() or (not whole and frac)) and len(frac) <= places and (not frac or frac.isdigit()):
            v = int(whole or "0") * 10 ** places + (int(frac.ljust(places, "0")) if frac else 0)
            return -v if neg else v
    return slow(value)


def _price_units(v: Any) -> int:
    return _units(v, 4, dollars)


def _size_units(v: Any) -> int:
    return _units(v, 2, contracts)


class _Sid:
    __slots__ = ("channel", "tickers", "last")

    def __init__(self, channel: str, tickers: Iterable[str]) -> None:
        self.channel = channel
        self.tickers = set(tickers)
        self.last = 0


class WebSocketFeed(LiveFeedBase):
    """Live order books and trades over Kalshi's WebSocket (see module docstring).

    Args:
        env: an :class:`~framework.kalshi.envs.Environment` or its name.
        signer: signs the upgrade (Kalshi requires it even for public channels).
        markets: initial tickers; ``subscribe()`` adds more at any time.
        client: a :class:`~framework.kalshi.rest.KalshiRestClient`, used only to backfill
            trades after a gap on the trade channel.
        fill_handler: called (on the WebSocket thread) with a
            :class:`~framework.kalshi.models.Fill` for each of the account's fills; subscribing
            ``fill`` happens only when it is given.
        backoff_base / backoff_cap: reconnect delay ``min(cap, base * 2**attempt)`` times a
            jitter factor in [0.5, 1] drawn from ``rng`` (seedable).
        resync_timeout: seconds to wait for snapshots after a seq gap before reconnecting.
        clear_on_gap: emit an empty snapshot for books dropped on a gap (default: hold them
            until the fresh snapshot arrives; their deltas are discarded meanwhile).
        src: tag of this source's messages (``AutoFeed`` uses it); ``sink``/``books``: share a
            queue and book state with another feed.
    """

    def __init__(self, env: Environment | str, signer: KalshiSigner | None, *, markets: Iterable[str] = (),
                 client=None, fill_handler: Callable[[Fill], None] | None = None,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0, rng: random.Random | None = None,
                 ping_interval: float | None = 10.0, ping_timeout: float | None = 20.0,
                 open_timeout: float = 10.0, resync_timeout: float = 5.0, clear_on_gap: bool = False,
                 src: str = "ws", **base: Any) -> None:
        super().__init__(markets=markets, **base)
        self.env = resolve_env(env) if not isinstance(env, Environment) else env
        if not self.env.ws_url:
            raise ValueError(f"environment {self.env.name!r} has no WebSocket URL")
        self.url = self.env.ws_url
        self.signer = signer
        self.client = client
        self.fill_handler = fill_handler
        self.backoff_base = float(backoff_base)
        self.backoff_cap = float(backoff_cap)
        self.rng = rng or random.Random()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.resync_timeout = float(resync_timeout)
        self.books.clear_on_gap = clear_on_gap or self.books.clear_on_gap
        self.src = src
        # observable state
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.n_connects = 0
        self.n_gaps = 0
        self.n_duplicates = 0
        self.sent_headers: dict[str, str] | None = None  # headers of the last upgrade request
        # loop-thread state
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._ws = None
        self._reset_conn()
        self._fill_seen: set[tuple[str | None, str]] = set()

    # ---- observable ------------------------------------------------------------------------
    @property
    def stale(self) -> set[str]:
        """Tickers whose book is not currently live and in sync (disconnected or resyncing)."""
        if not self.connected.is_set():
            return set(self.tickers)
        return set(self._awaiting) | {t for t in self.tickers if t not in self._have_snapshot}

    # ---- LiveFeedBase hooks ------------------------------------------------------------------
    def _start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._thread_main, name="kalshi-ws-feed", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stopping = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._request_stop)
            except RuntimeError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _added(self, tickers: list[str]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(self._subscribe_new(), loop)
            except RuntimeError:
                pass

    def _status(self, msg: tuple) -> None:
        pass  # a standalone WS feed only logs (done on the WS thread)

    # ---- producer side (WS thread) -----------------------------------------------------------
    def _emit(self, msg: tuple) -> None:
        self.queue.put(msg)

    def _reset_conn(self) -> None:
        self._cmd_id = 0
        self._pending: dict[int, list[str]] = {}
        self._sids: dict[int, _Sid] = {}
        self._conn_tickers: set[str] = set()
        self._awaiting: dict[str, float] = {}
        self._have_snapshot: set[str] = set()
        self._close_reason: str | None = None

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception:
            log.exception("WebSocket feed thread failed")
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _request_stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        ws = self._ws
        if ws is not None:
            asyncio.ensure_future(ws.close())

    def backoff(self, attempt: int) -> float:
        """Reconnect delay before attempt ``attempt + 1`` (capped exponential, jittered)."""
        base = min(self.backoff_cap, self.backoff_base * (2 ** min(attempt, 30)))
        return base * (0.5 + 0.5 * self.rng.random())

    def _report(self, state: str, reason: str | None) -> None:
        self._emit((STATUS, self.src, self.clock(), state, reason))

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        attempt = 0
        last_logged: str | None = None
        while not self._stopping:
            reason: str | None = None
            try:
                kw = ws_connect_kwargs(self.url, self.signer, ping_interval=self.ping_interval,
                                       ping_timeout=self.ping_timeout, open_timeout=self.open_timeout)
                ws = await connect(self.url, **kw)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # refused, 403/401, timeout, DNS...
                reason = explain_ws_error(e, self.url)
            else:
                sent = dict(ws.request.headers.raw_items()) if ws.request is not None else {}
                self.sent_headers = sent
                if any(k.lower() == "origin" for k in sent):
                    log.error("the WebSocket library added an Origin header to the upgrade request; Kalshi's "
                              "CDN will refuse it with HTTP 403 (upgrade websockets or report this)")
                attempt = 0
                self.n_connects += 1
                self.last_error = None
                if last_logged is not None:
                    log.info("WebSocket connected again to %s", urlsplit(self.url).netloc)
                last_logged = None
                self._ws = ws
                self._reset_conn()
                self.connected.set()
                self._report("up", None)
                try:
                    await self._session(ws)
                except ConnectionClosed as e:
                    reason = self._close_reason or explain_ws_error(e, self.url)
                except _Reconnect as e:
                    reason = str(e)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.exception("WebSocket session failed")
                    reason = f"the WebSocket session failed: {type(e).__name__}: {e}"
                finally:
                    self.connected.clear()
                    self._ws = None
                    try:
                        await asyncio.wait_for(ws.close(), 2)
                    except Exception:
                        pass
            if self._stopping:
                break
            self.last_error = reason
            self._report("down", reason)
            if reason != last_logged:
                log.warning("%s; reconnecting with backoff", reason)
                last_logged = reason
            delay = self.backoff(attempt)
            attempt += 1
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def _session(self, ws) -> None:
        await self._subscribe_new()
        if self.fill_handler is not None:
            await self._send(ws, {"cmd": "subscribe", "params": {"channels": ["fill"]}}, ["fill"])
        watchdog = asyncio.ensure_future(self._watchdog(ws))
        try:
            while True:
                raw = await ws.recv()
                if self._stopping:
                    return
                self._handle(raw, self.clock())
        finally:
            watchdog.cancel()

    async def _watchdog(self, ws) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.resync_timeout / 2))
            if self._awaiting:
                oldest = min(self._awaiting.values())
                if time.monotonic() - oldest > self.resync_timeout:
                    self._close_reason = (f"fresh snapshots did not arrive within {self.resync_timeout:g} s "
                                          "after a sequence gap")
                    await ws.close(1000, "resync timeout")
                    return

    async def _send(self, ws, cmd: dict[str, Any], tickers: list[str]) -> int:
        self._cmd_id += 1
        cmd = {"id": self._cmd_id, **cmd}
        self._pending[self._cmd_id] = tickers
        await ws.send(json.dumps(cmd))
        return self._cmd_id

    async def _subscribe_new(self) -> None:
        ws = self._ws
        if ws is None:
            return
        new = [t for t in list(self.tickers) if t not in self._conn_tickers]
        for i in range(0, len(new), SUBSCRIBE_BATCH):
            batch = new[i:i + SUBSCRIBE_BATCH]
            self._conn_tickers.update(batch)
            try:
                await self._send(ws, {"cmd": "subscribe", "params": {
                    "channels": ["orderbook_delta", "trade"], "market_tickers": batch, "use_yes_price": False}},
                    batch)
            except ConnectionClosed:
                return

    # ---- message handling (WS thread) --------------------------------------------------------
    def _handle(self, raw: str | bytes, ts: int) -> None:
        try:
            env = json.loads(raw)
        except ValueError:
            log.debug("ignoring a non-JSON WebSocket frame")
            return
        if not isinstance(env, dict):
            return
        typ = env.get("type")
        msg = env.get("msg")
        sid = env.get("sid")
        if typ == "orderbook_delta" or typ == "orderbook_snapshot" or typ == "trade":
            if not isinstance(msg, dict):
                return
            st = self._sids.get(sid)
            if st is None:  # data before the 'subscribed' reply: learn the sid from the data
                st = self._sids[sid] = _Sid("trade" if typ == "trade" else "orderbook_delta", ())
            seq = env.get("seq")
            if seq is not None:
                if seq <= st.last:
                    self.n_duplicates += 1
                    return
                if seq != st.last + 1:
                    self._gap(sid, st, st.last, seq, ts)
                st.last = seq
            if typ == "orderbook_delta":
                self._delta(msg, seq, ts)
            elif typ == "orderbook_snapshot":
                self._snapshot(msg, seq, ts, st)
            else:
                self._trade(msg, ts)
        elif typ == "subscribed":
            if isinstance(msg, dict) and msg.get("sid") is not None:
                tickers = self._pending.get(env.get("id"), [])
                ch = str(msg.get("channel", ""))
                old = self._sids.get(msg["sid"])
                st = _Sid(ch, tickers)
                if old is not None:
                    st.last = old.last
                    st.tickers |= old.tickers
                self._sids[msg["sid"]] = st
        elif typ == "fill":
            self._fill(msg)
        elif typ == "error":
            m = msg if isinstance(msg, dict) else {}
            code = m.get("code")
            log.warning("Kalshi WebSocket error %s: %s", code, m.get("msg"))
            if code in (10, 25):  # terminal channel errors: rebuild the subscriptions
                raise _Reconnect(f"the exchange ended a subscription (error {code}: {m.get('msg')})")
        # ok / unsubscribed / ticker / others: nothing to do

    def _gap(self, sid: int, st: _Sid, last: int, seq: int, ts: int) -> None:
        self.n_gaps += 1
        if st.channel == "orderbook_delta":
            tickers = sorted(st.tickers) or sorted(self._have_snapshot)
            log.warning("sequence gap on the order book subscription (expected seq %d, got %d): dropping %d "
                        "book(s) and requesting fresh snapshots", last + 1, seq, len(tickers))
            now = time.monotonic()
            for t in tickers:
                self._awaiting.setdefault(t, now)
            self._emit((DROP, self.src, ts, tickers))
            ws = self._ws
            if ws is not None:
                self._cmd_id += 1
                cmd = {"id": self._cmd_id, "cmd": "update_subscription",
                       "params": {"sids": [sid], "action": "get_snapshot", "market_tickers": tickers}}
                asyncio.ensure_future(self._safe_send(ws, cmd))
        elif st.channel == "trade":
            log.warning("sequence gap on the trade subscription (expected seq %d, got %d): %s", last + 1, seq,
                        "backfilling trades over REST" if self.client is not None else
                        "trades in between are lost (give the feed a REST client to backfill)")
            if self.client is not None and self._loop is not None:
                tickers = sorted(st.tickers)
                self._loop.run_in_executor(None, self._backfill_trades, tickers)

    async def _safe_send(self, ws, cmd: dict[str, Any]) -> None:
        try:
            await ws.send(json.dumps(cmd))
        except ConnectionClosed:
            pass

    def _backfill_trades(self, tickers: list[str]) -> None:
        for t in tickers:
            w = self.books.watermark_ns(t)
            try:
                trades = list(self.client.iter_trades(ticker=t, min_ts=(w // 1_000_000_000) if w else None))
            except Exception as e:
                log.warning("could not backfill trades of %s: %s", t, e)
                continue
            now = self.clock()
            for tr in sorted(trades, key=lambda x: x.created_time):
                self._emit((TRADE_MSG, self.src, now, tr.ticker, tr.trade_id, tr.price, tr.count,
                            tr.taker_outcome_side or "yes", tr.created_time))

    def _snapshot(self, msg: dict, seq: int | None, ts: int, st: _Sid) -> None:
        ticker = msg.get("market_ticker")
        if not ticker:
            return
        try:
            ob = OrderbookLevels.from_json(msg, ticker=ticker)
        except Exception as e:
            log.warning("unreadable order book snapshot for %s (%s): requesting another", ticker, e)
            return
        st.tickers.add(ticker)
        self._awaiting.pop(ticker, None)
        self._have_snapshot.add(ticker)
        self._emit((SNAP, self.src, ts, ticker, ob.yes, ob.no, seq))

    def _delta(self, msg: dict, seq: int | None, ts: int) -> None:
        ticker = msg.get("market_ticker")
        if ticker in self._awaiting or ticker not in self._have_snapshot:
            return  # book suspect or not started: wait for its snapshot
        try:
            if "price_dollars" in msg:
                price = _price_units(msg["price_dollars"])
            else:
                price = int(msg["price"]) * CENT
            if "delta_fp" in msg:
                delta = _size_units(msg["delta_fp"])
            else:
                delta = int(msg["delta"]) * CONTRACT
            side = msg["side"]
        except Exception as e:
            log.warning("unreadable order book delta for %s (%s): resynchronising", ticker, e)
            self._awaiting.setdefault(ticker, time.monotonic())
            self._emit((DROP, self.src, ts, [ticker]))
            return
        if not 0 < price < DOLLAR:
            return
        self._emit((DELTA, self.src, ts, ticker, side == "yes", price, delta, seq))

    def _trade(self, msg: dict, ts: int) -> None:
        try:
            tr = Trade.from_json(msg)
        except Exception as e:
            log.warning("unreadable trade message (%s)", e)
            return
        self._emit((TRADE_MSG, self.src, ts, tr.ticker, tr.trade_id, tr.price, tr.count,
                    tr.taker_outcome_side or "yes", tr.created_time))

    def _fill(self, msg: Any) -> None:
        if self.fill_handler is None or not isinstance(msg, dict):
            return
        try:
            fill = Fill.from_json(msg)
        except Exception as e:
            log.warning("unreadable fill message (%s)", e)
            return
        key = (fill.trade_id, fill.order_id)
        if key in self._fill_seen:
            return
        self._fill_seen.add(key)
        try:
            self.fill_handler(fill)
        except Exception:
            log.exception("fill handler failed")
