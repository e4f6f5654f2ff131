"""``kalshi record``: record live books, trades and quotes into a Parquet catalog.

::

    kalshi record --markets KXA-26JAN01-T1,KXB-26JAN01-T2 --out data/live
    kalshi record --series KXHIGHNY --out data/live --feed rest --env demo --key-file demo.pem --key-id ...
    kalshi record --env local --series KXLOCALTEMP --out /tmp/rec --duration 30

See docs/live-data.md for the file layout.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

__all__ = ["add_parser", "cmd_record", "make_signer"]

log = logging.getLogger(__name__)


def make_signer(env_name: str, key_file: str | None = None, key_id: str | None = None):
    """A :class:`~framework.kalshi.auth.KalshiSigner` from flags / environment / local exchange
    (:func:`framework.kalshi.keys.resolve_credentials`)."""
    from ..kalshi.keys import resolve_credentials

    return resolve_credentials(env_name, key_id=key_id, key_file=key_file).signer()


def _seconds(text: str) -> float:
    """``--duration``: plain seconds or a duration such as ``30s`` / ``10min`` (as ``kalshi live``)."""
    try:
        value = float(text)
    except ValueError:
        from ..core.engine import parse_duration

        try:
            value = parse_duration(text) / 1e9
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "record", help="record live order books, trades and quotes into a Parquet catalog",
        description="Record live market data (WebSocket, REST polling, or automatic) into CATALOG: book "
                    "(snapshots + level updates with seq), trades, quotes and markets. Ctrl-C flushes and exits.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--markets", help="comma-separated market tickers")
    what.add_argument("--series", help="record every open market of this series (comma-separated for several)")
    p.add_argument("--out", required=True, help="catalog folder to write")
    p.add_argument("--feed", choices=("auto", "ws", "rest"), default="auto",
                   help="data source (default auto: WebSocket, REST polling when it fails)")
    p.add_argument("--env", default="prod", help="prod, demo or local (default prod)")
    p.add_argument("--port", type=int, help="local exchange port (--env local; default 8765)")
    p.add_argument("--key-file", help="private key PEM (default $KALSHI_PRIVATE_KEY_PATH)")
    p.add_argument("--key-id", help="API key id (default $KALSHI_API_KEY_ID)")
    p.add_argument("--tier", default="basic", help="rate-limit tier for REST polling (basic, advanced, premier, ...)")
    p.add_argument("--poll-interval", type=float, default=1.0, help="REST polling interval in seconds (default 1)")
    p.add_argument("--flush-seconds", type=float, default=5.0, help="write a file at least this often (default 5)")
    p.add_argument("--rotate-minutes", type=float, default=60.0,
                   help="compact the period's files and checkpoint the books this often (default 60)")
    p.add_argument("--discover-seconds", type=float, default=60.0,
                   help="with --series: look for newly listed markets this often and record them too "
                        "(default 60; 0 = only the markets open at start)")
    p.add_argument("--duration", type=_seconds,
                   help="stop after this long: seconds, or e.g. 30s, 10min, 2h (default: until Ctrl-C)")
    p.set_defaults(func=cmd_record)


def cmd_record(args) -> int:
    from ..kalshi.envs import resolve_env
    from ..kalshi.errors import AuthError
    from ..kalshi.rest import KalshiRestClient
    from .live import make_live_feed
    from .recorder import Recorder, markets_rows

    env = resolve_env(args.env, port=args.port)
    try:
        signer = make_signer(env.name, args.key_file, args.key_id)
    except AuthError as e:
        print(f"kalshi record: error: {e}", file=sys.stderr)
        return 2
    client = KalshiRestClient(env, signer, tier=args.tier)
    if args.markets:
        tickers = [t.strip() for t in args.markets.split(",") if t.strip()]
        if not tickers:
            print("kalshi record: error: --markets is empty", file=sys.stderr)
            return 2
        markets = list(client.iter_markets(tickers=",".join(tickers)))
        found = {m.ticker for m in markets}
        missing = [t for t in tickers if t not in found]
        if missing:
            print(f"kalshi record: error: unknown market(s) on {env.name}: {', '.join(missing)}", file=sys.stderr)
            return 2
        rows = markets_rows(markets)
        discover = None
    else:
        series = [x.strip() for x in args.series.split(",") if x.strip()]

        def discover() -> list[dict]:
            found = []
            for s in series:
                found.extend(markets_rows(client.iter_markets(series_ticker=s, status="open"), series=s))
            return found

        rows = discover()
        for s in series:
            if not any(r["series_ticker"] == s for r in rows):
                print(f"kalshi record: error: series {s} has no open markets on {env.name}", file=sys.stderr)
                return 2
        tickers = [r["ticker"] for r in rows]
        if args.discover_seconds <= 0:
            discover = None
    feed = make_live_feed(env, args.feed, signer=signer, client=client, markets=tickers,
                          poll_interval=args.poll_interval)
    rec = Recorder(feed, Path(args.out), markets=rows, flush_seconds=args.flush_seconds,
                   rotate_minutes=args.rotate_minutes, discover=discover,
                   discover_seconds=args.discover_seconds if discover is not None else 60.0,
                   on_new_markets=lambda new: print(f"now also recording {len(new)} new market(s): "
                                                    f"{', '.join(new[:5])}{' ...' if len(new) > 5 else ''}",
                                                    file=sys.stderr))

    def on_signal(signum, frame):  # flush and leave cleanly instead of a KeyboardInterrupt mid-write
        rec.stop()

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (tests)
            pass
    print(f"recording {len(tickers)} market(s) from {env.name} ({args.feed} feed) into {args.out}; "
          "Ctrl-C to stop", file=sys.stderr)
    try:
        stats = rec.run(duration=args.duration)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    print(f"recorded {stats.summary()} into {args.out}", file=sys.stderr)
    return 0
