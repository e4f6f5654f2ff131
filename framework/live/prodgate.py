"""The production gate: a live run that can reach Kalshi's production hosts needs the opt-in.

The gate goes by **destination**, not by the environment's name: every host a live run sends
to (the REST base URL, the WebSocket URL, the FIX host with ``broker = "fix"``, and the URL of a
REST client or broker handed to :class:`~framework.live.runner.LiveRunner` from Python) is
classified by :func:`framework.kalshi.envs.destination_kind`. A production host (anything under
``kalshi.com``) or a host that is neither loopback nor a Kalshi demo host (an IP address, a
proxy: it may lead to production) needs ``--yes-really-trade-prod`` / ``[live]
yes_really_trade_prod = true`` / ``Settings.yes_really_trade_prod = True``, and the explicit
``[risk]`` limits of :data:`~framework.live.config.PROD_REQUIRED_RISK`. ``env = "prod"`` needs
them whatever its URLs say. Paper runs send no orders and are not gated.

:func:`check_prod_gate` is called by :func:`~framework.live.runner.resolve_settings` (the CLI
and TOML path, before anything connects) and again by ``LiveRunner`` itself (the Python path).
"""

from __future__ import annotations

from typing import Any

from ..core.config import ConfigError
from ..kalshi.envs import destination_kind, host_of
from .config import PROD_REQUIRED_RISK

__all__ = ["PROD_FLAG", "check_prod_gate", "destinations", "fix_host"]

PROD_FLAG = "--yes-really-trade-prod"


def fix_host(settings) -> str:
    """The FIX host a ``broker = "fix"`` run connects to: ``[live] fix_host``, else the local
    exchange's host (env local) or Kalshi's order-entry host of the env."""
    if settings.option("fix_host"):
        return str(settings.option("fix_host"))
    if settings.env.name == "local":
        return host_of(settings.env.rest_url) or "127.0.0.1"
    from ..kalshi.fix.config import HOSTS

    return HOSTS.get(settings.env.name, HOSTS["prod"])  # an unknown env name: assume the worst


def destinations(settings, *, client: Any = None, broker: Any = None) -> list[tuple[str, str]]:
    """``(what, url or host)`` for every place the run sends to."""
    env = settings.env
    out = [("REST", env.rest_url), ("WebSocket", env.ws_url)]
    if settings.broker == "fix":
        out.append(("FIX", fix_host(settings)))
    for what, obj in (("REST client", client), ("broker's REST client", getattr(broker, "client", None))):
        url = getattr(obj, "base_url", None)
        if isinstance(url, str) and url:
            out.append((what, url))
    cfg = getattr(broker, "cfg", None)  # a FIX broker's session config
    if isinstance(getattr(cfg, "host", None), str):
        out.append(("broker's FIX", cfg.host))
    return [(w, u) for w, u in out if u]


def _needs_opt_in(settings, client: Any, broker: Any) -> list[str]:
    reasons = []
    if settings.env.name == "prod":
        reasons.append("env is 'prod'")
    for what, url in destinations(settings, client=client, broker=broker):
        kind = destination_kind(url)
        if kind == "prod":
            reasons.append(f"{what} {url} is a Kalshi production host")
        elif kind == "other":
            reasons.append(f"{what} {url} is neither loopback nor a Kalshi demo host, so it may reach production")
    return reasons


def check_prod_gate(settings, *, client: Any = None, broker: Any = None) -> None:
    """Refuse (``ConfigError``) a live run that may reach production without the opt-in and the
    required ``[risk]`` limits; a no-op for other modes."""
    if settings.mode != "live":
        return
    reasons = _needs_opt_in(settings, client, broker)
    if not reasons:
        return
    where = settings.cfg.path or "the config"
    if not getattr(settings, "yes_really_trade_prod", False):
        raise ConfigError(f"refusing to trade real money on prod without confirmation ({'; '.join(reasons)}): "
                          f"pass {PROD_FLAG} or set [live] yes_really_trade_prod = true in {where} (Python: "
                          "Settings.yes_really_trade_prod = True)")
    missing = [k for k in PROD_REQUIRED_RISK if k not in settings.cfg.risk]
    if missing:
        raise ConfigError(f"{where}: trading on prod needs explicit [risk] limits: {', '.join(missing)} "
                          "(see docs/live-trading.md)")
