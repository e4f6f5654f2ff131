"""``kalshi fix-check``: log on to a FIX acceptor, optionally place and cancel one order, log out.

::

    kalshi fix-check --host fix.demo.kalshi.co --port 8228 --sender-comp-id KEY_ID \\
        --target-comp-id KalshiNR --key-file key.pem [--no-tls] [--order TICKER]

Every step prints one line with its outcome; the exit code is 0 only if every step succeeded.
The check relies on standard FIXT.1.1 behaviour only (Logon answered by Logon, Logout with Text
on failure, ExecutionReport / OrderCancelReject / Reject / BusinessMessageReject replies), so it
works against Kalshi and against any compliant acceptor, not just the local one.

The order is a 1-contract YES bid at 1 cent (GTC, post-only), far below any real market, and is
cancelled right away. ``kalshi doctor`` can reuse :func:`check` directly.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
import uuid
from collections.abc import Callable

from .envs import is_loopback

__all__ = ["add_parser", "check", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fix-check", help="check a FIX logon (and optionally an order + cancel)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--sender-comp-id", "--key-id", dest="sender_comp_id",
                   help="your API key id (SenderCompID 49; default $KALSHI_API_KEY_ID; a loopback host: the "
                        "local exchange's key)")
    p.add_argument("--target-comp-id", required=True, help="session name of the port, e.g. KalshiNR")
    p.add_argument("--key-file", help="RSA private key (PEM) of the API key (default $KALSHI_PRIVATE_KEY_PATH "
                                      "or $KALSHI_PRIVATE_KEY; a loopback host: the local exchange's key)")
    p.add_argument("--no-tls", action="store_true", help="plain TCP (loopback hosts only)")
    p.add_argument("--order", metavar="TICKER", help="also place a 1-contract 1-cent YES bid and cancel it "
                                                     "(to a non-loopback host only with --yes-really-trade-prod)")
    p.add_argument("--yes-really-trade-prod", action="store_true", dest="yes_prod",
                   help="allow --order to a host that is not loopback (the order may be real)")
    p.add_argument("--retransmission", action="store_true",
                   help="the session supports resend (e.g. KalshiRT): no 141=Y on Logon")
    p.add_argument("--heartbeat", type=int, default=30, help="HeartBtInt in seconds (default 30)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply")
    p.add_argument("--use-dollars", action="store_true", help="send 21005=Y and dollar prices")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .errors import AuthError
    from .keys import resolve_credentials

    if args.order and not args.yes_prod and not is_loopback(args.host):
        print(f"kalshi fix-check: error: refusing to send an order to {args.host}, which is not a loopback host "
              "(it may be Kalshi, with real money): pass --yes-really-trade-prod, or drop --order to check the "
              "logon only", file=sys.stderr)
        return 2
    try:
        creds = resolve_credentials(None, key_id=args.sender_comp_id, key_file=args.key_file,
                                    local=is_loopback(args.host), flags=("--sender-comp-id", "--key-file"))
    except AuthError as e:
        print(f"[FAIL] key: {e}", flush=True)
        return 1
    return check(host=args.host, port=args.port, sender_comp_id=creds.key_id,
                 target_comp_id=args.target_comp_id, key_file=str(creds.key_path or ""), tls=not args.no_tls,
                 order_ticker=args.order, retransmission=args.retransmission or args.target_comp_id.endswith("RT"),
                 heartbeat_s=args.heartbeat, timeout_s=args.timeout, use_dollars=args.use_dollars,
                 pem=creds.pem, allow_remote_order=args.yes_prod)


def check(*, host: str, port: int, sender_comp_id: str, target_comp_id: str, key_file: str, tls: bool = True,
          order_ticker: str | None = None, retransmission: bool = False, heartbeat_s: int = 30,
          timeout_s: float = 10.0, use_dollars: bool = False,
          out: Callable[[str], None] | None = None, pem: str | None = None,
          allow_remote_order: bool = False) -> int:
    """Run the check; returns the exit code (0 = every step succeeded, 2 = refused before connecting).

    ``order_ticker`` to a host that is not loopback needs ``allow_remote_order=True`` (the
    ``--yes-really-trade-prod`` opt-in): the order may be real. ``pem`` (the key's PEM text) is
    used instead of ``key_file`` when given."""
    from .auth import AuthError, KalshiSigner, load_private_key
    from .fix.codec import MsgType, Tag, format_price
    from .fix.config import FixConfig
    from .fix.session import FixSession, FixSessionError, LogonError

    say = out or (lambda s: print(s, flush=True))
    ok = True
    if order_ticker and not allow_remote_order and not is_loopback(host):
        say(f"[FAIL] order: refusing to send an order to {host}, which is not a loopback host (it may be Kalshi, "
            "with real money): pass --yes-really-trade-prod (allow_remote_order=True)")
        return 2

    def step(name: str, good: bool, detail: str) -> bool:
        say(f"[{'ok' if good else 'FAIL'}] {name}: {detail}")
        return good

    try:
        signer = KalshiSigner(sender_comp_id, load_private_key(key_file, pem=pem))
        step("key", True, f"loaded RSA key for {sender_comp_id}")
    except AuthError as e:
        step("key", False, str(e))
        return 1
    try:
        cfg = FixConfig(host=host, port=port, sender_comp_id=sender_comp_id, target_comp_id=target_comp_id,
                        retransmission=retransmission, heartbeat_s=heartbeat_s, tls=tls, logon_timeout_s=timeout_s,
                        use_dollars=use_dollars, store_path=":memory:")
    except ValueError as e:
        step("config", False, str(e))
        return 2
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    session = FixSession(cfg, signer, on_message=inbox.put)
    t0 = time.monotonic()
    try:
        session.start()  # logs on once, then reconnects (an NR gap logs out and back in with 141=Y)
    except LogonError as e:
        step("logon", False, str(e))
        return 1
    except OSError as e:
        step("connect", False, f"cannot connect to {host}:{port}: {e}")
        return 1
    step("logon", True, f"logged on to {target_comp_id} at {host}:{port} in {(time.monotonic() - t0) * 1000:.0f} ms")

    def logged_on() -> bool:
        """Wait (up to the timeout) until the session is up again after a reconnect."""
        deadline = time.monotonic() + timeout_s
        while not session.logged_on:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def wait_for(pred: Callable, what: str):
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, f"no {what} within {timeout_s:g} s"
            try:
                m = inbox.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            verdict = pred(m)
            if verdict is not None:
                return m, verdict

    if order_ticker:
        clid = f"fixcheck-{uuid.uuid4().hex[:16]}"
        body = [(Tag.ClOrdID, clid), (Tag.Symbol, order_ticker), (Tag.Side, "1"), (Tag.OrderQty, "1"),
                (Tag.OrdType, "2"), (Tag.Price, format_price(100, use_dollars)), (Tag.TimeInForce, "1"),
                (Tag.ExecInst, "6")]
        try:
            logged_on()
            seq = session.send(MsgType.NewOrderSingle, body)
        except FixSessionError as e:
            ok = step("order", False, str(e))
            seq = None
        order_id = None
        if seq is not None:
            def on_order(m):
                mt = m.msg_type
                if mt == MsgType.ExecutionReport and m.get(Tag.ClOrdID) == clid:
                    et = m.get(Tag.ExecType)
                    if et in ("0", "F"):
                        return "accepted"
                    if et in ("8", "4", "C"):
                        return "refused"
                    return None  # PendingNew etc.
                if mt in (MsgType.Reject, MsgType.BusinessMessageReject) and m.get(Tag.RefSeqNum) == str(seq):
                    return "refused"
                return None

            m, verdict = wait_for(on_order, "ExecutionReport for the order")
            if m is None or verdict != "accepted":
                text = verdict if m is None else (m.get(Tag.Text) or f"ExecType {m.get(Tag.ExecType)}")
                ok = step("order", False, f"1 x {order_ticker} YES bid at 1c: {text}")
            else:
                order_id = m.get(Tag.OrderID)
                ok = step("order", True, f"1 x {order_ticker} YES bid at 1c accepted (OrderID {order_id})")
        if order_id is not None:
            cclid = f"{clid}-c"
            try:
                logged_on()  # after a sequence gap the session reconnected: carry on
                cseq = session.send(MsgType.OrderCancelRequest, [(Tag.ClOrdID, cclid), (Tag.OrigClOrdID, clid),
                                                                  (Tag.OrderID, order_id), (Tag.Side, "1"),
                                                                  (Tag.Symbol, order_ticker)])
            except FixSessionError as e:
                ok = step("cancel", False, str(e)) and ok
                cseq = None
            if cseq is not None:
                def on_cancel(m):
                    mt = m.msg_type
                    if mt == MsgType.ExecutionReport and m.get(Tag.OrderID) == order_id and m.get(Tag.ExecType) in ("4", "C"):
                        return "cancelled"
                    if mt == MsgType.ExecutionReport and m.get(Tag.OrderID) == order_id and m.get(Tag.ExecType) == "F":
                        return "filled"
                    if mt == MsgType.OrderCancelReject and m.get(Tag.ClOrdID) == cclid:
                        return "rejected"
                    if mt in (MsgType.Reject, MsgType.BusinessMessageReject) and m.get(Tag.RefSeqNum) == str(cseq):
                        return "rejected"
                    return None

                m, verdict = wait_for(on_cancel, "cancel confirmation")
                if verdict == "cancelled":
                    ok = step("cancel", True, "order cancelled") and ok
                else:
                    text = verdict if m is None else (m.get(Tag.Text) or verdict)
                    ok = step("cancel", False, f"{text} -- check the order {order_id} by hand") and ok
    try:
        logged_on()
        answered = session.stop()
    except OSError as e:
        answered = False
        say(f"  ({e})")
    ok = step("logout", answered, "acceptor confirmed Logout" if answered else "no Logout reply") and ok
    session.store.close()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kalshi")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
