"""``kalshi exchange``: run the local Kalshi-compatible exchange until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "exchange",
        help="run a local Kalshi-compatible exchange (REST + WebSocket on 127.0.0.1)",
        description="Run a local Kalshi-compatible exchange on 127.0.0.1: REST /trade-api/v2 and "
        "WebSocket /trade-api/ws/v2 on one port, signed requests, synthetic or catalog markets.",
    )
    p.add_argument("--port", type=int, default=None, help="TCP port (default 8765; 0 picks a free port)")
    p.add_argument("--fix-port", type=int, default=None,
                   help="also run the FIX acceptor on this port (plain TCP on 127.0.0.1; 0 picks a free port)")
    p.add_argument("--fix-session", choices=["NR", "RT"], default="NR",
                   help="FIX session type: NR (no retransmission, default) or RT (retransmission)")
    p.add_argument("--markets-from", metavar="CATALOG", default=None, help="Parquet catalog directory to seed markets from")
    p.add_argument("--seed", type=int, default=1, help="random seed for markets and background traders")
    p.add_argument("--register-key", action="append", default=[], metavar="KEY_ID=PUBLIC_KEY.pem",
                   help="register an API key (repeatable); default: generate a local key in the state dir")
    p.add_argument("--state-dir", default=None, help="where the generated key lives (default ~/.kalshi-local)")
    p.add_argument("--tick", type=float, default=0.2, help="seconds between background market-maker ticks")
    p.add_argument("--void-result", choices=("", "void"), default="",
                   help="a voided market's result in GET /markets: '' (default; the spec's Market.result "
                   "has no 'void') or 'void' (older API versions)")
    p.add_argument("--no-background", action="store_true", help="no background market makers")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from framework.kalshi.envs import DEFAULT_LOCAL_PORT

    from .server import LocalExchange

    keys: dict[str, str] = {}
    for spec in args.register_key or []:
        if "=" not in spec:
            print(f"error: --register-key expects KEY_ID=PUBLIC_KEY.pem, got {spec!r}", file=sys.stderr)
            return 2
        kid, path = spec.split("=", 1)
        keys[kid.strip()] = path.strip()
    port = DEFAULT_LOCAL_PORT if args.port is None else args.port
    try:
        ex = LocalExchange(
            port=port,
            seed=args.seed,
            markets_from=args.markets_from,
            register_keys=keys or None,
            state_dir=args.state_dir,
            background=not args.no_background,
            tick=args.tick,
            void_result=args.void_result,
        )
        ex.start()
        fix = None
        if args.fix_port is not None:
            from .fix_acceptor import attach_fix_acceptor

            fix = attach_fix_acceptor(ex, port=args.fix_port, session=args.fix_session)
            fix.start()
    except OSError as e:
        print(f"error: cannot start the local exchange on 127.0.0.1:{port}: {e}. "
              "Is another one running? Try --port 0 or another port.", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("Local Kalshi exchange running")
    print(f"  REST:      {ex.rest_url}")
    print(f"  WebSocket: {ex.ws_url}")
    if ex.key_id:
        print(f"  key id:    {ex.key_id}")
        print(f"  key file:  {ex.private_key_path}")
    else:
        print(f"  keys:      {', '.join(sorted(ex.public_keys))}")
    if fix is not None:
        print(f"  FIX:       tcp://{ex.host}:{fix.port} ({args.fix_session}; SenderCompID = your key id)")
    print(f"  markets:   {len(ex.engine.markets)}")
    print("Press Ctrl-C to stop.", flush=True)
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    old = signal.signal(signal.SIGINT, _stop)
    old_term = signal.signal(signal.SIGTERM, _stop)
    try:
        while not done.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, old_term)
        if fix is not None:
            fix.stop()
        ex.stop()
        print("stopped.")
    return 0
