"""Opening a 20000 x 20000 image for review: the workspace's tiles against loading it whole.

    python3 benches/workspace_view.py [--side 20000] [--formats jpg,png]

For each format, in the same run on the same file:

- **burnish**: ``burnish serve --root`` in its own process and its page in Debian's chromium
  (the browser tests' helpers): time from navigation to the first complete view, then
  panning at three zoom levels (1/16, 1/4, 1:1), with the server's and the browser's peak
  resident memory;
- **whole**: the page most review tools serve (IOPaint's among them): the image file itself
  in an ``<img>``, from a plain static server on loopback (``python -m http.server``), timed
  to decoded and drawn, with the browser's peak memory.

Prints a Markdown table and the ratios. Needs playwright and chromium; the image is made by
libvips (streamed) in a temporary folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import (  # noqa: E402 - the checkout's helpers
    CHROMIUM,
    CHROMIUM_ARGS,
    Page,
    Server,
    huge_image,
    sample_peak_rss,
    sync_playwright,
)

WHOLE_PAGE = ('<!doctype html><img id="image" src="{name}" '
              'style="width:1000px" alt="">')


def _browser_rss() -> int:
    import psutil

    return sum(p.memory_info().rss for p in psutil.process_iter(["name"])
               if "chrom" in (p.info["name"] or ""))


class _BrowserPeak:
    """The peak resident memory of every Chromium process while it runs."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _browser_rss())
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def burnish_view(playwright, root: Path, name: str) -> dict:
    server = Server(root)
    stop, peaks = threading.Event(), []
    watcher = threading.Thread(target=sample_peak_rss, args=(server.process.pid, stop, peaks))
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        watcher.start()
        with _BrowserPeak() as browser_peak:
            page = Page(browser, server, name)
            first = page.page.evaluate("window.burnish.timings.firstView") / 1000
            started = time.monotonic()
            for scale in (1 / 16, 1 / 4, 1.0):
                page.page.evaluate("s => { const st = window.burnish.state;"
                                   " st.scale = s; st.ox = 9000; st.oy = 9000; }", scale)
                for step in range(6):
                    page.page.mouse.move(700, 400)
                    page.page.mouse.down(button="middle")
                    page.page.mouse.move(700 - 150 * ((step % 3) - 1),
                                         400 - 100 * (step % 2), steps=5)
                    page.page.mouse.up(button="middle")
                    page.page.wait_for_function("window.burnish.complete === true",
                                                timeout=300_000)
            panning = time.monotonic() - started
            page.close()
    finally:
        browser.close()
        stop.set()
        watcher.join()
        server.close()
    return {"first_view_s": first, "panning_s": panning, "server_mb": peaks[0] / 2 ** 20,
            "browser_mb": browser_peak.peak / 2 ** 20}


def whole_view(playwright, root: Path, name: str) -> dict:
    (root / "whole.html").write_text(WHOLE_PAGE.format(name=name))
    static = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind",
                               "127.0.0.1"], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        port = int(static.stdout.readline().split(" port ")[1].split()[0])
        with _BrowserPeak() as browser_peak:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/whole.html")
            shown = page.evaluate("""async () => {
                const image = document.getElementById('image');
                try { await image.decode(); } catch (error) { return String(error); }
                await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                return performance.now(); }""")
            page.close()
    finally:
        browser.close()
        static.terminate()
        static.wait()
    if isinstance(shown, str):
        return {"first_view_s": float("nan"), "error": shown,
                "browser_mb": browser_peak.peak / 2 ** 20}
    return {"first_view_s": shown / 1000, "browser_mb": browser_peak.peak / 2 ** 20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=20_000)
    parser.add_argument("--formats", default="jpg,png")
    args = parser.parse_args()
    if sync_playwright is None or CHROMIUM is None:
        print("skipped: needs playwright and chromium")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="burnish-view-") as folder, \
            sync_playwright() as playwright:
        root = Path(folder)
        for suffix in args.formats.split(","):
            name = f"huge.{suffix}"
            made = time.monotonic()
            huge_image(root / name, args.side)
            print(f"made {name} in {time.monotonic() - made:.1f} s", file=sys.stderr)
            ours = burnish_view(playwright, root, name)
            theirs = whole_view(playwright, root, name)
            rows.append((suffix.upper(), ours, theirs))
    print(f"| {args.side}x{args.side} | burnish first view | whole image first view | ratio "
          "| burnish server peak | burnish browser peak | whole image browser peak | "
          "panning 3 levels |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for fmt, ours, theirs in rows:
        ratio = theirs["first_view_s"] / ours["first_view_s"]
        print(f"| {fmt} | {ours['first_view_s']:.2f} s | {theirs['first_view_s']:.2f} s | "
              f"{ratio:.1f}x | {ours['server_mb']:.0f} MB | {ours['browser_mb']:.0f} MB | "
              f"{theirs['browser_mb']:.0f} MB | {ours['panning_s']:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
