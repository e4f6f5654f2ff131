"""Paper and live trading: the runner, risk gate, order journal, kill switch and restart
reconciliation (see docs/live-trading.md).

* :mod:`framework.live.runner`: ``LiveRunner`` and ``resolve_settings`` (modes, safety checks);
* :mod:`framework.live.risk`: ``RiskGate`` / ``RiskLimits`` (``check(order, engine)``);
* :mod:`framework.live.journal`: ``Journal`` (SQLite, WAL; intents before sends);
* :mod:`framework.live.reconcile`: ``reconcile`` and ``ReconcileReport``;
* :mod:`framework.live.killswitch`: ``KillSwitch``, ``send_kill`` (``kalshi kill``);
* :mod:`framework.live.config`: ``load_live_config`` (``[live]`` and ``[risk]`` tables);
* :mod:`framework.live.cli`: ``add_parser`` for ``kalshi run | paper | live | kill``.

The REST order path is :class:`framework.brokers.live.rest.RestBroker`.
"""
