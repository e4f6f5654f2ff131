"""The ``kalshi`` command line.

Every command reports problems as one line (``kalshi: error: ...``) with a non-zero exit code;
a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "backtests" / "longshot.toml"

# optional subcommands contributed by other modules: (module, description)
# (each module's ``add_parser(subparsers)`` registers its command; missing ones are skipped)
_PLUGINS = [
    ("framework.exchange.cli", "exchange"),
    ("framework.data.download_cli", "download"),
    ("framework.data.import_cli", "import"),
    ("framework.data.record_cli", "record"),
    ("framework.doctor", "doctor"),
    ("framework.kalshi.fix_check", "fix-check"),
    ("framework.live.cli", "run / paper / live / kill"),
    ("framework.live.latency_cli", "latency"),
    ("framework.sweep_cli", "sweep"),
    ("framework.analysis.cli", "report / compare"),
    ("framework.data.catalog_cli", "catalog info / check / compact"),
]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CLIError(f"--param expects key=value, got {text!r}")
    return key.strip(), value.strip()


def _add_backtest(sub) -> None:
    p = sub.add_parser("backtest", help="run a backtest from a TOML config (default: the bundled example)",
                       description="Replay a catalog through a strategy with the simulated broker.")
    p.add_argument("config", nargs="?", help=f"TOML run config (default: {DEFAULT_CONFIG.relative_to(REPO_ROOT)})")
    p.add_argument("--catalog", help="catalog folder (overrides [run] catalog)")
    p.add_argument("--strategy", help="'module:Class' (overrides [run] strategy)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a strategy parameter (repeatable)")
    p.add_argument("--markets", help="comma-separated tickers (overrides [run] markets)")
    p.add_argument("--start", help="start time, inclusive (e.g. 2026-11-19)")
    p.add_argument("--end", help="end time, exclusive")
    p.add_argument("--out", help="run folder to write (default runs/<config name>)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-report", action="store_true", help="skip report.html (`kalshi report RUN_DIR` builds it later)")
    p.set_defaults(func=_cmd_backtest)


def _cmd_backtest(args) -> int:
    from .core.config import RunConfig, load_config

    if args.config:
        cfg = load_config(args.config)
    elif args.strategy and args.catalog:
        cfg = RunConfig(path=None)
    else:
        cfg = load_config(DEFAULT_CONFIG)
    if cfg.mode != "backtest":
        raise CLIError(f"{cfg.path}: mode is {cfg.mode!r}; `kalshi backtest` runs mode = \"backtest\" configs; "
                       f"use `kalshi {cfg.mode} {cfg.path}` (or `kalshi run CONFIG --mode backtest`)")
    return backtest_from_config(cfg, args)


def backtest_from_config(cfg, args) -> int:
    """Run a backtest from a parsed config plus command-line overrides; print the summary and
    write the run folder. Shared by ``kalshi backtest`` and ``kalshi run --mode backtest``."""
    from .analysis.report import collect_warnings, write_report, write_run_files
    from .backtest import run_backtest

    strategy = args.strategy or cfg.strategy
    if not strategy:
        raise CLIError("no strategy given: set [run] strategy in the config or pass --strategy module:Class")
    catalog = Path(args.catalog) if getattr(args, "catalog", None) else cfg.catalog
    if catalog is None:
        raise CLIError("no catalog given: set [run] catalog in the config or pass --catalog DIR")
    if not catalog.is_dir():
        raise CLIError(f"catalog not found: {catalog}; generate the sample with `python data/make_sample.py` "
                       "or pass --catalog DIR")
    params = dict(cfg.params)
    params.update(dict(_parse_param(t) for t in args.param))
    markets = args.markets.split(",") if args.markets else cfg.markets
    name = cfg.path.stem if cfg.path is not None else strategy.rpartition(":")[2].lower()
    out = Path(args.out) if args.out else (cfg.out or Path("runs") / name)
    opts = cfg.model_options()
    opts["progress"] = not getattr(args, "no_progress", False) and sys.stderr.isatty()
    if cfg.risk:  # the same pre-trade gate live runs use, so limits behave alike
        from .live.config import risk_limits
        from .live.risk import RiskGate

        opts["risk"] = RiskGate(risk_limits(cfg.risk, defaults=False))
    print(f"backtest {strategy} on {catalog}", flush=True)
    t0 = time.perf_counter()
    from .strategy_loader import load_strategy

    # a config's strategy is found next to the config too, so it runs from any directory
    strategy_cls = load_strategy(strategy, search_dirs=[cfg.path.parent] if cfg.path is not None else [])
    from .core.strategy_errors import StrategyError
    from .logs import run_log

    debug = bool(getattr(args, "debug", False))
    with run_log(out, debug=debug), collect_warnings() as warned:
        try:
            result = run_backtest(strategy_cls, catalog, markets=markets,
                                  start=getattr(args, "start", None) or cfg.start,
                                  end=getattr(args, "end", None) or cfg.end, params=params,
                                  starting_cash=cfg.starting_cash, **opts)
        except StrategyError as err:
            failed = err
        else:
            failed = None
    if failed is not None:
        return _strategy_failed(failed, out, debug)
    elapsed = time.perf_counter() - t0
    result.write(out)
    write_run_files(out, catalog=catalog, config=cfg.path, warnings=warned)
    n = result.metrics["n_events"]
    for line in result.data_warnings.lines():  # soft data problems (framework.data.checks)
        print(f"kalshi: data warning: {line}", file=sys.stderr)
    print(result.summary())
    print(f"\n  {n:,} events in {elapsed:.2f} s ({n / max(elapsed, 1e-9):,.0f} events/s); "
          f"wrote {out}/ (metrics.json, fills.parquet, orders.parquet, equity.parquet, fidelity.json, ...)")
    if not getattr(args, "no_report", False):
        try:
            report, seconds = write_report(out)
        except Exception as exc:  # the results are written; a plotting failure must not hide them
            if getattr(args, "debug", False):
                raise
            print(f"kalshi: warning: report.html not written: {_one_line(exc)} (kalshi --debug report {out})",
                  file=sys.stderr)
        else:
            print(f"  report: {report} ({seconds:.2f} s; rebuild with `kalshi report {out}`)")
    return 0


def _strategy_failed(err, out: Path, debug: bool) -> int:
    """A strategy raised: keep the partial results and the traceback in the run folder, say where
    it happened in one line (callback, ticker, simulated time); exit 1."""
    if debug:
        raise err
    from .core.strategy_errors import write_error_files

    write_error_files(err, out)
    kept = "traceback in error.txt"
    if err.partial is not None:
        try:
            err.partial.write(out)
            kept += ", partial results up to the failure"
        except Exception as exc:  # the failure may have left state that cannot be written
            kept += f" (partial results could not be written: {type(exc).__name__}: {exc})"
    print(f"kalshi: error: {err}; {kept} in {out}/; rerun with `kalshi --debug ...` to see the traceback here",
          file=sys.stderr)
    return 1


def _add_bench(sub) -> None:
    from .bench import SCENARIOS

    p = sub.add_parser("bench", help="measure replay speed, per-order cost and memory on generated data",
                       description="Scenarios: " + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()))
    p.add_argument("--events", type=int, default=1_000_000, help="events per scenario (default 1,000,000)")
    p.add_argument("--memory-events", type=int, default=50_000_000,
                   help="rows for the stream_memory scenario (default 50,000,000)")
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="run only these (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    import json

    from .bench import format_table, main_bench

    if args.events < 1000 or args.memory_events < 1000:
        raise CLIError("--events and --memory-events must be at least 1000")
    rows = main_bench(args.events, args.scenario, args.memory_events, as_json=args.json)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kalshi", description="Backtest, paper-trade and live-trade Kalshi "
                                     "event contracts with one Strategy API.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_backtest(sub)
    _add_bench(sub)
    for module_name, _cmd in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists but is broken: say so
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .logs import configure_cli_logging

    configure_cli_logging(args.debug)  # strategy lines at INFO with simulated time; --debug: our flow
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    func = getattr(args, "func", None) or getattr(args, "run", None)
    try:
        rc = func(args)
    except KeyboardInterrupt:
        print("kalshi: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; the traceback only on request
        if args.debug:
            raise
        print(f"kalshi: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return int(rc or 0)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    known = ("CLIError", "ConfigError", "CatalogError", "UnitError", "ValueError", "TypeError",
             "StrategyLoadError", "ReportError")
    prefix = "" if type(exc).__name__ in known else f"{type(exc).__name__}: "
    return prefix + " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
