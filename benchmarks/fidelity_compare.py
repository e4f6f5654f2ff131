"""PnL and fills of the example strategies and of a take-the-best-offer strategy on the sample.

Run with the tree to measure on ``PYTHONPATH`` (so an older checkout can be compared with the
current one, as docs/simulation.md "Before and after" does)::

    PYTHONPATH=. python benchmarks/fidelity_compare.py            # default [broker] models
    PYTHONPATH=. python benchmarks/fidelity_compare.py --json

``TakeBestOffer`` buys the whole displayed best YES offer (capped at 500 contracts) on every
book event and sells the whole best YES bid when it holds more than 1,000 contracts: a strategy
that profits only if it can take the same displayed liquidity again and again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _take_best():
    from framework import CONTRACT, Strategy

    class TakeBestOffer(Strategy):
        def on_book(self, book) -> None:
            tk = book.ticker
            ask, size = book.yes_ask, book.yes_ask_size
            if ask is None:
                return
            want = 500 * CONTRACT if size is None else min(size, 500 * CONTRACT)
            if self.position(tk) > 1000 * CONTRACT and book.yes_bid is not None:
                self.sell(tk, self.position(tk), price=book.yes_bid, tif="ioc")
            elif want > 0:
                self.buy(tk, want, price=ask, tif="ioc")

    return TakeBestOffer


def _row(name: str, res) -> dict:
    m = res.metrics
    return {"run": name, "pnl": str(m["pnl"]), "fees": str(m["fees"]), "orders": m["n_orders"],
            "fills": m["n_fills"], "contracts": str(m["contracts_traded"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--broker", action="append", default=[], metavar="KEY=VALUE",
                    help="a [broker] option for every run, e.g. level_refill=growth (repeatable)")
    args = ap.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in args.broker)
    sys.path.insert(0, str(ROOT))
    from framework.backtest import run_backtest
    from framework.core.config import load_config

    rows = []
    for cfg_name in ("longshot", "momentum"):
        cfg = load_config(ROOT / "backtests" / f"{cfg_name}.toml")
        res = run_backtest(cfg.strategy, cfg.catalog, markets=cfg.markets, start=cfg.start, end=cfg.end,
                           params=cfg.params, starting_cash=cfg.starting_cash, **{**cfg.model_options(), **extra})
        rows.append(_row(cfg_name, res))
    sample = ROOT / "data" / "sample"
    for kinds in (["book", "trades"], ["quotes", "trades"]):
        res = run_backtest(_take_best(), sample, kinds=kinds, starting_cash=10**12, equity_interval=None, **extra)
        rows.append(_row(f"take_best ({'+'.join(kinds)})", res))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['run']:<28} pnl {r['pnl']:>14}  fees {r['fees']:>12}  orders {r['orders']:>6}  "
                  f"fills {r['fills']:>6}  contracts {r['contracts']:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
