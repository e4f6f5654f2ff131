"""Live market data feeds for Kalshi: WebSocket, REST polling, and the automatic choice.

Every feed is a ``DataFeed`` (``subscribe(tickers)``, ``chunks()``, ``close()``) that yields the
same BOOK/TRADE chunks as :class:`~framework.data.replay.ParquetReplayFeed`, plus
``(IDLE, ([now_ns],))`` at least every ~100 ms while no data arrives. See docs/live-data.md.

::

    from framework.data.live import make_live_feed
    feed = make_live_feed("demo", "auto", signer=signer, markets=["KXHIGHNY-26JAN01-T60"])
    for kind, cols in feed.chunks():
        ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...kalshi.envs import Environment, resolve_env
from .auto_feed import AutoFeed
from .books import L2Book, LiveBooks, diff_levels
from .rest_feed import RestPollingFeed, markets_per_interval
from .ws_feed import WebSocketFeed, explain_ws_error, ws_connect_kwargs

__all__ = [
    "FEEDS",
    "AutoFeed",
    "L2Book",
    "LiveBooks",
    "RestPollingFeed",
    "WebSocketFeed",
    "diff_levels",
    "explain_ws_error",
    "make_live_feed",
    "markets_per_interval",
    "ws_connect_kwargs",
]

FEEDS = ("auto", "ws", "rest")


def make_live_feed(env: Environment | str, feed: str = "auto", *, signer, client=None, markets: Iterable[str] = (),
                   poll_interval: float = 1.0, **options: Any):
    """Build a live ``DataFeed``.

    Args:
        env: ``"prod"``, ``"demo"``, ``"local"`` or an :class:`~framework.kalshi.envs.Environment`.
        feed: ``"auto"`` (WebSocket, falling back to REST polling and back), ``"ws"`` or ``"rest"``.
        signer: a :class:`~framework.kalshi.auth.KalshiSigner` (Kalshi signs market data too).
        client: a :class:`~framework.kalshi.rest.KalshiRestClient`; built from ``env``/``signer``
            when omitted (``tier=`` in ``options`` picks its rate budget, default ``basic``).
        markets: initial tickers (``subscribe()`` adds more).
        poll_interval: REST polling interval in seconds.
        options: passed to the feed class (``AutoFeed``: ``fallback_after``, ``ws_options``,
            ``rest_options``, ``idle_interval``; ``WebSocketFeed``: ``backoff_base``,
            ``backoff_cap``, ``rng``, ``fill_handler``, ``resync_timeout``, ``clear_on_gap``...;
            ``RestPollingFeed``: ``trades``, ``read_share``, ``workers``, ``stale_after``).
    """
    kind = str(feed or "auto").strip().lower()
    if kind not in FEEDS:
        raise ValueError(f"unknown feed {feed!r}; use one of {', '.join(FEEDS)}")
    environment = env if isinstance(env, Environment) else resolve_env(env)
    tier = options.pop("tier", None)
    if client is None and kind in ("auto", "rest"):
        from ...kalshi.rest import KalshiRestClient

        client = KalshiRestClient(environment, signer, tier=tier or "basic")
    if kind == "ws":
        return WebSocketFeed(environment, signer, client=client, markets=markets, **options)
    if kind == "rest":
        return RestPollingFeed(client, markets=markets, poll_interval=poll_interval, **options)
    return AutoFeed(environment, signer, client, markets=markets, poll_interval=poll_interval, **options)
