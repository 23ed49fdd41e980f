"""The GPU path (tiles kept on the device) gives the host scheduler's pixels.

Run here on PyTorch's CPU device, which exercises everything but the CUDA streams: the grid,
padding, batching, scale reduction, stitching and the band hand-over to the writer.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")

import spandrel_builders  # noqa: E402

from burnish.engine.tiling.device_placement import takes_device_path, upscale_on_device  # noqa: E402
from burnish.engine.tiling.model_tiles import UpscaleOp  # noqa: E402
from burnish.engine.tiling.scheduler import ArraySink, ArraySource, SchedulerOptions, run_tiled  # noqa: E402
from burnish.models.torch_runner import TorchOptions, TorchRunner  # noqa: E402

from conftest import random_image  # noqa: E402


@pytest.fixture(scope="module", params=["ESRGAN", "SwinIR"])
def runner(request, tmp_path_factory):
    path = spandrel_builders.save(spandrel_builders.build(request.param),
                                  tmp_path_factory.mktemp("device") / "model.safetensors")
    with TorchRunner.open(path, options=TorchOptions(device="cpu")) as opened:
        yield opened


def host_path(image, runner, scale, options):
    sink = ArraySink(image.shape[0] * scale, image.shape[1] * scale, 3, image.dtype)
    run_tiled(ArraySource(image, runner.descriptor.pad_mode), UpscaleOp(runner, scale, 3), sink,
              options=options)
    return sink.pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("tile, batch", [(16, 3), (24, 1), (0, 1)])
def test_device_path_gives_the_host_paths_pixels(runner, rng, dtype, tile, batch):
    image = random_image(rng, 37, 45, 3, dtype)
    scale = runner.descriptor.scale
    options = SchedulerOptions(tile=tile, batch_size=batch)
    sink = ArraySink(37 * scale, 45 * scale, 3, image.dtype)
    progress = []
    upscale_on_device(image, runner, scale, sink, options=options, torch_device="cpu",
                      progress=lambda done, total: progress.append((done, total)))
    expected = host_path(image, runner, scale, options)
    assert sink.rows_written == expected.shape[0]
    one_level = 1 if dtype != np.float32 else 1 / 255
    assert np.abs(sink.pixels.astype(np.float64) - expected).max() <= one_level
    assert progress[-1][0] == progress[-1][1] == len(progress)


def test_device_path_reduces_a_larger_model_scale(runner, rng):
    if runner.descriptor.scale != 4:
        pytest.skip("an x4 model is needed to deliver x2")
    image = random_image(rng, 20, 23, 3)
    options = SchedulerOptions(tile=16, batch_size=2)
    sink = ArraySink(40, 46, 3, np.uint8)
    upscale_on_device(image, runner, 2, sink, options=options, torch_device="cpu")
    assert np.abs(sink.pixels.astype(int) - host_path(image, runner, 2, options)).max() <= 1


def test_only_colour_images_on_a_cuda_runner_take_the_device_path(runner):
    assert not takes_device_path(runner, 3)          # this runner is on the CPU

    class OnCuda:
        descriptor = runner.descriptor
        device = "cuda:1"
        runs_tensors = True

    class NumpyOnly(OnCuda):  # a runner on a GPU that takes no tensors (TensorRT's, say)
        runs_tensors = False

    assert takes_device_path(OnCuda(), 3)
    assert not takes_device_path(OnCuda(), 4) and not takes_device_path(OnCuda(), 1)
    assert not takes_device_path(NumpyOnly(), 3)


def test_out_of_memory_on_the_device_follows_the_host_schedulers_rule(runner, rng,
                                                                      monkeypatch):
    """Batches that do not fit are halved and a tile that alone does not fit is split into
    smaller ones with their halos (the host scheduler's exact split): the same pixels as a
    run that never ran out."""
    from burnish.errors import BackendOutOfMemory

    image = random_image(rng, 101, 93, 3)
    scale = runner.descriptor.scale
    options = SchedulerOptions(tile=24, batch_size=4)
    expected = host_path(image, runner, scale, options)
    limit = 24 + 2 * runner.descriptor.halo  # an inner tile's whole window no longer fits
    calls = []

    def fits(shape):
        calls.append(tuple(shape))
        if shape[0] > 1 or shape[2] >= limit or shape[3] >= limit:
            raise BackendOutOfMemory(f"pretend: {tuple(shape)}")

    real_tensor, real_infer = runner.run_tensor, runner.infer
    monkeypatch.setattr(runner, "run_tensor", lambda b: (fits(b.shape), real_tensor(b))[1])
    monkeypatch.setattr(runner, "infer", lambda b: (fits(b.shape), real_infer(b))[1])
    sink = ArraySink(101 * scale, 93 * scale, 3, np.uint8)
    upscale_on_device(image, runner, scale, sink, options=options, torch_device="cpu")
    assert any(shape[0] > 1 for shape in calls) and any(shape[2] < limit for shape in calls)
    assert np.abs(sink.pixels.astype(int) - expected).max() <= 1
