"""kill -9 fault matrix: crash a live run at many points, with exchange faults, and count damage.

Each cycle: a fresh local exchange (and FIX acceptor for ``--broker fix``), the runner in a
subprocess (``python -m framework.live.cli live``, strategy ``OneShot``: a marketable and a
resting buy in each of 2 markets), one fault from the list below, a SIGKILL (at a crash point,
at a paused point, or while running), a restart, a clean ``kalshi kill``. Then, against the
exchange:

* **lost**: exchange orders of the key the journal does not know under their client id;
* **duplicated**: client ids that appear on the exchange more than once;
* **unresolved**: journal orders still PENDING/UNKNOWN after the restarted run stopped;
* **mismatch**: cash or positions differing from the exchange's; **resting**: orders left.

Run: ``python benchmarks/restart_fault_matrix.py [--broker rest|fix|both] [--cycles 10]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from framework.live.journal import Journal  # noqa: E402
from framework.live.killswitch import query_status, send_kill  # noqa: E402
from framework.live.testing import local_exchange, start_live_process, wait_for, write_live_config  # noqa: E402

T, T2 = "KXLOCALTEMP-26JAN01-B1", "KXLOCALRATE-26JAN02-B2"

# (name, crash env, exchange fault) -- crash: "point[:n]" SIGKILL there, "pause:point" external
# SIGKILL at a paused point, "running" SIGKILL once orders rest
REST_FAULTS = [
    ("kill after intent", "after_intent", None),
    ("kill after the answer, before it is journaled", "pause:after_send", None),
    ("kill after the 1st fill", "after_fill:1", None),
    ("kill after the 2nd intent", "after_intent:2", None),
    ("order write times out, kill after fill", "after_fill:1", "order_timeout"),
    ("5xx on an order write, kill while running", "running", "server_error"),
    ("kill while running", "running", None),
    ("kill after the 2nd answer", "pause:after_send:2", None),
    ("duplicated WS fills, kill after fill", "after_fill:1", "duplicate_ws"),
    ("kill after the 3rd intent", "after_intent:3", None),
]
FIX_FAULTS = [
    ("kill after intent", "after_intent", None),
    ("kill after the report, before it is journaled", "pause:after_send", None),
    ("kill after the 1st fill", "after_fill:1", None),
    ("EXCHANGE_UNAVAILABLE (placed), kill while running", "running", "eu_applied"),
    ("EXCHANGE_UNAVAILABLE (not placed), kill while running", "running", "eu_not_applied"),
    ("reports withheld, kill while running", "running", "withhold"),
    ("EXCHANGE_UNAVAILABLE (placed), kill after fill", "after_fill:1", "eu_applied"),
    ("EXCHANGE_UNAVAILABLE (not placed), kill after the 2nd intent", "after_intent:2", "eu_not_applied"),
    ("duplicated reports, kill after the 2nd fill", "after_fill:2", "dup_reports"),
    ("kill after the 3rd intent", "after_intent:3", None),
]


def _start(cfg: Path, tmp: Path, n: int, **env_extra: str) -> subprocess.Popen:
    return start_live_process(cfg, tmp, REPO, **env_extra)  # log runner-<n>.log


def _wait(proc: subprocess.Popen, timeout: float = 60) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def cycle(broker: str, name: str, crash: str, fault: str | None, tmp: Path) -> dict:
    ex, kid, priv = local_exchange(tmp / "ex")
    acc = None
    try:
        ex.step(3)
        live = {"settlement_poll": 0, "stop_timeout": 10}
        if broker == "fix":
            from framework.exchange.fix_acceptor import attach_fix_acceptor

            acc = attach_fix_acceptor(ex, port=0, session="NR").start()
            live.update(broker="fix", fix_port=acc.port, unresolved_alert=5)
        cfg = write_live_config(tmp / "live.toml", ex, kid, priv, markets=[T, T2],
                                params={"qty": 2, "below_cents": 10}, live=live)
        state = tmp / "state"
        if fault == "order_timeout":
            ex.faults.order_timeout(1)
        elif fault == "server_error":
            ex.faults.server_errors(1, 503, "*/portfolio/orders")
        elif fault == "duplicate_ws":
            ex.faults.duplicate_ws(4)
        elif fault in ("eu_applied", "eu_not_applied"):
            acc.faults.exchange_unavailable(1, applied=fault == "eu_applied")
        elif fault == "withhold":
            acc.faults.withhold_reports(1)
        elif fault == "dup_reports":
            acc.faults.duplicate_reports(4, poss_dup=False)
        acct = ex.engine.account(kid)
        if crash.startswith("pause:"):
            point = crash[len("pause:"):]
            proc = _start(cfg, tmp, 0, KALSHI_LIVE_PAUSE_AT=point)
            paused = tmp / "hooks" / f"{point.split(':')[0]}.paused"
            wait_for(lambda: paused.exists() or proc.poll() is not None, 30)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        elif crash == "running":
            proc = _start(cfg, tmp, 0)
            wait_for(lambda: any(o.status == "resting" for o in acct.orders.values()) or proc.poll() is not None, 30)
            time.sleep(0.5)  # let the faulted order's outcome be pending
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        else:
            proc = _start(cfg, tmp, 0, KALSHI_LIVE_CRASH_AT=crash)
        first_rc = _wait(proc)
        if acc is not None:
            acc.faults.reset()
        ex.faults.reset()
        proc = _start(cfg, tmp, 1)
        up = wait_for(lambda: (query_status(state) or {}).get("status", {}).get("state") == "running"
                      or proc.poll() is not None, 30)
        time.sleep(1.0)  # let background reconciliation of unknown outcomes run
        reply = send_kill(state, "matrix", timeout=60) if up and proc.poll() is None else {}
        rc = _wait(proc)
        j = Journal(state / "journal.sqlite")
        try:
            rows = {r.client_order_id: r for r in j.orders()}
            pf = j.load_portfolio()
            coids = [o.client_order_id for o in acct.orders.values()]
            ours = {t: p.yes - p.no for t, p in pf.positions.items() if p.yes or p.no} if pf else {}
            theirs = {t: p.qty for t, p in acct.positions.items() if p.qty}
            return {
                "broker": broker, "fault": name, "first_rc": first_rc, "rc": rc,
                "exchange_orders": len(coids),
                "lost": sum(1 for c in set(coids) if c not in rows),
                "duplicated": len(coids) - len(set(coids)),
                "unresolved": sum(1 for r in rows.values() if r.status in ("pending", "unknown")),
                "mismatch": int(pf is None or pf.cash != acct.cash or ours != theirs),
                "resting": sum(1 for o in acct.orders.values() if o.status == "resting"),
                "reconciled_ok": (reply.get("summary") or {}).get("reconciled_ok"),
            }
        finally:
            j.close()
    finally:
        if acc is not None:
            acc.stop()
        ex.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--broker", choices=("rest", "fix", "both"), default="both")
    ap.add_argument("--cycles", type=int, default=10)
    a = ap.parse_args()
    brokers = ("rest", "fix") if a.broker == "both" else (a.broker,)
    cols = ("broker", "fault", "first_rc", "rc", "exchange_orders", "lost", "duplicated", "unresolved",
            "mismatch", "resting")
    print(" | ".join(cols))
    totals: dict[str, dict[str, int]] = {}
    for broker in brokers:
        faults = REST_FAULTS if broker == "rest" else FIX_FAULTS
        tot = totals.setdefault(broker, {"cycles": 0, "lost": 0, "duplicated": 0, "unresolved": 0, "mismatch": 0,
                                         "resting": 0, "rc!=0": 0})
        for i in range(a.cycles):
            name, crash, fault = faults[i % len(faults)]
            with tempfile.TemporaryDirectory() as d:
                r = cycle(broker, name, crash, fault, Path(d))
            print(" | ".join(str(r[c]) for c in cols), flush=True)
            tot["cycles"] += 1
            for k in ("lost", "duplicated", "unresolved", "mismatch", "resting"):
                tot[k] += r[k]
            tot["rc!=0"] += int(r["rc"] != 0)
    for broker, tot in totals.items():
        print(f"TOTAL {broker}: " + ", ".join(f"{k} {v}" for k, v in tot.items()))


if __name__ == "__main__":
    main()
