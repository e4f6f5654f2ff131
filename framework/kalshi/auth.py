"""Kalshi API key handling and RSA-PSS request signing.

Every authenticated request carries three headers:

* ``KALSHI-ACCESS-KEY``: the API key id (a UUID shown when the key is created);
* ``KALSHI-ACCESS-TIMESTAMP``: Unix time in **milliseconds**;
* ``KALSHI-ACCESS-SIGNATURE``: base64 of RSA-PSS(SHA-256, MGF1-SHA-256, salt length 32) over
  ``timestamp_ms + METHOD + path``, where ``path`` starts at the host root (so it includes
  ``/trade-api/v2``) and has the query string cut off. The body is not signed.

Key material and signatures never appear in ``repr()``, ``str()``, log records or exception
messages produced here. The ``websockets`` library logs every handshake header at DEBUG (the
signed upgrade request on ``websockets.client``, what a server received on ``websockets.server``);
importing this module attaches :class:`RedactSignatureFilter` to those loggers, so ``--debug``
(or any DEBUG logging configuration) shows ``KALSHI-ACCESS-SIGNATURE: <redacted>``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import AuthError

__all__ = [
    "AuthError",
    "KEY_FILE_FLAG",
    "KEY_ID_ENV",
    "KEY_PASSPHRASE_ENV",
    "KEY_PATH_ENV",
    "KEY_PEM_ENV",
    "KalshiSigner",
    "RedactSignatureFilter",
    "generate_key_pair",
    "load_private_key",
    "load_public_key",
    "verify_request",
    "verify_signature",
]

KEY_PATH_ENV = "KALSHI_PRIVATE_KEY_PATH"  # path of the PEM file
KEY_PEM_ENV = "KALSHI_PRIVATE_KEY"  # the PEM text itself
KEY_PASSPHRASE_ENV = "KALSHI_PRIVATE_KEY_PASSPHRASE"  # passphrase of an encrypted key
KEY_ID_ENV = "KALSHI_API_KEY_ID"  # the API key id
KEY_FILE_FLAG = "--key-file"  # the CLI flag named in error messages

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"


#: loggers of libraries that log request headers at DEBUG (websockets' handshake dumps)
HEADER_LOGGERS = ("websockets.client", "websockets.server")
REDACTED = "<redacted>"
_SIGNATURE_RE = re.compile(r"(kalshi-access-signature\W*)[^\s,;'\"}\]]+", re.IGNORECASE)


class RedactSignatureFilter(logging.Filter):
    """Rewrites a log record so that no ``KALSHI-ACCESS-SIGNATURE`` value survives: websockets'
    ``"> %s: %s"`` header lines get ``<redacted>`` as the value, and any other message naming the
    header has what follows it replaced. Records are kept (the handshake stays debuggable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (isinstance(args, tuple) and len(args) >= 2 and isinstance(args[0], str)
                and args[0].lower() == HEADER_SIGNATURE.lower()):
            record.args = (args[0], REDACTED, *args[2:])
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        if HEADER_SIGNATURE.lower() in text.lower():
            record.msg, record.args = _SIGNATURE_RE.sub(lambda m: m.group(1) + REDACTED, text), None
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactSignatureFilter` to :data:`HEADER_LOGGERS` (idempotent)."""
    for name in HEADER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSignatureFilter) for f in logger.filters):
            logger.addFilter(RedactSignatureFilter())


install_log_redaction()  # whoever signs requests imports this module first


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)


def _parse_private_pem(data: bytes, passphrase: str | bytes | None, source: str) -> rsa.RSAPrivateKey:
    """Parse PEM bytes; error messages name ``source`` but never include the data."""
    text = data.lstrip()
    if not text:
        raise AuthError(f"the private key from {source} is empty")
    if b"-----BEGIN" not in data:
        raise AuthError(
            f"the private key from {source} is not a PEM file: expected a block whose header line "
            "names an RSA private key (PKCS#1) or a private key (PKCS#8), as downloaded "
            "when the API key was created on Kalshi"
        )
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        raise AuthError(
            f"the private key from {source} is in OpenSSH format; convert it to PEM with "
            "'ssh-keygen -p -m PEM -f FILE' or use the PEM file Kalshi gave you"
        )
    if b"PRIVATE KEY" not in data:
        what = (
            "a public key or certificate"
            if (b"PUBLIC KEY" in data or b"CERTIFICATE" in data)
            else "not a private key"
        )
        raise AuthError(
            f"the PEM from {source} is {what}; pass the RSA *private* key file downloaded when "
            "the API key was created"
        )
    pw = _as_bytes(passphrase) if passphrase not in (None, "", b"") else None
    try:
        try:
            key = serialization.load_pem_private_key(data, password=pw)
        except TypeError as e:
            if pw is not None and "not encrypted" in str(e):
                key = serialization.load_pem_private_key(data, password=None)  # passphrase not needed
            else:
                raise AuthError(
                    f"the private key from {source} is encrypted; give its passphrase "
                    f"(passphrase=... or environment variable {KEY_PASSPHRASE_ENV})"
                ) from None
    except AuthError:
        raise
    except (ValueError, UnsupportedAlgorithm) as e:
        msg = str(e).lower()
        if pw is not None and ("decrypt" in msg or "password" in msg or b"ENCRYPTED" in data):
            raise AuthError(f"wrong passphrase for the private key from {source}") from None
        raise AuthError(
            f"could not parse the private key from {source}: the PEM block is damaged or not "
            "a PKCS#1/PKCS#8 RSA private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(
            f"the private key from {source} is a {type(key).__name__.lstrip('_')}, not an RSA key; "
            "Kalshi API keys are RSA"
        )
    return key


def load_private_key(
    path: str | os.PathLike[str] | None = None,
    *,
    pem: str | bytes | None = None,
    passphrase: str | bytes | None = None,
    env_var: str = KEY_PATH_ENV,
) -> rsa.RSAPrivateKey:
    """Load an RSA private key (PEM, PKCS#1 or PKCS#8, optionally encrypted).

    Sources, first found wins: ``pem`` (the PEM text), ``path``, the file named by the
    environment variable ``env_var`` (default ``KALSHI_PRIVATE_KEY_PATH``), the PEM text in
    ``KALSHI_PRIVATE_KEY``. ``passphrase`` defaults to ``KALSHI_PRIVATE_KEY_PASSPHRASE``.
    Raises :class:`AuthError` with a message that says what to fix; the message never
    contains key material.
    """
    if passphrase is None:
        passphrase = os.environ.get(KEY_PASSPHRASE_ENV) or None
    if pem is not None:
        return _parse_private_pem(_as_bytes(pem), passphrase, "the pem argument")
    source_desc = None
    if path is None:
        env_path = os.environ.get(env_var)
        if env_path:
            path, source_desc = env_path, f"${env_var}"
    if path is None:
        env_pem = os.environ.get(KEY_PEM_ENV)
        if env_pem:
            return _parse_private_pem(_as_bytes(env_pem), passphrase, f"${KEY_PEM_ENV}")
        raise AuthError(
            f"no Kalshi private key given: pass a key file ({KEY_FILE_FLAG} PATH), or set "
            f"{env_var} to the file's path, or set {KEY_PEM_ENV} to the PEM text"
        )
    p = Path(path).expanduser()
    where = f"{p}" + (f" (from {source_desc})" if source_desc else "")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise AuthError(
            f"private key file not found: {where}. Consulted: the path given ({KEY_FILE_FLAG}), "
            f"${env_var}, ${KEY_PEM_ENV}"
        ) from None
    except IsADirectoryError:
        raise AuthError(f"private key path is a directory, not a file: {where}") from None
    except PermissionError:
        raise AuthError(f"no permission to read the private key file {where}") from None
    except OSError as e:
        raise AuthError(f"cannot read the private key file {where}: {e.strerror}") from None
    return _parse_private_pem(data, passphrase, f"file {where}")


def load_public_key(path_or_pem: str | bytes | os.PathLike[str]) -> rsa.RSAPublicKey:
    """Load an RSA public key from a PEM file path or PEM text (SubjectPublicKeyInfo or PKCS#1).

    A private key PEM is accepted too (its public half is returned).
    """
    if isinstance(path_or_pem, (bytes, bytearray)):
        data = bytes(path_or_pem)
        source = "the PEM given"
    elif isinstance(path_or_pem, str) and "-----BEGIN" in path_or_pem:
        data = path_or_pem.encode("utf-8")
        source = "the PEM given"
    else:
        p = Path(path_or_pem).expanduser()
        try:
            data = p.read_bytes()
        except OSError as e:
            raise AuthError(f"cannot read public key file {p}: {e.strerror or type(e).__name__}") from None
        source = f"file {p}"
    if b"PRIVATE KEY" in data:
        return _parse_private_pem(data, None, source).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise AuthError(f"could not parse an RSA public key (PEM) from {source}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AuthError(f"the public key from {source} is not an RSA key")
    return key


def _strip_query(path: str) -> str:
    return path.split("?", 1)[0]


def signing_message(timestamp_ms: str | int, method: str, path: str) -> bytes:
    """The exact bytes Kalshi signs: ``timestamp_ms + METHOD + path_without_query``."""
    return f"{timestamp_ms}{method.upper()}{_strip_query(path)}".encode()


class KalshiSigner:
    """Signs Kalshi requests with an API key id and its RSA private key.

    ``headers(method, path)`` returns the three ``KALSHI-ACCESS-*`` headers. ``path`` is the
    full path from the host root (``/trade-api/v2/portfolio/orders``); a query string is cut
    off. ``repr()``/``str()`` show only the key id.
    """

    __slots__ = ("_key", "_key_id", "_clock_ms")

    def __init__(self, key_id: str, private_key: rsa.RSAPrivateKey, *, clock_ms=None):
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise AuthError("KalshiSigner needs an RSA private key object; load one with load_private_key()")
        key_id = str(key_id or "").strip()
        if not key_id:
            raise AuthError(f"no Kalshi API key id given (pass key_id or set {KEY_ID_ENV})")
        self._key_id = key_id
        self._key = private_key
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)

    @classmethod
    def from_key_file(
        cls,
        key_id: str | None = None,
        path: str | os.PathLike[str] | None = None,
        *,
        pem: str | bytes | None = None,
        passphrase: str | bytes | None = None,
    ) -> KalshiSigner:
        """Load the key (see :func:`load_private_key`); ``key_id`` defaults to ``$KALSHI_API_KEY_ID``."""
        key_id = key_id or os.environ.get(KEY_ID_ENV)
        if not key_id:
            raise AuthError(f"no Kalshi API key id given (pass key_id or set {KEY_ID_ENV})")
        return cls(key_id, load_private_key(path, pem=pem, passphrase=passphrase))

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def sign_message(self, message: bytes) -> str:
        """Base64 RSA-PSS-SHA256 signature of ``message`` (used by the FIX logon too)."""
        if isinstance(message, str):
            message = message.encode("utf-8")
        sig = self._key.sign(bytes(message), _pss(), hashes.SHA256())
        return base64.b64encode(sig).decode("ascii")

    def headers(self, method: str, path: str, timestamp_ms: int | str | None = None) -> dict[str, str]:
        """The ``KALSHI-ACCESS-*`` headers for one request."""
        ts = str(self._clock_ms() if timestamp_ms is None else int(timestamp_ms))
        return {
            HEADER_KEY: self._key_id,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: self.sign_message(signing_message(ts, method, path)),
        }

    def __repr__(self) -> str:
        return f"KalshiSigner(key_id={self._key_id!r})"

    __str__ = __repr__

    def __reduce__(self):  # never pickle key material by accident
        raise TypeError("KalshiSigner holds a private key and cannot be pickled")


def verify_signature(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid Kalshi RSA-PSS signature of ``message``."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return False
    try:
        public_key.verify(sig, bytes(message), _pss(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verify_request(
    public_key: rsa.RSAPublicKey, timestamp_ms: str, method: str, path: str, signature_b64: str
) -> bool:
    """Verify the headers of a request the way Kalshi does (``path`` may carry a query)."""
    if not timestamp_ms or not str(timestamp_ms).isdigit():
        return False
    return verify_signature(public_key, signing_message(timestamp_ms, method, path), signature_b64)


def generate_key_pair(directory: str | os.PathLike[str], name: str = "kalshi") -> tuple[Path, Path]:
    """Create a 2048-bit RSA key pair in ``directory``.

    Writes ``{name}_private.pem`` (PKCS#8, unencrypted, mode 0600) and ``{name}_public.pem``
    (SubjectPublicKeyInfo) and returns ``(private_path, public_path)``. For the local exchange
    and tests; real keys are created on Kalshi's website.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = d / f"{name}_private.pem"
    pub = d / f"{name}_public.pem"
    priv_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv_bytes)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub
