"""Local Kalshi-compatible exchange (REST + WebSocket v2 on 127.0.0.1) for tests and ``--env local``.

Importing this package is cheap; the server pulls in ``websockets`` only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Engine", "ExchangeError", "Faults", "LocalExchange", "default_state_dir", "load_local_credentials"]

if TYPE_CHECKING:
    from .faults import Faults
    from .matching import Engine, ExchangeError
    from .server import LocalExchange
    from .state import default_state_dir, load_local_credentials


def __getattr__(name: str) -> Any:
    if name == "LocalExchange":
        from .server import LocalExchange

        return LocalExchange
    if name in ("Engine", "ExchangeError"):
        from . import matching

        return getattr(matching, name)
    if name == "Faults":
        from .faults import Faults

        return Faults
    if name in ("default_state_dir", "load_local_credentials"):
        from . import state

        return getattr(state, name)
    raise AttributeError(name)
