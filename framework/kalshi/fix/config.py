"""Configuration of a Kalshi FIX order-entry session (every fact that may drift is a setting).

Facts come from ``kalshi-fix.md`` (Kalshi FIX dictionary v1.03 and docs.kalshi.com/fix). Where
Kalshi's documentation is silent or contradictory the behaviour is a setting here, and the
comment says so:

* hosts (docs changed them in 2026): ``HOSTS``, default the 2026 names;
* whether the price tag 44 is the YES price for Side=2 (documented with medium confidence): we
  always send YES prices, there is no switch because the docs say "all orders are YES bids/asks";
* the inbound SenderCompID Kalshi uses is undocumented: ``expect_peer_comp_id`` (None = any);
* whether 1137 may appear on application messages: we send it on Logon only (Kalshi's own 35=D
  example has none); ``appl_ver_id_on_all`` turns it on everywhere if Kalshi ever asks for it;
* whether 95 RawDataLength is required: we send it (it is standard for a data field);
* the heartbeat grace before a TestRequest (docs: "HeartBtInt + ~20 %"): ``test_request_factor``;
* how long a NewOrderSingle may stay unanswered before its outcome is treated as unknown:
  ``ack_timeout_s`` (Kalshi gives no figure);
* how long to wait for a cancel report of an IOC remainder before assuming it: ``ioc_grace_s``;
* whether mass cancel (35=q) is available: ``mass_cancel`` (docs: NR only).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..envs import is_loopback  # noqa: F401  (re-exported: framework.kalshi.fix.is_loopback)

__all__ = ["HOSTS", "SESSIONS", "FixConfig", "is_loopback"]

# session name -> (port, TargetCompID, retransmission supported)
SESSIONS = {
    "NR": (8228, "KalshiNR", False),
    "RT": (8230, "KalshiRT", True),
    "DC": (8229, "KalshiDC", False),
}

HOSTS = {
    "prod": "mm.fix.elections.kalshi.com",  # 2026 docs; "fix.elections.kalshi.com" before Feb 2026
    "demo": "fix.demo.kalshi.co",
}


@dataclass
class FixConfig:
    """One FIX session. ``sender_comp_id`` is the API key id (UUID); ``target_comp_id`` the
    session name of the port (``KalshiNR``/``KalshiRT``)."""

    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str = "KalshiNR"
    # True: resend supported (RT): gaps -> ResendRequest, counters survive reconnects.
    # False: no retransmission (NR): gaps -> reconnect with 141=Y and reconcile.
    retransmission: bool = False
    heartbeat_s: int = 30  # HeartBtInt 108; Kalshi: > 3 s, default 30
    tls: bool = True  # TLS 1.2+ is mandatory on Kalshi; plain TCP only for loopback hosts
    tls_ca_file: str | None = None  # pinned CA / certificate bundle; None = system store
    tls_verify: bool = True
    tls_server_hostname: str | None = None  # SNI/verification name if different from host
    # Logon flags (kalshi-fix.md section 3). None = do not send the tag (Kalshi's default N).
    reset_seq_num: bool | None = None  # 141; None = Y unless retransmission (mandatory on NR)
    cancel_on_disconnect: bool = False  # 8013
    skip_pending_exec_reports: bool = True  # 21011 (was 21003 before v1.0.17)
    always_new_before_trade: bool = True  # 21026
    ioc_cancel_report: bool = True  # 21007
    preserve_original_qty: bool = True  # 21008
    use_expired_status: bool = True  # 21012
    use_dollars: bool = False  # 21005: prices in dollars with 4 decimals instead of cents
    retention_hours: int | None = None  # 20200 (RT only; max 72)
    listener: bool = False  # 20126 (read-only stream)
    extra_logon_tags: dict[int, str] = field(default_factory=dict)  # any flag Kalshi adds later
    appl_ver_id_on_all: bool = False  # 1137 on every message (not Kalshi's documented shape)
    expect_peer_comp_id: str | None = None  # inbound 49 check; None = accept any (undocumented)
    # timing
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    test_request_factor: float = 1.2  # silence of HeartBtInt x this -> TestRequest
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    ack_timeout_s: float = 5.0  # NewOrderSingle unanswered this long -> UNKNOWN
    ioc_grace_s: float = 1.0  # IOC with a partial fill and no cancel report -> CANCELLED after this
    unresolved_alert_s: float = 60.0  # an order UNKNOWN this long -> alert, market REDUCING (freeze lifted)
    # order entry
    mass_cancel: bool | None = None  # None = available on NR only
    qty_decimals: int | None = None  # None: "5" for whole contracts, "5.25" otherwise
    time_in_force_gtc: str = "1"  # 59 for our "gtc" orders
    store_path: str = ":memory:"  # SQLite file for sequence numbers and sent messages

    def __post_init__(self) -> None:
        if self.heartbeat_s <= 3:
            raise ValueError("heartbeat_s must be > 3 seconds (Kalshi rejects shorter HeartBtInt)")
        if not self.tls and not is_loopback(self.host):
            raise ValueError(f"plain TCP is only allowed to loopback hosts, not {self.host!r}: "
                             "Kalshi requires TLS 1.2+ (set tls=True)")
        if not self.sender_comp_id:
            raise ValueError("sender_comp_id (the API key id) is required")

    @property
    def reset_on_logon(self) -> bool:
        return (not self.retransmission) if self.reset_seq_num is None else self.reset_seq_num

    @property
    def mass_cancel_supported(self) -> bool:
        return (not self.retransmission) if self.mass_cancel is None else self.mass_cancel

    @property
    def session_key(self) -> str:
        return f"{self.sender_comp_id}->{self.target_comp_id}@{self.host}:{self.port}"

    def with_(self, **changes) -> FixConfig:
        return replace(self, **changes)

    @classmethod
    def kalshi(cls, sender_comp_id: str, session: str = "NR", env: str = "prod", **kw) -> FixConfig:
        """Kalshi's published endpoint for ``session`` (``NR``/``RT``) in ``env`` (prod/demo)."""
        port, target, rt = SESSIONS[session]
        kw.setdefault("host", HOSTS[env])
        kw.setdefault("port", port)
        return cls(sender_comp_id=sender_comp_id, target_comp_id=target, retransmission=rt, **kw)

    def logon_flags(self) -> list[tuple[int, str]]:
        """The Kalshi-specific Logon tags, in a stable order."""
        yn = {True: "Y", False: "N"}
        out: list[tuple[int, str]] = []
        if self.reset_on_logon:
            out.append((141, "Y"))
        for tag, val in ((8013, self.cancel_on_disconnect), (20126, self.listener),
                         (21011, self.skip_pending_exec_reports or self.listener),
                         (21026, self.always_new_before_trade), (21007, self.ioc_cancel_report),
                         (21008, self.preserve_original_qty), (21012, self.use_expired_status),
                         (21005, self.use_dollars)):
            if val:
                out.append((tag, yn[val]))
        if self.retention_hours is not None:
            out.append((20200, str(int(self.retention_hours))))
        out.extend((int(t), str(v)) for t, v in self.extra_logon_tags.items())
        return out
