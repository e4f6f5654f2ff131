"""``kalshi sweep CONFIG --grid name=v1,v2 ...``: backtest every combination of a parameter grid."""

from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="backtest every combination of a parameter grid (local processes or Dask)",
                       description="Run CONFIG once per combination of the --grid values, each in its own run "
                                   "folder, and write a results table (sweep.parquet, sweep.csv).")
    p.add_argument("config", help="TOML backtest config")
    p.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                   help="values of a strategy parameter, or broker.<option> (repeatable; the sweep runs "
                        "their product)")
    p.add_argument("--workers", type=int, help="local processes (default: CPU count; 1 = this process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on this Dask distributed scheduler instead (extra: distributed)")
    p.add_argument("--split-by", choices=("event", "time"), dest="split_by",
                   help="out-of-sample check: train on the first share of events or time, test on the rest")
    p.add_argument("--train", default="0.7", help="share for training with --split-by (default 0.7)")
    p.add_argument("--out", help="sweep folder (default runs/<config name>-sweep)")
    p.add_argument("--sort", help="metric to rank by (default pnl, or train_pnl with --split-by)")
    p.add_argument("--top", type=int, default=10, help="rows to print (default 10)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from .sweep import parse_grid, run_sweep

    grid = parse_grid(args.grid)
    cfg_path = Path(args.config)
    out = Path(args.out) if args.out else Path("runs") / f"{cfg_path.stem}-sweep"
    sort = args.sort or ("train_pnl" if args.split_by else "pnl")
    n = 1
    for values in grid.values():
        n *= len(values)
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else \
        f"{args.workers or 'all'} local worker(s)"
    print(f"sweep {cfg_path}: {n} combination(s){' x 2 (train/test)' if args.split_by else ''} on {where}",
          flush=True)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=n * (2 if args.split_by else 1), unit="run", desc="sweep", leave=False,
                   disable=not sys.stderr.isatty())
    t0 = time.perf_counter()
    try:
        table = run_sweep(cfg_path, grid, out, workers=args.workers, scheduler=args.scheduler,
                          split_by=args.split_by, train=args.train,
                          progress=(lambda done, total: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out / "sweep.parquet", index=False)
    table.to_csv(out / "sweep.csv", index=False)
    failed = table[table["error"].notna()]
    ok = table[table["error"].isna()]
    if sort not in table.columns:
        metrics = sorted(c for c in table.columns if c not in ("combination", "error", *grid))
        raise ValueError(f"--sort {sort}: no such column; columns: {', '.join(metrics)}")
    shown = [*grid, sort]
    if args.split_by:
        other = "test_" + sort.removeprefix("train_") if sort.startswith("train_") else None
        shown += [c for c in (other, "train_n_fills", "test_n_fills") if c and c in table.columns]
    else:
        shown += [c for c in ("n_fills", "fees", "max_drawdown") if c in table.columns and c != sort]
    ranked = ok.sort_values(sort, ascending=False, kind="stable").head(args.top)
    print(f"\ntop {len(ranked)} by {sort}:")
    print(ranked[["combination", *dict.fromkeys(shown)]].to_string(index=False))
    for _, row in failed.iterrows():
        print(f"combination {row['combination']} failed: {row['error']}", file=sys.stderr)
    print(f"\n{len(ok)} of {len(table)} combination(s) ran in {elapsed:.1f} s; wrote {out}/sweep.parquet, "
          f"sweep.csv and one run folder per combination")
    return 1 if len(failed) else 0
