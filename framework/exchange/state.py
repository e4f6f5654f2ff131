"""Where the local exchange keeps its generated API key.

``kalshi exchange`` (with no ``--register-key``) creates an RSA key pair in the state directory
and publishes ``local-key.json`` ``{"key_id": ..., "private_key_path": ...}`` next to it. Clients
find it through :mod:`framework.kalshi.keys` (the one key resolver), which reads that file
without importing this package; ``default_state_dir`` and ``load_local_credentials`` are
re-exported here for existing callers.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from framework.kalshi.keys import LOCAL_KEY_FILE, STATE_ENV, default_state_dir, load_local_credentials

__all__ = ["LOCAL_KEY_FILE", "STATE_ENV", "default_state_dir", "ensure_local_key", "load_local_credentials"]


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
