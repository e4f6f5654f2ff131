"""``kalshi import KIND FILE... --catalog DIR``: bring other tools' data into a catalog."""

from __future__ import annotations

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="import CSV / Parquet / JSON (Kalshi REST pages too) into a catalog",
                       description="Convert units and times, sort, validate, then write (nothing on error). "
                                   "See docs/data-format.md 'Importing'.")
    p.add_argument("kind", choices=["markets", "quotes", "book", "trades", "candles"])
    p.add_argument("files", nargs="+", metavar="FILE", help="source files (.gz/.zst read transparently)")
    p.add_argument("--catalog", required=True, help="catalog folder to write into")
    p.add_argument("--map", default="", metavar="COL=SRC,...", help="catalog column = source column, comma-separated; book logs also take "
                        "action=SRC (insert/cancel) or size_delta=SRC (signed changes)")
    p.add_argument("--price-unit", choices=["cents", "dollars", "units", "probability"],
                   help="unit of the source prices (required when they look like cents or dollars)")
    p.add_argument("--size-unit", choices=["contracts", "units"], default="contracts",
                   help="unit of sizes and counts (default contracts)")
    p.add_argument("--tz", help="timezone of naive timestamps (e.g. America/New_York); naive times without it are an error")
    p.add_argument("--period", type=int, metavar="MINUTES", help="candles: bar length when the files have no period column "
                        "(Kalshi candlestick responses: else their spacing)")
    p.add_argument("--ticker", help="market of Kalshi candlestick/orderbook responses that do not name it")
    p.add_argument("--ts", metavar="TIME", help="time of saved orderbook snapshots (Kalshi's response has none), "
                                                "e.g. 2026-11-20T15:00:00Z, unless each carries a ts field")
    p.add_argument("--empty-result", choices=["void", "unsettled"], default="void",
                   help="markets: a finalized market with an empty result is void (default, as kalshi download "
                        "reads it: Kalshi's Market.result has no 'void') or left unsettled")
    p.add_argument("--format", choices=["csv", "parquet", "jsonl", "json"], help="default: from the file name")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from .importer import import_files

    mapping = {}
    for item in filter(None, (x.strip() for x in args.map.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key or not val:
            raise ValueError(f"--map expects catalog_col=source_col, got {item!r}")
        mapping[key.strip()] = val.strip()
    notes: list[str] = []
    counts = import_files(args.kind, args.files, args.catalog, mapping=mapping, price_unit=args.price_unit,
                          size_unit=args.size_unit, tz=args.tz, fmt=args.format, period=args.period,
                          ticker=args.ticker, ts=args.ts, empty_result=args.empty_result, notes=notes)
    for line in notes:
        print(f"warning: {line}")
    for f, n in counts.items():
        print(f"{f}: {n:,} {args.kind} rows")
    print(f"imported {sum(counts.values()):,} {args.kind} rows into {args.catalog}")
    return 0
