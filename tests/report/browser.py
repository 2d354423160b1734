"""Headless Chromium driven over the DevTools protocol, for the report tests.

Chromium runs with ``--remote-debugging-pipe``: the protocol's JSON messages, each ended
by a NUL byte, go out on file descriptor 3 and come back on 4, so no port, no websocket
library and no network are needed. :func:`open_page` loads one file and returns what a
test checks: console errors, every request the page made, the values of its
``data-value`` elements and a full-page screenshot.

Example:
    with Chromium() as browser:
        page = browser.open_page(Path("report.html"), Path("results/report.png"))
    assert not page.errors
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Chromium", "Page", "chromium_or_skip"]

TIMEOUT = 30.0
"""Seconds a page may take to load and a command to answer."""

DOM_VALUES = """JSON.stringify(Array.from(document.querySelectorAll('[data-value]')).map(e => {
  const row = (e.closest('tr') || e).dataset;
  return {id: e.id, key: e.dataset.key || '', value: e.dataset.value,
          row: row.eps || row.attack || row.path || row.row || ''};
}))"""


@dataclass
class Page:
    """What loading one file showed.

    Attributes:
        errors: console errors, uncaught exceptions and failed loads.
        requests: the URL of every request the page made (the file itself included).
        values: every element with ``data-value``: its id, data-key, row and value.
        text: the page's visible text.
    """

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: list[dict[str, str]] = field(default_factory=list)
    text: str = ""


def chromium_or_skip() -> str:
    """The chromium executable, or skip the test saying how to get it."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (make test installs it: apt-get install chromium)")
    return exe


class Chromium:
    """One headless Chromium process, talked to over the DevTools pipe."""

    def __init__(self, exe: str) -> None:
        self._profile = tempfile.mkdtemp(prefix="advkit-chromium-")
        r, self._to_browser = os.pipe()  # the browser reads r, writes w
        self._from_browser, w = os.pipe()
        r, w = _above_4(r), _above_4(w)
        args = [exe, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--user-data-dir={self._profile}", "about:blank"]  # fmt: skip
        # the protocol's fds are 3 (to the browser) and 4 (from it): bash moves them there
        moves = f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-'
        self._proc = subprocess.Popen(
            ["bash", "-c", moves, "chromium", *args],
            pass_fds=(r, w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(r)
        os.close(w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self._events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event ``method`` (already received or next to come)."""
        while True:
            for event in self._events:
                if event.get("method") == method:
                    return event
            self._events.append(self._receive())

    def open_page(self, path: Path, screenshot: Path) -> Page:
        """Load ``path``, wait for it, collect what it did and save a screenshot."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=1100, height=900,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self._events.clear()
        self.send("Page.navigate", session, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        time.sleep(0.2)  # late console messages
        page = Page()
        page.values = json.loads(self._evaluate(session, DOM_VALUES))
        page.text = self._evaluate(session, "document.body.innerText")
        shot = self.send("Page.captureScreenshot", session, format="png",
                         captureBeyondViewport=True)  # fmt: skip
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        self._collect(page)
        self.send("Target.closeTarget", targetId=target)
        return page

    def _evaluate(self, session: str, expression: str) -> Any:
        result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
        return result["result"]["value"]

    def _collect(self, page: Page) -> None:
        """Errors and requests from the events received so far."""
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                page.errors.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                page.errors.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                page.errors.append(params["entry"]["text"])
            elif method == "Network.loadingFailed":
                page.errors.append(f"load failed: {params.get('errorText')}")
            elif method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])

    def _receive(self) -> dict[str, Any]:
        """The next message from the browser."""
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError("chromium did not answer over the DevTools pipe")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))


def _above_4(fd: int) -> int:
    """``fd`` moved to a number above 4, so that the child's 3 and 4 cannot clash."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high
