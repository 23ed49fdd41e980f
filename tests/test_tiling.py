"""Tiled output equals untiled output, for every tile size, layout and pixel type."""

from __future__ import annotations

import numpy as np
import pytest

import burnish
from burnish.engine.tiling.model_tiles import UpscaleOp
from burnish.engine.tiling.scheduler import ArraySink, ArraySource, SchedulerOptions, run_tiled
from burnish.errors import BurnishError, OptionError

from conftest import random_image
from fake_runners import BlurUpscaleRunner

TILES = [32, 48, 64, 97, 128, 256, 512]


def max_difference(a, b):
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.mark.parametrize("tile", TILES)
def test_default_model_tiled_equals_untiled(default_runner, rng, tile):
    image = random_image(rng, 101, 143, 3)
    whole = burnish.upscale(image, model=default_runner, tile=0)
    assert whole.shape == (404, 572, 3) and whole.dtype == np.uint8
    assert max_difference(burnish.upscale(image, model=default_runner, tile=tile), whole) <= 1


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_layouts_and_dtypes_tile_exactly(default_runner, rng, channels, dtype):
    image = random_image(rng, 45, 38, channels, dtype)
    whole = burnish.upscale(image, model=default_runner, tile=0)
    tiled = burnish.upscale(image, model=default_runner, tile=16, batch_size=3)
    assert whole.dtype == np.dtype(dtype) and whole.shape == (180, 152, channels)
    one_level = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 257, np.dtype(np.float32): 1 / 255}
    assert np.abs(whole.astype(np.float64) - tiled).max() <= one_level[np.dtype(dtype)]


def test_grey_2d_array_comes_back_2d(default_runner, rng):
    image = random_image(rng, 20, 30, 1)[..., 0]
    assert burnish.upscale(image, model=default_runner).shape == (80, 120)


def test_image_smaller_than_one_tile(default_runner, rng):
    image = random_image(rng, 3, 5, 3)
    assert burnish.upscale(image, model=default_runner, tile=256).shape == (12, 20, 3)


@pytest.mark.parametrize("scale", [1, 2])
def test_reduced_scale_from_x4_model_tiles_exactly(default_runner, rng, scale):
    image = random_image(rng, 50, 61, 3)
    whole = burnish.upscale(image, model=default_runner, scale=scale, tile=0)
    assert whole.shape == (50 * scale, 61 * scale, 3)
    tiled = burnish.upscale(image, model=default_runner, scale=scale, tile=24)
    assert max_difference(tiled, whole) <= 1


@pytest.mark.parametrize("scale", [2, 3])
def test_lanczos_tiles_exactly_and_matches_pillow(rng, scale):
    from PIL import Image

    image = random_image(rng, 40, 57, 3)
    whole = burnish.upscale(image, model="lanczos", scale=scale, tile=0)
    assert max_difference(burnish.upscale(image, model="lanczos", scale=scale, tile=16), whole) <= 1
    # Pillow's own float resize of the whole image (its 8-bit path clips between passes).
    planes = [np.asarray(Image.fromarray(image[..., c].astype(np.float32) / 255)
                         .resize((57 * scale, 40 * scale), Image.LANCZOS)) for c in range(3)]
    pillow = np.rint(np.clip(np.stack(planes, axis=-1), 0, 1) * 255).astype(np.uint8)
    assert max_difference(whole, pillow) <= 1


@pytest.mark.parametrize("window", [1, 8])
@pytest.mark.parametrize("tile", [16, 40, 0])
def test_scheduler_with_size_multiple_model(rng, window, tile):
    runner = BlurUpscaleRunner(scale=2, halo=3, window=window)
    image = random_image(rng, 37, 53, 3)
    whole = burnish.upscale(image, model=runner, scale=2, tile=0)
    assert max_difference(burnish.upscale(image, model=runner, scale=2, tile=tile), whole) <= 1
    assert all(h % window == 0 and w % window == 0 for _, _, h, w in runner.calls)


def test_batches_hold_several_tiles(rng):
    runner = BlurUpscaleRunner()
    burnish.upscale(random_image(rng, 64, 64, 3), model=runner, scale=2, tile=16, batch_size=4)
    assert [shape[0] for shape in runner.calls] == [4, 4, 4, 4]


def test_out_of_memory_splits_batches_then_tiles_and_stays_exact(rng):
    image = random_image(rng, 70, 90, 3)
    whole = burnish.upscale(image, model=BlurUpscaleRunner(), scale=2, tile=0)
    # Any call over 30x30 pixels "runs out of memory": batches of 4 tiles of 64 + halo fail,
    # single tiles fail, and the scheduler must go down to quarter tiles.
    runner = BlurUpscaleRunner(oom_above_pixels=900)
    tiled = burnish.upscale(image, model=runner, scale=2, tile=48, batch_size=4)
    assert max_difference(tiled, whole) <= 1
    assert max(h * w for n, _, h, w in runner.calls if n * h * w <= 900) <= 900


def test_out_of_memory_at_smallest_tile_is_a_clean_error(rng):
    runner = BlurUpscaleRunner(oom_above_pixels=1)
    with pytest.raises(BurnishError, match="out of memory"):
        burnish.upscale(random_image(rng, 40, 40, 3), model=runner, scale=2, tile=32)


def test_rows_reach_the_sink_in_order_without_gaps(rng):
    class CheckingSink(ArraySink):
        def write_rows(self, rows):
            self.bands = getattr(self, "bands", []) + [rows.shape[0]]
            super().write_rows(rows)

    runner = BlurUpscaleRunner(scale=2)
    image = random_image(rng, 100, 40, 3)
    sink = CheckingSink(200, 80, 3, np.uint8)
    op = UpscaleOp(runner, 2, 3)
    run_tiled(ArraySource(image), op, sink, options=SchedulerOptions(tile=16, batch_size=3))
    assert sum(sink.bands) == 200 and len(sink.bands) == 7
    np.testing.assert_array_equal(sink.pixels, burnish.upscale(image, model=runner, scale=2, tile=0))


def test_band_budget_shortens_tiles_for_wide_images(rng):
    from burnish.engine.tiling.scheduler import plan_grid

    op = UpscaleOp(BlurUpscaleRunner(scale=4), 4, 3)
    source = ArraySource(np.zeros((600, 5000, 3), np.uint8))
    grid = plan_grid(source, op, SchedulerOptions(tile=256, band_bytes=16 * 2**20))
    band_rows = max(s.core_stop - s.core_start for s in grid.row_spans) * 4
    assert band_rows * 5000 * 4 * 3 <= 16 * 2**20


def test_progress_reports_every_tile(rng):
    seen = []
    burnish.upscale(random_image(rng, 50, 50, 3), model="lanczos", scale=2, tile=16,
                    progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 16) for i in range(1, 17)]


def test_a_failing_sink_stops_the_run_with_its_error(rng):
    class FailingSink:
        def write_rows(self, rows):
            raise OSError("disk full")

    op = UpscaleOp(BlurUpscaleRunner(scale=2), 2, 3)
    with pytest.raises(OSError, match="disk full"):
        run_tiled(ArraySource(random_image(rng, 80, 80, 3)), op, FailingSink(),
                  options=SchedulerOptions(tile=16))


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.int32), np.zeros((4, 4, 5), np.uint8),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros(4, np.uint8)])
def test_bad_arrays_are_option_errors(bad):
    with pytest.raises(OptionError):
        burnish.upscale(bad, model="lanczos")


def test_scale_not_available_from_model(default_runner):
    with pytest.raises(OptionError, match="scale 3"):
        burnish.upscale(np.zeros((8, 8, 3), np.uint8), model=default_runner, scale=3)


def composited_fringe(rgba: np.ndarray, colour) -> float:
    """Largest visible colour error, alpha * |colour - true colour|, in 8-bit levels."""
    out = rgba.astype(np.float64)
    return float((out[..., 3:] / 255 * np.abs(out[..., :3] - colour)).max())


@pytest.mark.parametrize("model", ["lanczos", "compact-x4"])
def test_hidden_colour_under_transparency_does_not_tint_edges(model):
    """Magenta stored under transparent pixels must not tint the semi-transparent edge."""
    colour = np.array((200, 120, 40))
    image = np.zeros((40, 40, 4), np.uint8)
    image[..., :3] = (255, 0, 255)  # hidden colour under alpha 0
    image[:, 20:, :3], image[:, 20:, 3] = colour, 255
    image[:, 19, :3], image[:, 19, 3] = colour, 128  # a half-transparent edge column
    ours = composited_fringe(burnish.upscale(image, model=model, scale=2, tile=16), colour)
    # Straight (not premultiplied) alpha: colour and alpha upscaled independently.
    rgb = burnish.upscale(np.ascontiguousarray(image[..., :3]), model=model, scale=2, tile=16)
    alpha = burnish.upscale(np.ascontiguousarray(image[..., 3]), model=model, scale=2, tile=16)
    straight = composited_fringe(np.dstack([rgb, alpha]), colour)
    assert straight > 10, "the test image must show the fringe that straight alpha makes"
    assert ours <= 2, f"fringe of {ours:.1f} levels (straight alpha: {straight:.1f})"


def test_bleeding_fills_transparent_colour_from_visible_neighbours():
    from burnish.engine.tiling.model_tiles import bleed_colour

    colour = np.zeros((1, 3, 5, 9), np.float32)
    colour[:, :, :, 4:] = np.array([0.8, 0.4, 0.2], np.float32)[None, :, None, None]
    colour[:, :, :, :4] = 1.0  # hidden white under transparency
    alpha = np.zeros((1, 1, 5, 9), np.float32)
    alpha[..., 4:] = 1.0
    bled = bleed_colour(colour, alpha, radius=2)
    np.testing.assert_allclose(bled[..., 2:], np.broadcast_to(colour[..., 4:5], bled[..., 2:].shape), atol=1e-6)
    np.testing.assert_array_equal(bled[..., :2], 0.0)  # nothing visible within 2 pixels
