"""Driving the workspace page in a real browser: ``burnish serve --root`` in its own process
and a Chromium tab on it (Playwright with Debian's chromium as ``executable_path``; no
browser download). Used by the browser tests, ``benches/workspace_view.py`` and
``docs/screenshots.py``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None


class Server:
    """``burnish serve --root ROOT --port 0`` in its own process; its address read from its
    log; stopped on exit."""

    def __init__(self, root: Path, *extra: str):
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from burnish.cli.app import main; main()", "serve",
             "--root", str(root), "--port", "0", "--workers", "1", *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "BURNISH_COMPILE_AHEAD": "0"})
        self.log: list[str] = []
        deadline = time.monotonic() + 120
        self.url = None
        while self.url is None:
            line = self.process.stderr.readline()
            assert line or self.process.poll() is None, "".join(self.log)
            assert time.monotonic() < deadline, "the server did not start"
            self.log.append(line)
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1)
        # keep reading the log so the server never blocks on a full pipe
        threading.Thread(target=lambda: self.log.extend(self.process.stderr),
                         daemon=True).start()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Page:
    """One tab on the workspace, with its network log."""

    def __init__(self, browser, server: Server, name: str):
        # The tests' own page.evaluate and wait_for_function are scripts the page's policy
        # (script-src 'self') would refuse; the page's own files do not need the bypass.
        self.context = browser.new_context(viewport={"width": 1200, "height": 800},
                                           bypass_csp=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.server = server
        self.page.goto(f"{server.url}/" + (f"#image={name}" if name else ""))
        if name:
            self.page.wait_for_function("window.burnish.timings.firstView !== undefined",
                                        timeout=60_000)

    def screen(self, x: float, y: float) -> tuple[float, float]:
        """Where image pixel (x, y) is on the screen."""
        box = self.page.locator("#view").bounding_box()
        sx, sy = self.page.evaluate(
            "([x, y]) => { const s = window.burnish.state;"
            " return [(x - s.ox) * s.scale, (y - s.oy) * s.scale]; }", [x, y])
        return box["x"] + sx, box["y"] + sy

    def drag(self, points) -> None:
        mouse = self.page.mouse
        mouse.move(*self.screen(*points[0]))
        mouse.down()
        for point in points[1:]:
            mouse.move(*self.screen(*point), steps=4)
        mouse.up()
        self.settle()

    def settle(self) -> None:
        self.page.evaluate("() => window.burnish.settled()")

    def idle(self, text: str) -> None:
        """Wait until no step runs and the history shows ``text``."""
        self.page.wait_for_function(
            "t => !window.burnish.state.busy && "
            "document.querySelector('#history').textContent.includes(t)", arg=text,
            timeout=120_000)

    def message(self) -> tuple[str, bool]:
        line = self.page.locator("#message")
        return line.text_content(), "error" in (line.get_attribute("class") or "")

    def close(self) -> None:
        self.context.close()


def huge_image(path: Path, side: int) -> None:
    """A side x side JPEG or PNG with detail everywhere, streamed by libvips (never in
    memory)."""
    import pyvips

    xyz = pyvips.Image.xyz(side, side)
    x, y = xyz[0], xyz[1]
    bands = [(x * 0.05).sin() * 100 + 128, (y * 0.031).cos() * 90 + 128,
             ((x + y) * 0.0101).sin() * 80 + 128]
    image = bands[0].bandjoin(bands[1:]).cast("uchar")
    if path.suffix == ".png":
        image.pngsave(os.fspath(path), compression=1)
    else:
        image.jpegsave(os.fspath(path), Q=85)


def sample_peak_rss(pid: int, stop: threading.Event, out: list) -> None:
    import psutil

    process, peak = psutil.Process(pid), 0
    while not stop.is_set():
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.02)
    out.append(peak)
