"""A tiny threaded HTTP stub of Kalshi's REST API for client tests (127.0.0.1, port 0).

Routes map ``(METHOD, path)`` to a list of responses served in turn (the last one repeats).
A response is ``(status, body)``, a callable ``(request) -> (status, body)``, or
``Hang(seconds)`` which waits before answering 200 (to trigger client read timeouts), or
``Drop()`` which closes the connection without answering.
When a public key is set, every request must carry a valid Kalshi signature (checked with
``framework.kalshi.auth.verify_request``) or it gets 401.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from framework.kalshi.auth import verify_request


@dataclass
class Hang:
    seconds: float
    status: int = 200
    body: Any = field(default_factory=dict)


@dataclass
class Drop:
    """Close the connection without answering (a reset after the request was sent)."""


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class KalshiStub:
    def __init__(self, public_key=None):
        self.public_key = public_key
        self.routes: dict[tuple[str, str], list[Any]] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                rec = Recorded(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                with stub._lock:
                    stub.requests.append(rec)
                resp = stub._respond(rec)
                if resp is None:
                    self.close_connection = True
                    return
                status, payload = resp
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/trade-api/v2"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, *responses: Any) -> None:
        self.routes[(method.upper(), "/trade-api/v2" + path)] = list(responses)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == "/trade-api/v2" + path)
            ]

    def _respond(self, rec: Recorded):
        if self.public_key is not None:
            h = {k.upper(): v for k, v in rec.headers.items()}
            ok = verify_request(
                self.public_key,
                h.get("KALSHI-ACCESS-TIMESTAMP", ""),
                rec.method,
                rec.path,
                h.get("KALSHI-ACCESS-SIGNATURE", ""),
            )
            if not ok:
                return 401, {"error": {"code": "authentication_error", "message": "invalid signature"}}
        with self._lock:
            queue = self.routes.get((rec.method, rec.path))
            if not queue:
                return 404, {"error": {"code": "not_found", "message": f"no route {rec.method} {rec.path}"}}
            resp = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(resp, Drop):
            return None
        if isinstance(resp, Hang):
            self._stop.wait(resp.seconds)
            return resp.status, resp.body
        if callable(resp):
            return resp(rec)
        return resp
