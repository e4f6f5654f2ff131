"""Old import path of :class:`~framework.brokers.live.rest.RestBroker` (kept for existing code)."""

from .live.rest import RestBroker

__all__ = ["RestBroker"]
