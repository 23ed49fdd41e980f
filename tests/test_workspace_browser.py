"""The workspace page in a real browser: Debian's Chromium driven by Playwright (no browser
download: ``executable_path`` is the system's), against ``burnish serve --root`` started as
its own process on a free loopback port.

What a reviewer does is done with the mouse and keys: open an image, paint, undo a shape,
remove, approve, save the steps as a recipe, undo and revert; what the page received and
what it saved is checked against the engine (``burnish.remove``, ``burnish run``). Every
request the page makes must go to this server. ``test_huge_image_first_view_and_panning``
measures opening a 20000 x 20000 image and the server's memory while panning (printed, and
written as JSON to ``$BURNISH_MEASUREMENTS`` when set; recorded in BENCHMARKS.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

import burnish
from tests.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Page,
    Server,
    huge_image,
    sample_peak_rss,
    sync_playwright,
)
from tests.conftest import run_cli, structured_image

if sync_playwright is None or CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("the browser tests need playwright and Debian's chromium "
                           "(.ci/run installs them)")
    pytest.skip("needs playwright and a chromium on PATH", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


SHOWN = """async ([version, width, height]) => {
    const key = `${window.burnish.state.name}|${version}|null|0|0|0`;
    for (let i = 0; i < 600 && !(window.burnish.tiles.get(key) instanceof ImageBitmap); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
    const bitmap = window.burnish.tiles.get(key);
    const canvas = new OffscreenCanvas(width, height).getContext("2d");
    canvas.drawImage(bitmap, 0, 0);
    return Array.from(canvas.getImageData(0, 0, width, height).data);
}"""


def _shown(page: Page, version: int, like: np.ndarray) -> np.ndarray:
    """The pixels the page holds for version ``version``'s native tile (0, 0): decoded by
    the browser, as it draws them."""
    height, width = like.shape[:2]
    rgba = np.array(page.page.evaluate(SHOWN, [version, width, height]), np.uint8)
    return rgba.reshape(height, width, 4)[..., :3]


def test_review_remove_approve_recipe_undo_revert(browser, tmp_path, monkeypatch, capsys):
    root = tmp_path / "root"
    root.mkdir()
    original = structured_image(180, 240)
    Image.fromarray(original).save(root / "photo.png")
    (tmp_path / "secret.png").write_bytes((root / "photo.png").read_bytes())
    server = Server(root)
    page = Page(browser, server, "photo.png")
    try:
        assert page.page.locator("#images").input_value() == "photo.png"
        # a stroke with the brush (the default tool), then a second one, undone with Ctrl+Z
        page.drag([(60, 60), (100, 80), (150, 90)])
        first = (root / "masks" / "photo.png").read_bytes()
        assert (_png(first) > 127).sum() > 1000
        page.page.keyboard.press("r")  # the box tool
        page.drag([(170, 120), (220, 170)])
        shapes = json.loads((root / "masks" / "photo.json").read_text())["shapes"]
        assert [shape["kind"] for shape in shapes] == ["stroke", "box"]
        assert (root / "masks" / "photo.png").read_bytes() != first
        page.page.keyboard.press("Control+z")
        page.settle()
        assert (root / "masks" / "photo.png").read_bytes() == first

        # remove: what the page receives is burnish.remove of the saved mask's bytes
        page.page.keyboard.press("x")
        page.idle("remove")
        removed = burnish.remove(original, _png(first) > 127, method="patchmatch",
                                 dilate=4, feather=4)
        assert not np.array_equal(removed, original)
        np.testing.assert_array_equal(_shown(page, 1, removed), removed)
        assert page.page.locator("#mask-state").text_content() == "no mask painted"

        # approve writes the output and its sidecar as burnish run does
        page.page.keyboard.press("a")
        page.page.wait_for_function(
            "document.querySelector('#deliver-state').textContent.startsWith('approved')",
            timeout=120_000)
        approved = root / "approved" / "photo.png"
        np.testing.assert_array_equal(np.asarray(Image.open(approved)), removed)
        assert (root / "approved" / "photo.png.burnish.json").is_file()

        # save as recipe, then burnish run on the same image: the same bytes
        page.page.fill("#recipe-name", "reviewed")
        page.page.click("#save-recipe")
        page.page.wait_for_function(
            "document.querySelector('#deliver-state').textContent.includes('reviewed.toml')")
        code, _, err = run_cli(monkeypatch, capsys, "run", root / "reviewed.toml",
                               root / "photo.png", "-o", tmp_path / "batch")
        assert code == 0, err
        assert (tmp_path / "batch" / "photo.png").read_bytes() == approved.read_bytes()

        # undo the step (U): the original's pixels again, and its mask back to edit
        page.page.keyboard.press("u")
        page.idle("revert to=0 (current)")
        np.testing.assert_array_equal(_shown(page, 2, original), original)
        assert page.page.locator("#mask-state").text_content().startswith("1 shape")
        # revert to v1 from the history list: the removal again
        page.page.click("[data-revert='1']")
        page.idle("revert to=1 (current)")
        np.testing.assert_array_equal(_shown(page, 3, removed), removed)

        # the views: before/after and difference draw without errors
        page.page.keyboard.press("c")
        page.page.keyboard.press("c")
        page.page.wait_for_function("window.burnish.complete === true")
        assert any("diff=0" in url for url in page.requests)

        # an error is one line on the page; the server goes on
        page.page.fill("#exposure", "99")
        page.page.click("#run-adjust")
        page.page.wait_for_function("document.querySelector('#message').className === 'error'")
        text, is_error = page.message()
        assert is_error and "exposure" in text and "\n" not in text

        # nothing outside the root is reachable, by any name
        statuses = page.page.evaluate("""async () => {
            const names = ['../secret.png', '/etc/passwd', '.burnish/catalogue.sqlite',
                           'masks/../../secret.png'];
            const out = [];
            for (const n of names) out.push((await fetch('/api/image?name=' +
                                                         encodeURIComponent(n))).status);
            return out; }""")
        assert statuses == [403, 403, 403, 403]
        # and the page asked nothing of any other host
        foreign = [url for url in page.requests
                   if not url.startswith(server.url + "/") and not url.startswith(("data:",
                                                                                   "blob:"))]
        assert page.requests and foreign == []
        assert page.errors == []
    finally:
        page.close()
        server.close()


def test_upload_and_polygon_from_the_page(browser, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    source = tmp_path / "to-upload.png"
    Image.fromarray(structured_image(100, 120, seed=2)).save(source)
    server = Server(root)
    page = Page(browser, server, "")
    try:
        page.page.set_input_files("#upload", str(source))
        page.page.wait_for_function(
            "document.querySelector('#message').textContent.startsWith('uploaded as')")
        assert (root / "uploads" / "to-upload.png").read_bytes() == source.read_bytes()
        page.page.wait_for_function("window.burnish.state.info !== null")
        page.page.keyboard.press("p")
        for point in [(20, 20), (80, 25), (50, 70)]:
            page.page.mouse.click(*page.screen(*point))
        page.page.keyboard.press("Enter")
        page.settle()
        shapes = json.loads((root / "uploads" / "masks" / "to-upload.json").read_text())
        assert [s["kind"] for s in shapes["shapes"]] == ["polygon"]
        mask = _png((root / "uploads" / "masks" / "to-upload.png").read_bytes())
        assert mask[40, 50] == 255 and mask[90, 110] == 0
        # upscale (Lanczos, x2), then before/after: the original drawn at the new size
        page.page.select_option("#upscale-model", "lanczos")
        page.page.select_option("#upscale-scale", "2")
        page.page.click("#run-upscale")
        page.idle("upscale")
        upscaled = burnish.upscale(np.asarray(Image.open(source)), scale=2, model="lanczos")
        np.testing.assert_array_equal(_shown(page, 1, upscaled[:200, :240]), upscaled)
        page.page.click("[data-view=split]")
        page.page.wait_for_function("window.burnish.complete === true")
        before = page.page.evaluate("window.burnish.tiles.has("
                                    "`${window.burnish.state.name}|0|null|0|0|0`)")
        assert before and page.errors == []
    finally:
        page.close()
        server.close()


def test_remove_the_text_the_page_detects(browser, tmp_path):
    """"and the text it finds", no mask painted: the step detects with the shipped
    text-mask model, and what the page receives is burnish.remove of that detection."""
    from PIL import ImageDraw, ImageFont

    root = tmp_path / "root"
    root.mkdir()
    y, x = np.mgrid[0:160, 0:256].astype(np.float32)
    rng = np.random.default_rng(4)
    backdrop = np.stack([90 + 0.3 * x, 120 + 0.2 * y, 150 - 0.1 * x], axis=2)
    backdrop = backdrop + rng.normal(0, 2, backdrop.shape)
    layer = Image.fromarray(np.clip(np.rint(backdrop), 0, 255).astype(np.uint8))
    ImageDraw.Draw(layer).text((16, 50), "PROOF", font=ImageFont.load_default(size=56),
                               fill=(255, 255, 255))
    original = np.asarray(layer)
    layer.save(root / "card.png")
    mask = burnish.Detector("text").mask(original)
    assert mask.sum() > 300, "the shipped model does not see the word"
    removed = burnish.remove(original, mask, method="patchmatch", dilate=4, feather=4)
    server = Server(root)
    page = Page(browser, server, "card.png")
    try:
        page.page.click("#run-remove")  # nothing painted, nothing asked: refused on the page
        text, is_error = page.message()
        assert is_error and "first" in text
        page.page.check("#remove-text")
        page.page.click("#run-remove")
        page.idle("detect")
        np.testing.assert_array_equal(_shown(page, 1, removed), removed)
        assert page.errors == []
    finally:
        page.close()
        server.close()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_huge_image_first_view_and_panning(browser, tmp_path, suffix):
    side = 20_000
    root = tmp_path / "root"
    root.mkdir()
    huge_image(root / f"huge{suffix}", side)
    server = Server(root)
    measured: dict = {"image": f"{side}x{side} {suffix[1:].upper()}"}
    page = None
    stop, peaks = threading.Event(), []
    watcher = threading.Thread(target=sample_peak_rss, args=(server.process.pid, stop, peaks))
    try:
        watcher.start()
        page = Page(browser, server, f"huge{suffix}")
        timings = page.page.evaluate("window.burnish.timings")
        measured["first_view_s"] = round(timings["firstView"] / 1000, 3)
        measured["first_view_after_open_s"] = round(
            (timings["firstView"] - timings["opened"]) / 1000, 3)
        started = time.monotonic()
        levels_seen = set()
        for scale in (1 / 16, 1 / 4, 1.0):  # three zoom levels, panned at each
            page.page.evaluate("s => { const st = window.burnish.state;"
                               " st.scale = s; st.ox = 9000; st.oy = 9000; }", scale)
            for step in range(6):
                page.page.mouse.move(700, 400)
                page.page.mouse.down(button="middle")
                page.page.mouse.move(700 - 150 * ((step % 3) - 1), 400 - 100 * (step % 2),
                                     steps=5)
                page.page.mouse.up(button="middle")
                page.page.wait_for_function("window.burnish.complete === true",
                                            timeout=180_000)
            levels_seen |= {int(z) for z in re.findall(r"&z=(\d+)", " ".join(page.requests))}
        measured["panning_s"] = round(time.monotonic() - started, 2)
        tiles = [url for url in page.requests if "/api/tile?" in url]
        measured["tiles"] = len(tiles)
        assert {0, 2, 4} <= levels_seen
        assert page.errors == []
    finally:
        stop.set()
        watcher.join()
        if page is not None:
            page.close()
        server.close()
    measured["server_peak_rss_mb"] = round(peaks[0] / 2 ** 20, 1)
    print("workspace measurements:", json.dumps(measured))
    if os.environ.get("BURNISH_MEASUREMENTS"):
        with open(os.environ["BURNISH_MEASUREMENTS"], "a") as log:
            log.write(json.dumps(measured) + "\n")
