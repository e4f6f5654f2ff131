"""``LocalExchange``: a Kalshi-compatible exchange on 127.0.0.1 (REST + WebSocket on one port).

::

    from framework.exchange import LocalExchange

    with LocalExchange(port=0, seed=1) as ex:
        print(ex.rest_url, ex.ws_url, ex.key_id, ex.private_key_path)
        ex.faults.rate_limit_storm(3)
        ex.settle("KXLOCALTEMP-26JAN01-B1", "yes")

The server runs an asyncio loop on a daemon thread. It speaks HTTP/1.1 itself (keep-alive,
``Content-Length`` and chunked bodies) and hands ``Upgrade: websocket`` requests for
``/trade-api/ws/v2`` to ``websockets``' sans-I/O protocol.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from email.utils import formatdate
from fractions import Fraction
from pathlib import Path
from typing import Any

from websockets.server import ServerProtocol

from framework.kalshi.auth import load_public_key
from framework.units import DOLLAR

from .faults import Faults
from .kalshi_json import Serializer
from .matching import Engine, SettlementRow
from .population import MarketMakers, catalog_markets, synthetic_markets
from .rest import HttpRequest, HttpResponse, RestApp, error_response
from .state import default_state_dir, ensure_local_key
from .ws import WsConnection, WsHub

__all__ = ["LocalExchange", "WS_PATH"]

log = logging.getLogger(__name__)

WS_PATH = "/trade-api/ws/v2"
MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024
WITHHOLD_MAX_S = 300.0

_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

CLOUDFRONT_403 = (
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\" \"http://www.w3.org/TR/html4/loose.dtd\">\n"
    "<HTML><HEAD><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=iso-8859-1\">\n"
    "<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n"
    "<H1>403 ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size=\"1px\">\n"
    "Request blocked.\n</BODY></HTML>\n"
)


class LocalExchange:
    """A local Kalshi-compatible exchange (see module docstring and docs/local-exchange.md).

    Args:
        port: TCP port on 127.0.0.1 (0 = pick a free one; read :attr:`port` after :meth:`start`).
        seed: seeds the market generator, the background traders and the id generator.
        markets_from: Parquet catalog directory to seed markets from (default: synthetic markets).
        register_keys: ``{key_id: public key PEM text or path}``; each key is its own account.
            When empty, a key pair is created (or reused) in ``state_dir`` and registered.
        state_dir: where the generated key and ``local-key.json`` live (default
            :func:`~framework.exchange.state.default_state_dir`).
        background: run the market makers on a thread (tests pass ``False`` and call :meth:`step`).
        tick: seconds between background ticks.
        starting_balance: each account's starting cash in money units (default $10,000).
        auth_window_s: allowed distance between the signed timestamp and the server clock.
        read_rate / write_rate: token-bucket refill per second per key (Basic tier 200/100; each
            request costs 10 tokens, batches 10 per item).
        ws_ping_interval: seconds between server pings (payload ``heartbeat``); 0 disables.
        taker_fee / maker_fee: fee coefficients (0.07 and 0.0175; maker fees only apply to
            series with ``fee_type == "quadratic_with_maker_fees"``).
        legacy_fields: also emit the legacy integer fields the official SDK 3.2.0 requires.
        void_result: what a voided market's ``result`` reads in Market objects: ``""`` (default;
            Kalshi's ``Market.result`` enum has no ``"void"``) or ``"void"`` (older API versions).
            Its ``/portfolio/settlements`` records say ``"void"`` either way.
    """

    def __init__(
        self,
        port: int = 0,
        seed: int = 1,
        markets_from: str | os.PathLike[str] | None = None,
        register_keys: dict[str, Any] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        background: bool = True,
        *,
        tick: float = 0.2,
        starting_balance: int = 10_000 * DOLLAR,
        auth_window_s: float = 30.0,
        read_rate: float = 200.0,
        write_rate: float = 100.0,
        ws_ping_interval: float = 10.0,
        taker_fee: Fraction | str = Fraction(7, 100),
        maker_fee: Fraction | str = Fraction(175, 10_000),
        legacy_fields: bool = True,
        void_result: str = "",
        max_markets: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the local exchange only binds to loopback (127.0.0.1)")
        self.host = host
        self._requested_port = int(port)
        self.port = int(port)
        self.seed = seed
        self.background = background
        self.auth_window_s = auth_window_s
        self.read_rate = read_rate
        self.write_rate = write_rate
        self.ws_ping_interval = ws_ping_interval
        self.engine = Engine(taker_fee=taker_fee, maker_fee=maker_fee, starting_balance=starting_balance, id_seed=seed)
        self.serializer = Serializer(self.engine, legacy=legacy_fields, void_result=void_result)
        self.faults = Faults()
        self.rest = RestApp(self)
        self.ws = WsHub(self)
        self.engine.listeners.append(self.ws.engine_listener)
        rng = random.Random(seed)
        if markets_from:
            fair = catalog_markets(self.engine, str(markets_from), rng, max_markets=max_markets)
        else:
            fair = synthetic_markets(self.engine, rng)
        self.market_makers = MarketMakers(self.engine, fair, seed=seed, tick=tick)
        # keys
        self.public_keys: dict[str, Any] = {}
        self.key_id: str | None = None
        self.private_key_path: Path | None = None
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if register_keys:
            for kid, pem in register_keys.items():
                self.register_key(kid, pem)
        else:
            sd = self.state_dir or default_state_dir()
            self.state_dir = sd
            kid, priv, pub = ensure_local_key(sd)
            self.key_id, self.private_key_path = kid, priv
            self.register_key(kid, pub)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._conn_tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ public API
    def register_key(self, key_id: str, public_key: Any) -> None:
        """Register ``key_id`` with a public key (PEM text, path, or key object); creates its account."""
        if hasattr(public_key, "verify") and hasattr(public_key, "public_numbers"):
            pub = public_key
        else:
            pub = load_public_key(str(public_key) if isinstance(public_key, os.PathLike) else public_key)
        self.public_keys[key_id] = pub
        self.engine.account(key_id)

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/trade-api/v2"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    def start(self) -> LocalExchange:
        """Start listening (returns once the port is bound) and the background traders."""
        if self._thread is not None:
            return self
        self._ready.clear()
        self._thread = threading.Thread(target=self._run_loop, name="local-exchange", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._start_error is not None:
            err = self._start_error
            self._thread = None
            raise err
        if not self._ready.is_set():
            raise RuntimeError("local exchange did not start within 10 s")
        if self.background:
            self.market_makers.start()
        return self

    def stop(self) -> None:
        """Stop the traders, close every connection and the listening socket."""
        self.market_makers.stop()
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and not loop.is_closed():
            try:
                fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                fut.result(timeout=10)
            except Exception:
                log.debug("shutdown error", exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self.ws.loop = None

    def __enter__(self) -> LocalExchange:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def step(self, n: int = 1) -> None:
        """Run ``n`` market-maker ticks synchronously (deterministic with a fixed seed)."""
        for _ in range(n):
            self.market_makers.step()

    def settle(self, ticker: str, result: str, value: int | None = None) -> list[SettlementRow]:
        """Settle a market: ``"yes"``/``"no"`` pay $1 per winning contract, ``"void"`` returns
        cost, ``"scalar"`` pays ``value`` ($0.0001) per YES contract and the rest per NO."""
        return self.engine.settle(ticker, result, value)

    def close_market(self, ticker: str) -> None:
        self.engine.close_market(ticker)

    def drop_ws_connections(self) -> int:
        """Drop every WebSocket connection (fault injection). Returns how many were dropped."""
        loop = self._loop
        if loop is None:
            return 0
        if threading.current_thread() is self._thread:
            return self.ws.drop_all()
        fut = asyncio.run_coroutine_threadsafe(self._drop_ws(), loop)
        return fut.result(timeout=5)

    async def _drop_ws(self) -> int:
        return self.ws.drop_all()

    def account_balance(self, key_id: str) -> int:
        """Cash of ``key_id`` in money units."""
        return self.engine.account(key_id).cash

    # ------------------------------------------------------------------ loop
    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self.ws.loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle_conn, self.host, self._requested_port, limit=MAX_HEAD)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as e:
            self._start_error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            finally:
                loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in list(self.ws.conns):
            try:
                c.protocol.send_close(1001, "server shutting down")
                c.flush()
            except Exception:
                pass
            c.drop()
        for t in list(self._conn_tasks):
            t.cancel()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ HTTP transport
    async def _handle_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self._write(writer, HttpResponse(431, b"request header too large"), close=True)
                    return
                parsed = _parse_head(head)
                if parsed is None:
                    await self._write(writer, HttpResponse(400, b"bad request"), close=True)
                    return
                method, target, version, headers = parsed
                path = target.split("?", 1)[0]
                if "websocket" in headers.get("upgrade", "").lower():
                    await self._handle_ws(head, path, headers, reader, writer)
                    return
                try:
                    body = await _read_body(reader, headers)
                except ValueError as e:
                    await self._write(writer, HttpResponse(400, str(e).encode()), close=True)
                    return
                req = HttpRequest(method, target, headers, body)
                if self.faults.delay_ms:
                    await asyncio.sleep(self.faults.delay_ms / 1000)
                try:
                    resp = self.rest.handle(req)
                except Exception as e:  # never kill the connection task silently
                    log.exception("REST handler failed")
                    resp = error_response(500, "internal_server_error", "internal server error", repr(e))
                if resp.withhold:
                    # Fault: the write happened, but the client never hears about it.
                    try:
                        await asyncio.wait_for(reader.read(), timeout=WITHHOLD_MAX_S)
                    except (TimeoutError, ConnectionError):
                        pass
                    return
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                if version == "HTTP/1.0" and headers.get("connection", "").lower() == "keep-alive":
                    keep = True
                await self._write(writer, resp, close=not keep)
                if not keep:
                    return
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection handler failed")
        finally:
            if task is not None:
                self._conn_tasks.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _write(self, writer: asyncio.StreamWriter, resp: HttpResponse, close: bool = False) -> None:
        reason = _REASONS.get(resp.status, "Unknown")
        headers = {"Content-Type": "text/plain; charset=utf-8", **resp.headers, "Content-Length": str(len(resp.body)),
                   "Date": formatdate(usegmt=True),  # as Kalshi's CDN sends; `kalshi doctor` checks skew with it
                   "Server": "kalshi-local-exchange"}
        if close:
            headers["Connection"] = "close"
        head = f"HTTP/1.1 {resp.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            writer.write(head.encode("latin-1") + resp.body)
            await writer.drain()
        except ConnectionError:
            pass

    async def _handle_ws(self, head: bytes, path: str, headers: dict[str, str], reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol(max_size=1 << 20)
        protocol.receive_data(head)
        events = protocol.events_received()
        if not events:
            await self._write(writer, HttpResponse(400, b"bad websocket request"), close=True)
            return
        request = events[0]
        if self.faults.delay_ms:
            await asyncio.sleep(self.faults.delay_ms / 1000)

        def reject(status: int, text: str, extra: dict[str, str] | None = None) -> None:
            resp = protocol.reject(status, text)
            for k, v in (extra or {}).items():
                resp.headers[k] = v
            protocol.send_response(resp)

        key_id: str | None = None
        if path != WS_PATH:
            reject(404, "Not Found\n")
        elif self.faults.ws_reject_always or "origin" in headers:
            reject(403, CLOUDFRONT_403, {"Content-Type": "text/html", "x-cache": "Error from cloudfront",
                                         "Server": "CloudFront"})
        else:
            auth = self.rest.authenticate("GET", path, headers)
            if isinstance(auth, HttpResponse):
                reject(401, auth.body.decode(), {"Content-Type": "application/json"})
            else:
                key_id = auth
                protocol.send_response(protocol.accept(request))
        for data in protocol.data_to_send():
            if data:
                writer.write(data)
        try:
            await writer.drain()
        except ConnectionError:
            return
        if key_id is None or protocol.state.name != "OPEN":
            return
        conn = WsConnection(self.ws, protocol, reader, writer, key_id)
        self.ws.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.ws.conns.discard(conn)


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            return None
        k, v = line.split(":", 1)
        k = k.strip().lower()
        v = v.strip()
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
    return method.upper(), target, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            total += size
            if total > MAX_BODY:
                raise ValueError("request body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return b"".join(chunks)
    n = headers.get("content-length")
    if not n:
        return b""
    try:
        length = int(n)
    except ValueError:
        raise ValueError("bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise ValueError("request body too large")
    return await reader.readexactly(length) if length else b""
