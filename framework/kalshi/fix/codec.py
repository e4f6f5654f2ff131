"""FIX wire codec on top of ``simplefix``: strict framing, tag constants, Kalshi value formats.

``simplefix`` builds messages (it computes BodyLength 9 and CheckSum 10) and splits frames
into fields (it knows the FIX data fields such as RawData 96). It does not *check* BodyLength
or CheckSum, so :class:`FrameDecoder` frames the byte stream itself: it reads ``8=...|9=N|``,
takes exactly ``N`` body bytes, requires ``10=ccc|`` after them and verifies the checksum
before handing the frame to ``simplefix`` for field splitting. A bad frame raises a
:class:`CodecError` subclass; the decoder then resynchronises on the next ``8=``.

Messages are :class:`Message` objects: the ordered ``(tag, value)`` pairs, so repeating groups
(fees 136, parties 453, collateral 1703) survive as lists (:meth:`Message.get_all`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import simplefix

from ...units import CENT, CONTRACT, DOLLAR, cents, contracts, dollars

__all__ = [
    "ADMIN_MSG_TYPES",
    "decode",
    "BEGIN_STRING",
    "BodyLengthError",
    "ChecksumError",
    "CodecError",
    "FrameDecoder",
    "GarbledError",
    "MalformedFieldError",
    "Message",
    "SOH",
    "Tag",
    "MsgType",
    "encode",
    "format_price",
    "format_qty",
    "format_utc",
    "logon_signature_payload",
    "parse_price",
    "parse_qty",
    "parse_utc",
]

SOH = b"\x01"
BEGIN_STRING = "FIXT.1.1"
APPL_VER_ID_FIX50SP2 = "9"


class Tag:
    """FIX tag numbers used by the Kalshi order-entry sessions."""

    BeginString = 8
    BodyLength = 9
    CheckSum = 10
    MsgType = 35
    SenderCompID = 49
    TargetCompID = 56
    MsgSeqNum = 34
    SendingTime = 52
    PossDupFlag = 43
    PossResend = 97
    OrigSendingTime = 122
    EncryptMethod = 98
    HeartBtInt = 108
    RawDataLength = 95
    RawData = 96
    ResetSeqNumFlag = 141
    DefaultApplVerID = 1137
    TestReqID = 112
    BeginSeqNo = 7
    EndSeqNo = 16
    GapFillFlag = 123
    NewSeqNo = 36
    RefSeqNum = 45
    RefTagID = 371
    RefMsgType = 372
    SessionRejectReason = 373
    Text = 58
    BusinessRejectRefID = 379
    BusinessRejectReason = 380
    # application
    AvgPx = 6
    ClOrdID = 11
    CumQty = 14
    ExecID = 17
    ExecInst = 18
    LastPx = 31
    LastQty = 32
    OrderID = 37
    OrderQty = 38
    OrdStatus = 39
    OrdType = 40
    OrigClOrdID = 41
    Price = 44
    Side = 54
    Symbol = 55
    TimeInForce = 59
    TransactTime = 60
    AllocAccount = 79
    CxlRejReason = 102
    OrdRejReason = 103
    ExpireTime = 126
    NoMiscFees = 136
    MiscFeeAmt = 137
    MiscFeeCurr = 138
    MiscFeeType = 139
    ExecType = 150
    LeavesQty = 151
    CxlRejResponseTo = 434
    SecondaryClOrdID = 526
    MassCancelRequestType = 530
    MassCancelResponse = 531
    MassCancelRejectReason = 532
    LongQty = 704
    ShortQty = 705
    TrdMatchID = 880
    MiscFeeBasis = 891
    AggressorIndicator = 1057
    SelfTradePreventionType = 2964
    # Kalshi logon flags
    CancelOrdersOnDisconnect = 8013
    ListenerSession = 20126
    ReceiveSettlementReports = 20127
    MessageRetentionPeriod = 20200
    UseDollars = 21005
    EnableIocCancelReport = 21007
    PreserveOriginalOrderQty = 21008
    SkipPendingExecReports = 21011
    UseExpiredOrdStatus = 21012
    AlwaysEmitNewBeforeTrade = 21026


class MsgType:
    Heartbeat = "0"
    TestRequest = "1"
    ResendRequest = "2"
    Reject = "3"
    SequenceReset = "4"
    Logout = "5"
    Logon = "A"
    ExecutionReport = "8"
    OrderCancelReject = "9"
    NewOrderSingle = "D"
    OrderCancelRequest = "F"
    OrderCancelReplaceRequest = "G"
    OrderStatusRequest = "H"
    BusinessMessageReject = "j"
    OrderMassCancelRequest = "q"
    OrderMassCancelReport = "r"


ADMIN_MSG_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})

HEADER_TAGS = (Tag.BeginString, Tag.BodyLength, Tag.MsgType, Tag.SenderCompID, Tag.TargetCompID,
               Tag.MsgSeqNum, Tag.SendingTime, Tag.PossDupFlag, Tag.PossResend, Tag.OrigSendingTime)


_GROUP_MEMBERS = {136: {137, 138, 139, 891}, 453: {448, 447, 452}, 1703: {1704, 1705}}


class CodecError(ValueError):
    """A frame on the wire is not valid FIX."""


class GarbledError(CodecError):
    """The bytes do not start like a FIX message (``8=`` then ``9=``) or a field is malformed."""


class BodyLengthError(CodecError):
    """BodyLength (9) does not match the bytes before CheckSum (10)."""


class ChecksumError(CodecError):
    """CheckSum (10) is not the byte sum modulo 256 of everything before it."""


class Message:
    """One decoded FIX message: ordered ``(int tag, str value)`` pairs plus the raw frame."""

    __slots__ = ("pairs", "raw", "_index")

    def __init__(self, pairs: Iterable[tuple[int, str]], raw: bytes = b"") -> None:
        self.pairs = list(pairs)
        self.raw = raw
        idx: dict[int, str] = {}
        for t, v in self.pairs:
            idx.setdefault(t, v)
        self._index = idx

    def get(self, tag: int, default: str | None = None) -> str | None:
        """First value of ``tag`` (header and body), else ``default``."""
        return self._index.get(tag, default)

    def get_all(self, tag: int) -> list[str]:
        """Every value of a repeating tag, in order."""
        return [v for t, v in self.pairs if t == tag]

    def __contains__(self, tag: int) -> bool:
        return tag in self._index

    def groups(self, count_tag: int, first_tag: int, members: Iterable[int] | None = None) -> list[dict[int, str]]:
        """A repeating group as a list of dicts: a new entry starts at each ``first_tag``; the
        group ends at the first tag that is not a member (known groups have defaults)."""
        allowed = set(members) if members is not None else _GROUP_MEMBERS.get(count_tag)
        out: list[dict[int, str]] = []
        inside = False
        for t, v in self.pairs:
            if t == count_tag:
                inside = True
                continue
            if not inside:
                continue
            if t == first_tag:
                out.append({t: v})
            elif out and t not in out[-1] and (allowed is None or t in allowed):
                out[-1][t] = v
            elif out:
                break
        return out

    @property
    def msg_type(self) -> str:
        return self._index.get(Tag.MsgType, "")

    @property
    def seq(self) -> int:
        try:
            return int(self._index.get(Tag.MsgSeqNum, "0"))
        except ValueError:
            return 0

    @property
    def poss_dup(self) -> bool:
        return self._index.get(Tag.PossDupFlag) == "Y"

    def to_string(self, sep: str = "|") -> str:
        """Human-readable form with the signature (96) masked."""
        return sep.join(f"{t}={'<signature>' if t == Tag.RawData else v}" for t, v in self.pairs)

    def __repr__(self) -> str:
        return f"Message({self.to_string()})"


def encode(msg_type: str, header: Iterable[tuple[int, object]], body: Iterable[tuple[int, object]],
           begin_string: str = BEGIN_STRING) -> bytes:
    """Encode one message: 8, 9, 35 first, then ``header`` fields in order, ``body``, then 10."""
    m = simplefix.FixMessage()
    m.append_pair(Tag.BeginString, begin_string, header=True)
    m.append_pair(Tag.MsgType, msg_type, header=True)
    for t, v in header:
        if v is not None:
            m.append_pair(t, v, header=True)
    for t, v in body:
        if v is not None:
            m.append_pair(t, v)
    return m.encode()


def _checksum(data: bytes) -> int:
    return sum(data) % 256


class FrameDecoder:
    """Incremental decoder: feed bytes with :meth:`feed`, iterate complete messages.

    ``max_body`` bounds BodyLength so a corrupt length cannot make the decoder wait forever for
    gigabytes. Errors raise from :meth:`messages` after the bad frame has been skipped, so the
    caller may log and continue (standard FIX: garbled messages are ignored) or disconnect.
    """

    def __init__(self, max_body: int = 1 << 20) -> None:
        self.buf = bytearray()
        self.max_body = max_body

    def feed(self, data: bytes) -> None:
        self.buf += data

    def _skip_to_next_start(self) -> None:
        i = self.buf.find(b"8=FIX", 1)
        if i < 0:
            del self.buf[:]
        else:
            del self.buf[:i]

    def next_message(self) -> Message | None:
        """The next complete message, ``None`` if more bytes are needed; raises CodecError."""
        buf = self.buf
        if not buf:
            return None
        if not buf.startswith(b"8="):
            if len(buf) < 2 and buf == b"8":
                return None
            self._skip_to_next_start()
            raise GarbledError("bytes before BeginString (8) discarded")
        e1 = buf.find(SOH)
        if e1 < 0:
            if len(buf) > 64:
                self._skip_to_next_start()
                raise GarbledError("BeginString (8) field not terminated")
            return None
        if buf[e1 + 1:e1 + 3] != b"9=":
            if len(buf) < e1 + 3:
                return None
            self._skip_to_next_start()
            raise GarbledError("second field is not BodyLength (9)")
        e2 = buf.find(SOH, e1 + 1)
        if e2 < 0:
            if len(buf) > e1 + 16:
                self._skip_to_next_start()
                raise GarbledError("BodyLength (9) field not terminated")
            return None
        try:
            body_len = int(buf[e1 + 3:e2])
        except ValueError:
            self._skip_to_next_start()
            raise GarbledError("BodyLength (9) is not a number") from None
        if body_len <= 0 or body_len > self.max_body:
            self._skip_to_next_start()
            raise BodyLengthError(f"BodyLength (9) {body_len} out of range")
        body_start = e2 + 1
        cs_start = body_start + body_len
        end = cs_start + 7  # "10=ccc\x01"
        if len(buf) < end:
            return None  # wait for more bytes (a too-short frame is caught once they arrive)
        if buf[cs_start:cs_start + 3] != b"10=" or buf[end - 1] != 1 or buf[cs_start - 1] != 1:
            self._skip_to_next_start()
            raise BodyLengthError(f"BodyLength (9) {body_len} does not end at the CheckSum (10) field")
        try:
            declared = int(buf[cs_start + 3:end - 1])
        except ValueError:
            self._skip_to_next_start()
            raise GarbledError("CheckSum (10) is not a number") from None
        actual = _checksum(buf[:cs_start])
        frame = bytes(buf[:end])
        del buf[:end]
        if declared != actual:
            raise ChecksumError(f"CheckSum (10) {declared:03d} does not match computed {actual:03d}")
        return _parse_frame(frame)

    def messages(self) -> Iterator[Message]:
        while True:
            m = self.next_message()
            if m is None:
                return
            yield m


class MalformedFieldError(GarbledError):
    """A complete frame (BodyLength and CheckSum right) with a field that is not ``<int>=<text>``:
    answered with a session Reject (373=0), not ignored like a garbled frame. ``frame`` is the
    raw message, ``seq`` its MsgSeqNum (34) when readable."""

    def __init__(self, text: str, frame: bytes) -> None:
        super().__init__(text)
        self.frame = frame
        m = _SEQ_RE.search(frame)
        self.seq = int(m.group(1)) if m else None
        m = _TYPE_RE.search(frame)
        self.msg_type = m.group(1).decode("ascii", "replace") if m else None


_SEQ_RE = re.compile(rb"\x0134=(\d{1,18})\x01")
_TYPE_RE = re.compile(rb"\x0135=([^\x01]{1,8})\x01")


def _parse_frame(frame: bytes) -> Message:
    p = simplefix.FixParser()
    p.append_buffer(frame)
    try:
        fm = p.get_message()
    except Exception as e:  # simplefix raises its own error types for malformed fields
        raise MalformedFieldError(f"malformed field: {type(e).__name__}", frame) from None
    if fm is None:
        raise MalformedFieldError("malformed field (no tag=value structure)", frame)
    pairs = []
    for t, v in fm.pairs:
        try:
            pairs.append((int(t), v.decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            raise MalformedFieldError(f"invalid tag number or undecodable value in field {t!r}", frame) from None
    if len(pairs) < 3 or pairs[2][0] != Tag.MsgType:
        raise GarbledError("MsgType (35) is not the third field")
    return Message(pairs, frame)


def decode(data: bytes) -> Message:
    """Decode exactly one complete frame (raises CodecError)."""
    d = FrameDecoder()
    d.feed(data)
    m = d.next_message()
    if m is None:
        raise BodyLengthError("incomplete message: fewer bytes than BodyLength (9) announces")
    if d.buf:
        raise GarbledError("trailing bytes after CheckSum (10)")
    return m


# ---- values ------------------------------------------------------------------------------------
def format_utc(ns: int) -> str:
    """UTCTimestamp with milliseconds: ``YYYYMMDD-HH:MM:SS.mmm``."""
    sec, rem = divmod(ns, 1_000_000_000)
    t = time.gmtime(sec)
    return f"{t.tm_year:04d}{t.tm_mon:02d}{t.tm_mday:02d}-{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{rem // 1_000_000:03d}"


def parse_utc(s: str) -> int:
    """UTCTimestamp (seconds, or with 3/6/9 fractional digits) -> int ns since the epoch."""
    base, _, frac = s.partition(".")
    try:
        dt = datetime.strptime(base, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad UTCTimestamp {s!r}") from None
    if frac and (not frac.isdigit() or len(frac) > 9):
        raise ValueError(f"bad UTCTimestamp {s!r}")
    return int(dt.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def logon_signature_payload(sending_time: str, msg_type: str, seq: int | str, sender: str, target: str) -> bytes:
    """Kalshi's signed text: ``SendingTime|MsgType|MsgSeqNum|SenderCompID|TargetCompID`` (SOH)."""
    return "\x01".join((sending_time, msg_type, str(seq), sender, target)).encode("utf-8")


def format_price(units: int, use_dollars: bool = False) -> str:
    """A YES price for tags 44/31/6: integer cents (Kalshi's default) or dollars (21005=Y).

    Raises ValueError for a sub-cent price in cents mode (the session cannot express it).
    """
    if use_dollars:
        d = Decimal(units) / DOLLAR
        return f"{d:.4f}".rstrip("0").rstrip(".") if units % CENT else f"{d:.2f}"
    if units % CENT:
        raise ValueError(f"price {units / DOLLAR:.4f} is finer than a cent; enable use_dollars (21005=Y)")
    return str(units // CENT)


def parse_price(text: str, use_dollars: bool = False) -> int:
    """Tag 44/31/6 text -> price units (cents by default, dollars with 21005=Y).

    Exact or refused (``ValueError``): NaN, infinities and absurd exponents such as ``1e999999``
    are rejected by :mod:`framework.units` before any big-number arithmetic."""
    return (dollars if use_dollars else cents)(text)


def format_qty(units: int, decimals: int | None = None) -> str:
    """Quantity units -> contracts text: ``'5'`` for whole contracts (as in Kalshi's example),
    ``'5.25'`` otherwise; ``decimals=2`` forces ``'5.00'``."""
    whole, frac = divmod(units, CONTRACT)
    if decimals is None:
        return str(whole) if frac == 0 else f"{whole}.{frac:02d}"
    d = Decimal(units) / CONTRACT
    return f"{d:.{decimals}f}"


def parse_qty(text: str) -> int:
    """Contracts text (``'10'``, ``'10.00'``) -> quantity units (0.01 contract); exact or
    ``ValueError`` (non-finite and absurdly large numbers included)."""
    return contracts(text)
