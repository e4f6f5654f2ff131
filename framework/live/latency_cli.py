"""``kalshi latency RUN_DIR``: write a latency profile measured from a paper/live run's journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "latency",
        help="measure order-entry and response latency from a paper/live run's journal",
        description="Reads RUN_DIR's journal (state/journal.sqlite) and writes a latency profile "
        "(per-leg quantiles and samples) that a backtest replays with [broker] latency = \"profile:PATH\". "
        "Example: kalshi latency runs/local_live --out profiles/local.json",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="paper/live run folder (or its journal.sqlite)")
    p.add_argument("--out", metavar="PATH", help="profile file (default RUN_DIR/latency_profile.json)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .latency_profile import ProfileError, build_profile, find_journal, write_profile

    try:
        journal = find_journal(args.run_dir)
        profile = build_profile(journal)
        base = Path(args.run_dir) if Path(args.run_dir).is_dir() else Path(args.run_dir).parent
        out = write_profile(profile, args.out or base / "latency_profile.json")
    except (ProfileError, OSError) as e:
        print(f"kalshi: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    for leg, body in sorted(profile["legs"].items()):
        print(f"{leg:<9} n={body['n']:<6} p50={body['p50'] / 1e6:.3f}ms p90={body['p90'] / 1e6:.3f}ms "
              f"p99={body['p99'] / 1e6:.3f}ms max={body['max'] / 1e6:.3f}ms")
    if profile["negative_samples_dropped"]:
        print(f"dropped {profile['negative_samples_dropped']} negative sample(s) (clock skew)")
    print(f"wrote {out} (use: [broker] latency = \"profile:{out}\")")
    return 0
