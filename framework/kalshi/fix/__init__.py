"""Kalshi FIX order entry: codec, session (FIXT.1.1 / FIX 5.0 SP2), sequence store, FixBroker.

See ``docs/fix.md``. Quick start::

    from framework.kalshi.auth import KalshiSigner
    from framework.kalshi.fix import FixBroker, FixConfig

    cfg = FixConfig.kalshi(key_id, session="NR", env="demo", store_path="fix-seq.sqlite")
    broker = FixBroker(cfg, KalshiSigner.from_key_file(key_id, "key.pem")).start()
"""

from .broker import EXCHANGE_UNAVAILABLE, FixBroker, OrderSnapshot, fix_side_price
from .codec import (
    BodyLengthError,
    ChecksumError,
    CodecError,
    FrameDecoder,
    GarbledError,
    Message,
    MsgType,
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
from .config import HOSTS, SESSIONS, FixConfig, is_loopback
from .session import (
    FixSession,
    FixSessionError,
    LogonError,
    NotLoggedOn,
    SendFailed,
    SessionState,
    open_socket,
)
from .store import SeqStore

__all__ = [
    "EXCHANGE_UNAVAILABLE",
    "HOSTS",
    "SESSIONS",
    "BodyLengthError",
    "ChecksumError",
    "CodecError",
    "FixBroker",
    "FixConfig",
    "FixSession",
    "FixSessionError",
    "FrameDecoder",
    "GarbledError",
    "LogonError",
    "Message",
    "MsgType",
    "NotLoggedOn",
    "OrderSnapshot",
    "SendFailed",
    "SeqStore",
    "SessionState",
    "Tag",
    "decode",
    "encode",
    "fix_side_price",
    "format_price",
    "format_qty",
    "format_utc",
    "is_loopback",
    "logon_signature_payload",
    "open_socket",
    "parse_price",
    "parse_qty",
    "parse_utc",
]
