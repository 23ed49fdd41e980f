"""Make the README's screenshots of the workspace at work (docs/workspace-*.png).

Starts ``burnish serve --root`` on a temporary folder holding one of the shared photos
(``../shared/data/photos/LadyBird.jpg``), paints over the ladybird in Debian's chromium,
removes it, and captures the mask, the before/after view and the history. Skips when the
photo or the browser is absent::

    python3 docs/screenshots.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parent.parent / "shared" / "data" / "photos" / "LadyBird.jpg"
WIDTH = 1000  # the screenshots' width in the repository (small files)


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, Page, Server, sync_playwright

    if not PHOTO.is_file() or CHROMIUM is None:
        print(f"skipped: needs {PHOTO} and chromium")
        return 0
    root = Path(tempfile.mkdtemp(prefix="burnish-shots-"))
    shutil.copy(PHOTO, root / PHOTO.name)
    server = Server(root)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=CHROMIUM_ARGS)
            page = Page(browser, server, PHOTO.name)
            page.page.evaluate("() => { const s = window.burnish.state; s.scale = 0.9;"
                               " s.ox = 1450; s.oy = 480; }")
            page.page.fill("#size", "70")
            page.page.dispatch_event("#size", "input")
            for row in range(745, 960, 45):  # brush strokes over the ladybird
                page.drag([(1680, row), (1760, row + 10), (1850, row), (1915, row + 5)])
            page.page.wait_for_function("window.burnish.complete === true")
            _save(page, "workspace-mask.png")
            page.page.keyboard.press("x")
            page.idle("remove")
            page.page.click("[data-view=split]")
            page.page.fill("#split", "420")
            page.page.dispatch_event("#split", "input")
            page.page.wait_for_function("window.burnish.complete === true")
            time.sleep(0.3)
            _save(page, "workspace-before-after.png")
            page.close()
            browser.close()
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _save(page, name: str) -> None:
    raw = HERE / f".{name}"
    page.page.screenshot(path=str(raw))
    image = Image.open(raw).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    image.quantize(colors=256, dither=Image.Dither.FLOYDSTEINBERG).save(HERE / name,
                                                                        optimize=True)
    raw.unlink()
    print(f"wrote docs/{name} ({(HERE / name).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(main())
