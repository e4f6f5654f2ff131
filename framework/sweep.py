"""Parameter sweeps: one config, a grid of values, every combination backtested.

``run_sweep`` expands ``{"qty": ["1", "2"], "broker.queue_model": ["none", "trades"]}`` into the
product of its values (in the order given), runs each combination as an ordinary backtest in
its own run folder, and returns one table row per combination. Names are strategy parameters,
or ``broker.<key>`` for a ``[broker]`` option. Combinations run on local processes (``workers``)
or on a Dask distributed cluster (``scheduler="tcp://host:port"``, optional extra
``distributed``); both call the same picklable ``run_task``, so the table is the same wherever
it ran. A combination that fails is a row with its error; the others go on.

With ``split_by`` the data is cut in two so overfitting shows: ``"event"`` puts the first
``train`` share of the events (by their last close time) in the training set and the rest in the
test set; ``"time"`` cuts the run's time span at ``train`` of its length. Every combination runs
on both halves; columns are prefixed ``train_`` and ``test_``.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = ["SweepTask", "parse_grid", "plan_sweep", "run_sweep", "run_task"]

_SPLITS = ("event", "time")


@dataclass(frozen=True)
class SweepTask:
    """One backtest of a sweep: picklable, so it runs the same in a local process or on Dask."""

    index: int
    config: str
    params: dict[str, Any]
    broker: dict[str, Any]
    out: str
    split: str | None = None  # "train" | "test" | None
    markets: list[str] | None = None
    start: str | int | None = None
    end: str | int | None = None
    labels: dict[str, str] = field(default_factory=dict)  # the grid values as typed


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """``["qty=1,2,3", "broker.latency=0,50ms"]`` -> ``{"qty": ["1", "2", "3"], ...}``."""
    grid: dict[str, list[str]] = {}
    for text in items:
        name, sep, values = text.partition("=")
        name = name.strip()
        vals = [v.strip() for v in values.split(",")]
        if not sep or not name or not all(vals):
            raise ValueError(f"--grid expects name=v1,v2,... (e.g. qty=1,2,5), got {text!r}")
        if name in grid:
            raise ValueError(f"--grid {name} given twice; list all its values in one --grid")
        grid[name] = vals
    if not grid:
        raise ValueError("a sweep needs at least one --grid name=v1,v2,...")
    return grid


def _slug(labels: dict[str, str]) -> str:
    text = "-".join(f"{k.removeprefix('broker.')}={v}" for k, v in labels.items())
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)[:120]


def plan_sweep(config: str | Path, grid: dict[str, list[str]], out: str | Path,
               split_by: str | None = None, train: float | str = 0.7) -> list[SweepTask]:
    """The backtests a sweep will run, in a stable order (combination, then train before test)."""
    from .core.config import BROKER_KEYS, load_config

    cfg = load_config(config)
    if cfg.mode != "backtest":
        raise ValueError(f"{cfg.path}: a sweep runs backtests; this config's mode is {cfg.mode!r}")
    known_params = _strategy_params(cfg)
    for name in grid:
        if name.startswith("broker."):
            key = name.removeprefix("broker.")
            if key not in BROKER_KEYS:
                raise ValueError(f"--grid {name}: unknown [broker] option {key!r}; known: "
                                 f"{', '.join(sorted(BROKER_KEYS))}")
        elif known_params is not None and name not in known_params:
            raise ValueError(f"--grid {name}: the strategy has no parameter {name!r}; known: "
                             f"{', '.join(sorted(known_params)) or '(none)'} (or broker.<option>)")
    halves = _split(cfg, split_by, train)
    out = Path(out)
    tasks: list[SweepTask] = []
    names = list(grid)
    for i, values in enumerate(itertools.product(*(grid[n] for n in names))):
        labels = dict(zip(names, values))
        params = {k: v for k, v in labels.items() if not k.startswith("broker.")}
        broker = {k.removeprefix("broker."): _toml_value(v) for k, v in labels.items() if k.startswith("broker.")}
        folder = out / f"{i:04d}-{_slug(labels)}"
        for split, markets, start, end in halves:
            tasks.append(SweepTask(i, str(cfg.path), params, broker, str(folder / split if split else folder),
                                   split, markets, start, end, labels))
    return tasks


def _strategy_params(cfg) -> set[str] | None:
    from .strategy_loader import load_strategy

    if not cfg.strategy:
        raise ValueError(f"{cfg.path}: no [run] strategy to sweep")
    cls = load_strategy(cfg.strategy, [cfg.path.parent])
    return set(cls.params)


def _toml_value(text: str) -> Any:
    """A broker option from the command line: true/false and integers as TOML would read them."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _split(cfg, split_by: str | None, train: float | str):
    """[(split name, markets, start, end)]: one entry without a split, train and test with one."""
    if split_by is None:
        return [(None, cfg.markets, cfg.start, cfg.end)]
    if split_by not in _SPLITS:
        raise ValueError(f"--split-by must be one of {', '.join(_SPLITS)}, got {split_by!r}")
    share = Fraction(str(train))
    if not 0 < share < 1:
        raise ValueError(f"--train must be a share strictly between 0 and 1, got {train!r}")
    from .backtest import _select_markets
    from .data.replay import _to_ns

    rows = _select_markets(cfg.catalog, cfg.markets, cfg.series)
    if not rows:
        raise ValueError(f"{cfg.path}: the selection has no markets to split")
    if split_by == "event":
        last_close: dict[str, int] = {}
        for r in rows:
            ev = r.get("event_ticker") or r["ticker"]
            close = r.get("close_ts") or 0
            last_close[ev] = max(last_close.get(ev, close), close)
        events = sorted(last_close, key=lambda e: (last_close[e], e))
        if len(events) < 2:
            raise ValueError(f"--split-by event needs at least 2 events; the selection has {len(events)} "
                             f"({', '.join(events)}); use --split-by time")
        n_train = min(max(1, math.floor(share * len(events))), len(events) - 1)
        train_ev = set(events[:n_train])
        tr = [r["ticker"] for r in rows if (r.get("event_ticker") or r["ticker"]) in train_ev]
        te = [r["ticker"] for r in rows if (r.get("event_ticker") or r["ticker"]) not in train_ev]
        return [("train", tr, cfg.start, cfg.end), ("test", te, cfg.start, cfg.end)]
    lo = _to_ns(cfg.start) if cfg.start else min(r["open_ts"] for r in rows if r.get("open_ts") is not None)
    hi = _to_ns(cfg.end) if cfg.end else max(r["close_ts"] for r in rows if r.get("close_ts") is not None)
    if hi <= lo:
        raise ValueError(f"--split-by time: the run's span is empty ({lo} .. {hi})")
    cut = lo + (hi - lo) * share.numerator // share.denominator  # exact integer ns
    markets = cfg.markets
    return [("train", markets, lo, cut), ("test", markets, cut, hi)]


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one backtest of a sweep and write its run folder; never raises (errors are rows)."""
    try:
        from .analysis.report import collect_warnings, write_run_files
        from .backtest import run_backtest
        from .core.config import load_config
        from .logs import quiet_console, run_log
        from .strategy_loader import load_strategy

        cfg = load_config(task.config)
        opts = cfg.model_options()
        opts.update(task.broker)
        opts["progress"] = False
        risk = None
        if cfg.risk:
            from .live.config import risk_limits
            from .live.risk import RiskGate

            risk = RiskGate(risk_limits(cfg.risk, defaults=False))
        params = dict(cfg.params)
        params.update(task.params)
        cls = load_strategy(cfg.strategy, [Path(task.config).parent])
        with quiet_console(), run_log(task.out), collect_warnings() as warned:  # logs go to each run.log
            result = run_backtest(cls, cfg.catalog, markets=task.markets, start=task.start, end=task.end,
                                  params=params, starting_cash=cfg.starting_cash, risk=risk, **opts)
        result.write(task.out)
        # what `kalshi report RUN_DIR` reads, so any combination's report can be built on demand
        write_run_files(task.out, catalog=cfg.catalog, config=cfg.path, warnings=warned)
        metrics = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float, Decimal, str))
                   and not isinstance(v, bool)}
        return {"index": task.index, "split": task.split, "ok": True, "error": None, "run_dir": task.out,
                "metrics": metrics}
    except Exception as exc:  # a failing combination is a row, not the end of the sweep
        return {"index": task.index, "split": task.split, "ok": False, "run_dir": task.out,
                "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "metrics": {}}


def run_sweep(config: str | Path, grid: dict[str, list[str]], out: str | Path, workers: int | None = None,
              scheduler: str | None = None, split_by: str | None = None, train: float | str = 0.7,
              progress: Callable[[int, int], None] | None = None):
    """Run every combination; return a pandas DataFrame, one row per combination (grid values,
    metrics — prefixed ``train_``/``test_`` with a split — ``run_dir`` and ``error``), in grid order.

    ``workers`` local processes (default: the CPU count; 1 runs in this process); ``scheduler`` a
    Dask scheduler address instead. ``progress(done, total)`` is called as backtests finish.
    """
    tasks = plan_sweep(config, grid, out, split_by, train)
    results = list(_execute(tasks, workers, scheduler, progress))
    return _table(tasks, results, list(grid))


def _execute(tasks: list[SweepTask], workers: int | None, scheduler: str | None, progress):
    total = len(tasks)
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if scheduler:
        try:
            from distributed import Client
            from distributed import as_completed as dask_completed
        except ModuleNotFoundError:
            raise ValueError("--scheduler needs Dask distributed: pip install 'kalshi-framework[distributed]'") \
                from None
        with Client(scheduler, timeout="10s") as client:
            futures = client.map(run_task, tasks, pure=False)
            for fut in dask_completed(futures):
                yield fut.result()
                tick()
        return
    n = workers or multiprocessing.cpu_count()
    if n <= 1 or total <= 1:
        for task in tasks:
            yield run_task(task)
            tick()
        return
    methods = multiprocessing.get_all_start_methods()
    # fork: workers start with the framework already imported (spawn would re-import pandas each)
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=min(n, total), mp_context=ctx) as pool:
        for fut in as_completed([pool.submit(run_task, t) for t in tasks]):
            yield fut.result()
            tick()


def _table(tasks: list[SweepTask], results: list[dict[str, Any]], names: list[str]):
    import pandas as pd

    by_key = {(r["index"], r["split"]): r for r in results}
    rows = []
    for task in tasks:
        if task.split == "test":
            continue  # folded into its combination's row with the train half
        row: dict[str, Any] = {"combination": task.index, **task.labels}
        halves = ["train", "test"] if task.split else [None]
        errors = []
        for half in halves:
            r = by_key[(task.index, half)]
            prefix = f"{half}_" if half else ""
            for k, v in r["metrics"].items():
                row[prefix + k] = v
            row[prefix + "run_dir"] = r["run_dir"]
            if r["error"]:
                errors.append(f"{half}: {r['error']}" if half else r["error"])
        row["error"] = "; ".join(errors) or None
        rows.append(row)
    df = pd.DataFrame(rows)
    front = ["combination", *names]
    return df[front + [c for c in df.columns if c not in front]]
