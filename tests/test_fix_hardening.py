"""FIX session hardening (issue 14, item 9).

* a ResendRequest whose range is nonsense (a huge negative BeginSeqNo, text, End < Begin) gets
  a session Reject; the session stays up and its lock is not held (old code: a loop over every
  number from -10^12 holding the session lock, > 15 s);
* a message with a malformed field sent to the acceptor gets a session Reject (373) with its
  MsgSeqNum, and the session carries on (old code: silently dropped, the sender's numbers then
  looked like a gap; a bad NewSeqNo/BeginSeqNo ended the connection thread);
* ``kalshi fix-check`` on an NR session that sees a sequence gap reconnects and carries on
  (old code: "reconnecting and reconciling", then "FIX session is disconnected").
"""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import serialization
from test_fix_session import logon, make

from framework.exchange.fix_testing import DEFAULT_TICKER as T
from framework.exchange.fix_testing import FixTestBed
from framework.kalshi.fix.codec import MsgType, Tag, _checksum, format_utc
from framework.kalshi.fix_check import main as fix_check_main


def _sent(sess, msg_type):
    return [r for r in sess.store.load_outbound(sess.key, 1, None) if r[1] == msg_type]


@pytest.mark.parametrize("begin,end,code", [("-1000000000000", "0", "5"), ("abc", "0", "6"),
                                            ("3", "2", "5"), ("999999999999", "0", "5")])
def test_client_rejects_nonsense_resend_request_and_stays_up(begin, end, code):
    sess, peer, clock, _, _ = make(retransmission=True)
    logon(sess, peer)
    sess.send("D", [(11, "o1")])
    sess.send("D", [(11, "o2")])
    peer.recv_type("D")
    peer.recv_type("D")
    peer.send(MsgType.ResendRequest, [(7, begin), (16, end)])
    rej = peer.recv_type(MsgType.Reject, timeout=5)
    assert rej.get(Tag.SessionRejectReason) == code and rej.get(Tag.RefMsgType) == MsgType.ResendRequest
    # the lock is free and the session is up: a send from another thread goes through
    done = []
    t = threading.Thread(target=lambda: done.append(sess.send("D", [(11, "o3")])), daemon=True)
    t.start()
    t.join(5)
    assert done and sess.logged_on and peer.recv_type("D").get(11) == "o3"


def test_client_resend_of_a_valid_range_still_works():
    sess, peer, clock, _, _ = make(retransmission=True)
    logon(sess, peer)
    sess.send("D", [(11, "o1")])
    peer.recv_type("D")
    peer.send(MsgType.ResendRequest, [(7, 2), (16, 0)])
    d = peer.recv()
    assert d.msg_type == "D" and d.seq == 2 and d.get(43) == "Y"


def _raw(sess, msg_type: str, fields: list[bytes]) -> bytes:
    """A frame with the session's next number and arbitrary (possibly malformed) fields."""
    with sess._lock:
        seq = sess.next_out
        sess.next_out += 1
    head = [f"35={msg_type}".encode(), f"49={sess.config.sender_comp_id}".encode(),
            f"56={sess.config.target_comp_id}".encode(), f"34={seq}".encode(),
            f"52={format_utc(sess.time_ns())}".encode()]
    body = b"".join(f + b"\x01" for f in head + fields)
    msg = b"8=FIXT.1.1\x019=%d\x01" % len(body) + body
    return msg + b"10=%03d\x01" % _checksum(msg), seq


@pytest.mark.parametrize("session", ["NR", "RT"])
@pytest.mark.parametrize("field,code", [(b"abc=1", "0"), (b"55", "0"), (b"55=", "4"), (b"44=\xff\xfe", "6")])
def test_malformed_field_to_the_acceptor_gets_a_session_reject(session, field, code):
    with FixTestBed(session) as bed:
        bed.quote()
        b = bed.broker()
        got = []
        b.session.on_message = got.append
        raw, seq = _raw(b.session, "D", [b"11=x1", field])
        b.session._write(raw)
        assert b.poll_until(lambda: any(m.msg_type == MsgType.Reject for m in got), 5), "no session Reject"
        rej = next(m for m in got if m.msg_type == MsgType.Reject)
        assert rej.get(Tag.RefSeqNum) == str(seq) and rej.get(Tag.SessionRejectReason) == code
        assert b.session.logged_on and bed.acceptor.logged_on(bed.key_id)
        assert bed.acceptor.seq_state(bed.key_id)[1] == seq + 1  # its number was consumed: no gap
        assert b.session.logons == 1


@pytest.mark.parametrize("fields", [[(Tag.BeginSeqNo, "-1000000000000"), (Tag.EndSeqNo, "0")],
                                    [(Tag.BeginSeqNo, "x"), (Tag.EndSeqNo, "0")],
                                    [(Tag.BeginSeqNo, "2"), (Tag.EndSeqNo, "1")]])
def test_acceptor_rejects_nonsense_resend_request(fields):
    with FixTestBed("RT") as bed:
        bed.quote()
        b = bed.broker()
        got = []
        b.session.on_message = got.append
        with b.session._lock:
            b.session._send(MsgType.ResendRequest, fields)
        assert b.poll_until(lambda: any(m.msg_type == MsgType.Reject for m in got), 5), "no session Reject"
        assert b.session.logged_on and bed.acceptor.logged_on(bed.key_id)


def test_acceptor_rejects_a_bad_sequence_reset_without_dropping():
    with FixTestBed("NR") as bed:
        b = bed.broker()
        got = []
        b.session.on_message = got.append
        with b.session._lock:
            b.session._send(MsgType.SequenceReset, [(Tag.NewSeqNo, "lots")])
        assert b.poll_until(lambda: any(m.msg_type == MsgType.Reject for m in got), 5), "no session Reject"
        assert b.session.logged_on and b.session.logons == 1


def test_fix_check_carries_on_after_an_nr_sequence_gap(tmp_path, capsys):
    with FixTestBed("NR") as bed:
        bed.quote()
        kf = tmp_path / "key.pem"
        kf.write_bytes(bed.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
        bed.acceptor.faults.skip_seq(1)  # the order's report arrives one number too high
        rc = fix_check_main(["fix-check", "--host", "127.0.0.1", "--port", str(bed.acceptor.port),
                             "--target-comp-id", "KalshiNR", "--key-file", str(kf), "--no-tls", "--timeout", "5",
                             "--sender-comp-id", bed.key_id, "--order", T])
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "[ok] order" in out and "[ok] cancel" in out and "disconnected" not in out
        assert bed.acceptor.logons >= 2  # it did reconnect
