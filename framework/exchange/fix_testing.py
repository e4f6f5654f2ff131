"""A self-contained FIX test bed: matching engine + market + key + acceptor (+ brokers).

Used by the tests, the round-trip benchmark and for trying the FIX path by hand::

    with FixTestBed(session="NR") as bed:
        bed.quote("KXFIX-26JAN01-T50", yes_bid=4500, no_bid=5000, size=contracts(100))
        broker = bed.broker()          # started FixBroker, plain TCP on 127.0.0.1
        ...
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from framework.kalshi.auth import KalshiSigner
from framework.kalshi.fix.broker import FixBroker
from framework.kalshi.fix.config import FixConfig
from framework.units import CONTRACT, DOLLAR

from .fix_acceptor import FixAcceptor, engine_reconciler
from .matching import Engine, MarketInfo

__all__ = ["DEFAULT_TICKER", "FixTestBed", "new_key"]

DEFAULT_TICKER = "KXFIX-26JAN01-T50"
MAKER = "market-maker"

_KEY_CACHE: list[rsa.RSAPrivateKey] = []


def new_key(reuse: bool = True) -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key (cached per process unless ``reuse=False``: generation takes ~0.1 s)."""
    if reuse and _KEY_CACHE:
        return _KEY_CACHE[0]
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if reuse:
        _KEY_CACHE.append(k)
    return k


class FixTestBed:
    def __init__(self, session: str = "NR", tickers: tuple[str, ...] = (DEFAULT_TICKER,),
                 starting_balance: int = 100_000 * DOLLAR, **acceptor_kw: Any) -> None:
        self.engine = Engine(starting_balance=starting_balance, id_seed=7)
        for t in tickers:
            ev = t.rsplit("-", 1)[0]
            self.engine.add_market(MarketInfo(ticker=t, event_ticker=ev, series_ticker=t.split("-", 1)[0]))
        self.key_id = str(uuid.uuid4())
        self.private_key = new_key()
        self.signer = KalshiSigner(self.key_id, self.private_key)
        self.public_keys: dict[str, Any] = {self.key_id: self.private_key.public_key()}
        self.engine.account(self.key_id)
        self.engine.account(MAKER)
        self.acceptor = FixAcceptor(self.engine, self.public_keys, port=0, session=session, **acceptor_kw)
        self.session = session
        self.brokers: list[FixBroker] = []

    def start(self) -> FixTestBed:
        self.acceptor.start()
        return self

    def stop(self) -> None:
        for b in self.brokers:
            try:
                b.stop()
            except Exception:
                pass
        self.acceptor.stop()

    def __enter__(self) -> FixTestBed:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def config(self, **kw: Any) -> FixConfig:
        kw.setdefault("heartbeat_s", 30)
        kw.setdefault("logon_timeout_s", 5.0)
        kw.setdefault("reconnect_min_s", 0.05)
        kw.setdefault("reconnect_max_s", 0.5)
        return FixConfig(host="127.0.0.1", port=self.acceptor.port, sender_comp_id=kw.pop("sender_comp_id", self.key_id),
                         target_comp_id=self.acceptor.target_comp_id, retransmission=self.acceptor.retransmission,
                         tls=False, **kw)

    def broker(self, start: bool = True, reconciler: bool = True, **kw: Any) -> FixBroker:
        b = FixBroker(self.config(**kw), self.signer,
                      reconciler=engine_reconciler(self.engine, self.key_id) if reconciler else None)
        self.brokers.append(b)
        return b.start() if start else b

    def quote(self, ticker: str = DEFAULT_TICKER, yes_bid: int | None = 4500, no_bid: int | None = 5000,
              size: int = 100 * CONTRACT) -> None:
        """Rest a market maker's YES bid and NO bid (a YES ask at ``DOLLAR - no_bid``)."""
        if yes_bid:
            self.engine.place_order(MAKER, ticker, "yes", "buy", yes_bid, size)
        if no_bid:
            self.engine.place_order(MAKER, ticker, "no", "buy", no_bid, size)
