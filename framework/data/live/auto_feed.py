"""AutoFeed: the WebSocket when it works, REST polling when it does not, switching both ways.

Both sources write into one queue and one :class:`~framework.data.live.books.LiveBooks`; only
the *active* source's messages are applied. When the WebSocket is refused (HTTP 403 or 401), its
handshake fails, or the socket breaks, the feed switches to REST polling and logs one plain
sentence saying why. The first REST poll of each market is diffed against the book the
WebSocket built, so the strategy sees ordinary level updates (coarser ones), not a reset, and
trades missed in between are fetched from the newest trade the WebSocket delivered
(deduplicated by ``trade_id``). The WebSocket keeps reconnecting in the background with
backoff; as soon as it is up again, polling pauses and fresh WebSocket snapshots replace the
polled books.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from ...kalshi.auth import KalshiSigner
from ...kalshi.envs import Environment
from .base import LiveFeedBase
from .rest_feed import RestPollingFeed
from .ws_feed import WebSocketFeed

__all__ = ["AutoFeed"]

log = logging.getLogger("framework.data.live")


class AutoFeed(LiveFeedBase):
    """WebSocket first, REST polling as fallback (see module docstring).

    Args:
        env, signer: where and as whom to connect (the WebSocket upgrade is signed).
        client: a :class:`~framework.kalshi.rest.KalshiRestClient` for polling (and for
            backfilling trades after a WebSocket trade-channel gap).
        markets: initial tickers; ``subscribe()`` adds more at any time.
        poll_interval: REST polling interval while the WebSocket is down.
        fallback_after: seconds to wait for the first WebSocket connection before polling.
        ws_options / rest_options: extra keyword arguments for :class:`WebSocketFeed` /
            :class:`RestPollingFeed` (e.g. ``backoff_cap``, ``rng``, ``trades``).
    Attributes: ``mode`` (``"ws"`` or ``"rest"``), ``reason`` (why the last switch to REST
    happened), ``switches`` (list of ``(monotonic time, mode, reason)``), ``ws``, ``rest``.
    """

    def __init__(self, env: Environment | str, signer: KalshiSigner | None, client, *,
                 markets: Iterable[str] = (), poll_interval: float = 1.0, fallback_after: float = 5.0,
                 ws_options: dict[str, Any] | None = None, rest_options: dict[str, Any] | None = None,
                 **base: Any) -> None:
        self.ws: WebSocketFeed | None = None
        self.rest: RestPollingFeed | None = None
        super().__init__(markets=markets, **base)
        shared = {"sink": self.queue, "books": self.books, "clock": self.clock}
        self.ws = WebSocketFeed(env, signer, client=client, markets=self.tickers, src="ws",
                                **shared, **(ws_options or {}))
        self.rest = RestPollingFeed(client, markets=self.tickers, poll_interval=poll_interval, src="rest",
                                    **shared, **(rest_options or {}))
        self.poll_interval = poll_interval
        self.fallback_after = float(fallback_after)
        self.mode = "ws"
        self.reason: str | None = None
        self.switches: list[tuple[float, str, str | None]] = []
        self._ws_ever_up = False
        self._t_start = 0.0

    def subscribe(self, tickers: Iterable[str]) -> None:
        tickers = list(tickers)
        super().subscribe(tickers)
        if self.ws is not None and self.rest is not None:
            self.ws.subscribe(tickers)
            self.rest.subscribe(tickers)

    def _added(self, tickers: list[str]) -> None:
        pass  # handled in subscribe (the children do their own bookkeeping)

    @property
    def stale(self) -> set[str]:
        """Markets whose book is currently not being refreshed."""
        assert self.ws is not None and self.rest is not None
        return set(self.rest.stale) if self.mode == "rest" else self.ws.stale

    # ---- lifecycle ---------------------------------------------------------------------------
    def _start(self) -> None:
        assert self.ws is not None and self.rest is not None
        self._t_start = time.monotonic()
        self.rest.pause()
        self.rest.start()
        self.ws.start()

    def _stop(self) -> None:
        assert self.ws is not None and self.rest is not None
        self.ws.close()
        self.rest.close()

    # ---- switching (consumer thread) ---------------------------------------------------------
    def _accept(self, msg: tuple) -> bool:
        return msg[1] == self.mode

    def _status(self, msg: tuple) -> None:
        _, src, _ts, state, reason = msg
        if src != "ws":
            return  # REST stale/fresh notices are logged by the poller
        if state == "down":
            if self.mode == "ws":
                self._to_rest(reason or "the WebSocket failed")
            elif reason:
                self.reason = reason  # still polling; the WebSocket thread logs new reasons itself
        elif state == "up":
            self._ws_ever_up = True
            if self.mode == "rest":
                self._to_ws()

    def _tick(self) -> None:
        if (self.mode == "ws" and not self._ws_ever_up and self.fallback_after > 0
                and time.monotonic() - self._t_start > self.fallback_after):
            assert self.ws is not None
            if not self.ws.connected.is_set():
                self._to_rest(f"the WebSocket did not connect within {self.fallback_after:g} s")
            self._ws_ever_up = True  # decide only once

    def _to_rest(self, reason: str) -> None:
        assert self.rest is not None
        self.mode = "rest"
        self.reason = reason
        self.switches.append((time.monotonic(), "rest", reason))
        log.warning("Live data switched to REST polling every %g s because %s; the WebSocket is retried in the "
                    "background.", self.poll_interval, reason)
        self.rest.resume()

    def _to_ws(self) -> None:
        assert self.rest is not None
        self.rest.pause()
        self.mode = "ws"
        self.switches.append((time.monotonic(), "ws", None))
        log.warning("Live data switched back to the WebSocket (it connected again); REST polling paused.")
