"""Headless Chromium driven over `--remote-debugging-pipe` (DevTools protocol, stdlib only).

The page tests need clicks and typing, which `--dump-dom` cannot do. Chromium reads protocol
commands on fd 3 and writes replies and events on fd 4, each a JSON object ended by a NUL byte;
`Browser.evaluate` runs an (async) expression in the page and returns its JSON value.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import time
from pathlib import Path


def _high(fd: int) -> int:
    """A close-on-exec copy of `fd` numbered 10 or above (so dup2 onto 3 and 4 clobbers nothing)."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


class Browser:
    """One headless Chromium showing `url`, with a DevTools session attached to its page."""

    def __init__(self, exe: str, url: str, profile: Path, timeout: float = 60.0):
        to_chrome_r, self._out = os.pipe()
        self._in, from_chrome_w = os.pipe()
        hi_r, hi_w = _high(to_chrome_r), _high(from_chrome_w)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1280,900", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                url]
        try:
            self.pid = os.posix_spawn(exe, args, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, hi_r, 3), (os.POSIX_SPAWN_DUP2, hi_w, 4),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        finally:
            os.close(hi_r)
            os.close(hi_w)
        self._timeout, self._buf, self._next = timeout, b"", 0
        try:
            page = next(t for t in self.send("Target.getTargets")["targetInfos"]
                        if t["type"] == "page")
            self._session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                      flatten=True)["sessionId"]
        except BaseException:
            self.close()
            raise

    def send(self, method: str, session: str | None = None, **params) -> dict:
        """The result of one protocol command (events arriving meanwhile are dropped)."""
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self._timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no DevTools reply from Chromium in time")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\0", 1)
        return json.loads(line)

    def evaluate(self, expression: str):
        """The value of `expression` in the page (promises awaited); page exceptions raise."""
        out = self.send("Runtime.evaluate", self._session, expression=expression,
                        awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"page script failed: {out['exceptionDetails']}")
        return out["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> None:
        """Poll until `expression` is truthy in the page (the page may still be navigating)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.evaluate(expression):
                    return
            except RuntimeError:  # evaluated while the document was being replaced
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}")
            time.sleep(0.1)

    def screenshot(self, png: Path) -> None:
        import base64

        data = self.send("Page.captureScreenshot", self._session, format="png")["data"]
        png.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Ask Chromium to quit; kill it if it has not exited within 10 s."""
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        deadline = time.monotonic() + 10
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.1)
        os.close(self._in)
        os.close(self._out)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
