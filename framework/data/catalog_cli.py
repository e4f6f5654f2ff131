"""``kalshi catalog info|check|compact DIR``: inspect a catalog and merge its small files.

Logic lives in ``framework.data.catalog_tools``; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "catalog", help="inspect (info), check the data of (check) or merge small files of (compact) a Parquet catalog",
        description="Catalog tools. Example: kalshi catalog info data/sample; kalshi catalog check data/sample; "
                    "kalshi catalog compact data/kx --dry-run",
    )
    sub = p.add_subparsers(dest="catalog_cmd", metavar="{info,check,compact}")
    sub.required = True
    info = sub.add_parser("info", help="kinds, files, rows, markets, time ranges and size (from Parquet footers)")
    info.add_argument("dir", metavar="DIR", help="catalog folder")
    info.set_defaults(func=run)
    chk = sub.add_parser("check", help="data-quality report: the replay's read checks over every file, rows per "
                         "kind and market, time ranges, gaps, settlement coverage (exit 2 on a problem)")
    chk.add_argument("dir", metavar="DIR", help="catalog folder")
    chk.add_argument("--per-market", action="store_true", help="also list rows and gaps per market")
    chk.add_argument("--gap", default="1h", metavar="DURATION",
                     help="a market silent for longer than this while open is a gap (default 1h; e.g. 15min, 1d)")
    chk.set_defaults(func=run)
    comp = sub.add_parser(
        "compact", help="merge each partition folder's files into one file (replay order unchanged)",
        description="Merge the files of each folder (one kind, one series=/date= partition) into one "
                    "file sorted by ts, stably, so a backtest gives the same fills. The one-file-per-"
                    "market layout of `kalshi download` replays much faster afterwards. markets, fees "
                    "and fee_waivers are left alone. Do not run it during a download or record.")
    comp.add_argument("dir", metavar="DIR", help="catalog folder")
    comp.add_argument("--kinds", default=None, metavar="K,K",
                      help="kinds to compact (default quotes,book,trades,candles)")
    comp.add_argument("--min-files", type=int, default=2, metavar="N",
                      help="merge only folders with at least N files (default 2)")
    comp.add_argument("--dry-run", action="store_true", help="only say what would be merged")
    comp.add_argument("--quiet", action="store_true", help="no progress bar")
    comp.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .catalog import CatalogError
    from .catalog_tools import COMPACT_KINDS, catalog_info, check_catalog, compact, format_check, format_info

    try:
        if args.catalog_cmd == "info":
            print(format_info(catalog_info(args.dir)))
            return 0
        if args.catalog_cmd == "check":
            from ..core.engine import parse_duration

            try:
                gap = parse_duration(args.gap)
            except ValueError:
                raise CatalogError(f"--gap {args.gap!r}: use a positive duration such as 15min, 1h or 1d") from None
            report = check_catalog(args.dir, gap_ns=gap)
            print(format_check(report, per_market=args.per_market))
            return 2 if report["problems"] else 0
        if args.min_files < 2:
            raise CatalogError(f"--min-files must be at least 2, got {args.min_files}")
        kinds = COMPACT_KINDS if args.kinds is None else tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        progress = None
        if not args.quiet and not args.dry_run:
            from tqdm import tqdm

            def progress(groups):
                return tqdm(groups, desc="compact", unit="folder", file=sys.stderr)
        plan = compact(args.dir, kinds, min_files=args.min_files, dry_run=args.dry_run, progress=progress)
        print(plan.summary(done=not args.dry_run))
        return 0
    except CatalogError as exc:
        print(f"kalshi: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
