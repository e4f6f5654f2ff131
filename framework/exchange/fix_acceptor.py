"""FIX acceptor of the local exchange: Kalshi's order-entry session from the exchange's side.

::

    from framework.exchange.fix_acceptor import FixAcceptor, attach_fix_acceptor

    with LocalExchange(port=0) as ex:
        acc = attach_fix_acceptor(ex, port=0, session="NR").start()   # shares ex.engine
        print(acc.port)
        acc.faults.lose_reports(1)          # next report consumes a seq number but is not sent
        ...
        acc.stop()

What it checks (kalshi-fix.md section 11): first message is a Logon; BeginString FIXT.1.1;
TargetCompID (56) is this port's session name; SenderCompID (49) is a registered API key id;
the RSA-PSS signature over ``SendingTime|A|MsgSeqNum|49|56`` verifies with that key's public
key, using the exact tag-52 text; SendingTime within ``sending_time_window_s`` (30 s) of the
acceptor clock (injectable); 141=Y on sessions without retransmission; HeartBtInt > 3; 1137=9;
one connection per key; BodyLength and CheckSum (bad frames are ignored, as FIX prescribes).
Logon failures are answered with Logout + Text (58), as on Kalshi.

Order flow: D -> (PendingNew unless 21011) -> New (folded into the first Trade unless 21026)
or Rejected (103 + 58) -> Trade reports with LastPx (YES price), fees group 136, 704/705 and
1057; F -> Canceled or 35=9; G -> Replaced or 35=9; q -> r + one Canceled per order (NR only);
anything else -> 35=j 380=3. Honours 21005, 21007, 21008, 21011, 21012, 21026 and 8013.

Fault injection (:class:`FixFaults`, at runtime, thread-safe): logon rejection, lost reports
(sequence gap; RT resend recovers them), skipped sequence numbers (gap filled on resend),
duplicated reports (PossDup copy or new-sequence copy), delayed reports, withheld reports,
``EXCHANGE_UNAVAILABLE`` answers, lost inbound messages (so the acceptor asks *us* to resend),
muting heartbeats, and dropping connections.

It runs on plain threads (one per connection plus a timer thread) next to the asyncio REST/WS
server, sharing the matching engine through its public methods and ``listeners``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from framework.kalshi.auth import verify_signature
from framework.kalshi.fix.codec import (
    ADMIN_MSG_TYPES,
    BEGIN_STRING,
    CodecError,
    FrameDecoder,
    MalformedFieldError,
    Message,
    MsgType,
    Tag,
    encode,
    format_qty,
    format_utc,
    logon_signature_payload,
    parse_price,
    parse_qty,
    parse_utc,
)
from framework.model.orders import OrderStatus
from framework.units import CENT, CONTRACT, DOLLAR

from .matching import Engine, ExchangeError

__all__ = ["FixAcceptor", "FixFaults", "attach_fix_acceptor", "engine_reconciler"]

log = logging.getLogger(__name__)

SESSION_TYPES = {"NR": ("KalshiNR", False), "RT": ("KalshiRT", True)}


# ---------------------------------------------------------------------------------------- faults
@dataclass
class FixFaults:
    """Switchable faults; counters are consumed by the messages they affect."""

    logon_rejects: int = 0
    logon_reject_text: str = "logon rejected (fault injection)"
    lose: int = 0
    skip: int = 0
    duplicate: int = 0
    duplicate_poss_dup: bool = True
    delay_s: float = 0.0
    delay_n: int = 0
    withhold: int = 0
    unavailable: int = 0
    unavailable_applied: bool = True
    lose_inbound: int = 0
    muted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject_logons(self, n: int = 1, text: str = "logon rejected (fault injection)") -> None:
        with self._lock:
            self.logon_rejects, self.logon_reject_text = int(n), text

    def lose_reports(self, n: int = 1) -> None:
        """The next ``n`` application messages take a sequence number but are not transmitted."""
        with self._lock:
            self.lose += int(n)

    def skip_seq(self, n: int = 1) -> None:
        """Each of the next ``n`` application messages skips one sequence number (nothing stored)."""
        with self._lock:
            self.skip += int(n)

    def duplicate_reports(self, n: int = 1, poss_dup: bool = True) -> None:
        """Send each of the next ``n`` reports twice: as a PossDup resend (same seq, 43=Y) or,
        with ``poss_dup=False``, under a new sequence number (only the ExecID repeats)."""
        with self._lock:
            self.duplicate, self.duplicate_poss_dup = int(n), bool(poss_dup)

    def delay_reports(self, seconds: float, n: int = 1) -> None:
        with self._lock:
            self.delay_s, self.delay_n = float(seconds), int(n)

    def withhold_reports(self, n: int = 1) -> None:
        """The next ``n`` reports are never sent (no sequence number used): an unanswered order."""
        with self._lock:
            self.withhold += int(n)

    def exchange_unavailable(self, n: int = 1, applied: bool = True) -> None:
        """Answer the next ``n`` NewOrderSingles with 150=8 58=EXCHANGE_UNAVAILABLE; with
        ``applied`` the order is placed anyway (its immediate reports are suppressed)."""
        with self._lock:
            self.unavailable, self.unavailable_applied = int(n), bool(applied)

    def lose_inbound_messages(self, n: int = 1) -> None:
        """Ignore the next ``n`` inbound application messages as if lost (the acceptor then sees
        a gap and sends a ResendRequest on retransmission sessions)."""
        with self._lock:
            self.lose_inbound += int(n)

    def mute(self, on: bool = True) -> None:
        """Stop sending Heartbeats and answering TestRequests."""
        self.muted = bool(on)

    def reset(self) -> None:
        with self._lock:
            self.logon_rejects = self.lose = self.skip = self.duplicate = self.delay_n = 0
            self.withhold = self.unavailable = self.lose_inbound = 0
            self.delay_s = 0.0
            self.muted = False

    def take(self, name: str) -> int:
        with self._lock:
            v = getattr(self, name)
            if v > 0:
                setattr(self, name, v - 1)
                return v
            return 0


# ---------------------------------------------------------------------------------------- state
@dataclass
class _SeqState:
    next_out: int = 1
    next_in: int = 1
    stored: dict[int, tuple[str, str, bytes]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass
class _Flags:
    skip_pending: bool = False
    new_before_trade: bool = False
    ioc_cancel: bool = False
    preserve_qty: bool = False
    expired: bool = False
    dollars: bool = False
    cancel_on_disconnect: bool = False


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    key: str = ""
    hb: int = 30
    flags: _Flags = field(default_factory=_Flags)
    live: bool = False
    last_recv: float = 0.0
    last_sent: float = 0.0
    test_req: str | None = None
    test_sent: float = 0.0
    pending: dict[int, Message | None] = field(default_factory=dict)
    resend_to: int | None = None
    wlock: threading.Lock = field(default_factory=threading.Lock)  # one writer at a time


@dataclass
class _Ctx:
    key: str
    clordid: str
    side: str  # 54
    ticker: str
    orig_qty: int
    tif: str
    flags: _Flags
    new_sent: bool = False
    pending_clid: str | None = None
    yes_notional: int = 0
    muted: bool = False


def _fmt_px(units: int, dollars: bool) -> str:
    if dollars:
        d = Decimal(units) / DOLLAR
        return f"{d:.4f}".rstrip("0").rstrip(".") if units % CENT else f"{d:.2f}"
    return str(units // CENT) if units % CENT == 0 else str(Decimal(units) / CENT)


def _fmt_qty(units: int) -> str:
    return format_qty(units, 2)  # reports use 2 decimals (Kalshi since v1.0.18)


def _fmt_money(units: int) -> str:
    return f"{Decimal(units) / DOLLAR:.4f}"


_REJECT_TEXT = {
    "not_found": (1, "MARKET_NOT_FOUND"),
    "market_closed": (2, "MARKET_ALREADY_CLOSED"),
    "insufficient_balance": (3, "INSUFFICIENT_BALANCE"),
    "order_already_exists": (6, "ORDER_ALREADY_EXISTS"),
    "invalid_price": (99, "INVALID_PRICE"),
}
_CANCEL_TEXT = {
    "ImmediateOrCancel": "IMMEDIATE_OR_CANCELLED",
    "FillOrKillCancel": "FOK_INSUFFICIENT_VOLUME",
    "SelfTradeCancel": "SELF_CROSS_ATTEMPT",
    "ReduceOnlyCancel": "REDUCE_ONLY_CANCEL",
}
_TIF = {"1": "good_till_canceled", "0": "good_till_canceled", "6": "good_till_canceled",
        "3": "immediate_or_cancel", "4": "fill_or_kill"}


# ---------------------------------------------------------------------------------------- acceptor
class FixAcceptor:
    """One FIX port of the local exchange (``session`` ``"NR"`` or ``"RT"``).

    Args:
        engine: the shared matching engine (:class:`framework.exchange.matching.Engine`).
        public_keys: ``{key_id: RSAPublicKey}``; the ids are the accepted SenderCompIDs (the dict
            is read live, so keys registered later on the LocalExchange work too).
        port: TCP port on ``host`` (0 = any free port; read :attr:`port` after :meth:`start`).
        tls_context: an ``ssl.SSLContext`` for TLS (plain TCP when None; loopback only).
        time_ns: the acceptor clock used for the SendingTime window (tests inject one).
    """

    def __init__(self, engine: Engine, public_keys: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0,
                 session: str = "NR", target_comp_id: str | None = None, tls_context: ssl.SSLContext | None = None,
                 time_ns=time.time_ns, sending_time_window_s: float = 30.0, faults: FixFaults | None = None,
                 logon_timeout_s: float = 10.0, tick_s: float = 0.2) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the local FIX acceptor only binds to loopback")
        if session not in SESSION_TYPES:
            raise ValueError(f"session must be one of {sorted(SESSION_TYPES)}")
        self.engine = engine
        self.public_keys = public_keys
        self.host = host
        self._requested_port = port
        self.port = port
        self.session = session
        default_target, self.retransmission = SESSION_TYPES[session]
        self.target_comp_id = target_comp_id or default_target
        self.tls_context = tls_context
        self.time_ns = time_ns
        self.window_ns = int(sending_time_window_s * 1e9)
        self.faults = faults or FixFaults()
        self.logon_timeout_s = logon_timeout_s
        self.tick_s = tick_s
        self._seq: dict[str, _SeqState] = {}
        self._conns: dict[str, _Conn] = {}
        self._all_conns: set[_Conn] = set()
        self._ctx: dict[str, _Ctx] = {}
        self._by_clid: dict[tuple[str, str], str] = {}
        self._placing: dict[int, _Ctx] = {}
        self._exec_n = 0
        self._lock = threading.RLock()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.logons = 0
        self.messages_in = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FixAcceptor:
        srv = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self._requested_port))
        srv.listen(16)
        srv.settimeout(0.2)
        self._server = srv
        self.port = srv.getsockname()[1]
        self._stop.clear()
        self.engine.listeners.append(self._on_engine_event)
        for target, name in ((self._accept_loop, "fix-acceptor"), (self._tick_loop, "fix-acceptor-timer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self.engine.listeners.remove(self._on_engine_event)
        except ValueError:
            pass
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_connections()
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> FixAcceptor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def drop_connections(self) -> int:
        """Close every connection abruptly (fault injection). Returns how many were closed."""
        with self._lock:
            conns = list(self._all_conns)
        for c in conns:
            self._close(c, "dropped")
        return len(conns)

    def seq_state(self, key_id: str) -> tuple[int, int]:
        """``(next_out, next_in)`` the acceptor holds for a key (tests)."""
        s = self._state(key_id)
        return s.next_out, s.next_in

    def logged_on(self, key_id: str) -> bool:
        c = self._conns.get(key_id)
        return c is not None and c.live

    def _state(self, key: str) -> _SeqState:
        with self._lock:
            s = self._seq.get(key)
            if s is None:
                s = self._seq[key] = _SeqState()
            return s

    # ------------------------------------------------------------------ network
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            srv = self._server
            if srv is None:
                return
            try:
                sock, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls_context is not None:
                try:
                    sock = self.tls_context.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            conn = _Conn(sock)
            with self._lock:
                self._all_conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="fix-acceptor-conn", daemon=True)
            t.start()

    def _close(self, conn: _Conn, reason: str) -> None:
        with self._lock:
            was_live = conn.live
            conn.live = False
            self._all_conns.discard(conn)
            if conn.key and self._conns.get(conn.key) is conn:
                del self._conns[conn.key]
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            conn.sock.close()
        except OSError:
            pass
        if was_live:
            log.info("FIX acceptor: %s disconnected (%s)", conn.key, reason)
            if conn.flags.cancel_on_disconnect:
                self._cancel_all(conn.key, None)

    def _write(self, conn: _Conn, raw: bytes) -> None:
        try:
            with conn.wlock:
                conn.sock.sendall(raw)
            conn.last_sent = time.monotonic()
        except OSError:
            pass

    def _serve(self, conn: _Conn) -> None:
        dec = FrameDecoder()
        conn.sock.settimeout(self.logon_timeout_s)
        try:
            while not self._stop.is_set():
                try:
                    data = conn.sock.recv(65536)
                except TimeoutError:
                    if not conn.live:
                        return  # no Logon in time
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.last_recv = time.monotonic()
                dec.feed(data)
                while True:
                    try:
                        msg = dec.next_message()
                    except CodecError as e:
                        if not conn.live:
                            log.info("FIX acceptor: garbled message before Logon: %s", e)
                            return
                        if isinstance(e, MalformedFieldError) and e.seq is not None:
                            self._reject_malformed(conn, e)  # a session Reject, the session goes on
                        else:
                            log.info("FIX acceptor: garbled message ignored: %s", e)
                        continue
                    if msg is None:
                        break
                    self.messages_in += 1
                    if not conn.live:
                        if not self._logon(conn, msg):
                            return
                        try:
                            conn.sock.settimeout(1.0)
                        except OSError:
                            return  # closed meanwhile (drop_connections / stop)
                        continue
                    if not self._inbound(conn, msg):
                        return
        finally:
            self._close(conn, "connection ended")

    def _reject_malformed(self, conn: _Conn, e: MalformedFieldError) -> None:
        """A complete frame with a malformed field: Reject it (373=0 bad tag number, 4 no value,
        6 bad value format) and count its MsgSeqNum as received, as FIX prescribes."""
        text = str(e)
        code = 4 if "EmptyValue" in text else 6 if "undecodable" in text else 0
        log.info("FIX acceptor: message #%s from %s rejected: %s", e.seq, conn.key, text)
        state = self._state(conn.key)
        with state.lock:
            if e.seq == state.next_in:
                state.next_in += 1
        self._send_admin(conn, MsgType.Reject, [(Tag.RefSeqNum, e.seq), (Tag.RefMsgType, e.msg_type),
                                                (Tag.SessionRejectReason, code), (Tag.Text, text)])

    def _session_reject(self, conn: _Conn, msg: Message, tag: int, code: int, text: str) -> None:
        self._send_admin(conn, MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.RefTagID, tag),
                                                (Tag.RefMsgType, msg.msg_type), (Tag.SessionRejectReason, code),
                                                (Tag.Text, text)])

    # ------------------------------------------------------------------ logon
    def _logout_reject(self, conn: _Conn, msg: Message, text: str) -> bool:
        log.info("FIX acceptor: logon refused: %s", text)
        st = format_utc(self.time_ns())
        raw = encode(MsgType.Logout, [(Tag.SenderCompID, self.target_comp_id),
                                      (Tag.TargetCompID, msg.get(Tag.SenderCompID) or "UNKNOWN"),
                                      (Tag.MsgSeqNum, 1), (Tag.SendingTime, st)], [(Tag.Text, text)])
        self._write(conn, raw)
        return False

    def _logon(self, conn: _Conn, msg: Message) -> bool:
        if msg.msg_type != MsgType.Logon:
            return False  # first message must be a Logon: just drop the connection
        sender, target = msg.get(Tag.SenderCompID) or "", msg.get(Tag.TargetCompID) or ""
        if msg.get(Tag.BeginString) != BEGIN_STRING:
            return self._logout_reject(conn, msg, f"BeginString must be {BEGIN_STRING}")
        if target != self.target_comp_id:
            return self._logout_reject(conn, msg, f"invalid TargetCompID {target!r} for this port "
                                                  f"(expected {self.target_comp_id})")
        pub = self.public_keys.get(sender)
        if pub is None:
            return self._logout_reject(conn, msg, f"unknown SenderCompID {sender!r}: not a registered API key id")
        sig, st = msg.get(Tag.RawData), msg.get(Tag.SendingTime) or ""
        if not sig:
            return self._logout_reject(conn, msg, "RawData (96) signature missing")
        payload = logon_signature_payload(st, MsgType.Logon, msg.get(Tag.MsgSeqNum) or "", sender, target)
        if not verify_signature(pub, payload, sig):
            return self._logout_reject(conn, msg, "invalid signature (RawData 96 does not verify over "
                                                  "SendingTime|MsgType|MsgSeqNum|SenderCompID|TargetCompID)")
        try:
            skew = abs(parse_utc(st) - self.time_ns())
        except ValueError:
            return self._logout_reject(conn, msg, f"bad SendingTime (52) {st!r}")
        if skew > self.window_ns:
            return self._logout_reject(conn, msg, f"SendingTime accuracy problem: {skew / 1e9:.1f} s from exchange "
                                                  f"time (limit {self.window_ns / 1e9:g} s)")
        reset = msg.get(Tag.ResetSeqNumFlag) == "Y"
        if not self.retransmission and not reset:
            return self._logout_reject(conn, msg, "ResetSeqNumFlag (141=Y) is required on this session")
        try:
            hb = int(msg.get(Tag.HeartBtInt) or "0")
        except ValueError:
            hb = 0
        if hb <= 3:
            return self._logout_reject(conn, msg, "HeartBtInt (108) must be greater than 3")
        if msg.get(Tag.DefaultApplVerID) != "9":
            return self._logout_reject(conn, msg, "DefaultApplVerID (1137) must be 9 (FIX.5.0SP2)")
        if self.faults.take("logon_rejects"):
            return self._logout_reject(conn, msg, self.faults.logon_reject_text)
        with self._lock:
            other = self._conns.get(sender)
            if other is not None and other.live:
                return self._logout_reject(conn, msg, "already logged on: one connection per API key")
        state = self._state(sender)
        seq = msg.seq
        with state.lock:
            if reset:
                state.next_out, state.next_in = 1, 1
                state.stored.clear()
            if seq < state.next_in:
                return self._logout_reject(conn, msg, f"MsgSeqNum too low, expecting {state.next_in} but received {seq}")
            gap = seq > state.next_in
            if not gap:
                state.next_in = seq + 1
            y = {"Y": True}
            conn.flags = _Flags(skip_pending=y.get(msg.get(Tag.SkipPendingExecReports), False),
                                new_before_trade=y.get(msg.get(Tag.AlwaysEmitNewBeforeTrade), False),
                                ioc_cancel=y.get(msg.get(Tag.EnableIocCancelReport), False),
                                preserve_qty=y.get(msg.get(Tag.PreserveOriginalOrderQty), False),
                                expired=y.get(msg.get(Tag.UseExpiredOrdStatus), False),
                                dollars=y.get(msg.get(Tag.UseDollars), False),
                                cancel_on_disconnect=y.get(msg.get(Tag.CancelOrdersOnDisconnect), False))
            conn.key, conn.hb, conn.live = sender, hb, True
            with self._lock:
                self._conns[sender] = conn
            self.logons += 1
            body: list[tuple[int, object]] = [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, hb)]
            if reset:
                body.append((Tag.ResetSeqNumFlag, "Y"))
            body.append((Tag.DefaultApplVerID, "9"))
            self._send(sender, MsgType.Logon, body)
            # messages produced while the client was away (RT) are waiting under later numbers;
            # the client sees the gap on our next message and asks for them.
            if gap:
                conn.pending[seq] = None
                self._ask_resend(conn, state, seq)
        return True

    # ------------------------------------------------------------------ session layer
    def _send(self, key: str, msg_type: str, body: list[tuple[int, object]], app: bool = False,
              _delayed: bool = False) -> None:
        f = self.faults
        if app and not _delayed:
            if f.take("withhold"):
                return
            if f.delay_n and f.take("delay_n"):
                t = threading.Timer(f.delay_s, self._send, args=(key, msg_type, body, True, True))
                t.daemon = True
                t.start()
                return
        state = self._state(key)
        with state.lock:
            if app and f.take("skip"):
                state.next_out += 1  # a number nothing was ever sent under
            seq = state.next_out
            st = format_utc(self.time_ns())
            header = [(Tag.SenderCompID, self.target_comp_id), (Tag.TargetCompID, key), (Tag.MsgSeqNum, seq),
                      (Tag.SendingTime, st)]
            raw = encode(msg_type, header, body)
            state.next_out = seq + 1
            if self.retransmission:
                state.stored[seq] = (msg_type, st, raw)
            conn = self._conns.get(key)
            if conn is None or not conn.live:
                return
            if app and f.take("lose"):
                return
            self._write(conn, raw)
            if app and msg_type == MsgType.ExecutionReport and f.take("duplicate"):
                if f.duplicate_poss_dup:
                    self._write(conn, encode(msg_type, header[:3] + [(Tag.SendingTime, format_utc(self.time_ns())),
                                                                     (Tag.PossDupFlag, "Y"),
                                                                     (Tag.OrigSendingTime, st)], body))
                else:
                    seq2 = state.next_out
                    state.next_out += 1
                    raw2 = encode(msg_type, header[:2] + [(Tag.MsgSeqNum, seq2), (Tag.SendingTime, st)], body)
                    if self.retransmission:
                        state.stored[seq2] = (msg_type, st, raw2)
                    self._write(conn, raw2)

    def _send_admin(self, conn: _Conn, msg_type: str, body: list[tuple[int, object]]) -> None:
        self._send(conn.key, msg_type, body)

    def _ask_resend(self, conn: _Conn, state: _SeqState, seen: int) -> None:
        if conn.resend_to is None:
            conn.resend_to = seen
            self._send_admin(conn, MsgType.ResendRequest, [(Tag.BeginSeqNo, state.next_in), (Tag.EndSeqNo, 0)])

    def _inbound(self, conn: _Conn, msg: Message) -> bool:
        """Session checks and sequencing; application messages are dispatched without any lock."""
        if msg.get(Tag.SenderCompID) != conn.key or msg.get(Tag.TargetCompID) != self.target_comp_id:
            self._send_admin(conn, MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.SessionRejectReason, 9),
                                                    (Tag.Text, "CompID problem")])
            self._send_admin(conn, MsgType.Logout, [(Tag.Text, "CompID problem")])
            return False
        try:
            skew = abs(parse_utc(msg.get(Tag.SendingTime) or "") - self.time_ns())
        except ValueError:
            skew = self.window_ns + 1
        if skew > self.window_ns and not msg.poss_dup:
            self._send_admin(conn, MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.RefTagID, Tag.SendingTime),
                                                    (Tag.RefMsgType, msg.msg_type), (Tag.SessionRejectReason, 10),
                                                    (Tag.Text, "SendingTime accuracy problem")])
            return True
        state = self._state(conn.key)
        ready: list[Message] = []
        bad_reset = False
        with state.lock:
            mt = msg.msg_type
            if mt not in ADMIN_MSG_TYPES and not msg.poss_dup and self.faults.take("lose_inbound"):
                return True  # as if it never arrived
            if mt == MsgType.SequenceReset and _seq_no(msg.get(Tag.NewSeqNo)) is None:
                bad_reset = True
            elif mt == MsgType.SequenceReset and msg.get(Tag.GapFillFlag) != "Y":
                state.next_in = max(state.next_in, _seq_no(msg.get(Tag.NewSeqNo)))
            elif msg.seq == state.next_in:
                ready.append(msg)
                self._advance(state, msg)
                while state.next_in in conn.pending:
                    m = conn.pending.pop(state.next_in)
                    if m is None:
                        state.next_in += 1
                    else:
                        ready.append(m)
                        self._advance(state, m)
                for s in [s for s in conn.pending if s < state.next_in]:
                    del conn.pending[s]
                if conn.resend_to is not None and state.next_in > conn.resend_to:
                    conn.resend_to = None
            elif msg.seq > state.next_in:
                if self.retransmission:
                    conn.pending[msg.seq] = msg
                    self._ask_resend(conn, state, msg.seq)
                else:
                    log.info("FIX acceptor: inbound gap from %s (expected %d, got %d) accepted",
                             conn.key, state.next_in, msg.seq)
                    state.next_in = msg.seq
                    ready.append(msg)
                    self._advance(state, msg)
            elif not msg.poss_dup and mt != MsgType.Logout:
                self._send_admin(conn, MsgType.Logout, [(Tag.Text, f"MsgSeqNum too low, expecting "
                                                                   f"{state.next_in} but received {msg.seq}")])
                return False
        if bad_reset:
            self._session_reject(conn, msg, Tag.NewSeqNo, 6, "SequenceReset NewSeqNo (36) must be a positive integer")
        for m in ready:
            if not self._handle(conn, m):
                return False
        return True

    @staticmethod
    def _advance(state: _SeqState, msg: Message) -> None:
        if msg.msg_type == MsgType.SequenceReset:
            state.next_in = max(state.next_in + 1, _seq_no(msg.get(Tag.NewSeqNo)) or 0)
        else:
            state.next_in = msg.seq + 1

    def _handle(self, conn: _Conn, msg: Message) -> bool:
        mt = msg.msg_type
        if mt == MsgType.Heartbeat:
            if conn.test_req is not None and msg.get(Tag.TestReqID) == conn.test_req:
                conn.test_req = None
        elif mt == MsgType.TestRequest:
            if not self.faults.muted:
                self._send_admin(conn, MsgType.Heartbeat, [(Tag.TestReqID, msg.get(Tag.TestReqID))])
        elif mt == MsgType.ResendRequest:
            if not self.retransmission:
                self._send_admin(conn, MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.SessionRejectReason, 11),
                                                        (Tag.Text, "resend is not supported on this session")])
            else:
                b, e = _seq_no(msg.get(Tag.BeginSeqNo)), _seq_no(msg.get(Tag.EndSeqNo), zero=True)
                last = self._state(conn.key).next_out - 1
                if b is None or b > last:
                    self._session_reject(conn, msg, Tag.BeginSeqNo, 5 if b else 6,
                                         f"BeginSeqNo (7) must be an integer in 1..{last}")
                elif e is None or (e and e < b):
                    self._session_reject(conn, msg, Tag.EndSeqNo, 5, "EndSeqNo (16) must be 0 or >= BeginSeqNo (7)")
                else:
                    self._resend(conn, b, e)
        elif mt == MsgType.Logout:
            self._send_admin(conn, MsgType.Logout, [])
            return False
        elif mt in (MsgType.SequenceReset, MsgType.Reject, MsgType.Logon):
            pass
        else:
            try:
                self._application(conn, msg)
            except Exception:
                log.exception("FIX acceptor: handler failed for %s", mt)
                self._send_admin(conn, MsgType.BusinessMessageReject,
                                 [(Tag.RefSeqNum, msg.seq), (Tag.RefMsgType, mt), (Tag.BusinessRejectReason, 0),
                                  (Tag.Text, "INTERNAL_ERROR")])
        return True

    def _resend(self, conn: _Conn, begin: int, end: int) -> None:
        state = self._state(conn.key)
        with state.lock:
            last = state.next_out - 1
            end = last if end == 0 or end > last else end
            out: list[bytes] = []

            def gap_fill(frm: int, to: int) -> bytes:
                st = format_utc(self.time_ns())
                return encode(MsgType.SequenceReset, [(Tag.SenderCompID, self.target_comp_id),
                                                      (Tag.TargetCompID, conn.key), (Tag.MsgSeqNum, frm),
                                                      (Tag.SendingTime, st), (Tag.PossDupFlag, "Y"),
                                                      (Tag.OrigSendingTime, st)],
                              [(Tag.GapFillFlag, "Y"), (Tag.NewSeqNo, to)])

            fill_from = begin
            # walk what is stored (not every number of the range: a huge range costs nothing)
            for seq in sorted(s for s in state.stored if begin <= s <= end):
                item = state.stored[seq]
                if item[0] in ADMIN_MSG_TYPES:
                    continue
                if seq > fill_from:
                    out.append(gap_fill(fill_from, seq))
                fill_from = seq + 1
                mt, orig_st, raw = item
                from framework.kalshi.fix.codec import decode

                m = decode(raw)
                body = [(t, v) for t, v in m.pairs if t not in (8, 9, 35, 49, 56, 34, 52, 43, 122, 10)]
                out.append(encode(mt, [(Tag.SenderCompID, self.target_comp_id), (Tag.TargetCompID, conn.key),
                                       (Tag.MsgSeqNum, seq), (Tag.SendingTime, format_utc(self.time_ns())),
                                       (Tag.PossDupFlag, "Y"), (Tag.OrigSendingTime, orig_st)], body))
            if fill_from <= end:
                out.append(gap_fill(fill_from, end + 1))
        for raw in out:  # written outside the sequence lock
            self._write(conn, raw)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            with self._lock:
                conns = [c for c in self._all_conns if c.live]
            for c in conns:
                if self.faults.muted:
                    continue
                if c.test_req is not None and now - c.test_sent >= c.hb:
                    self._close(c, "no reply to TestRequest")
                    continue
                if c.test_req is None and now - c.last_recv >= c.hb * 1.2:
                    c.test_req, c.test_sent = f"T{int(now * 1000)}", now
                    self._send_admin(c, MsgType.TestRequest, [(Tag.TestReqID, c.test_req)])
                if now - c.last_sent >= c.hb:
                    self._send_admin(c, MsgType.Heartbeat, [])

    # ------------------------------------------------------------------ application
    def _application(self, conn: _Conn, msg: Message) -> None:
        mt = msg.msg_type
        if mt == MsgType.NewOrderSingle:
            self._new_order(conn, msg)
        elif mt == MsgType.OrderCancelRequest:
            self._cancel(conn, msg)
        elif mt == MsgType.OrderCancelReplaceRequest:
            self._replace(conn, msg)
        elif mt == MsgType.OrderMassCancelRequest and not self.retransmission:
            self._mass_cancel(conn, msg)
        else:
            self._send(conn.key, MsgType.BusinessMessageReject,
                       [(Tag.RefSeqNum, msg.seq), (Tag.RefMsgType, mt), (Tag.BusinessRejectReason, 3),
                        (Tag.Text, f"unsupported message type {mt}")], app=True)

    def _next_exec_id(self) -> str:
        with self._lock:
            self._exec_n += 1
            return f"{self._exec_n};{self._exec_n}"

    def _er(self, ctx: _Ctx, order, exec_type: str, ord_status: str, *, clid: str | None = None,
            orig: str | None = None, text: str | None = None, fill=None, rej: int | None = None,
            cum: int | None = None, leaves: int | None = None, exec_id: str | None = None) -> None:
        fl = ctx.flags
        cum = order.filled if (cum is None and order is not None) else (cum or 0)
        if leaves is None:
            leaves = order.remaining if (order is not None and order.status == "resting") else 0
        qty = ctx.orig_qty if fl.preserve_qty else cum + leaves
        yes_px = (order.yes_price if order is not None else None)
        body: list[tuple[int, object]] = [
            (Tag.OrderID, order.order_id if order is not None else "NONE"), (Tag.ClOrdID, clid or ctx.clordid),
            (Tag.OrigClOrdID, orig), (Tag.ExecID, exec_id or self._next_exec_id()), (Tag.ExecType, exec_type),
            (Tag.OrdStatus, ord_status), (Tag.Side, ctx.side), (Tag.Symbol, ctx.ticker),
            (Tag.OrderQty, _fmt_qty(qty)), (Tag.CumQty, _fmt_qty(cum)), (Tag.LeavesQty, _fmt_qty(leaves)),
            (Tag.AvgPx, _fmt_px(ctx.yes_notional // cum, fl.dollars) if cum else "0"),
            (Tag.Price, _fmt_px(yes_px, fl.dollars) if yes_px is not None else None),
            (Tag.TransactTime, format_utc(self.time_ns()))]
        if fill is not None:
            acct_pos = fill.post_position
            body += [(Tag.LastPx, _fmt_px(fill.yes_price, fl.dollars)), (Tag.LastQty, _fmt_qty(fill.qty)),
                     (Tag.TrdMatchID, fill.trade_id), (Tag.AggressorIndicator, "Y" if fill.is_taker else "N"),
                     (Tag.LongQty, _fmt_qty(max(acct_pos, 0))), (Tag.ShortQty, _fmt_qty(max(-acct_pos, 0))),
                     (Tag.NoMiscFees, 1), (Tag.MiscFeeAmt, _fmt_money(fill.fee)), (Tag.MiscFeeCurr, "USD"),
                     (Tag.MiscFeeType, "4"), (Tag.MiscFeeBasis, "0")]
        if rej is not None:
            body.append((Tag.OrdRejReason, rej))
        if text:
            body.append((Tag.Text, text))
        self._send(ctx.key, MsgType.ExecutionReport, body, app=True)

    def _new_order(self, conn: _Conn, msg: Message) -> None:
        fl = conn.flags
        clid, ticker, side = msg.get(Tag.ClOrdID) or "", msg.get(Tag.Symbol) or "", msg.get(Tag.Side)
        ctx = _Ctx(conn.key, clid, side or "", ticker, 0, _TIF.get(msg.get(Tag.TimeInForce) or "1",
                                                                     "good_till_canceled"), fl)

        def reject(code: int, text: str, et: str = "8") -> None:
            self._er(ctx, None, et, et, text=text, rej=code if et == "8" else None, cum=0, leaves=0)

        missing = [t for t in (Tag.ClOrdID, Tag.Symbol, Tag.Side, Tag.OrderQty, Tag.OrdType, Tag.Price) if t not in msg]
        if missing:
            self._send(conn.key, MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.RefTagID, missing[0]),
                                                  (Tag.RefMsgType, "D"), (Tag.SessionRejectReason, 1),
                                                  (Tag.Text, f"required tag {missing[0]} missing")], app=True)
            return
        try:
            qty = parse_qty(msg.get(Tag.OrderQty))
            price = parse_price(msg.get(Tag.Price), fl.dollars)
        except ValueError as e:
            return reject(99, f"INVALID_PARAMETERS: {e}")
        ctx.orig_qty = qty
        if msg.get(Tag.OrdType) != "2":
            return reject(11, "only limit orders (40=2) are supported")
        if side not in ("1", "2"):
            return reject(99, "Side (54) must be 1 or 2")
        if msg.get(Tag.TimeInForce, "1") not in _TIF:
            return reject(11, "unsupported TimeInForce")
        inst = (msg.get(Tag.ExecInst) or "").split()
        if not fl.skip_pending:
            self._er(ctx, None, "A", "A", cum=0, leaves=qty, exec_id="-1;-1")
        unavailable = self.faults.take("unavailable")
        if unavailable and not self.faults.unavailable_applied:
            return reject(99, "EXCHANGE_UNAVAILABLE")
        ctx.muted = bool(unavailable)
        eng = self.engine
        with eng.lock:
            self._placing[threading.get_ident()] = ctx
            try:
                o = eng.place_order(conn.key, ticker, "yes", "buy" if side == "1" else "sell", price, qty,
                                    client_order_id=clid, tif=ctx.tif, post_only="6" in inst,
                                    reduce_only="E" in inst)
            except ExchangeError as e:
                if ctx.muted:
                    ctx.muted = False
                    return reject(99, "EXCHANGE_UNAVAILABLE")
                if "post only" in e.message:
                    return reject(0, "POST_ONLY_CROSS", et="4")
                code, text = _REJECT_TEXT.get(e.code, (99, e.code.upper()))
                return reject(code, text)
            finally:
                self._placing.pop(threading.get_ident(), None)
            self._ctx.setdefault(o.order_id, ctx)
            self._by_clid[(conn.key, clid)] = o.order_id
            if ctx.muted:
                ctx.muted = False
                self._er(ctx, None, "8", "8", text="EXCHANGE_UNAVAILABLE", rej=99, cum=0, leaves=0)

    def _lookup(self, conn: _Conn, msg: Message):
        oid = self._by_clid.get((conn.key, msg.get(Tag.OrigClOrdID) or ""))
        if oid is None:
            oid = msg.get(Tag.OrderID)
        o = self.engine.orders.get(oid) if oid else None
        if o is None or o.account != conn.key:
            return None, None
        return o, self._ctx.get(o.order_id)

    def _cancel_reject(self, conn: _Conn, msg: Message, to: str, code: int, text: str, o=None) -> None:
        self._send(conn.key, MsgType.OrderCancelReject,
                   [(Tag.OrderID, o.order_id if o is not None else "NONE"), (Tag.ClOrdID, msg.get(Tag.ClOrdID)),
                    (Tag.OrigClOrdID, msg.get(Tag.OrigClOrdID)),
                    (Tag.OrdStatus, {"resting": "0", "executed": "2", "canceled": "4"}.get(o.status, "8") if o else "8"),
                    (Tag.CxlRejResponseTo, to), (Tag.CxlRejReason, code), (Tag.Text, text)], app=True)

    def _cancel(self, conn: _Conn, msg: Message) -> None:
        o, ctx = self._lookup(conn, msg)
        if o is None or ctx is None:
            return self._cancel_reject(conn, msg, "1", 1, "ORDER_NOT_FOUND")
        if msg.get(Tag.Side) != ctx.side or msg.get(Tag.Symbol) != ctx.ticker:
            return self._cancel_reject(conn, msg, "1", 99, "ORDER_ATTRIBUTES_MISMATCH", o)
        with self.engine.lock:
            if o.status != "resting":
                return self._cancel_reject(conn, msg, "1", 0, "TOO_LATE_TO_CANCEL", o)
            ctx.pending_clid = msg.get(Tag.ClOrdID)
            self._by_clid[(conn.key, ctx.pending_clid or "")] = o.order_id
            self.engine.cancel_order(conn.key, o.order_id)

    def _replace(self, conn: _Conn, msg: Message) -> None:
        o, ctx = self._lookup(conn, msg)
        if o is None or ctx is None:
            return self._cancel_reject(conn, msg, "2", 1, "ORDER_NOT_FOUND")
        if msg.get(Tag.Side) != ctx.side or msg.get(Tag.Symbol) != ctx.ticker:
            return self._cancel_reject(conn, msg, "2", 99, "ORDER_ATTRIBUTES_MISMATCH", o)
        try:
            total = parse_qty(msg.get(Tag.OrderQty) or "")
            price = parse_price(msg.get(Tag.Price) or "", ctx.flags.dollars) if Tag.Price in msg else o.yes_price
        except ValueError as e:
            return self._cancel_reject(conn, msg, "2", 99, f"INVALID_PARAMETERS: {e}", o)
        with self.engine.lock:
            if o.status != "resting":
                return self._cancel_reject(conn, msg, "2", 0, "CANNOT_UPDATE_FILLED_ORDER", o)
            if total < o.filled:
                return self._cancel_reject(conn, msg, "2", 99, "INVALID_AMEND_QTY_FOR_ORDER", o)
            ctx.pending_clid = msg.get(Tag.ClOrdID)
            self._by_clid[(conn.key, ctx.pending_clid or "")] = o.order_id
            if total == o.filled:
                self.engine.cancel_order(conn.key, o.order_id)
                return None
            try:
                self.engine.amend_order(conn.key, o.order_id, side=o.side, action=o.action, price=price, count=total)
            except ExchangeError as e:
                ctx.pending_clid = None
                return self._cancel_reject(conn, msg, "2", 99, e.code.upper(), o)
        return None

    def _mass_cancel(self, conn: _Conn, msg: Message) -> None:
        self._send(conn.key, MsgType.OrderMassCancelReport,
                   [(Tag.ClOrdID, msg.get(Tag.ClOrdID)), (Tag.OrderID, self.engine.new_id()),
                    (Tag.MassCancelRequestType, msg.get(Tag.MassCancelRequestType) or "6"),
                    (Tag.MassCancelResponse, "6")], app=True)
        self._cancel_all(conn.key, None)

    def _cancel_all(self, key: str, ticker: str | None) -> None:
        eng = self.engine
        with eng.lock:
            acct = eng.accounts.get(key)
            if acct is None:
                return
            for o in list(acct.orders.values()):
                if o.status == "resting" and (ticker is None or o.ticker == ticker):
                    eng.cancel_order(key, o.order_id)

    # ------------------------------------------------------------------ engine events -> reports
    def _ctx_for(self, order_id: str, account: str, client_order_id: str) -> _Ctx | None:
        ctx = self._ctx.get(order_id)
        if ctx is None:
            placing = self._placing.get(threading.get_ident())
            if placing is not None and placing.key == account and placing.clordid == client_order_id:
                ctx = self._ctx[order_id] = placing
        return ctx

    def _on_engine_event(self, ev: dict[str, Any]) -> None:
        typ = ev.get("type")
        if typ == "fill":
            f = ev["fill"]
            ctx = self._ctx_for(f.order_id, f.account, f.client_order_id)
            if ctx is None or ctx.muted:
                if ctx is not None:
                    ctx.yes_notional += f.yes_price * f.qty
                return
            o = self.engine.orders.get(f.order_id)
            if not ctx.new_sent and ctx.flags.new_before_trade:
                self._er(ctx, o, "0", "0", cum=o.filled - f.qty, leaves=o.remaining + f.qty)
            ctx.new_sent = True
            ctx.yes_notional += f.yes_price * f.qty
            # the engine emits fills before updating a taker's status: leaves is what is left now
            leaves = o.remaining
            self._er(ctx, o, "F", "2" if leaves == 0 else "1", fill=f, leaves=leaves)
        elif typ == "order":
            o = ev["order"]
            ctx = self._ctx_for(o.order_id, o.account, o.client_order_id)
            if ctx is None or ctx.muted:
                return
            reason = o.last_update_reason
            if reason == "Placed":
                if not ctx.new_sent:
                    ctx.new_sent = True
                    self._er(ctx, o, "0", "0")
            elif reason == "Trade":
                if o.status == "resting" and not ctx.new_sent:
                    ctx.new_sent = True
            elif reason in ("Cancel", "Decrease") or reason in _CANCEL_TEXT or reason in ("CloseCancel", "ExpiryCancel"):
                if reason == "Decrease" and o.status == "resting":
                    return self._replaced(ctx, o)
                if reason == "ImmediateOrCancel" and o.filled and not ctx.flags.ioc_cancel:
                    return  # Kalshi default: no report for an IOC remainder
                expired = reason in ("CloseCancel", "ExpiryCancel") and ctx.flags.expired
                clid, orig = (ctx.pending_clid, ctx.clordid) if ctx.pending_clid else (None, None)
                et = "C" if expired else "4"
                self._er(ctx, o, et, et, clid=clid, orig=orig, text=_CANCEL_TEXT.get(reason), leaves=0)
                if ctx.pending_clid:
                    ctx.clordid, ctx.pending_clid = ctx.pending_clid, None
            elif reason == "Amend":
                self._replaced(ctx, o)

    def _replaced(self, ctx: _Ctx, o) -> None:
        clid, orig = (ctx.pending_clid, ctx.clordid) if ctx.pending_clid else (None, None)
        ctx.orig_qty = o.initial
        self._er(ctx, o, "5", "1" if o.filled else "0", clid=clid, orig=orig)
        if ctx.pending_clid:
            ctx.clordid, ctx.pending_clid = ctx.pending_clid, None


# ---------------------------------------------------------------------------------------- helpers
def _seq_no(v: str | None, zero: bool = False) -> int | None:
    """A sequence-number field as a positive int (0 too with ``zero``); None when it is not one."""
    if v is None or not v.isdigit() or len(v) > 18:
        return None
    n = int(v)
    return n if n > 0 or (zero and n == 0) else None


def attach_fix_acceptor(exchange, port: int = 0, session: str = "NR", **kw) -> FixAcceptor:
    """A :class:`FixAcceptor` on a :class:`~framework.exchange.server.LocalExchange`'s engine and
    registered keys (call ``start()`` on the result)."""
    return FixAcceptor(exchange.engine, exchange.public_keys, host=exchange.host, port=port, session=session, **kw)


def engine_reconciler(engine: Engine, key_id: str):
    """A FixBroker ``reconciler`` that reads the local matching engine (the local stand-in for
    Kalshi's REST ``GET /portfolio/orders``)."""
    from framework.kalshi.fix.broker import OrderSnapshot

    def reconcile(orders):
        out = []
        with engine.lock:
            acct = engine.accounts.get(key_id)
            by_clid = {o.client_order_id: o for o in acct.orders.values()} if acct else {}
            for order in orders:
                eo = by_clid.get(order.client_order_id)
                if eo is None:
                    continue
                if eo.status == "resting":
                    status = OrderStatus.PARTIALLY_FILLED if eo.filled else OrderStatus.ACCEPTED
                elif eo.status == "executed":
                    status = OrderStatus.FILLED
                elif eo.last_update_reason in ("CloseCancel", "ExpiryCancel"):
                    status = OrderStatus.EXPIRED
                else:
                    status = OrderStatus.CANCELLED
                avg = None
                if eo.filled:
                    leg_avg = (eo.taker_fill_cost + eo.maker_fill_cost) * CONTRACT // eo.filled
                    own_leg = "yes" if (order.side, order.action) in (("yes", "buy"), ("no", "sell")) else "no"
                    same = (own_leg == "yes") == (order.side == "yes")
                    avg = leg_avg if same else DOLLAR - leg_avg
                out.append(OrderSnapshot(order.client_order_id, status, eo.filled, avg,
                                         eo.taker_fees + eo.maker_fees, eo.order_id))
        return out

    return reconcile
