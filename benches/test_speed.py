"""burnish's engine against bare ONNX Runtime calls and against the Real-ESRGAN tile loop.

    python -m pytest benches/test_speed.py --benchmark-only -s

Both run the shipped default model on the CPU, on the same 1-megapixel photo crop, in the
same process; the figures that matter are the ratios printed and stored in extra_info.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import burnish
from burnish.engine.pixels import to_planar_float
from burnish.engine.tiling.model_tiles import UpscaleOp
from burnish.engine.tiling.scheduler import ArraySource, SchedulerOptions, plan_grid
from burnish.models.registry import SHIPPED_DIR, open_model

from conftest import best_seconds, photo_crop

TILE, BATCH = 256, 4


@pytest.fixture(scope="module")
def image():
    return photo_crop("Aqua.jpg", 1024, 1024)


@pytest.fixture(scope="module")
def runner():
    with open_model("compact-x4", device="cpu") as runner:
        yield runner


def bare_onnxruntime(runner, image):
    """The same tiles, already cut and converted, through bare ``session.run`` calls."""
    op = UpscaleOp(runner, 4, 3)
    grid = plan_grid(ArraySource(image), op, SchedulerOptions(tile=TILE))
    windows = [to_planar_float(image[t.rows.window_start: t.rows.window_stop,
                                     t.cols.window_start: t.cols.window_stop])
               for band in grid.bands() for t in band]
    batches = [np.ascontiguousarray(np.stack(windows[i: i + BATCH]))
               for i in range(0, len(windows), BATCH)]
    session, name = runner.session, runner.input_name

    def run():
        for batch in batches:
            session.run(None, {name: batch})

    return run


def test_engine_overhead_against_bare_onnxruntime(benchmark, runner, image):
    bare = best_seconds(bare_onnxruntime(runner, image))
    benchmark.pedantic(lambda: burnish.upscale(image, model=runner, tile=TILE, batch_size=BATCH),
                       rounds=3, iterations=1)
    engine = benchmark.stats.stats.min
    benchmark.extra_info.update(bare_onnxruntime_s=bare, engine_s=engine,
                                overhead=engine / bare - 1)
    print(f"\nengine {engine:.3f} s, bare onnxruntime {bare:.3f} s, overhead {engine / bare - 1:+.1%}")


def realesrgan_tile_loop(network, image, torch, tile=512, tile_pad=10):
    """Real-ESRGAN's ``RealESRGANer.tile_process``: one padded tile per PyTorch call, eager."""
    scale = 4
    tensor = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    _, channels, height, width = tensor.shape
    output = tensor.new_zeros((1, channels, height * scale, width * scale))
    for y in range(math.ceil(height / tile)):
        for x in range(math.ceil(width / tile)):
            x0, y0 = x * tile, y * tile
            x1, y1 = min(x0 + tile, width), min(y0 + tile, height)
            px0, py0 = max(x0 - tile_pad, 0), max(y0 - tile_pad, 0)
            px1, py1 = min(x1 + tile_pad, width), min(y1 + tile_pad, height)
            with torch.no_grad():
                out = network(tensor[:, :, py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            output[:, :, y0 * scale: y1 * scale, x0 * scale: x1 * scale] = \
                out[:, :, oy: oy + (y1 - y0) * scale, ox: ox + (x1 - x0) * scale]
    return (output[0].clamp(0, 1).numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)


def test_against_realesrgan_loop(benchmark, runner, image):
    torch = pytest.importorskip("torch")
    from burnish.export.compact import SRVGGNetCompact, relu_where_slopes_are_zero

    hyper = runner.descriptor.extra["hyperparameters"]
    network = SRVGGNetCompact(upscale=4, num_feat=hyper["num_feat"],
                              num_conv=hyper["num_conv"]).eval()
    network.load_state_dict(torch.load(SHIPPED_DIR / "compact-x4.pth", weights_only=True))
    relu_where_slopes_are_zero(network)  # as Real-ESRGAN would run it (act_type="relu")
    torch.set_num_threads(2)
    peer = best_seconds(lambda: realesrgan_tile_loop(network, image, torch), rounds=4)
    benchmark.pedantic(lambda: burnish.upscale(image, model=runner), rounds=4, iterations=1)
    ours = benchmark.stats.stats.min
    reference = realesrgan_tile_loop(network, image, torch)
    difference = int(np.abs(burnish.upscale(image, model=runner).astype(int) - reference).max())
    benchmark.extra_info.update(realesrgan_loop_s=peer, burnish_s=ours, speedup=peer / ours,
                                max_difference=difference)
    print(f"\nburnish {ours:.2f} s, Real-ESRGAN loop {peer:.2f} s: {peer / ours:.2f}x; "
          f"outputs differ by at most {difference}/255")
