"""``kalshi run | paper | live | kill``: the mode commands.

``add_parser(subparsers)`` registers all four on the ``kalshi`` command line (``framework.cli``
lists this module among its plugins). ``python -m framework.live.cli ...`` works too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_parser", "main"]


def _common(p: argparse.ArgumentParser, with_mode: bool) -> None:
    p.add_argument("config", help="TOML run config (e.g. backtests/local_live.toml)")
    if with_mode:
        p.add_argument("--mode", choices=("backtest", "paper", "live"), help="override [run] mode")
    p.add_argument("--env", choices=("local", "demo", "prod"), help="exchange environment (overrides [live] env)")
    p.add_argument("--yes-really-trade-prod", action="store_true", dest="yes_prod",
                   help="required to send real orders on prod")
    p.add_argument("--broker", choices=("rest", "fix"), help="live order path (overrides [live] broker)")
    p.add_argument("--feed", choices=("auto", "ws", "rest"), help="market data (overrides [live] feed)")
    p.add_argument("--port", type=int, help="local exchange port (env local)")
    p.add_argument("--fix-port", type=int, dest="fix_port",
                   help="FIX port for --broker fix (overrides [live] fix_port; env local: the port "
                        "`kalshi exchange --fix-port` printed)")
    p.add_argument("--key-id", help="API key id (else [live] key_id, $KALSHI_API_KEY_ID; env local: the "
                                    "local exchange's key)")
    p.add_argument("--key-file", help="private key PEM (else [live] key_file, $KALSHI_PRIVATE_KEY_PATH or "
                                      "$KALSHI_PRIVATE_KEY; env local: the local exchange's key)")
    p.add_argument("--state-dir", help="journal/control folder (default <out>/state)")
    p.add_argument("--out", help="run folder to write (default runs/<config name>)")
    p.add_argument("--duration", help="stop after this long, e.g. 30s, 10min")
    p.add_argument("--strategy", help="'module:Class' (overrides [run] strategy)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a strategy parameter (repeatable)")
    p.add_argument("--markets", help="comma-separated tickers (overrides [run] markets)")
    p.add_argument("--no-report", action="store_true", help="skip report.html (`kalshi report RUN_DIR` later)")


def add_parser(sub) -> None:
    """Register ``run``, ``paper``, ``live`` and ``kill`` on an argparse subparsers object."""
    p = sub.add_parser("run", help="run a config in backtest, paper or live mode",
                       description="Run a strategy config. Paper = live data + simulated fills; live = real "
                                   "orders (journaled, risk-gated, reconciled on restart).")
    _common(p, True)
    p.set_defaults(func=cmd_run, forced_mode=None)
    p = sub.add_parser("paper", help="paper-trade a config: live data, simulated fills",
                       description="Shortcut for `kalshi run CONFIG --mode paper`.")
    _common(p, False)
    p.set_defaults(func=cmd_run, forced_mode="paper")
    p = sub.add_parser("live", help="trade a config live (local exchange, demo or prod)",
                       description="Shortcut for `kalshi run CONFIG --mode live`. Prod needs "
                                   "--yes-really-trade-prod.")
    _common(p, False)
    p.set_defaults(func=cmd_run, forced_mode="live")
    p = sub.add_parser("kill", help="stop a running paper/live run: cancel its orders, halt, exit",
                       description="Pulls the kill switch of the run using CONFIG's state directory (or "
                                   "--state-dir): over its control socket, else by writing the KILL file.")
    p.add_argument("config", nargs="?", help="the run's TOML config (to find its state directory)")
    p.add_argument("--state-dir", help="the run's state directory")
    p.add_argument("--out", help="the run's folder, if it was given to the run")
    p.add_argument("--paper", action="store_true", help="the config's paper run (its own folder, <out>-paper)")
    p.add_argument("--reason", default="", help="text recorded in the journal")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the run's summary")
    p.set_defaults(func=cmd_kill)


def _params(items: list[str]) -> dict[str, str]:
    out = {}
    for text in items:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects key=value, got {text!r}")
        out[key.strip()] = value.strip()
    return out


def _run_backtest(cfg, args) -> int:
    from ..cli import backtest_from_config

    run = cfg.run
    run.risk = cfg.risk  # [risk] applies in backtests too
    return backtest_from_config(run, args)


def cmd_run(args) -> int:
    from .config import load_live_config
    from .runner import LiveRunner, resolve_settings

    cfg = load_live_config(args.config)
    mode = args.forced_mode or getattr(args, "mode", None) or cfg.mode
    settings = resolve_settings(cfg, mode=mode, env=args.env, yes_really_trade_prod=args.yes_prod,
                                state_dir=args.state_dir, out=args.out, duration=args.duration,
                                broker=args.broker, feed=args.feed, port=args.port,
                                markets=args.markets.split(",") if args.markets else None,
                                params=_params(args.param), strategy=args.strategy,
                                fix_port=args.fix_port, key_id=args.key_id, key_file=args.key_file)
    if settings.mode == "backtest":
        return _run_backtest(cfg, args)
    if settings.env.name == "prod" and settings.mode == "live":
        print("*** LIVE TRADING ON PROD: real money. `kalshi kill` or Ctrl-C stops it. ***", file=sys.stderr)
    from ..core.strategy_errors import StrategyError
    from ..logs import run_log

    runner = LiveRunner(settings)
    try:
        with run_log(settings.out, debug=bool(getattr(args, "debug", False))):
            summary = runner.run()
    except StrategyError as err:
        if getattr(args, "debug", False):
            raise
        return _strategy_failed(err, runner, settings.out)
    print("stopped: " + str(summary.get("reason")))
    print(json.dumps({k: v for k, v in summary.items() if k != "cash_units"}, indent=2, default=str))
    _report(settings, args)
    if summary.get("resting_on_exchange"):  # the stop could not clear the exchange: say so, exit 3
        print(f"error: {len(summary['resting_on_exchange'])} order(s) of this run still rest on the exchange "
              "after the stop; cancel them (kalshi kill again, or on Kalshi) before walking away", file=sys.stderr)
        return 3
    return 0


def _report(settings, args) -> None:
    """report.html in the paper/live run folder, as a backtest writes one (a plotting failure
    never hides the run's outcome: it is a warning)."""
    if getattr(args, "no_report", False) or not (settings.out / "metrics.json").is_file():
        return
    from ..analysis.report import write_report, write_run_files

    try:
        write_run_files(settings.out, config=settings.cfg.run.path)
        path, seconds = write_report(settings.out)
    except Exception as exc:
        print(f"kalshi: warning: report.html not written: {type(exc).__name__}: {exc} "
              f"(kalshi --debug report {settings.out})", file=sys.stderr)
        return
    print(f"report: {path} ({seconds:.2f} s; rebuild with `kalshi report {settings.out}`)")


def _strategy_failed(err, runner, out: Path) -> int:
    """Strategy code raised during a paper/live run: the runner has already cancelled the run's
    orders; say where it failed and what the shutdown did, keep the traceback; exit 1."""
    from ..core.strategy_errors import write_error_files

    summary = runner.summary or {}
    write_error_files(err, out)
    left = summary.get("open_orders_left") or []
    did = f"shutdown cancelled {summary.get('cancelled_on_exit', 0)} open order(s)"
    did += f", {len(left)} still open ({', '.join(map(str, left[:5]))}{' ...' if len(left) > 5 else ''})" \
        if left else ", none left open"
    positions = summary.get("positions") or {}
    did += f"; positions held: {', '.join(f'{t} {q}' for t, q in positions.items())}" if positions else \
        "; no positions held"
    print(f"kalshi: error: {err}; {did}; traceback in {out}/error.txt, summary in "
          f"{summary.get('state_dir', out)}/summary.json; rerun with `kalshi --debug ...` for the traceback here",
          file=sys.stderr)
    return 1


def cmd_kill(args) -> int:
    from .killswitch import send_kill

    if args.state_dir:
        state_dir = Path(args.state_dir)
    elif args.config:
        from .config import load_live_config
        from .runner import run_folders

        cfg = load_live_config(args.config)
        _, state_dir = run_folders(cfg, "paper" if args.paper else "live", args.out)  # as the run chose
    else:
        raise ValueError("give the run's CONFIG or --state-dir")
    reply = send_kill(state_dir, args.reason, timeout=args.timeout)
    if reply.get("summary"):
        s = reply["summary"]
        print(f"run stopped ({s.get('reason')}); cancelled {s.get('cancelled_on_exit', 0)} open order(s)")
        print(json.dumps({k: v for k, v in s.items() if k != "cash_units"}, indent=2, default=str))
    else:
        print(reply.get("note") or reply.get("error") or "kill sent")
    return 0 if reply.get("ok") else 1


def main(argv: list[str] | None = None) -> int:
    import logging

    parser = argparse.ArgumentParser(prog="kalshi")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("kalshi: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"kalshi: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
