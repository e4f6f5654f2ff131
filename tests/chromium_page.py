"""Load a page in headless Chromium over the DevTools protocol; report broken images and console errors.

Used by tests/test_report_browser.py. Chromium is the system package (/usr/bin/chromium; .ci/run
installs it when missing). It is started with a fresh profile, no network services, and
``--remote-debugging-port=0``; the page target's WebSocket is driven with ``websockets``' sync
client (already a dependency). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("KALSHI_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]

_CHECK_IMAGES = """JSON.stringify(Array.from(document.images).map(i => ({
  alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))"""


@dataclass
class PageCheck:
    images: list[dict] = field(default_factory=list)  # {alt, complete, width, height}
    console_errors: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["complete"] or i["width"] == 0 or i["height"] == 0]


def available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def check_page(path: str | Path, timeout: float = 90.0) -> PageCheck:
    """Open ``path`` (a local HTML file) and return its images' load state and every console
    error, uncaught exception and error-level log entry (failed loads included)."""
    from websockets.sync.client import connect

    profile = tempfile.mkdtemp(prefix="kalshi-chromium-")
    log = open(Path(profile) / "chromium-stderr.log", "w+")  # a file, not a pipe: never fills up and blocks
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        port = _devtools_port(proc, Path(profile), log, timeout)
        page_ws = _page_target(port, timeout)
        out = PageCheck()
        with connect(page_ws, max_size=None, open_timeout=timeout) as ws:
            ids = iter(range(1, 1_000_000))

            def send(method: str, **params) -> int:
                i = next(ids)
                ws.send(json.dumps({"id": i, "method": method, "params": params}))
                return i

            def until(pred, what: str):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                    _collect(msg, out)
                    if pred(msg):
                        return msg
                raise TimeoutError(f"chromium: no {what} within {timeout} s")

            for m in ("Runtime.enable", "Log.enable", "Page.enable"):
                i = send(m)
                until(lambda msg, i=i: msg.get("id") == i, m)
            send("Page.navigate", url=Path(path).resolve().as_uri())
            until(lambda msg: msg.get("method") == "Page.loadEventFired", "load event")
            i = send("Runtime.evaluate", expression=_CHECK_IMAGES, returnByValue=True)
            res = until(lambda msg: msg.get("id") == i, "image check")
            out.images = json.loads(res["result"]["result"]["value"])
            i = send("Runtime.evaluate", expression="document.title", returnByValue=True)
            out.title = until(lambda msg: msg.get("id") == i, "title")["result"]["result"]["value"]
            # let late console messages arrive
            i = send("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 200))", awaitPromise=True)
            until(lambda msg: msg.get("id") == i, "settle")
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def _collect(msg: dict, out: PageCheck) -> None:
    method, p = msg.get("method"), msg.get("params", {})
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        out.console_errors.append("console." + p["type"] + ": " + " ".join(
            str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
    elif method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        out.console_errors.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        e = p["entry"]
        out.console_errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())


def _devtools_port(proc: subprocess.Popen, profile: Path, log, timeout: float) -> int:
    """Chromium writes the port it picked to <profile>/DevToolsActivePort."""
    deadline = time.monotonic() + timeout
    f = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if f.is_file():
            first = f.read_text().splitlines()[:1]
            if first and first[0].isdigit():
                return int(first[0])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    raise RuntimeError("chromium did not start its DevTools endpoint:\n" + "".join(log.readlines()[-20:]))


def _page_target(port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            targets = json.load(r)
        pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise RuntimeError("chromium has no page target")
