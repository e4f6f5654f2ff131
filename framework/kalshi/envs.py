"""Kalshi environments: production, demo (paper money, separate keys) and the local exchange.

Hosts are the ones Kalshi recommends since May 2026 (``external-api*``); the older shared
hosts still work and are kept in :data:`SHARED_HOSTS` for reference. Override any URL with
``resolve_env(name, base_url=..., ws_url=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "DEFAULT_LOCAL_PORT",
    "ENVIRONMENTS",
    "SHARED_HOSTS",
    "Environment",
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
