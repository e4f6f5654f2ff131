"""``kalshi report RUN_DIR [--open]`` and ``kalshi compare RUN_DIR ...`` (registered in
``framework.cli._PLUGINS``)."""

from __future__ import annotations

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="(re)build a run folder's report.html",
                       description="Rebuild RUN_DIR/report.html from the run folder's files (self-contained "
                                   "page: plots, metrics, config, models, warnings).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `kalshi backtest`")
    p.add_argument("--open", action="store_true", help="open the report in a web browser")
    p.add_argument("--price-markets", type=int, default=3, metavar="N",
                   help="markets whose price path is drawn (default 3, largest |PnL| first)")
    p.set_defaults(func=_cmd_report)
    c = sub.add_parser("compare", help="metrics of several run folders side by side",
                       description="Print a table of the main metrics, one column per run folder.")
    c.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    c.add_argument("--metric", action="append", metavar="KEY", help="only these metrics.json keys (repeatable)")
    c.set_defaults(func=_cmd_compare)


def _cmd_report(args) -> int:
    from .report import write_report

    if args.price_markets < 0:
        raise ValueError("--price-markets must be 0 or more")
    path, seconds = write_report(args.run_dir, price_markets=args.price_markets)
    print(f"wrote {path} ({seconds:.2f} s)")
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0


def _cmd_compare(args) -> int:
    from .compare import compare_table

    print(compare_table(args.run_dirs, args.metric))
    return 0
