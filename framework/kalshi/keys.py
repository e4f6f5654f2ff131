"""Where an API key comes from: one resolver for every command that signs requests.

``kalshi live | paper | run | doctor | record | download | fix-check`` (and the Python API behind
them) all call :func:`resolve_credentials`, which looks in this order and takes the first source
that has something:

1. the command's flags (``--key-id`` / ``--key-file``) or the Python arguments;
2. the run config (``[live] key_id`` / ``key_file``), for the mode commands;
3. the environment: ``KALSHI_API_KEY_ID``, and ``KALSHI_PRIVATE_KEY_PATH`` (a PEM file) or
   ``KALSHI_PRIVATE_KEY`` (the PEM text itself);
4. the old names ``KALSHI_KEY_ID`` / ``KALSHI_KEY_FILE`` (read by ``kalshi live`` before; still
   accepted, with a deprecation warning);
5. for ``--env local`` only: the key the local exchange generated. ``kalshi exchange`` publishes
   it in a well-known file, ``local-key.json`` in its state directory (``$KALSHI_LOCAL_STATE_DIR``,
   else ``~/.kalshi-local``): ``{"key_id": ..., "private_key_path": ...}``. Reading it needs no
   import of the exchange package, so ``framework.data`` and ``framework.live`` stay independent
   of the test exchange.

The key id and the private key are looked up separately (an id from a flag and the file from
the environment is fine); the local exchange's pair is used only as a pair, when neither was
found elsewhere. When something is missing, the error (:class:`KeyNotFound`) names every place
that was consulted and what to set; it never contains key material. A key file that group or
others may read is accepted with a warning (``chmod 600``).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .auth import KEY_ID_ENV, KEY_PATH_ENV, KEY_PEM_ENV, KalshiSigner, load_private_key
from .errors import AuthError

__all__ = [
    "DEPRECATED_ID_ENV",
    "DEPRECATED_PATH_ENV",
    "LOCAL_KEY_FILE",
    "STATE_ENV",
    "Credentials",
    "KeyNotFound",
    "default_state_dir",
    "key_file_warning",
    "load_local_credentials",
    "local_key_file",
    "resolve_credentials",
]

log = logging.getLogger(__name__)

DEPRECATED_ID_ENV = "KALSHI_KEY_ID"  # read by `kalshi live` until Dec 2026
DEPRECATED_PATH_ENV = "KALSHI_KEY_FILE"
LOCAL_KEY_FILE = "local-key.json"
STATE_ENV = "KALSHI_LOCAL_STATE_DIR"


class KeyNotFound(AuthError):
    """No usable key (or only half of one); the message lists every source consulted."""


def default_state_dir() -> Path:
    """``$KALSHI_LOCAL_STATE_DIR``, else ``~/.kalshi-local`` (``./.kalshi-local`` if home is unusable)."""
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    try:
        home = Path.home()
        if home.is_dir() and os.access(home, os.W_OK):
            return home / ".kalshi-local"
    except (RuntimeError, OSError):
        pass
    return Path.cwd() / ".kalshi-local"


def local_key_file(state_dir: str | os.PathLike[str] | None = None) -> Path:
    """The well-known file in which the local exchange publishes its key's location."""
    return (Path(state_dir) if state_dir is not None else default_state_dir()) / LOCAL_KEY_FILE


def load_local_credentials(state_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """``(key_id, private_key_path)`` published by the local exchange; ``FileNotFoundError`` with a
    hint when it has never been started."""
    meta = local_key_file(state_dir)
    if not meta.is_file():
        raise FileNotFoundError(f"no local exchange key at {meta}; start the local exchange first: `kalshi exchange`")
    info = json.loads(meta.read_text())
    return str(info["key_id"]), str(info["private_key_path"])


def key_file_warning(path: str | os.PathLike[str]) -> str | None:
    """A warning when the key file may be read by group or others (``None`` when it is private)."""
    try:
        mode = os.stat(Path(path).expanduser()).st_mode
    except OSError:
        return None  # missing/unreadable: loading it reports that
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (f"the private key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                f"restrict it: chmod 600 {path}")
    return None


@dataclass(frozen=True)
class Credentials:
    """A resolved key: the id, where the private key is (a file, or PEM text), and where each was found.

    ``repr()`` never shows the PEM text."""

    key_id: str
    key_path: Path | None
    source: str  # human-readable: where the key id and the private key were found
    pem: str | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    def private_key(self, passphrase: str | bytes | None = None):
        """The RSA private key (``AuthError`` with a message that names the source when unusable)."""
        if self.pem is not None:
            return load_private_key(pem=self.pem, passphrase=passphrase)
        return load_private_key(self.key_path, passphrase=passphrase)

    def signer(self, passphrase: str | bytes | None = None) -> KalshiSigner:
        return KalshiSigner(self.key_id, self.private_key(passphrase))

    @property
    def key_where(self) -> str:
        """Where the private key is, for messages: the file path or ``$KALSHI_PRIVATE_KEY``."""
        return str(self.key_path) if self.key_path is not None else f"${KEY_PEM_ENV}"


def resolve_credentials(env_name: str | None = None, *, key_id: str | None = None,
                        key_file: str | os.PathLike[str] | None = None,
                        config_key_id: str | None = None, config_key_file: str | os.PathLike[str] | None = None,
                        config_where: str | None = None, local: bool | None = None,
                        local_state_dir: str | os.PathLike[str] | None = None, required: bool = True,
                        flags: tuple[str, str] = ("--key-id", "--key-file"),
                        environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Find the API key (see the module docstring for the order).

    ``env_name == "local"`` (or ``local=True``) adds the local exchange's key as the last source.
    ``required=False`` returns ``None`` when no source has anything at all (half a key is still an
    error). Raises :class:`KeyNotFound` naming what was consulted. Warnings (a deprecated variable,
    a key file readable by others) are logged and kept in :attr:`Credentials.warnings`.
    """
    env = os.environ if environ is None else environ
    use_local = (env_name == "local") if local is None else local
    cfg = f"[live] key_id / key_file in {config_where}" if config_where else "[live] key_id / key_file"
    # (label, key id, key path, PEM text)
    sources: list[tuple[str, str | None, str | None, str | None]] = [
        (f"{flags[0]} / {flags[1]}", key_id, None if key_file is None else str(key_file), None),
        (cfg, config_key_id, None if config_key_file is None else str(config_key_file), None),
        (f"${KEY_ID_ENV} / ${KEY_PATH_ENV} / ${KEY_PEM_ENV}", env.get(KEY_ID_ENV) or None,
         env.get(KEY_PATH_ENV) or None, env.get(KEY_PEM_ENV) or None),
        (f"${DEPRECATED_ID_ENV} / ${DEPRECATED_PATH_ENV} (deprecated)", env.get(DEPRECATED_ID_ENV) or None,
         env.get(DEPRECATED_PATH_ENV) or None, None),
    ]
    warnings: list[str] = []
    kid = kid_from = path = pem = key_from = None
    for label, s_id, s_path, s_pem in sources:
        if kid is None and s_id:
            kid, kid_from = str(s_id).strip(), label
        if path is None and pem is None and (s_path or s_pem):
            path, pem, key_from = s_path, (None if s_path else s_pem), label
    old_label = sources[3][0]
    if kid_from == old_label:
        warnings.append(f"${DEPRECATED_ID_ENV} is deprecated: set ${KEY_ID_ENV} instead")
    if key_from == old_label:
        warnings.append(f"${DEPRECATED_PATH_ENV} is deprecated: set ${KEY_PATH_ENV} instead")
    consulted = [label for label, *_ in sources]
    if kid is None and path is None and pem is None and use_local:
        meta = local_key_file(local_state_dir)
        consulted.append(f"the local exchange's key file {meta}")
        try:
            lkid, lpath = load_local_credentials(local_state_dir)
        except FileNotFoundError:
            lkid = lpath = None
            consulted[-1] += " (no local exchange key there: start `kalshi exchange`)"
        except (ValueError, KeyError, OSError) as e:
            raise KeyNotFound(f"cannot read the local exchange's key file {meta}: {type(e).__name__}: {e}; "
                              "restart `kalshi exchange` to rewrite it") from None
        if lkid:
            kid, path = lkid, lpath
            kid_from = key_from = f"the local exchange's key ({meta})"
    if kid is None and path is None and pem is None:
        if not required:
            return None
        raise KeyNotFound(f"no Kalshi API key found{_for(env_name)}. Consulted: {'; '.join(consulted)}. "
                          f"Pass {flags[0]} and {flags[1]}, or set ${KEY_ID_ENV} and ${KEY_PATH_ENV} "
                          "(see docs/kalshi.md)")
    if kid is None:
        raise KeyNotFound(f"no Kalshi API key id found{_for(env_name)} (the private key came from {key_from}). "
                          f"Consulted: {'; '.join(consulted)}. Pass {flags[0]} or set ${KEY_ID_ENV}")
    if path is None and pem is None:
        raise KeyNotFound(f"no private key found{_for(env_name)} for key id {kid} (from {kid_from}). "
                          f"Consulted: {'; '.join(consulted)}. Pass {flags[1]}, or set ${KEY_PATH_ENV} to the "
                          f"PEM file's path (or ${KEY_PEM_ENV} to its text)")
    key_path = Path(path).expanduser() if path is not None else None
    if key_path is not None:
        w = key_file_warning(key_path)
        if w:
            warnings.append(w)
    for w in warnings:
        log.warning("%s", w)
    source = f"key id from {kid_from}, private key from {key_from}" if kid_from != key_from else kid_from
    return Credentials(kid, key_path, source, pem, tuple(warnings))


def _for(env_name: str | None) -> str:
    return f" for env {env_name}" if env_name else ""
