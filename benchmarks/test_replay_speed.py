"""pytest-benchmark suites (run: pytest benchmarks --benchmark-enable). They report; they do not
assert timings. Full-size figures come from `kalshi bench` (see docs/performance.md)."""

from __future__ import annotations

from benchmarks.conftest import N
from framework import run_backtest
from framework.bench import _strategies

Noop, EveryHundred, EveryEvent = _strategies()


def _run(strategy, root):
    return run_backtest(strategy, root, equity_interval=None, starting_cash=10**13)


def test_l1_noop(benchmark, l1_catalog):
    res = benchmark.pedantic(_run, args=(Noop, l1_catalog), rounds=3, iterations=1)
    assert res.metrics["n_events"] == N
    benchmark.extra_info["events_per_s"] = N / benchmark.stats.stats.mean


def test_l1_order_every_100(benchmark, l1_catalog):
    res = benchmark.pedantic(_run, args=(EveryHundred, l1_catalog), rounds=3, iterations=1)
    assert res.metrics["n_orders"] == N // 100
    benchmark.extra_info["events_per_s"] = N / benchmark.stats.stats.mean


def test_order_every_event(benchmark, l1_catalog):
    res = benchmark.pedantic(_run, args=(EveryEvent, l1_catalog), rounds=2, iterations=1)
    assert res.metrics["n_orders"] == N
    benchmark.extra_info["us_per_event_and_order"] = benchmark.stats.stats.mean / N * 1e6


def test_l2_noop(benchmark, l2_catalog):
    res = benchmark.pedantic(_run, args=(Noop, l2_catalog), rounds=3, iterations=1)
    assert res.metrics["n_events"] == N + 20
    benchmark.extra_info["events_per_s"] = N / benchmark.stats.stats.mean


def test_merge_1000_markets(benchmark, merge_catalog):
    res = benchmark.pedantic(_run, args=(Noop, merge_catalog), rounds=3, iterations=1)
    assert res.metrics["n_events"] == N
    benchmark.extra_info["events_per_s"] = N / benchmark.stats.stats.mean
