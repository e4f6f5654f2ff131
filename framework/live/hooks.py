"""Old import path of :mod:`framework.brokers.live.hooks` (crash/pause points for fault tests)."""

from ..brokers.live.hooks import POINTS, checkpoint

__all__ = ["POINTS", "checkpoint"]
