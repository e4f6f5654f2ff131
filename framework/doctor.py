"""``kalshi doctor``: check that this machine can trade and stream market data on Kalshi.

::

    kalshi doctor [--env demo|prod|local] [--key-file F] [--key-id K]

One line per check, each saying what to fix when it fails:

1. ``key``: the API key id and private key file are found and parse as an RSA key;
2. ``exchange``: the REST API answers (``GET /exchange/status``);
3. ``clock``: clock skew against the exchange's HTTP ``Date`` header (signatures carry a
   millisecond timestamp; a skewed clock gets 401);
4. ``rest-auth``: a signed ``GET /portfolio/balance`` is accepted;
5. ``ws``: the signed WebSocket upgrade **without** an ``Origin`` header succeeds;
6. ``ws-origin``: the same upgrade **with** an ``Origin`` header, to name the cause of a 403
   (informational: Kalshi's CDN refuses it, which is why other clients get 403);
7. ``fix``: FIX logon through ``framework.kalshi.fix_check`` when available and an endpoint is
   known (required only when ``--fix-host`` is given).

Exit code 0 only when every required check passed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["Check", "add_parser", "clock_skew", "cmd_doctor", "run_checks"]

SKEW_WARN_S = 2.0
SKEW_FAIL_S = 10.0


@dataclass
class Check:
    name: str
    status: str  # "ok", "FAIL", "warn", "skip"
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "warn", "skip") or not self.required

    def line(self) -> str:
        text = f"[{self.status:<4}] {self.name}: {self.detail}"
        if self.fix and self.status in ("FAIL", "warn"):
            text += f" -> {self.fix}"
        return text


def clock_skew(date_header: str | None, t_send: float, t_recv: float) -> float | None:
    """Local clock minus server clock in seconds, from an HTTP ``Date`` header (1 s resolution;
    the server stamped it between ``t_send`` and ``t_recv``, we take the midpoint). ``None`` when
    the header is missing or unreadable."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    local = (t_send + t_recv) / 2
    # Date truncates to the second: the true server time lies in [server, server + 1)
    return local - (server + 0.5)


def _ws_attempt(url: str, signer, origin: str | None, timeout: float) -> tuple[bool, BaseException | None, dict]:
    from websockets.asyncio.client import connect

    from .data.live.ws_feed import ws_connect_kwargs

    async def go():
        kw = ws_connect_kwargs(url, signer, open_timeout=timeout)
        if origin is not None:
            kw["origin"] = origin
        async with connect(url, **kw) as ws:
            return dict(ws.request.headers.raw_items()) if ws.request is not None else {}

    try:
        sent = asyncio.run(go())
        return True, None, sent
    except Exception as e:
        return False, e, {}


def run_checks(env, *, key_file: str | None = None, key_id: str | None = None, fix_host: str | None = None,
               fix_port: int | None = None, fix_target: str | None = None, no_fix: bool = False,
               timeout: float = 10.0, out: Callable[[str], None] | None = None) -> list[Check]:
    """Run every check against ``env`` (an Environment); prints each line via ``out`` as it completes."""
    import requests

    from .data.live.ws_feed import explain_ws_error, handshake_status
    from .kalshi.auth import KalshiSigner
    from .kalshi.errors import AuthError, KalshiAPIError, KalshiError
    from .kalshi.keys import resolve_credentials
    from .kalshi.rest import KalshiRestClient

    say = out or (lambda s: print(s, flush=True))
    checks: list[Check] = []

    def add(c: Check) -> Check:
        checks.append(c)
        say(c.line())
        return c

    # 1. key
    signer = creds = None
    try:
        creds = resolve_credentials(env.name, key_id=key_id, key_file=key_file)
        key = creds.private_key()
        signer = KalshiSigner(creds.key_id, key)
        if creds.warnings:
            add(Check("key", "warn", f"{key.key_size}-bit RSA key from {creds.key_where} for key id "
                      f"{creds.key_id}, but: {'; '.join(creds.warnings)}", "chmod 600 the key file"))
        else:
            add(Check("key", "ok", f"{key.key_size}-bit RSA key from {creds.key_where} for key id {creds.key_id} "
                      f"(found via {creds.source})"))
    except AuthError as e:
        add(Check("key", "FAIL", str(e), "download the private key when creating the API key on Kalshi "
                                          "(Account > API keys) and pass it with --key-file"
                  + (" (or start `kalshi exchange`, whose key is found automatically)" if env.name == "local"
                     else "")))
    kid = creds.key_id if creds is not None else None

    # 2 + 3. exchange reachable, clock skew
    status_url = env.rest_url.rstrip("/") + "/exchange/status"
    reachable = False
    try:
        t0 = time.time()
        resp = requests.get(status_url, timeout=timeout,
                            headers=signer.headers("GET", requests.utils.urlparse(status_url).path) if signer else {})
        t1 = time.time()
        reachable = True
        body: Any = {}
        try:
            body = resp.json()
        except ValueError:
            pass
        if resp.status_code == 200:
            active = body.get("trading_active") if isinstance(body, dict) else None
            add(Check("exchange", "ok", f"{env.rest_url} answered in {(t1 - t0) * 1000:.0f} ms"
                      + ("" if active is None else f" (trading {'active' if active else 'paused'})")))
        else:
            add(Check("exchange", "warn", f"{status_url} answered HTTP {resp.status_code}",
                      "the exchange may be in maintenance; try again later", required=False))
        skew = clock_skew(resp.headers.get("Date"), t0, t1)
        if skew is None:
            local = env.name == "local"
            add(Check("clock", "skip" if local else "warn",
                      "the exchange sent no Date header" + (" (local exchange: same machine clock)" if local else ""),
                      "check the computer clock is synchronised (NTP)", required=False))
        else:
            a = abs(skew)
            text = f"local clock is {skew:+.1f} s from the exchange's"
            if a <= SKEW_WARN_S:
                add(Check("clock", "ok", text))
            else:
                add(Check("clock", "FAIL" if a > SKEW_FAIL_S else "warn", text,
                          "synchronise the clock (Linux: `timedatectl set-ntp true`; macOS: System Settings > "
                          "Date & Time > set automatically; Windows: Settings > Time > Sync now); signed requests "
                          "carry a millisecond timestamp and a skewed clock gets 401", required=a > SKEW_FAIL_S))
    except requests.RequestException as e:
        add(Check("exchange", "FAIL", f"cannot reach {env.rest_url}: {type(e).__name__}",
                  "check the network/proxy/firewall" + (" and that `kalshi exchange` is running (and --port)"
                                                         if env.name == "local" else "")))

    # 4. REST auth
    if signer is None:
        add(Check("rest-auth", "skip", "no usable key", required=False))
    elif not reachable:
        add(Check("rest-auth", "skip", "the exchange is unreachable", required=False))
    else:
        client = KalshiRestClient(env, signer, max_retries=1, timeout=timeout)
        try:
            bal = client.get_balance()
            from .units import fmt_money

            add(Check("rest-auth", "ok", f"signed GET /portfolio/balance accepted (available {fmt_money(bal.balance)})"))
        except KalshiAPIError as e:
            if e.status == 401:
                fix = ("use the key id that belongs to this private key, a key created for this environment "
                       f"({env.name}: demo and prod keys are separate), and a synchronised clock")
                add(Check("rest-auth", "FAIL", f"credentials refused (HTTP 401{': ' + e.message if e.message else ''})",
                          fix))
            elif e.status == 403:
                add(Check("rest-auth", "FAIL", "HTTP 403: the key may not read the portfolio",
                          "create a key with the read scope"))
            else:
                add(Check("rest-auth", "FAIL", str(e), "retry later; if it persists, contact Kalshi support"))
        except (KalshiError, OSError) as e:
            add(Check("rest-auth", "FAIL", f"{type(e).__name__}: {e}", "check the network and retry"))
        finally:
            client.close()

    # 5 + 6. WebSocket with and without Origin
    if signer is None:
        add(Check("ws", "skip", "no usable key", required=False))
    else:
        ok, err, sent = _ws_attempt(env.ws_url, signer, None, timeout)
        ok_o, err_o, _ = _ws_attempt(env.ws_url, signer, "https://kalshi.com", timeout)
        if ok:
            bad = any(k.lower() == "origin" for k in sent)
            add(Check("ws", "ok" if not bad else "warn", f"signed upgrade to {env.ws_url} accepted, no Origin header "
                      "sent" if not bad else "connected, but the library sent an Origin header",
                      "upgrade the websockets package" if bad else ""))
        else:
            status = handshake_status(err)
            detail = explain_ws_error(err, env.ws_url)
            if status == 403 and handshake_status(err_o) == 403:
                detail = ("the WebSocket upgrade was refused with HTTP 403 even without an Origin header, so the "
                          "cause is not the Origin header: a proxy, VPN or firewall in between is the likely cause")
            add(Check("ws", "FAIL", detail,
                      "live data still works through REST polling (`--feed rest`, or the default `auto` switches "
                      "by itself)" if status != 401 else "fix the credentials (see rest-auth)"))
        if ok_o:
            add(Check("ws-origin", "ok", "an upgrade carrying an Origin header is accepted here too", required=False))
        elif handshake_status(err_o) == 403:
            add(Check("ws-origin", "ok", "an upgrade carrying an Origin header gets HTTP 403: that is the 403 other "
                      "WebSocket clients hit (websocket-client sends Origin unless suppress_origin=True); this "
                      "framework sends none", required=False))
        else:
            add(Check("ws-origin", "warn", explain_ws_error(err_o, env.ws_url), required=False))

    # 7. FIX
    add(_fix_check(env, signer, kid, creds, fix_host, fix_port, fix_target, no_fix, timeout, say))
    return checks


def _fix_check(env, signer, kid, creds, host, port, target, no_fix, timeout, say) -> Check:
    if no_fix:
        return Check("fix", "skip", "skipped (--no-fix)", required=False)
    try:
        from .kalshi import fix_check
    except ImportError:
        return Check("fix", "skip", "skipped: FIX not available", required=False)
    required = host is not None
    if host is None:
        if env.name == "local":
            return Check("fix", "skip", "skipped: to check the local FIX acceptor start `kalshi exchange --fix-port N` "
                         "and pass --fix-host 127.0.0.1 --fix-port N", required=False)
        try:
            from .kalshi.fix.config import HOSTS

            host = HOSTS[env.name]
        except (ImportError, KeyError):
            return Check("fix", "skip", "skipped: no FIX endpoint known for this environment", required=False)
    if signer is None or creds is None:
        return Check("fix", "skip", "skipped: no usable key for the FIX logon", required=False)
    port = port or 8228
    target = target or "KalshiNR"
    lines: list[str] = []
    tls = host not in ("127.0.0.1", "localhost", "::1")
    try:
        rc = fix_check.check(host=host, port=port, sender_comp_id=kid, target_comp_id=target,
                             key_file=str(creds.key_path or ""), pem=creds.pem, tls=tls, timeout_s=timeout,
                             out=lines.append)
    except Exception as e:  # never let the optional check crash the doctor
        rc = 1
        lines.append(f"{type(e).__name__}: {e}")
    detail = "; ".join(s.strip() for s in lines) or "no output"
    if rc == 0:
        return Check("fix", "ok", f"FIX logon to {target} at {host}:{port} succeeded", required=required)
    return Check("fix", "FAIL", f"FIX logon to {host}:{port} failed ({detail})",
                 "FIX needs a key enabled for FIX on Kalshi; REST trading works without it", required=required)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check keys, clock, REST auth, WebSocket (403) and FIX",
                              description="Check the key file, clock skew, REST auth, the WebSocket handshake "
                                          "(with and without Origin, to explain a 403) and FIX logon.")
    p.add_argument("--env", default="prod", help="prod, demo or local (default prod)")
    p.add_argument("--port", type=int, help="local exchange port (--env local; default 8765)")
    p.add_argument("--key-file", help="private key PEM (default $KALSHI_PRIVATE_KEY_PATH)")
    p.add_argument("--key-id", help="API key id (default $KALSHI_API_KEY_ID)")
    p.add_argument("--fix-host", help="FIX host to log on to (default: Kalshi's for --env; makes FIX required)")
    p.add_argument("--fix-port", type=int, help="FIX port (default 8228)")
    p.add_argument("--fix-target", help="FIX TargetCompID (default KalshiNR)")
    p.add_argument("--no-fix", action="store_true", help="skip the FIX logon")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per network check (default 10)")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args) -> int:
    from .kalshi.envs import resolve_env

    env = resolve_env(args.env, port=getattr(args, "port", None))
    print(f"kalshi doctor: {env.name} ({env.rest_url}, {env.ws_url})", flush=True)
    checks = run_checks(env, key_file=args.key_file, key_id=args.key_id, fix_host=args.fix_host,
                        fix_port=args.fix_port, fix_target=args.fix_target, no_fix=args.no_fix, timeout=args.timeout)
    failed = [c for c in checks if not c.passed]
    if failed:
        print(f"{len(failed)} required check(s) failed: {', '.join(c.name for c in failed)}", flush=True)
        return 1
    print("all required checks passed", flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    import argparse

    _p = argparse.ArgumentParser(prog="kalshi")
    add_parser(_p.add_subparsers(dest="command", required=True))
    _a = _p.parse_args(sys.argv[1:])
    sys.exit(_a.func(_a))
