"""Old import path of :class:`~framework.brokers.live.fix.JournaledFixBroker` (kept for existing code)."""

from ..brokers.live.fix import JournaledFixBroker

__all__ = ["JournaledFixBroker"]
