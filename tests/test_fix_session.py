"""FIX session layer against a scripted peer (socketpair) and against the local acceptor."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from framework.exchange.fix_testing import FixTestBed, new_key
from framework.kalshi.auth import KalshiSigner, verify_signature
from framework.kalshi.fix import FixConfig, FixSession, LogonError, SeqStore, SessionState
from framework.kalshi.fix.codec import (
    FrameDecoder,
    Message,
    MsgType,
    Tag,
    encode,
    format_utc,
    logon_signature_payload,
)

KEY_ID = "11111111-2222-3333-4444-555555555555"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Peer:
    """The acceptor side of a socketpair, driven by the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(2.0)
        self.dec = FrameDecoder()
        self.seq = 1

    def recv(self, timeout: float = 2.0) -> Message | None:
        deadline = time.monotonic() + timeout
        while True:
            m = self.dec.next_message()
            if m is not None:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.dec.feed(data)

    def recv_type(self, mt: str, timeout: float = 2.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if m is not None and m.msg_type == mt:
                return m
        raise AssertionError(f"no {mt} received")

    def send(self, mt: str, body=(), seq: int | None = None, poss_dup: bool = False) -> None:
        s = self.seq if seq is None else seq
        if seq is None:
            self.seq += 1
        hdr = [(49, "KalshiNR"), (56, KEY_ID), (34, s), (52, format_utc(time.time_ns()))]
        if poss_dup:
            hdr += [(43, "Y"), (122, format_utc(time.time_ns()))]
        self.sock.sendall(encode(mt, hdr, list(body)))


def make(retransmission=False, store=None, **kw):
    a, b = socket.socketpair()
    clock = Clock()
    cfg = FixConfig(host="127.0.0.1", port=1, sender_comp_id=KEY_ID,
                    target_comp_id="KalshiRT" if retransmission else "KalshiNR",
                    retransmission=retransmission, tls=False, logon_timeout_s=kw.pop("logon_timeout_s", 3.0), **kw)
    got, events = [], []
    sess = FixSession(cfg, KalshiSigner(KEY_ID, new_key()), store=store, on_message=got.append,
                      on_event=lambda k, i: events.append((k, i)), connector=lambda c: a, monotonic=clock,
                      auto_tick=False)
    return sess, Peer(b), clock, got, events


def logon(sess, peer, reply=True):
    errors = []

    def run():
        try:
            sess.logon()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    m = peer.recv_type(MsgType.Logon)
    if reply:
        peer.send(MsgType.Logon, [(98, 0), (108, 30), (141, "Y")])
    t.join(5)
    return m, errors


def wait(pred, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# ---------------------------------------------------------------------------------------- logon
def test_logon_fields_and_signature():
    sess, peer, _, _, _ = make()
    m, errors = logon(sess, peer)
    assert not errors and sess.state == SessionState.ACTIVE
    assert m.get(Tag.BeginString) == "FIXT.1.1" and m.get(Tag.DefaultApplVerID) == "9"
    assert m.get(Tag.EncryptMethod) == "0" and m.get(Tag.ResetSeqNumFlag) == "Y" and m.seq == 1
    assert m.get(Tag.SkipPendingExecReports) == "Y" and m.get(21003) is None  # current tag, not the stale one
    sig = m.get(Tag.RawData)
    assert int(m.get(Tag.RawDataLength)) == len(sig) == 344
    payload = logon_signature_payload(m.get(Tag.SendingTime), "A", "1", KEY_ID, "KalshiNR")
    assert verify_signature(sess.signer.public_key(), payload, sig)
    # 95 comes before 96 and 1137 is on Logon only
    tags = [t for t, _ in m.pairs]
    assert tags.index(95) + 1 == tags.index(96)
    sess.send("D", [(11, "x")])
    d = peer.recv_type("D")
    assert d.get(Tag.DefaultApplVerID) is None and d.seq == 2


@pytest.mark.parametrize("mt,body,expect", [
    (MsgType.Logout, [(58, "invalid signature")], "invalid signature"),
    (MsgType.Reject, [(45, 1), (373, 8), (58, "bad sig")], "373=8"),
])
def test_logout_or_reject_in_reply_is_a_failed_logon(mt, body, expect):
    sess, peer, _, _, _ = make()
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(LogonError, sess.logon).value))
    t.start()
    peer.recv_type(MsgType.Logon)
    peer.send(mt, body)
    t.join(5)
    assert errors and expect in str(errors[0])
    assert sess.state == SessionState.DISCONNECTED


def test_closed_socket_during_logon_is_a_failure():
    sess, peer, _, _, _ = make()
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(LogonError, sess.logon).value))
    t.start()
    peer.recv_type(MsgType.Logon)
    peer.sock.close()
    t.join(5)
    assert errors and "closed" in str(errors[0])


def test_no_logon_reply_times_out():
    sess, peer, _, _, _ = make(logon_timeout_s=0.3)
    with pytest.raises(LogonError, match="no Logon reply"):
        sess.logon()


# ---------------------------------------------------------------------------------------- liveness
def test_heartbeat_only_when_idle_and_test_request_on_silence():
    sess, peer, clock, _, events = make(heartbeat_s=30)
    logon(sess, peer)
    clock.t += 20
    sess.send("D", [(11, "x")])  # outbound traffic resets the heartbeat timer
    peer.recv_type("D")
    peer.send(MsgType.Heartbeat)  # inbound traffic at t+20
    assert wait(lambda: sess._last_recv == clock.t)
    clock.t += 29.9
    sess.tick()
    assert peer.recv(0.1) is None  # 29.9 s after the last send: nothing
    clock.t += 0.1
    sess.tick()
    assert peer.recv_type(MsgType.Heartbeat).get(Tag.TestReqID) is None
    clock.t += 6  # 36 s of inbound silence = 30 x 1.2
    sess.tick()
    tr = peer.recv_type(MsgType.TestRequest)
    assert tr.get(Tag.TestReqID)
    clock.t += 29
    sess.tick()
    assert sess.state == SessionState.ACTIVE
    clock.t += 1
    sess.tick()  # TestRequest unanswered for a full interval: disconnect
    assert sess.state == SessionState.DISCONNECTED
    assert any(k == "disconnected" and "TestRequest" in i["reason"] for k, i in events)


def test_answered_test_request_keeps_session():
    sess, peer, clock, _, _ = make(heartbeat_s=30)
    logon(sess, peer)
    clock.t += 36
    sess.tick()
    tr = peer.recv_type(MsgType.TestRequest)
    peer.send(MsgType.Heartbeat, [(112, tr.get(112))])
    assert wait(lambda: sess._test_req_id is None)
    clock.t += 30
    sess.tick()
    assert sess.state == SessionState.ACTIVE


def test_peer_test_request_is_answered_with_its_id():
    sess, peer, _, _, _ = make()
    logon(sess, peer)
    peer.send(MsgType.TestRequest, [(112, "PING-1")])
    assert peer.recv_type(MsgType.Heartbeat).get(112) == "PING-1"


# ---------------------------------------------------------------------------------------- inbound seq
def test_gap_sends_resend_request_and_delivers_in_order():
    sess, peer, _, got, events = make(retransmission=True)
    logon(sess, peer)  # peer seq 1 used; client expects 2
    peer.send("8", [(17, "e4")], seq=4)
    rr = peer.recv_type(MsgType.ResendRequest)
    assert rr.get(Tag.BeginSeqNo) == "2" and rr.get(Tag.EndSeqNo) == "0"
    assert got == []
    peer.send("8", [(17, "e2")], seq=2, poss_dup=True)
    peer.send(MsgType.SequenceReset, [(123, "Y"), (36, 4)], seq=3, poss_dup=True)
    assert wait(lambda: len(got) == 2)
    assert [m.get(17) for m in got] == ["e2", "e4"]
    assert sess.next_in == 5
    assert any(k == "gap" and i["retransmission"] for k, i in events)


def test_gap_fill_moves_expected_number():
    sess, peer, _, got, _ = make()
    logon(sess, peer)
    peer.send(MsgType.SequenceReset, [(123, "Y"), (36, 10)], seq=2)
    peer.send("8", [(17, "x")], seq=10)
    assert wait(lambda: len(got) == 1)
    assert sess.next_in == 11


def test_sequence_reset_mode_sets_number():
    sess, peer, _, got, _ = make()
    logon(sess, peer)
    peer.send(MsgType.SequenceReset, [(36, 20)], seq=99)
    peer.send("8", [(17, "x")], seq=20)
    assert wait(lambda: len(got) == 1) and sess.next_in == 21


def test_gap_without_retransmission_reconnects_and_reports():
    sess, peer, _, got, events = make(retransmission=False)
    logon(sess, peer)
    peer.send("8", [(17, "x")], seq=5)
    assert wait(lambda: sess.state == SessionState.DISCONNECTED)
    assert len(got) == 1  # the message itself is real and delivered
    assert any(k == "gap" and not i["retransmission"] for k, i in events)
    assert peer.recv_type(MsgType.Logout)


def test_too_low_seq_without_possdup_disconnects_with_possdup_ignored():
    sess, peer, _, got, _ = make()
    logon(sess, peer)
    peer.send("8", [(17, "a")], seq=2)
    peer.send("8", [(17, "a")], seq=2, poss_dup=True)  # duplicate: ignored
    assert wait(lambda: len(got) == 1)
    assert sess.state == SessionState.ACTIVE
    peer.send("8", [(17, "b")], seq=2)
    lo = peer.recv_type(MsgType.Logout)
    assert "too low" in lo.get(58)
    assert wait(lambda: sess.state == SessionState.DISCONNECTED)


# ---------------------------------------------------------------------------------------- outbound resend
def test_resend_app_messages_with_possdup_and_gap_fill_admin():
    sess, peer, clock, _, _ = make(retransmission=True)
    logon(sess, peer)  # client seq 1 = Logon
    s2 = sess.send("D", [(11, "o1")])
    sess.send("F", [(11, "c1")])
    clock.t += 31
    sess.tick()  # heartbeat = seq 4
    orig = peer.recv_type("D")
    peer.recv_type("F")
    peer.recv_type(MsgType.Heartbeat)
    assert s2 == 2 and sess.next_out == 5
    peer.send(MsgType.ResendRequest, [(7, 1), (16, 0)])
    gf1 = peer.recv()
    assert gf1.msg_type == MsgType.SequenceReset and gf1.seq == 1 and gf1.get(123) == "Y" and gf1.get(36) == "2"
    d = peer.recv()
    assert d.msg_type == "D" and d.seq == 2 and d.get(43) == "Y"
    assert d.get(Tag.OrigSendingTime) == orig.get(Tag.SendingTime) and d.get(11) == "o1"
    f = peer.recv()
    assert f.msg_type == "F" and f.seq == 3 and f.get(43) == "Y"
    gf2 = peer.recv()
    assert gf2.msg_type == MsgType.SequenceReset and gf2.seq == 4 and gf2.get(36) == "5"
    assert sess.next_out == 5  # resending does not consume numbers


# ---------------------------------------------------------------------------------------- persistence
def test_restart_resumes_sequence_numbers(tmp_path):
    path = str(tmp_path / "seq.sqlite")
    with FixTestBed(session="RT") as bed:
        cfg = bed.config(store_path=path)
        s1 = FixSession(cfg, bed.signer, store=SeqStore(path))
        s1.logon()
        s1.send("H", [(11, "x")])  # unsupported -> BusinessMessageReject (an inbound app message)
        assert wait(lambda: s1.next_in >= 3)
        out1, in1 = s1.next_out, s1.next_in
        s1.stop()  # Logout both ways
        s1.store.close()
        assert SeqStore(path).get(cfg.session_key) == (out1 + 1, in1 + 1)
        s2 = FixSession(cfg, bed.signer, store=SeqStore(path))
        s2.logon()  # no 141=Y: the acceptor accepts the resumed numbers
        assert s2.logged_on and s2.next_out == out1 + 2
        assert bed.acceptor.seq_state(bed.key_id)[1] == s2.next_out
        s2.stop()


def test_reset_session_starts_at_one(tmp_path):
    path = str(tmp_path / "seq.sqlite")
    with FixTestBed(session="NR") as bed:
        for _ in range(2):
            s = FixSession(bed.config(store_path=path), bed.signer, store=SeqStore(path))
            s.logon()
            assert s.next_out == 2 and s.next_in == 2
            s.stop()
            s.store.close()


# ---------------------------------------------------------------------------------------- against the acceptor
@pytest.mark.parametrize("change,expect", [
    ({"sender_comp_id": "not-a-registered-key"}, "unknown SenderCompID"),
    ({"target_comp_id": "KalshiRT"}, "invalid TargetCompID"),
    ({"reset_seq_num": False}, "141=Y"),
    ({"bad_key": True}, "invalid signature"),
    ({"skew_s": 45}, "SendingTime accuracy"),
    ({"fault": True}, "maintenance"),
])
def test_every_logon_failure_surfaces_the_acceptors_reason(change, expect):
    with FixTestBed(session="NR") as bed:
        signer = bed.signer
        kw = {}
        if change.get("bad_key"):
            signer = KalshiSigner(bed.key_id, new_key(reuse=False))
        skew = change.get("skew_s", 0)
        if change.get("fault"):
            bed.acceptor.faults.reject_logons(1, "exchange maintenance")
        for k in ("sender_comp_id", "reset_seq_num"):
            if k in change:
                kw[k] = change[k]
        cfg = bed.config(**kw)
        if "target_comp_id" in change:
            cfg = cfg.with_(target_comp_id=change["target_comp_id"])
        s = FixSession(cfg, signer, time_ns=lambda: time.time_ns() + int(skew * 1e9))
        with pytest.raises(LogonError, match=expect):
            s.logon()
        assert not s.logged_on


def test_second_connection_for_same_key_refused():
    with FixTestBed(session="NR") as bed:
        s1 = FixSession(bed.config(), bed.signer)
        s1.logon()
        s2 = FixSession(bed.config(store_path=":memory:"), bed.signer)
        with pytest.raises(LogonError, match="already logged on"):
            s2.logon()
        s1.stop()


def test_reconnect_after_drop_with_backoff():
    with FixTestBed(session="NR") as bed:
        events = []
        s = FixSession(bed.config(), bed.signer, on_event=lambda k, i: events.append(k))
        s.start()
        bed.acceptor.drop_connections()
        assert wait(lambda: s.logons >= 2 and s.logged_on, 5)
        assert "disconnected" in events
        s.stop()
        assert s.state == SessionState.DISCONNECTED


def test_plain_tcp_refused_for_remote_hosts():
    with pytest.raises(ValueError, match="loopback"):
        FixConfig(host="fix.demo.kalshi.co", port=8228, sender_comp_id=KEY_ID, tls=False)
    cfg = FixConfig.kalshi(KEY_ID, "RT", "demo")
    assert (cfg.host, cfg.port, cfg.target_comp_id, cfg.retransmission, cfg.tls) == \
        ("fix.demo.kalshi.co", 8230, "KalshiRT", True, True)
    assert not cfg.reset_on_logon and FixConfig.kalshi(KEY_ID).reset_on_logon
