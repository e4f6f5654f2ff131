"""The kill switch: one way to stop a live run from outside, three ways to pull it.

* ``kalshi kill`` connects to the run's control socket (``<state_dir>/control.sock``, a Unix
  socket only the user can reach), sends ``kill <reason>`` and prints the run's summary when the
  run has finished shutting down;
* a file named ``KILL`` in the state directory (``touch <state_dir>/KILL``) is noticed within
  ``check_interval`` seconds (``kalshi kill`` writes it when the socket is unreachable);
* SIGINT (Ctrl-C) and SIGTERM; a second SIGINT interrupts at once.

When pulled, the runner halts the risk gate (no new orders), cancels every open order, waits
for the answers, flushes the journal, writes ``summary.json`` and exits. A ``KILL`` file left
from an earlier run makes the next start refuse to trade until it is removed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

__all__ = ["KILL_FILE", "SOCKET_NAME", "KillSwitch", "query_status", "send_kill"]

log = logging.getLogger(__name__)

KILL_FILE = "KILL"
SOCKET_NAME = "control.sock"
_MAX_UNIX_PATH = 100


class KillSwitch:
    """Watches the control socket, the kill file and signals for one run."""

    def __init__(self, state_dir: str | Path, *, check_interval: float = 0.2, use_socket: bool = True,
                 reply_timeout: float = 60.0) -> None:
        self.state_dir = Path(state_dir)
        self.kill_file = self.state_dir / KILL_FILE
        self.socket_path = self.state_dir / SOCKET_NAME
        self.check_interval = check_interval
        self.use_socket = use_socket
        self.reply_timeout = reply_timeout
        self.reason: str | None = None
        self._event = threading.Event()
        self._done = threading.Event()
        self.summary: dict | None = None
        self._next_check = 0.0
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._old_handlers: dict[int, object] = {}
        self._sigints = 0
        self.status: dict = {"state": "starting"}

    # ---- setup ---------------------------------------------------------------------------------
    def start(self, install_signals: bool = True) -> KillSwitch:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.kill_file.exists():
            raise RuntimeError(f"kill file {self.kill_file} exists (an earlier run was killed); remove it to "
                               "trade again")
        if self.use_socket:
            self._start_socket()
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old_handlers[sig] = signal.getsignal(sig)
                signal.signal(sig, self._on_signal)
        return self

    def _start_socket(self) -> None:
        path = str(self.socket_path)
        if len(path) > _MAX_UNIX_PATH or not hasattr(socket, "AF_UNIX"):
            log.warning("control socket path too long or unsupported (%s); use the kill file %s", path,
                        self.kill_file)
            return
        if self.socket_path.exists():
            try:  # a live run already owns it?
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.settimeout(1)
                probe.connect(path)
                probe.close()
                raise RuntimeError(f"another run is using {self.state_dir} (its control socket answers); "
                                   "stop it or use another state_dir")
            except OSError:
                self.socket_path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            srv.bind(path)
        finally:
            os.umask(old_umask)
        srv.listen(4)
        srv.settimeout(0.2)
        self._server = srv
        self._thread = threading.Thread(target=self._serve, name="kill-switch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._done.set()
        srv, self._server = self._server, None
        if srv is not None:
            try:
                srv.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self.socket_path.unlink(missing_ok=True)
        for sig, handler in self._old_handlers.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, TypeError):
                pass
        self._old_handlers.clear()

    # ---- pulling it ----------------------------------------------------------------------------
    def trigger(self, reason: str = "kill switch") -> None:
        if not self._event.is_set():
            self.reason = reason
            log.warning("kill switch: %s", reason)
            self._event.set()

    def _on_signal(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGINT:
            self._sigints += 1
            if self._sigints > 1:
                raise KeyboardInterrupt
        self.trigger(name)

    @property
    def triggered(self) -> bool:
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            if self.kill_file.exists():
                try:
                    text = self.kill_file.read_text().strip()
                except OSError:
                    text = ""
                self.trigger(f"kill file{': ' + text if text else ''}")
        return self._event.is_set()

    def finished(self, summary: dict) -> None:
        """The run has shut down: answer waiting ``kalshi kill`` clients with ``summary``."""
        self.summary = summary
        self._done.set()

    # ---- control socket ----------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._done.is_set() or self._server is not None:
            srv = self._server
            if srv is None:
                return
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            data = b""
            while not data.endswith(b"\n") and len(data) < 4096:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            cmd, _, arg = data.decode("utf-8", "replace").strip().partition(" ")
            if cmd == "kill":
                self.trigger(f"kalshi kill{': ' + arg if arg else ''}")
                self._done.wait(self.reply_timeout)
                reply = {"ok": True, "summary": self.summary} if self.summary is not None else \
                    {"ok": True, "summary": None, "note": "kill accepted; the run is still shutting down"}
            elif cmd == "status":
                reply = {"ok": True, "status": self.status, "killed": self._event.is_set()}
            else:
                reply = {"ok": False, "error": f"unknown command {cmd!r}; use 'kill [reason]' or 'status'"}
            conn.settimeout(5)
            conn.sendall((json.dumps(reply, default=str) + "\n").encode())
        except OSError:
            pass
        finally:
            conn.close()


def send_kill(state_dir: str | Path, reason: str = "", timeout: float = 60.0) -> dict:
    """Pull the kill switch of the run using ``state_dir``. Returns its reply (with the summary).

    Falls back to writing the kill file when the control socket does not answer."""
    d = Path(state_dir)
    path = d / SOCKET_NAME
    if path.exists() and hasattr(socket, "AF_UNIX"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            s.sendall(f"kill {reason}".strip().encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data:
                return json.loads(data)
        except OSError as e:
            log.info("control socket %s did not answer (%s); writing the kill file", path, e)
        finally:
            s.close()
    d.mkdir(parents=True, exist_ok=True)
    (d / KILL_FILE).write_text(reason + "\n")
    return {"ok": True, "summary": None,
            "note": f"no run answered on {path}; wrote {d / KILL_FILE} (a running process stops within a "
                    "second; the next start refuses to trade until the file is removed)"}


def query_status(state_dir: str | Path, timeout: float = 5.0) -> dict | None:
    """The run's status over its control socket (``None`` when no run answers)."""
    path = Path(state_dir) / SOCKET_NAME
    if not path.exists() or not hasattr(socket, "AF_UNIX"):
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        s.sendall(b"status\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    finally:
        s.close()
