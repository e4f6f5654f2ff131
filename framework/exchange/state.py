"""Where the local exchange keeps its generated API key.

``kalshi exchange`` (with no ``--register-key``) creates an RSA key pair in the state directory
and writes ``local-key.json`` ``{"key_id": ..., "private_key_path": ...}`` next to it, so that
``--env local`` can find the key by itself via :func:`load_local_credentials`.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

__all__ = ["LOCAL_KEY_FILE", "default_state_dir", "ensure_local_key", "load_local_credentials"]

LOCAL_KEY_FILE = "local-key.json"
STATE_ENV = "KALSHI_LOCAL_STATE_DIR"


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


def ensure_local_key(state_dir: str | os.PathLike[str] | None = None) -> tuple[str, Path, Path]:
    """Reuse or create the local key pair; returns ``(key_id, private_path, public_path)``."""
    from framework.kalshi.auth import generate_key_pair

    d = Path(state_dir) if state_dir is not None else default_state_dir()
    meta = d / LOCAL_KEY_FILE
    if meta.is_file():
        try:
            info = json.loads(meta.read_text())
            priv = Path(info["private_key_path"])
            pub = Path(info.get("public_key_path") or priv.with_name(priv.name.replace("_private", "_public")))
            if priv.is_file() and pub.is_file():
                return str(info["key_id"]), priv, pub
        except (ValueError, KeyError, OSError):
            pass
    d.mkdir(parents=True, exist_ok=True)
    priv, pub = generate_key_pair(d, name="local")
    key_id = str(uuid.uuid4())
    meta.write_text(json.dumps({"key_id": key_id, "private_key_path": str(priv.resolve()),
                                "public_key_path": str(pub.resolve())}, indent=2) + "\n")
    return key_id, priv.resolve(), pub.resolve()


def load_local_credentials(state_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """``(key_id, private_key_path)`` written by the local exchange; ``FileNotFoundError`` with a
    hint when it has never been started."""
    d = Path(state_dir) if state_dir is not None else default_state_dir()
    meta = d / LOCAL_KEY_FILE
    if not meta.is_file():
        raise FileNotFoundError(f"no local exchange key at {meta}; start the local exchange first: `kalshi exchange`")
    info = json.loads(meta.read_text())
    return str(info["key_id"]), str(info["private_key_path"])
