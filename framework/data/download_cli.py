"""``kalshi download``: pull markets, trades and candlesticks into a catalog (resumable)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]

_MAX_WARNINGS = 10


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "download",
        help="download Kalshi markets, trades and candlesticks into a catalog (resumable)",
        description="Download the markets of one or more series (with results), their public trades "
        "and candlesticks into a Parquet catalog. Re-running skips what is already there. "
        "Example: kalshi download --series KXHIGHNY --start 2026-11-01 --end 2026-11-20 --out data/kx",
    )
    p.add_argument("--series", action="append", default=[], metavar="TICKER",
                   help="series ticker, e.g. KXHIGHNY (repeatable)")
    p.add_argument("--markets", metavar="A,B", help="only these market tickers (comma-separated)")
    p.add_argument("--start", help="first day or UTC time (e.g. 2026-11-01); markets trading after it")
    p.add_argument("--end", help="last day (inclusive, e.g. 2026-11-20) or UTC time (exclusive)")
    p.add_argument("--env", default="prod", choices=("prod", "demo", "local"),
                   help="exchange (default prod; local = the `kalshi exchange` on 127.0.0.1:8765)")
    p.add_argument("--port", type=int, help="local exchange port (--env local; default 8765)")
    p.add_argument("--base-url", metavar="URL", help="override the REST URL (e.g. http://127.0.0.1:PORT/trade-api/v2)")
    p.add_argument("--key-file", metavar="PEM", help="API private key (default $KALSHI_PRIVATE_KEY_PATH; "
                   "--env local: the local exchange's key)")
    p.add_argument("--key-id", metavar="ID", help="API key id (default $KALSHI_API_KEY_ID)")
    p.add_argument("--state-dir", metavar="DIR", help="--env local: where the local exchange keeps its key "
                   "(default $KALSHI_LOCAL_STATE_DIR or ~/.kalshi-local)")
    p.add_argument("--tier", default="basic", choices=("basic", "advanced", "premier", "paragon", "prime"),
                   help="your Kalshi rate-limit tier: paces requests (default basic)")
    p.add_argument("--period", type=int, default=60, choices=(1, 60, 1440), help="candle minutes (default 60)")
    p.add_argument("--no-candles", action="store_true", help="skip candlesticks")
    p.add_argument("--no-trades", action="store_true", help="skip trades (with --no-candles: markets only)")
    p.add_argument("--skip-block-trades", action="store_true", help="leave block trades out of `trades`")
    p.add_argument("--empty-result", default="void", choices=("void", "unsettled"),
                   help="a finalized market with an empty result (Kalshi's Market.result has no 'void'; "
                   "its spec does not say how a voided market reads): store it as void (default) or leave "
                   "it unsettled")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--out", required=True, metavar="CATALOG", help="catalog folder to fill (created if needed)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .download import DownloadError, download, make_client

    client = None
    try:
        if not args.series and not args.markets:
            raise DownloadError("give at least one --series TICKER (or --markets A,B)")
        client = make_client(args.env, base_url=args.base_url, key_file=args.key_file, key_id=args.key_id,
                             tier=args.tier, state_dir=args.state_dir, port=args.port)
        markets = [t for t in (args.markets or "").split(",") if t.strip()] or None
        if client.signer is None and not args.quiet:
            print("no API key given: reading Kalshi's public market data unsigned "
                  "(pass --key-id/--key-file or set KALSHI_API_KEY_ID to sign)", file=sys.stderr)
        with client:
            report = download(
                client, args.out, args.series, markets=markets, start=args.start, end=args.end,
                period=args.period, candles=not args.no_candles, trades=not args.no_trades,
                skip_block_trades=args.skip_block_trades, empty_result=args.empty_result, progress=False if args.quiet else None,
                notify=None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True)),
            )
    except DownloadError as e:
        msg = " ".join(str(e).split())
        if "401" in msg and client is not None and client.signer is None:
            msg += " (the exchange wants signed requests: pass --key-id and --key-file)"
        print(f"kalshi: error: {msg}", file=sys.stderr)
        return 2
    for w in report.warnings[:_MAX_WARNINGS]:
        print(f"warning: {w}", file=sys.stderr)
    if len(report.warnings) > _MAX_WARNINGS:
        print(f"warning: ... and {len(report.warnings) - _MAX_WARNINGS} more", file=sys.stderr)
    if not args.quiet or not report.ok:
        print(report.summary(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
