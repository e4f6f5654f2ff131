"""FIX codec: round trips, strict BodyLength/CheckSum framing, value formats."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simplefix.data import RAW_DATA_TAGS, RAW_LEN_TAGS

from framework.kalshi.fix.codec import (
    BodyLengthError,
    ChecksumError,
    FrameDecoder,
    GarbledError,
    Tag,
    decode,
    encode,
    format_price,
    format_qty,
    format_utc,
    logon_signature_payload,
    parse_price,
    parse_qty,
    parse_utc,
)

HDR = [(49, "key"), (56, "KalshiNR"), (34, 7), (52, "20260105-14:03:07.512")]


def test_round_trip_keeps_order_and_header_first():
    raw = encode("D", HDR, [(11, "abc"), (55, "KX-1"), (54, "2"), (38, "5"), (40, "2"), (44, "37")])
    assert raw.startswith(b"8=FIXT.1.1\x019=")
    assert b"\x0135=D\x0149=key\x01" in raw
    m = decode(raw)
    assert m.msg_type == "D" and m.seq == 7
    assert [t for t, _ in m.pairs][:4] == [8, 9, 35, 49]
    assert m.get(Tag.Price) == "37" and m.get(Tag.Side) == "2"
    assert m.raw == raw


def test_checksum_and_body_length_are_right():
    raw = encode("0", HDR, [])
    body_start = raw.index(b"\x01", raw.index(b"9=")) + 1
    cs_at = raw.index(b"10=")
    assert int(raw[raw.index(b"9=") + 2:body_start - 1]) == cs_at - body_start
    assert int(raw[cs_at + 3:cs_at + 6]) == sum(raw[:cs_at]) % 256


def test_checksum_error():
    raw = bytearray(encode("0", HDR, []))
    i = raw.index(b"10=") + 3
    raw[i:i + 3] = b"%03d" % ((int(raw[i:i + 3]) + 1) % 256)
    with pytest.raises(ChecksumError):
        decode(bytes(raw))


def test_body_length_too_long_and_too_short():
    raw = encode("0", HDR, [(112, "X")])
    n = int(raw.split(b"\x01")[1][2:])
    for wrong in (n - 3, n + 3):
        bad = raw.replace(b"9=%d\x01" % n, b"9=%d\x01" % wrong, 1)
        with pytest.raises(BodyLengthError):
            d = FrameDecoder()
            d.feed(bad + encode("0", HDR, []))  # following bytes let the decoder see the mismatch
            d.next_message()


def test_garbled_prefix_is_skipped_and_decoder_resyncs():
    good = encode("1", HDR, [(112, "T1")])
    d = FrameDecoder()
    d.feed(b"junk" + good)
    with pytest.raises(GarbledError):
        d.next_message()
    assert d.next_message().get(112) == "T1"


def test_decoder_handles_arbitrary_chunking_and_raw_data_with_soh():
    sig = "ab\x01cd"  # RawData may contain SOH: 95 tells its length
    msgs = [encode("A", HDR, [(98, 0), (108, 30), (95, len(sig)), (96, sig), (1137, 9)]),
            encode("0", HDR, [])]
    stream = b"".join(msgs)
    for step in (1, 2, 7, 64):
        d = FrameDecoder()
        got = []
        for i in range(0, len(stream), step):
            d.feed(stream[i:i + step])
            got.extend(d.messages())
        assert [m.msg_type for m in got] == ["A", "0"]
        assert got[0].get(96) == sig


def test_repeating_groups_are_lists():
    raw = encode("8", HDR, [(136, 2), (137, "0.0100"), (138, "USD"), (139, "4"), (137, "0.0200"), (139, "4"),
                            (58, "x")])
    m = decode(raw)
    assert m.get_all(137) == ["0.0100", "0.0200"]
    assert m.groups(136, 137) == [{137: "0.0100", 138: "USD", 139: "4"}, {137: "0.0200", 139: "4"}]


def test_signature_masked_in_repr():
    m = decode(encode("A", HDR, [(95, 3), (96, "SIG")]))
    assert "SIG" not in repr(m)


def test_values():
    assert format_price(3700) == "37"
    assert format_price(3750, use_dollars=True) == "0.375"
    assert format_price(3700, use_dollars=True) == "0.37"
    with pytest.raises(ValueError):
        format_price(3750)
    assert parse_price("37") == 3700 and parse_price("0.3755", True) == 3755 and parse_price("45.5") == 4550
    assert format_qty(500) == "5" and format_qty(525) == "5.25" and format_qty(500, 2) == "5.00"
    assert parse_qty("10.00") == 1000 and parse_qty("3") == 300
    with pytest.raises(ValueError):
        parse_qty("0.001")
    ns = 1_767_621_787_512_000_000
    assert format_utc(ns) == "20260105-14:03:07.512"
    assert parse_utc("20260105-14:03:07.512") == ns
    assert logon_signature_payload("20260105-14:03:07.512", "A", 1, "k", "KalshiNR") == \
        b"20260105-14:03:07.512\x01A\x011\x01k\x01KalshiNR"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(100, 9999),
                          st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                                  max_size=20)), max_size=12))
def test_round_trip_property(fields):
    data_tags = set(RAW_LEN_TAGS) | set(RAW_DATA_TAGS)  # length-prefixed data fields have their own rules
    fields = [(t, v) for t, v in fields if t not in data_tags]
    raw = encode("8", HDR, fields)
    m = decode(raw)
    assert m.pairs[7:-1] == fields
