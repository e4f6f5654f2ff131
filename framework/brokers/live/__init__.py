"""The live brokers: orders on a real (or the local) Kalshi exchange, journaled.

* :mod:`framework.brokers.live.rest`: ``RestBroker`` (REST orders, WebSocket/REST fills);
* :mod:`framework.brokers.live.fix`: ``JournaledFixBroker`` (FIX orders, REST lookups);
* :mod:`framework.brokers.live.exchange_fills`: what an exchange fill means for an order (both);
* :mod:`framework.brokers.live.hooks`: crash/pause points for kill -9 fault tests (both, and the
  restart reconciliation).

They take the run's journal as an object (``framework.live.journal.Journal`` in a live run) and
import nothing from :mod:`framework.live`: the runner builds them, never the other way round.
"""
