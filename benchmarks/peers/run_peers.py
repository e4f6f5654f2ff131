"""Run the replay scenarios on peer frameworks, for docs/performance.md's side-by-side table.

Needs the throwaway environment from ``setup.sh`` (NautilusTrader and backtrader are not project
dependencies):

    benchmarks/peers/setup.sh /tmp/kalshi-peers
    /tmp/kalshi-peers/bin/python benchmarks/peers/run_peers.py --events 1000000

Scenarios mirror ``kalshi bench``: L1 quotes of one binary-like instrument with a do-nothing
strategy, and the same with one marketable order per 100 events (alternating buy/sell).
NautilusTrader replays QuoteTicks through its BacktestEngine (Cython core); backtrader replays
the same rows as bars (it has no quote type), so its figure is bars/s.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def make_quotes(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mid = np.clip(0.5 + np.cumsum(rng.integers(-1, 2, n)) * 0.01, 0.05, 0.95)
    spread = rng.integers(1, 4, n) * 0.01
    bid = np.round(mid - np.floor(spread / 2 * 100) / 100, 2)
    ask = np.round(bid + spread, 2)
    idx = pd.date_range("2026-09-21", periods=n, freq="1ms", tz="UTC")
    return pd.DataFrame({"bid_price": bid, "ask_price": ask,
                         "bid_size": rng.integers(1, 500, n).astype(float),
                         "ask_size": rng.integers(1, 500, n).astype(float)}, index=idx)


def run_nautilus(df: pd.DataFrame, order_every: int | None) -> dict:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money, Quantity
    from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    instrument = TestInstrumentProvider.default_fx_ccy("AUD/USD", venue=Venue("SIM"))
    ticks = QuoteTickDataWrangler(instrument).process(df)

    class Cfg(StrategyConfig, frozen=True):
        order_every: int = 0

    class Bench(Strategy):
        def __init__(self, config: Cfg):
            super().__init__(config)
            self.n = 0
            self.every = config.order_every

        def on_start(self):
            self.subscribe_quote_ticks(instrument.id)

        def on_quote_tick(self, tick):
            if self.every:
                self.n += 1
                if self.n % self.every == 0:
                    side = OrderSide.BUY if (self.n // self.every) % 2 else OrderSide.SELL
                    self.submit_order(self.order_factory.market(instrument.id, side, Quantity.from_int(1000)))

    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(Venue("SIM"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     base_currency=USD, starting_balances=[Money(10_000_000, USD)])
    engine.add_instrument(instrument)
    engine.add_data(ticks)
    engine.add_strategy(Bench(Cfg(order_every=order_every or 0)))
    t = time.perf_counter()
    engine.run()
    dt = time.perf_counter() - t
    import nautilus_trader

    orders = len(engine.cache.orders())
    engine.dispose()
    return {"framework": f"nautilus_trader {nautilus_trader.__version__} (BacktestEngine)",
            "events": len(ticks), "seconds": dt, "events_per_s": len(ticks) / dt, "orders": orders}


def run_backtrader(df: pd.DataFrame, order_every: int | None) -> dict:
    import backtrader as bt

    bars = pd.DataFrame({"open": df["bid_price"], "high": df["ask_price"], "low": df["bid_price"],
                         "close": df["bid_price"], "volume": df["bid_size"]}, index=df.index.tz_localize(None))

    class Bench(bt.Strategy):
        params = (("every", 0),)

        def __init__(self):
            self.n = 0

        def next(self):
            if self.p.every:
                self.n += 1
                if self.n % self.p.every == 0:
                    (self.buy if (self.n // self.p.every) % 2 else self.sell)(size=1)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars))
    cerebro.addstrategy(Bench, every=order_every or 0)
    cerebro.broker.setcash(10_000_000)
    t = time.perf_counter()
    cerebro.run()
    dt = time.perf_counter() - t
    return {"framework": f"backtrader {bt.__version__} (bars)", "events": len(bars), "seconds": dt,
            "events_per_s": len(bars) / dt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["nautilus", "backtrader"])
    args = ap.parse_args()
    df = make_quotes(args.events)
    rows = []
    for name, fn in (("nautilus", run_nautilus), ("backtrader", run_backtrader)):
        if args.only and args.only != name:
            continue
        for every in (None, 100):
            r = fn(df, every)
            r["scenario"] = "l1_noop" if every is None else "l1_orders"
            rows.append(r)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
