"""Kalshi environments: production, demo (paper money, separate keys) and the local exchange.

Hosts are the ones Kalshi recommends since May 2026 (``external-api*``); the older shared
hosts still work and are kept in :data:`SHARED_HOSTS` for reference. Override any URL with
``resolve_env(name, base_url=..., ws_url=...)``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_LOCAL_PORT",
    "DEMO_DOMAINS",
    "ENVIRONMENTS",
    "PROD_DOMAINS",
    "SHARED_HOSTS",
    "Environment",
    "destination_kind",
    "host_of",
    "is_loopback",
    "local_environment",
    "resolve_env",
]

DEFAULT_LOCAL_PORT = 8765
REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"


@dataclass(frozen=True, slots=True)
class Environment:
    """Where to reach one Kalshi exchange. ``rest_url`` ends with ``/trade-api/v2``."""

    name: str
    rest_url: str
    ws_url: str

    @property
    def base_url(self) -> str:  # alias used by the REST client
        return self.rest_url


def local_environment(port: int = DEFAULT_LOCAL_PORT, host: str = "127.0.0.1") -> Environment:
    """The local fake exchange (``kalshi exchange``) on ``host:port``."""
    return Environment(
        "local", f"http://{host}:{int(port)}{REST_PREFIX}", f"ws://{host}:{int(port)}{WS_PATH}"
    )


ENVIRONMENTS: dict[str, Environment] = {
    "prod": Environment(
        "prod",
        "https://external-api.kalshi.com/trade-api/v2",
        "wss://external-api-ws.kalshi.com/trade-api/ws/v2",
    ),
    "demo": Environment(
        "demo",
        "https://external-api.demo.kalshi.co/trade-api/v2",
        "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
    ),
    "local": local_environment(DEFAULT_LOCAL_PORT),
}

#: The older shared hosts (still supported by Kalshi), for users behind allow-lists.
SHARED_HOSTS: dict[str, Environment] = {
    "prod": Environment(
        "prod",
        "https://api.elections.kalshi.com/trade-api/v2",
        "wss://api.elections.kalshi.com/trade-api/ws/v2",
    ),
    "demo": Environment(
        "demo", "https://demo-api.kalshi.co/trade-api/v2", "wss://demo-api.kalshi.co/trade-api/ws/v2"
    ),
}

_ALIASES = {"production": "prod", "live": "prod", "paper": "demo"}


def resolve_env(
    name: str | Environment,
    base_url: str | None = None,
    ws_url: str | None = None,
    *,
    port: int | None = None,
) -> Environment:
    """Return the :class:`Environment` called ``name`` (``prod``, ``demo`` or ``local``).

    ``base_url``/``ws_url`` override the URLs; ``port`` changes the local exchange's port.
    An unknown name raises ``ValueError`` listing the valid names.
    """
    if isinstance(name, Environment):
        env = name
    else:
        key = str(name).strip().lower()
        key = _ALIASES.get(key, key)
        if key not in ENVIRONMENTS:
            valid = ", ".join(sorted(ENVIRONMENTS))
            raise ValueError(f"unknown Kalshi environment {name!r}; valid names: {valid}")
        env = ENVIRONMENTS[key]
        if key == "local" and port is not None:
            env = local_environment(port)
    if base_url:
        env = replace(env, rest_url=base_url.rstrip("/"))
    if ws_url:
        env = replace(env, ws_url=ws_url)
    return env


# ---- destinations: what a URL or host reaches, whatever the environment is called ------------
#: Every production host Kalshi documents (REST, WebSocket, FIX order entry and market data,
#: old and new names: external-api, external-api-ws, api.elections, mm.fix.elections,
#: fix.elections, marketdata.fix.elections, trading-api) lies under these domains.
PROD_DOMAINS = ("kalshi.com",)
#: Demo (paper money) hosts: external-api.demo, demo-api, fix.demo, marketdata.fix.demo.
DEMO_DOMAINS = ("kalshi.co",)


def host_of(url_or_host: str) -> str:
    """The lower-case host name of a URL (``https://h:1/x``) or of a bare host (``h``, ``h:1``)."""
    text = str(url_or_host or "").strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))  # a bare address (IPv6 has colons)
    except ValueError:
        pass
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:  # e.g. a malformed IPv6 literal: compare the text itself
        host = text
    return (host or "").rstrip(".").lower()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    h = host_of(host)
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _under(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def destination_kind(url_or_host: str) -> str:
    """``"prod"`` (a Kalshi production host), ``"demo"``, ``"loopback"`` or ``"other"``.

    Decided by the host alone, never by an environment's name. ``"other"`` (an IP address, a
    proxy, an unknown name) may reach production: the live runner's prod gate treats it so."""
    host = host_of(url_or_host)
    if is_loopback(host):
        return "loopback"
    if _under(host, PROD_DOMAINS):
        return "prod"
    if _under(host, DEMO_DOMAINS):
        return "demo"
    return "other"
