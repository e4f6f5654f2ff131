"""FIXT.1.1 initiator session for Kalshi: signed logon, heartbeats, sequence tracking, resend.

Behaviour (kalshi-fix.md sections 1, 3, 4; FIX session-layer rules where Kalshi is silent):

* **Logon** carries 98=0, 108, 95/96 (RSA-PSS signature of
  ``SendingTime|A|MsgSeqNum|SenderCompID|TargetCompID`` with the *same* SendingTime string as
  tag 52), the Kalshi flags from :class:`FixConfig` and 1137=9. 1137 is sent on Logon only. A
  Logout or Reject in reply, a closed socket or no reply within ``logon_timeout_s`` raise
  :class:`LogonError` carrying the acceptor's Text (58). A failed logon never looks like success.
* **Liveness**: a Heartbeat only after ``heartbeat_s`` of *outbound* silence; a TestRequest after
  ``heartbeat_s * test_request_factor`` of inbound silence; no answer within another
  ``heartbeat_s`` disconnects. Timers run in :meth:`FixSession.tick` on a clock that tests inject.
* **Inbound sequence**: exactly the expected MsgSeqNum is processed. Higher: a gap. On a
  retransmission session (RT) a ResendRequest(7=expected, 16=0) is sent once and later messages
  are queued until the gap is filled; on a session without retransmission (NR) the message is
  accepted, a ``gap`` event tells the broker to reconcile, and the session reconnects with 141=Y.
  Lower without PossDupFlag: fatal, Logout and disconnect. Lower with PossDupFlag: ignored.
  SequenceReset: GapFill moves the expected number forward; Reset mode sets it.
* **Outbound resend**: a ResendRequest is answered from the SQLite store: application messages
  go out again with 43=Y, 122=original SendingTime and a fresh 52; runs of session messages
  (and numbers with nothing stored) become one SequenceReset-GapFill.
* **Persistence**: both counters and every sent message are in :class:`SeqStore`; an RT session
  restarted with the same store resumes its numbers (no 141=Y).
* **Reconnect**: :meth:`start` logs on once (raising the logon error), then a supervisor thread
  reconnects after any disconnect with exponential backoff capped at ``reconnect_max_s``.
* **Stop**: Logout, wait up to ``logout_timeout_s`` for the acceptor's Logout, close.

Threads: one reader per connection, one ticker, one supervisor. Inbound application messages
(and session Rejects, which refer to our requests) are passed to ``on_message`` on the reader
thread; the broker only enqueues them. ``on_event(kind, info)`` reports session changes.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from ..errors import KalshiError
from .codec import (
    ADMIN_MSG_TYPES,
    APPL_VER_ID_FIX50SP2,
    CodecError,
    FrameDecoder,
    Message,
    MsgType,
    Tag,
    decode,
    encode,
    format_utc,
    logon_signature_payload,
)
from .config import FixConfig, is_loopback
from .store import SeqStore

__all__ = ["FixSession", "FixSessionError", "LogonError", "NotLoggedOn", "SendFailed", "SessionState"]

log = logging.getLogger(__name__)


class FixSessionError(KalshiError):
    """A FIX session problem."""


class LogonError(FixSessionError):
    """The logon failed; the message carries the acceptor's reason (Text 58) when it gave one."""


class NotLoggedOn(FixSessionError):
    """Nothing was sent: the session is not logged on."""


class SendFailed(FixSessionError):
    """The socket failed while sending: the message may or may not have reached the acceptor."""


class SessionState:
    DISCONNECTED = "disconnected"
    LOGON_SENT = "logon_sent"
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"


Connector = Callable[[FixConfig], socket.socket]


def open_socket(config: FixConfig) -> socket.socket:
    """TCP (+TLS 1.2+ unless ``tls=False`` on loopback) connection to the acceptor."""
    if not config.tls and not is_loopback(config.host):
        raise FixSessionError("plain TCP is only allowed to loopback hosts; Kalshi requires TLS")
    sock = socket.create_connection((config.host, config.port), timeout=config.logon_timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if config.tls:
        ctx = ssl.create_default_context(cafile=config.tls_ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if not config.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname=config.tls_server_hostname or config.host)
    return sock


class FixSession:
    """One initiator session. See the module docstring for the behaviour."""

    def __init__(self, config: FixConfig, signer, *, store: SeqStore | None = None,
                 on_message: Callable[[Message], None] | None = None,
                 on_event: Callable[[str, dict], None] | None = None,
                 connector: Connector | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 time_ns: Callable[[], int] = time.time_ns,
                 auto_tick: bool = True, tick_interval: float | None = None) -> None:
        self.config = config
        self.signer = signer
        self.store = store if store is not None else SeqStore(config.store_path)
        self.on_message = on_message or (lambda m: None)
        self.on_event = on_event or (lambda k, i: None)
        self.connector = connector or open_socket
        self.monotonic = monotonic
        self.time_ns = time_ns
        self.auto_tick = auto_tick
        self.tick_interval = tick_interval or min(0.25, config.heartbeat_s / 10)
        self.key = config.session_key
        self.state = SessionState.DISCONNECTED
        self._lock = threading.RLock()
        self._wlock = threading.Lock()  # one writer on the socket at a time (resends write outside _lock)
        self._deferred: list[bytes] = []  # resend frames built under _lock, written after it is released
        self._sock: socket.socket | None = None
        self._conn_id = 0
        self.next_out, self.next_in = self.store.get(self.key)
        self._last_sent = self._last_recv = 0.0
        self._test_req_id: str | None = None
        self._test_req_sent = 0.0
        self._test_ids = itertools.count(1)
        self._pending: dict[int, Message | None] = {}  # queued out-of-order inbound messages
        self._resend_requested_to: int | None = None  # highest seq seen when we asked for resend
        self._logon_done = threading.Event()
        self._logon_error: str | None = None
        self._logout_done = threading.Event()
        self._disconnected = threading.Event()
        self._disconnected.set()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self.last_logout_text: str | None = None
        self.logons = 0

    # ------------------------------------------------------------------ public API
    @property
    def logged_on(self) -> bool:
        return self.state == SessionState.ACTIVE

    def logon(self) -> None:
        """Connect and log on once (blocking). Raises :class:`LogonError` / ``OSError``."""
        cfg = self.config
        sock = self.connector(cfg)
        try:
            sock.settimeout(max(1.0, min(cfg.heartbeat_s, 5.0)))
        except OSError:
            pass
        with self._lock:
            self._conn_id += 1
            conn_id = self._conn_id
            self._sock = sock
            self._decoder = FrameDecoder()
            self._pending.clear()
            self._deferred = []
            self._resend_requested_to = None
            self._test_req_id = None
            self._logon_done.clear()
            self._logout_done.clear()
            self._logon_error = None
            self._disconnected.clear()
            if cfg.reset_on_logon:
                self.store.reset(self.key)
                self.next_out, self.next_in = 1, 1
            else:
                self.next_out, self.next_in = self.store.get(self.key)
            self.state = SessionState.LOGON_SENT
            now = self.monotonic()
            self._last_recv = self._last_sent = now
        reader = threading.Thread(target=self._read_loop, args=(sock, conn_id), name="fix-reader", daemon=True)
        reader.start()
        try:
            self._send_logon()
        except OSError as e:
            self._disconnect(f"socket error while sending Logon: {e}", conn_id)
            raise LogonError(f"connection failed while sending Logon: {e}") from None
        if not self._logon_done.wait(cfg.logon_timeout_s):
            self._disconnect("no Logon reply", conn_id)
            raise LogonError(f"no Logon reply from {cfg.host}:{cfg.port} within {cfg.logon_timeout_s:g} s")
        if self._logon_error is not None:
            self._disconnect("logon failed", conn_id)
            raise LogonError(self._logon_error)
        with self._lock:
            if self.state != SessionState.ACTIVE or self._conn_id != conn_id:
                raise LogonError("the connection closed during logon")
        self.logons += 1
        self._ensure_ticker()

    def start(self) -> FixSession:
        """Log on (raising on failure), then keep the session up with reconnects until :meth:`stop`."""
        self._stopping.clear()
        self.logon()
        if self._supervisor is None or not self._supervisor.is_alive():
            self._supervisor = threading.Thread(target=self._supervise, name="fix-supervisor", daemon=True)
            self._supervisor.start()
        return self

    def stop(self) -> bool:
        """Clean Logout (waits up to ``logout_timeout_s`` for the reply), then close everything.
        True if the acceptor answered the Logout."""
        self._stopping.set()
        answered = self.logout()
        sup = self._supervisor
        if sup is not None and sup is not threading.current_thread():
            sup.join(timeout=5)
        self._supervisor = None
        t = self._ticker
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2)
        self._ticker = None
        return answered

    def logout(self, text: str | None = None) -> bool:
        """Send Logout and wait for the acceptor's; True if it answered. Closes the connection."""
        with self._lock:
            conn_id = self._conn_id
            if self.state != SessionState.ACTIVE:
                if self._sock is not None:
                    self._disconnect("closed", conn_id)
                return False
            self.state = SessionState.LOGOUT_SENT
            try:
                self._send(MsgType.Logout, [(Tag.Text, text)] if text else [])
            except OSError:
                self._disconnect("socket error while sending Logout", conn_id)
                return False
        ok = self._logout_done.wait(self.config.logout_timeout_s)
        self._disconnect("logged out" if ok else "no Logout reply", conn_id)
        return ok

    def close(self) -> None:
        """Stop and close the store."""
        self.stop()
        self.store.close()

    def send(self, msg_type: str, body: Iterable[tuple[int, object]]) -> int:
        """Send an application message; returns its MsgSeqNum.

        Raises :class:`NotLoggedOn` (nothing sent) or :class:`SendFailed` (outcome unknown).
        """
        with self._lock:
            if self.state != SessionState.ACTIVE:
                raise NotLoggedOn(f"FIX session is {self.state}")
            conn_id = self._conn_id
            try:
                return self._send(msg_type, body)
            except OSError as e:
                self._disconnect(f"send failed: {e}", conn_id)
                raise SendFailed(f"socket error while sending {msg_type}: {e}") from None

    def tick(self) -> None:
        """Heartbeat / TestRequest / liveness timers (called by the ticker thread or by tests)."""
        now = self.monotonic()
        with self._lock:
            if self.state != SessionState.ACTIVE:
                return
            hb = self.config.heartbeat_s
            conn_id = self._conn_id
            try:
                if self._test_req_id is not None:
                    if now - self._test_req_sent >= hb:
                        self._disconnect(f"no reply to TestRequest within {hb} s", conn_id)
                        return
                elif now - self._last_recv >= hb * self.config.test_request_factor:
                    self._test_req_id = f"TEST-{next(self._test_ids)}"
                    self._test_req_sent = now
                    self._send(MsgType.TestRequest, [(Tag.TestReqID, self._test_req_id)])
                if now - self._last_sent >= hb:
                    self._send(MsgType.Heartbeat, [])
            except OSError as e:
                self._disconnect(f"send failed: {e}", conn_id)

    # ------------------------------------------------------------------ sending
    def _header(self, seq: int, sending_time: str) -> list[tuple[int, object]]:
        h: list[tuple[int, object]] = [(Tag.SenderCompID, self.config.sender_comp_id),
                                       (Tag.TargetCompID, self.config.target_comp_id),
                                       (Tag.MsgSeqNum, seq), (Tag.SendingTime, sending_time)]
        return h

    def _send(self, msg_type: str, body: Iterable[tuple[int, object]]) -> int:
        """Assign the next number, store, write. Caller holds the lock."""
        seq = self.next_out
        st = format_utc(self.time_ns())
        body = list(body)
        if self.config.appl_ver_id_on_all and msg_type not in ADMIN_MSG_TYPES:
            body.append((Tag.DefaultApplVerID, APPL_VER_ID_FIX50SP2))
        raw = encode(msg_type, self._header(seq, st), body)
        self.store.save_outbound(self.key, seq, msg_type, st, raw)
        self.next_out = seq + 1
        self._write(raw)
        return seq

    def _write(self, raw: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        with self._wlock:
            sock.sendall(raw)
        self._last_sent = self.monotonic()

    def _send_logon(self) -> None:
        cfg = self.config
        with self._lock:
            seq = self.next_out
            st = format_utc(self.time_ns())  # the one SendingTime used in 52 and in the signature
            sig = self.signer.sign_message(logon_signature_payload(st, MsgType.Logon, seq, cfg.sender_comp_id,
                                                                   cfg.target_comp_id))
            body: list[tuple[int, object]] = [(Tag.EncryptMethod, 0), (Tag.HeartBtInt, cfg.heartbeat_s),
                                              (Tag.RawDataLength, len(sig)), (Tag.RawData, sig)]
            body += cfg.logon_flags()
            body.append((Tag.DefaultApplVerID, APPL_VER_ID_FIX50SP2))
            raw = encode(MsgType.Logon, self._header(seq, st), body)
            self.store.save_outbound(self.key, seq, MsgType.Logon, st, raw)
            self.next_out = seq + 1
            self._write(raw)

    def _resend(self, begin: int, end: int) -> None:
        """Answer a ResendRequest for ``begin..end`` (0 = up to our last sent; the caller has
        validated the range). Walks what the store holds, not every number of the range, and only
        builds the frames here (under the lock): the reader writes them after releasing it."""
        last = self.next_out - 1
        if end == 0 or end > last:
            end = last
        out: list[bytes] = []
        fill_from = begin
        for seq, msg_type, orig_st, raw in self.store.load_outbound(self.key, begin, end):
            if msg_type in ADMIN_MSG_TYPES:
                continue  # session messages are never resent: covered by a GapFill
            if seq > fill_from:
                out.append(self._gap_fill(fill_from, seq))
            out.append(self._poss_dup_copy(raw, orig_st))
            fill_from = seq + 1
        if fill_from <= end:
            out.append(self._gap_fill(fill_from, end + 1))
        self._deferred.extend(out)

    def _resend_range(self, msg: Message) -> tuple[int, int] | None:
        """The ResendRequest's (BeginSeqNo, EndSeqNo), or None after a session Reject: numbers
        that are not integers (373=6), BeginSeqNo < 1 or beyond what we sent, EndSeqNo neither 0
        nor >= BeginSeqNo (373=5)."""
        last = self.next_out - 1
        vals = []
        for tag in (Tag.BeginSeqNo, Tag.EndSeqNo):
            v = msg.get(tag)
            n = _int(v)
            if n is None:
                self._reject(msg, 6 if v else 1, f"ResendRequest tag {tag} {'is not an integer' if v else 'missing'}",
                             ref_tag=tag)
                return None
            vals.append(n)
        b, e = vals
        if b < 1 or b > last:
            self._reject(msg, 5, f"ResendRequest BeginSeqNo {b} outside 1..{last} (what was sent)", ref_tag=Tag.BeginSeqNo)
            return None
        if e != 0 and e < b:
            self._reject(msg, 5, f"ResendRequest EndSeqNo {e} below BeginSeqNo {b}", ref_tag=Tag.EndSeqNo)
            return None
        return b, e

    def _gap_fill(self, seq: int, new_seq: int) -> bytes:
        st = format_utc(self.time_ns())
        header = self._header(seq, st) + [(Tag.PossDupFlag, "Y"), (Tag.OrigSendingTime, st)]
        return encode(MsgType.SequenceReset, header, [(Tag.GapFillFlag, "Y"), (Tag.NewSeqNo, new_seq)])

    def _poss_dup_copy(self, raw: bytes, orig_sending_time: str) -> bytes:
        m = decode(raw)
        header_tags = {Tag.BeginString, Tag.BodyLength, Tag.MsgType, Tag.SenderCompID, Tag.TargetCompID,
                       Tag.MsgSeqNum, Tag.SendingTime, Tag.PossDupFlag, Tag.OrigSendingTime, Tag.CheckSum}
        body = [(t, v) for t, v in m.pairs if t not in header_tags]
        header = self._header(m.seq, format_utc(self.time_ns())) + [(Tag.PossDupFlag, "Y"),
                                                                    (Tag.OrigSendingTime, orig_sending_time)]
        return encode(m.msg_type, header, body)

    # ------------------------------------------------------------------ receiving
    def _read_loop(self, sock: socket.socket, conn_id: int) -> None:
        reason = "connection closed by peer"
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                if conn_id != self._conn_id or self._sock is not sock:
                    return
                continue
            except OSError as e:
                reason = f"socket error: {e}"
                break
            if not data:
                break
            with self._lock:
                if conn_id != self._conn_id:
                    return
                self._last_recv = self.monotonic()
                self._decoder.feed(data)
                while True:
                    try:
                        msg = self._decoder.next_message()
                    except CodecError as e:
                        log.warning("FIX: garbled inbound message ignored: %s", e)
                        continue
                    if msg is None:
                        break
                    try:
                        self._process(msg, conn_id)
                    except OSError as e:
                        self._disconnect(f"send failed: {e}", conn_id)
                        return
                    if conn_id != self._conn_id or self.state == SessionState.DISCONNECTED:
                        return
                deferred, self._deferred = self._deferred, []
            for raw in deferred:  # resends: the lock is free meanwhile (other sends interleave by seq)
                try:
                    self._write(raw)
                except OSError as e:
                    self._disconnect(f"send failed during a resend: {e}", conn_id)
                    return
        with self._lock:
            if self.state == SessionState.LOGON_SENT and self._logon_error is None:
                self._logon_error = ("connection closed by the acceptor before a Logon reply "
                                     "(check the key id / SenderCompID, TargetCompID and port)")
                self._logon_done.set()
            self._disconnect(reason, conn_id)

    def _process(self, msg: Message, conn_id: int) -> None:
        mt = msg.msg_type
        if self.state == SessionState.LOGON_SENT:
            self._process_logon_reply(msg, conn_id)
            return
        if msg.get(Tag.TargetCompID) not in (None, self.config.sender_comp_id) or (
                self.config.expect_peer_comp_id and msg.get(Tag.SenderCompID) != self.config.expect_peer_comp_id):
            self._reject(msg, 9, "CompID problem")
            self._fatal("wrong CompID on an inbound message", conn_id)
            return
        if mt == MsgType.SequenceReset and msg.get(Tag.GapFillFlag) != "Y":
            new = _int(msg.get(Tag.NewSeqNo))
            if new is not None and new >= self.next_in:
                self._set_next_in(new)
                self._drain_pending(conn_id)
            elif new is not None:
                self._reject(msg, 5, f"NewSeqNo {new} lower than expected {self.next_in}")
            return
        seq = msg.seq
        if seq == self.next_in:
            self._handle(msg, conn_id)
            self._drain_pending(conn_id)
        elif seq > self.next_in:
            self._on_gap(msg, conn_id)
        elif msg.poss_dup:
            return  # a duplicate we already processed
        elif mt == MsgType.Logout:
            self._handle(msg, conn_id)
        else:
            self._fatal(f"MsgSeqNum too low, expecting {self.next_in} but received {seq}", conn_id)

    def _process_logon_reply(self, msg: Message, conn_id: int) -> None:
        mt = msg.msg_type
        text = msg.get(Tag.Text)
        if mt == MsgType.Logout:
            self._logon_error = f"logon rejected by the acceptor (Logout): {text or 'no reason given'}"
            self.last_logout_text = text
            self._logon_done.set()
            return
        if mt == MsgType.Reject:
            code = msg.get(Tag.SessionRejectReason)
            self._logon_error = (f"logon rejected by the acceptor (Reject"
                                 f"{' 373=' + code if code else ''}): {text or 'no reason given'}")
            self._logon_done.set()
            return
        if mt != MsgType.Logon:
            self._logon_error = f"unexpected message type {mt!r} in reply to Logon"
            self._logon_done.set()
            return
        seq = msg.seq
        if msg.get(Tag.ResetSeqNumFlag) == "Y" and not self.config.reset_on_logon:
            self.next_in = 1  # acceptor-initiated reset
        if seq < self.next_in and not msg.poss_dup:
            self._logon_error = f"MsgSeqNum too low on the Logon reply: expected {self.next_in}, got {seq}"
            try:
                self._send(MsgType.Logout, [(Tag.Text, self._logon_error)])
            except OSError:
                pass
            self._logon_done.set()
            return
        self.state = SessionState.ACTIVE
        self._logon_done.set()
        self.on_event("logon", {"reset": self.config.reset_on_logon, "next_out": self.next_out})
        if seq == self.next_in:
            self._set_next_in(seq + 1)
        else:
            self._on_gap(msg, conn_id, logon=True)

    def _on_gap(self, msg: Message, conn_id: int, logon: bool = False) -> None:
        seq, expected = msg.seq, self.next_in
        if self.config.retransmission:
            if msg.msg_type == MsgType.Logout:
                self._handle(msg, conn_id)
                return
            if not logon:
                if msg.msg_type == MsgType.ResendRequest:
                    self._handle(msg, conn_id)
                    self._pending[seq] = None
                else:
                    self._pending[seq] = msg
            else:
                self._pending[seq] = None
            if self._resend_requested_to is None:
                log.warning("FIX: inbound gap, expected %d got %d: sending ResendRequest", expected, seq)
                self._resend_requested_to = seq
                self._send(MsgType.ResendRequest, [(Tag.BeginSeqNo, expected), (Tag.EndSeqNo, 0)])
                self.on_event("gap", {"expected": expected, "received": seq, "retransmission": True})
            return
        # no retransmission (NR): accept what we got, tell the broker, reconnect with 141=Y
        log.warning("FIX: inbound gap on a session without retransmission (expected %d got %d): "
                    "reconnecting and reconciling", expected, seq)
        self._set_next_in(seq)
        if not logon:
            self._handle(msg, conn_id)
        else:
            self._set_next_in(seq + 1)
        self.on_event("gap", {"expected": expected, "received": seq, "retransmission": False})
        if conn_id == self._conn_id and self.state == SessionState.ACTIVE:
            try:
                self.state = SessionState.LOGOUT_SENT
                self._send(MsgType.Logout, [(Tag.Text, f"sequence gap: expected {expected}, got {seq}")])
            except OSError:
                pass
            self._disconnect(f"sequence gap (expected {expected}, got {seq}); reconnecting with reset",
                             conn_id)

    def _drain_pending(self, conn_id: int) -> None:
        while self._pending and conn_id == self._conn_id:
            if self.next_in in self._pending:
                m = self._pending.pop(self.next_in)
                if m is None:
                    self._set_next_in(self.next_in + 1)
                else:
                    self._handle(m, conn_id)
            else:
                # drop anything a GapFill jumped over
                for s in [s for s in self._pending if s < self.next_in]:
                    del self._pending[s]
                if self.next_in not in self._pending:
                    break
        if self._resend_requested_to is not None and self.next_in > self._resend_requested_to:
            self._resend_requested_to = None
            self.on_event("gap_filled", {"next_in": self.next_in})

    def _set_next_in(self, n: int) -> None:
        self.next_in = n
        self.store.set_next_in(self.key, n)

    def _handle(self, msg: Message, conn_id: int) -> None:
        """Process an in-sequence message (its number is consumed here)."""
        mt = msg.msg_type
        if mt == MsgType.SequenceReset:  # GapFill
            new = _int(msg.get(Tag.NewSeqNo))
            if new is not None and new > msg.seq:
                self._set_next_in(max(new, self.next_in))
            else:
                self._set_next_in(msg.seq + 1)
            return
        self._set_next_in(msg.seq + 1)
        if mt == MsgType.Heartbeat:
            if self._test_req_id is not None and msg.get(Tag.TestReqID) == self._test_req_id:
                self._test_req_id = None
        elif mt == MsgType.TestRequest:
            self._send(MsgType.Heartbeat, [(Tag.TestReqID, msg.get(Tag.TestReqID))])
        elif mt == MsgType.ResendRequest:
            rng = self._resend_range(msg)
            if rng is not None:
                self._resend(*rng)
        elif mt == MsgType.Logout:
            text = msg.get(Tag.Text)
            self.last_logout_text = text
            if self.state == SessionState.LOGOUT_SENT:
                self._logout_done.set()
            else:
                log.warning("FIX: acceptor logged out: %s", text)
                self.on_event("logout", {"text": text})
                try:
                    self.state = SessionState.LOGOUT_SENT
                    self._send(MsgType.Logout, [])
                except OSError:
                    pass
                self._disconnect(f"logged out by the acceptor: {text or 'no reason'}", conn_id)
        elif mt == MsgType.Logon:
            log.warning("FIX: unexpected Logon on an active session ignored")
        else:  # application messages and session Rejects of our requests
            try:
                self.on_message(msg)
            except Exception:
                log.exception("FIX: message handler failed")

    def _reject(self, msg: Message, reason: int, text: str, ref_tag: int | None = None) -> None:
        log.warning("FIX: session Reject of inbound %s #%d: %s", msg.msg_type, msg.seq, text)
        try:
            self._send(MsgType.Reject, [(Tag.RefSeqNum, msg.seq), (Tag.RefTagID, ref_tag),
                                        (Tag.RefMsgType, msg.msg_type),
                                        (Tag.SessionRejectReason, reason), (Tag.Text, text)])
        except OSError:
            pass

    def _fatal(self, text: str, conn_id: int) -> None:
        log.error("FIX: %s; disconnecting", text)
        try:
            self.state = SessionState.LOGOUT_SENT
            self._send(MsgType.Logout, [(Tag.Text, text)])
        except OSError:
            pass
        self._disconnect(text, conn_id)

    def _disconnect(self, reason: str, conn_id: int | None = None) -> None:
        with self._lock:
            if conn_id is not None and conn_id != self._conn_id:
                return
            sock, self._sock = self._sock, None
            was = self.state
            self.state = SessionState.DISCONNECTED
            self._test_req_id = None
            self._conn_id += 1  # retire the reader of this connection
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass
            self._logon_done.set()
            self._logout_done.set()
            if not self._disconnected.is_set():
                self._disconnected.set()
                if was != SessionState.DISCONNECTED:
                    log.info("FIX: disconnected: %s", reason)
                    self.on_event("disconnected", {"reason": reason, "was": was})

    # ------------------------------------------------------------------ threads
    def _ensure_ticker(self) -> None:
        if not self.auto_tick or (self._ticker is not None and self._ticker.is_alive()):
            return
        self._ticker = threading.Thread(target=self._tick_loop, name="fix-ticker", daemon=True)
        self._ticker.start()

    def _tick_loop(self) -> None:
        while not self._stopping.wait(self.tick_interval):
            try:
                self.tick()
            except Exception:
                log.exception("FIX: tick failed")

    def _supervise(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min_s
        while not self._stopping.is_set():
            self._disconnected.wait(0.5)
            if self._stopping.is_set():
                return
            if not self._disconnected.is_set():
                continue
            if self._stopping.wait(delay):
                return
            try:
                self.logon()
                delay = cfg.reconnect_min_s
            except (LogonError, OSError) as e:
                log.warning("FIX: reconnect failed (next try in %.1f s): %s", min(delay * 2, cfg.reconnect_max_s), e)
                self.on_event("reconnect_failed", {"error": str(e)})
                delay = min(delay * 2, cfg.reconnect_max_s)


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None
