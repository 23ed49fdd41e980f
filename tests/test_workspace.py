"""The workspace's server side (``burnish serve --root``): masks drawn from shapes, tiles at
every zoom level, names confined to the root, steps and history, recipes and approval equal
to ``burnish run``, and bad requests answered with a 4xx. The page itself is driven in a
real browser in ``test_workspace_browser.py``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import burnish
from burnish.engine.edit_masks import box_mask, draw_mask, polygon_mask
from burnish.engine.imageio import read_image
from burnish.engine.provenance import history
from burnish.errors import OptionError
from burnish.serve.app import create_app
from burnish.serve.service import ServeConfig, Service
from tests.conftest import run_cli, structured_image


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(structured_image(90, 130)).save(folder / "photo.png")
    Image.fromarray(structured_image(60, 70, seed=1)).save(folder / "sub" / "other.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def client(root):
    service = Service(ServeConfig(root=root, warm=False, workers=1, max_queue=4))
    with TestClient(create_app(service)) as client:
        yield client


def _done(client, job) -> dict:
    """Follow a job's events to its end; its last state."""
    last = None
    with client.stream("GET", job["events"]) as events:
        for line in events.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                last = (name, json.loads(line[6:]))
    assert last is not None
    return last


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _tile(client, name, z=0, x=0, y=0, **more) -> np.ndarray:
    response = client.get("/api/tile", params={"name": name, "z": z, "x": x, "y": y, **more})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return _pixels(response.content)


# ---- masks from shapes --------------------------------------------------------------------

def _stroke_reference(shape, points, size, hardness):
    """Coverage of a round brush along a polyline, pixel by pixel (the slow way)."""
    height, width = shape
    radius, soft = size / 2, size / 2 * (1 - hardness)
    cover = np.zeros(shape)
    segments = list(zip(points[:-1], points[1:])) or [(points[0], points[0])]
    for row in range(height):
        for column in range(width):
            p = np.array([column + 0.5, row + 0.5])
            best = np.inf
            for a, b in segments:
                a, b = np.asarray(a, float), np.asarray(b, float)
                d = b - a
                t = 0.0 if d @ d == 0 else np.clip((p - a) @ d / (d @ d), 0, 1)
                best = min(best, np.hypot(*(p - (a + t * d))))
            cover[row, column] = (np.clip((radius - best) / soft, 0, 1) if soft > 0
                                  else float(best <= radius))
    return cover


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_strokes_match_a_pixel_by_pixel_reference(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 45)), int(rng.integers(20, 45)))
    points = rng.uniform(-5, 50, (int(rng.integers(1, 5)), 2)).round(2).tolist()
    size, hardness = float(rng.uniform(2, 14)), float(rng.choice([0.0, 0.5, 1.0]))
    drawn = draw_mask(shape, [{"kind": "stroke", "points": points, "size": size,
                               "hardness": hardness}])
    expected = np.rint(_stroke_reference(shape, points, size, hardness) * 255)
    assert drawn.dtype == np.uint8 and drawn.shape == shape
    assert np.abs(drawn.astype(int) - expected).max() <= 1


def test_boxes_polygons_and_erasers_in_order():
    shape = (41, 53)
    box, polygon = [3.2, 4.7, 30, 20.5], [[10, 10], [50, 12], [30, 40]]
    drawn = draw_mask(shape, [
        {"kind": "box", "box": box},
        {"kind": "polygon", "points": polygon, "erase": True},
        {"kind": "box", "box": [0, 0, 5, 5]},
        {"kind": "box", "box": [100, 100, 5, 5]},  # outside: paints nothing
    ])
    expected = box_mask(shape, tuple(box)) & ~polygon_mask(shape, np.array(polygon, float))
    expected |= box_mask(shape, (0, 0, 5, 5))
    np.testing.assert_array_equal(drawn, expected.astype(np.uint8) * 255)


def test_a_soft_eraser_takes_part_of_the_paint():
    shape = (9, 30)
    drawn = draw_mask(shape, [{"kind": "box", "box": [0, 0, 30, 9]},
                              {"kind": "stroke", "points": [[15, 4.5]], "size": 12,
                               "hardness": 0.0, "erase": True}])
    assert drawn[4, 15] < 30 and drawn[4, 0] == 255 and 0 < drawn[4, 11] < 255


@pytest.mark.parametrize("shapes, problem", [
    ("strokes", "list of at most"),
    ([{"kind": "circle"}], "mask shape 1: kind must be one of stroke, box, polygon"),
    ([{"kind": "stroke", "points": [[1, 2]]}], "mask shape 1: missing 'size'"),
    ([{"kind": "stroke", "points": [], "size": 4}], "points must be 1 to"),
    ([{"kind": "stroke", "points": [[1, "x"]], "size": 4}], "mask shape 1:"),
    ([{"kind": "stroke", "points": [[1, 2]], "size": -3}], "size must be in"),
    ([{"kind": "box", "box": [1, 2, 3]}], "box is [x, y, w, h]"),
    ([{"kind": "polygon", "points": [[0, 0], [1, 1]]}], "points must be 3 to"),
    ([{"kind": "box", "box": [0, 0, 2, 2]}, {"kind": "stroke", "points": [[float("nan"), 1]],
                                             "size": 3}], "mask shape 2:"),
])
def test_malformed_shapes_are_one_line_errors(shapes, problem):
    with pytest.raises(OptionError) as caught:
        draw_mask((10, 10), shapes)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


# ---- tiles --------------------------------------------------------------------------------

def test_native_tiles_are_the_image_pixels(client, root):
    pixels = np.asarray(Image.open(root / "photo.png"))
    info = client.get("/api/image", params={"name": "photo.png"}).json()
    assert (info["width"], info["height"], info["tile"]) == (130, 90, 256)
    assert info["versions"] == [] and info["mask"] == [] and info["ready"]
    assert info["levels"] == 1  # it fits one tile: the page shrinks that one itself
    np.testing.assert_array_equal(_tile(client, "photo.png"), pixels)
    for z, x in [(0, 1), (1, 0)]:
        assert client.get("/api/tile", params={"name": "photo.png", "z": z, "x": x,
                                               "y": 0}).status_code == 404


def test_sixteen_bit_and_alpha_tiles_for_display(tmp_path):
    rng = np.random.default_rng(3)
    deep = rng.integers(0, 65536, (37, 41, 4), dtype=np.uint16)
    root = tmp_path / "deep"
    root.mkdir()
    burnish_write = __import__("burnish.engine.imageio", fromlist=["write_image"]).write_image
    burnish_write(root / "deep.png", deep)
    service = Service(ServeConfig(root=root, warm=False, workers=1, max_queue=2))
    with TestClient(create_app(service)) as client:
        tile = _tile(client, "deep.png")
    assert tile.shape == (37, 41, 4) and tile.dtype == np.uint8
    assert np.abs(tile.astype(int) - deep / 257).max() <= 1


def test_a_large_image_opens_from_its_overview_then_its_pyramid(tmp_path):
    """Past 2048 pixels a side the first levels come from the overview at once; the
    native tiles from the pyramid built in the background equal the file's pixels."""
    root = tmp_path / "large"
    root.mkdir()
    pixels = structured_image(1100, 2300, seed=4)
    Image.fromarray(pixels).save(root / "large.png")
    service = Service(ServeConfig(root=root, warm=False, workers=1, max_queue=2))
    with TestClient(create_app(service)) as client:
        info = client.get("/api/image", params={"name": "large.png"}).json()
        assert (info["width"], info["height"], info["overview_level"]) == (2300, 1100, 1)
        assert info["levels"] == 5
        overview = _tile(client, "large.png", z=1, x=4, y=2)
        assert overview.shape == (38, 126, 3)  # the level is 1150 x 550
        shrunk = pixels[1024:1100, 2048:2300].reshape(38, 2, 126, 2, 3).mean((1, 3))
        assert np.abs(overview.astype(int) - shrunk).mean() < 3
        assert _tile(client, "large.png", z=4).shape == (69, 144, 3)
        native = _tile(client, "large.png", z=0, x=8, y=4)  # waits for the pyramid
        np.testing.assert_array_equal(native, pixels[1024:1100, 2048:2300])
        assert client.get("/api/image", params={"name": "large.png"}).json()["ready"]
        folder = service.workspace.views.folder
        assert list(folder.glob("*.tif"))
    assert not folder.exists()  # the pyramids go with the server


# ---- names --------------------------------------------------------------------------------

def test_the_listing_and_names_stay_inside_the_root(client, root, tmp_path):
    (tmp_path / "secret.png").write_bytes((root / "photo.png").read_bytes())
    os.symlink(tmp_path / "secret.png", root / "link.png")
    os.symlink(tmp_path, root / "outside")
    listed = client.get("/api/workspace").json()
    assert listed["images"] == ["link.png", "photo.png", "sub/other.jpg"]
    assert listed["root"] == "root" and "remove" in listed["ops"]
    for name, status in [("../secret.png", 403), ("/etc/passwd", 403), ("link.png", 403),
                         ("outside/secret.png", 403), ("sub/../photo.png", 403),
                         (".burnish/catalogue.sqlite", 403), ("sub\\other.jpg", 403),
                         ("missing.png", 404), ("notes.txt", 415), ("sub", 404)]:
        for route in ("/api/image", "/api/tile"):
            response = client.get(route, params={"name": name, "z": 0, "x": 0, "y": 0})
            assert response.status_code == status, (route, name, response.text)
            assert "error" in response.json()
    assert client.get("/api/image").status_code == 400


def test_uploads_land_in_their_own_names(client, root):
    data = (root / "photo.png").read_bytes()
    names = [client.post("/api/upload", files={"image": ("my photo.png", data)}).json()["name"]
             for _ in range(2)]
    assert names == ["uploads/myphoto.png", "uploads/myphoto-2.png"]
    assert (root / "uploads" / "myphoto-2.png").read_bytes() == data
    refused = client.post("/api/upload", files={"image": ("x.png", b"not an image at all")})
    assert refused.status_code == 415 and len(list((root / "uploads").iterdir())) == 2


# ---- steps, history, recipes, approval ----------------------------------------------------

STROKE = {"kind": "stroke", "points": [[40, 40], [80, 50]], "size": 14, "hardness": 0.8}


def _step(client, op, params, use_mask, name="photo.png"):
    response = client.post("/api/step", json={"name": name, "op": op, "params": params,
                                              "use_mask": use_mask})
    assert response.status_code == 202, response.text
    ended, state = _done(client, response.json())
    assert ended == "done", state
    return state


def test_remove_undo_revert_recipe_and_approve(client, root, tmp_path, monkeypatch, capsys):
    saved = client.put("/api/mask", params={"name": "photo.png"}, json={"shapes": [STROKE]})
    assert saved.json()["mask_file"] == "masks/photo.png" and saved.json()["pixels"] > 300
    mask_bytes = (root / "masks" / "photo.png").read_bytes()
    assert json.loads((root / "masks" / "photo.json").read_text()) == {"shapes": [STROKE]}

    _step(client, "remove", {"dilate": 4, "feather": 4, "method": "patchmatch"}, True)
    original = np.asarray(Image.open(root / "photo.png"))
    expected = burnish.remove(original, _pixels(mask_bytes) > 127, method="patchmatch",
                              dilate=4, feather=4)
    assert not np.array_equal(expected, original)
    np.testing.assert_array_equal(_tile(client, "photo.png", v=1), expected)
    info = client.get("/api/image", params={"name": "photo.png"}).json()
    assert [v["op"] for v in info["versions"]] == ["original", "remove"]
    assert info["mask"] == [] and info["mask_file"] == "photo-2.png"  # the next mask's file
    np.testing.assert_array_equal(read_image(history.working_copy(root / "photo.png"))[0],
                                  expected)  # the CLI's history sees the same version

    recipe = client.get("/api/recipe", params={"name": "photo.png"}).text
    assert 'mask = "masks/{stem}.png"' in recipe and str(root) not in recipe
    assert client.post("/api/recipe", json={"name": "photo.png", "recipe": "mine"}).json() == {
        "recipe": "mine.toml"}
    ended, state = _done(client, client.post("/api/approve", json={"name": "photo.png"}).json())
    assert ended == "done" and state["note"] == "photo.png"
    approved = root / "approved" / "photo.png"
    np.testing.assert_array_equal(np.asarray(Image.open(approved)), expected)
    sidecar = json.loads((root / "approved" / "photo.png.burnish.json").read_text())
    assert [s["op"] for s in sidecar["recipe"]["steps"]] == ["remove"]

    code, _, err = run_cli(monkeypatch, capsys, "run", root / "mine.toml", root / "photo.png",
                           "-o", tmp_path / "cli")
    assert code == 0, err
    assert (tmp_path / "cli" / "photo.png").read_bytes() == approved.read_bytes()

    undone = client.post("/api/undo", json={"name": "photo.png"}).json()
    assert undone == {"number": 2, "summary": "revert to=0"}
    np.testing.assert_array_equal(_tile(client, "photo.png", v=2), original)
    assert client.get("/api/image", params={"name": "photo.png"}).json()["mask"] == [STROKE]
    assert client.post("/api/undo", json={"name": "photo.png"}).status_code == 409
    assert client.post("/api/revert", json={"name": "photo.png", "to": 1}).json()["number"] == 3
    np.testing.assert_array_equal(_tile(client, "photo.png", v=3), expected)
    difference = _tile(client, "photo.png", v=3, diff=0)
    assert difference.shape == (90, 130, 3) and difference[45, 60].any()
    assert not difference[5, 5].any()


def test_each_masked_step_keeps_its_own_mask_file(client, root, tmp_path, monkeypatch, capsys):
    client.put("/api/mask", params={"name": "photo.png"}, json={"shapes": [STROKE]})
    _step(client, "remove", {"method": "telea"}, True)
    second = {"kind": "box", "box": [90, 10, 25, 30]}
    assert client.put("/api/mask", params={"name": "photo.png"},
                      json={"shapes": [second]}).json()["mask_file"] == "masks/photo-2.png"
    _step(client, "adjust", {"exposure": 0.5, "feather": 2}, True)
    _step(client, "adjust", {"saturation": 0.5}, False)
    recipe = client.get("/api/recipe", params={"name": "photo.png"}).text
    assert 'mask = "masks/{stem}.png"' in recipe and 'mask = "masks/{stem}-2.png"' in recipe
    client.post("/api/recipe", json={"name": "photo.png", "recipe": "three"})
    code, _, err = run_cli(monkeypatch, capsys, "run", root / "three.toml", root / "photo.png",
                           "-o", tmp_path / "out")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "photo.png")),
                                  _tile(client, "photo.png"))


def test_bad_requests_are_4xx_and_the_server_goes_on(client, root):
    def status(method, path, **kw):
        response = client.request(method, path, **kw)
        assert "error" in response.json() and "\n" not in response.json()["error"]
        return response.status_code, response.json()["error"]

    assert status("PUT", "/api/mask?name=photo.png", content=b"{nope")[0] == 400
    assert status("PUT", "/api/mask?name=photo.png", json={"shapes": "x"})[0] == 400
    assert status("PUT", "/api/mask?name=photo.png",
                  json={"shapes": [{"kind": "star"}]}) == (
        400, "mask shape 1: kind must be one of stroke, box, polygon")
    for body, message in [
        ({"name": "photo.png", "op": "explode"}, "op must be one of"),
        ({"name": "photo.png", "op": "adjust", "params": {"exposure": 99}}, "exposure"),
        ({"name": "photo.png", "op": "adjust", "params": {"colour": 1}}, "colour"),
        ({"name": "photo.png", "op": "remove", "use_mask": True}, "no mask painted yet"),
        ({"name": "photo.png", "op": "remove", "params": {"mask": "/etc/passwd"}}, "mask"),
        ({"name": "photo.png", "op": "adjust", "use_mask": "yes"}, "'use_mask' must be"),
        ({"name": 5, "op": "adjust"}, "'name' must be"),
        ({"name": "../photo.png", "op": "adjust"}, "not a name inside"),
        ({"name": "photo.png", "op": "upscale", "params": {"model": "/tmp/x.onnx"}},
         "is not served here"),
        ({"name": "photo.png", "op": "remove", "params": {"method": "/tmp/lama.onnx"}},
         "method must be one of"),
        ({"name": "photo.png", "op": "match_colour", "params": {"reference": "/etc/x.png"}},
         "op must be one of"),
    ]:
        code, error = status("POST", "/api/step", json=body)
        assert 400 <= code < 500 and message in error, (body, error)
    assert status("POST", "/api/approve", json={"name": "photo.png"})[0] == 409
    assert status("GET", "/api/recipe?name=photo.png")[0] == 409
    assert status("POST", "/api/revert", json={"name": "photo.png", "to": "1"})[0] == 400
    client.put("/api/mask", params={"name": "photo.png"}, json={"shapes": [STROKE]})
    _step(client, "remove", {}, True)
    assert status("POST", "/api/revert", json={"name": "photo.png", "to": 9})[0] == 400
    assert status("POST", "/api/recipe", json={"name": "photo.png", "recipe": "../x"})[0] == 400
    assert status("GET", "/api/tile?name=photo.png&z=a&x=0&y=0")[0] == 400
    assert not list(root.glob("*.toml")) and client.get("/healthz").status_code == 200


def test_the_page_is_open_and_the_api_needs_the_token(root):
    service = Service(ServeConfig(root=root, warm=False, workers=1, max_queue=2,
                                  token="sesame"))
    with TestClient(create_app(service)) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<canvas" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/ui/workspace.js").status_code == 200
        assert client.get("/ui/missing.js").status_code == 404
        assert client.get("/api/workspace").status_code == 401
        assert client.get("/api/workspace",
                          headers={"Authorization": "Bearer sesame"}).status_code == 200


def test_without_a_root_the_workspace_holds_uploads_only(root):
    from burnish.models.registry import model_names

    service = Service(ServeConfig(warm=False, workers=1, max_queue=2))
    with TestClient(create_app(service)) as client:
        assert client.get("/api/workspace").json() == {
            "root": None, "images": [], "ops": client.get("/api/workspace").json()["ops"],
            "models": sorted(model_names())}  # every shipped upscaler and lanczos, by name
        name = client.post("/api/upload", files={"image": (
            "a.png", (root / "photo.png").read_bytes())}).json()["name"]
        assert client.get("/api/image", params={"name": name}).json()["width"] == 130
        folder = service.workspace.root
        assert folder.is_dir()
    assert not folder.exists()


def test_lineage_follows_reverts(root):
    image = root / "photo.png"
    history.edit(image, ["adjust exposure=0.5"])
    history.edit(image, ["adjust contrast=1.2"])
    history.revert(image, 1)
    history.edit(image, ["adjust saturation=0.5"])
    assert [(v.number, v.summary) for v in history.lineage(image)] == [
        (1, "adjust exposure=0.5"), (4, "adjust saturation=0.5")]
    history.revert(image, 0)
    assert history.lineage(image) == []


def test_burnish_open_serves_the_images_folder_on_a_free_port(root):
    import re
    import subprocess
    import sys

    import httpx

    process = subprocess.Popen(
        [sys.executable, "-c", "from burnish.cli.app import main; main()", "open",
         "--no-browser", str(root / "sub" / "other.jpg"), str(root / "photo.png")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        found = re.search(r"the workspace on (\S+) is at (http://127\.0\.0\.1:\d+/)#image=(\S+)",
                          line)
        assert found, line
        assert Path(found.group(1)) == root and found.group(3) == "sub/other.jpg"
        with httpx.Client(base_url=found.group(2), timeout=30) as client:
            assert "<canvas" in client.get("/").text
            assert client.get("/api/image", params={"name": "sub/other.jpg"}).json()[
                "width"] == 70
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_burnish_open_refuses_what_is_not_a_file(root, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "open", "--no-browser", root / "missing.png")
    assert code != 0 and "missing.png" in err and err.count("\n") == 1


def test_an_unreadable_image_is_a_422_and_the_server_goes_on(client, root):
    (root / "broken.png").write_bytes((root / "photo.png").read_bytes()[:60])
    response = client.get("/api/image", params={"name": "broken.png"})
    assert response.status_code == 422
    assert response.json()["error"].startswith("broken.png cannot be read")
    assert str(root) not in response.json()["error"]
    assert client.get("/api/image", params={"name": "photo.png"}).status_code == 200


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(root):
    service = Service(ServeConfig(root=root, warm=False, workers=1, max_queue=2,
                                  max_pixels=5000))
    with TestClient(create_app(service)) as client:
        response = client.get("/api/image", params={"name": "photo.png"})
        assert response.status_code == 413
        assert "11,700 pixels, more than the limit of 5,000" in response.json()["error"]
        assert client.get("/api/image", params={"name": "sub/other.jpg"}).status_code == 200


def test_after_an_upscale_the_page_gets_both_sizes(client, root):
    _step(client, "upscale", {"scale": 2, "model": "lanczos"}, False)
    info = client.get("/api/image", params={"name": "photo.png"}).json()
    assert (info["width"], info["height"]) == (260, 180)
    assert (info["original"]["width"], info["original"]["height"]) == (130, 90)
    assert info["levels"] == 2 and info["original"]["levels"] == 1
    original = np.asarray(Image.open(root / "photo.png"))
    upscaled = burnish.upscale(original, scale=2, model="lanczos")
    np.testing.assert_array_equal(_tile(client, "photo.png", v=1, x=1), upscaled[:, 256:])
    refused = client.get("/api/tile", params={"name": "photo.png", "v": 1, "diff": 0, "z": 0,
                                              "x": 0, "y": 0})
    assert refused.status_code == 404 and "differ in size" in refused.json()["error"]
    # a mask painted now is drawn at the current size
    saved = client.put("/api/mask", params={"name": "photo.png"},
                       json={"shapes": [{"kind": "box", "box": [200, 100, 50, 50]}]}).json()
    assert saved["pixels"] == 2500
    assert _pixels((root / "masks" / "photo.png").read_bytes()).shape == (180, 260)
