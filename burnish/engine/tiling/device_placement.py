"""The GPU path: an upscale whose tiles never leave the device.

The host scheduler (:mod:`burnish.engine.tiling.scheduler`) moves every window to the model and
every output back, which on a GPU costs more than the model itself (a 1080p x4 frame is 100
MB of float32 output per pass). Here, with a runner that can take device tensors
(``run_tensor``: the PyTorch runner, ONNX Runtime's CUDA provider with IO binding):

- the padded input goes to the device once, as planar float32, through pinned memory;
- windows are cut from it on the device and batched, in the runner's precision (fp16
  where the architecture supports it) and memory layout (channels-last);
- each tile's core is cropped, clipped, rounded and interleaved into a device band of output
  rows by the stitch kernel (numba-cuda, reading PyTorch's buffers in place);
- a finished band is copied to pinned host memory on a second stream, so the copy overlaps
  the next band's compute, and a writer thread hands it to the sink: only finished output
  rows come back to the host.

The tile grid, padding and quantisation are the host path's, so both give the same pixels.
The same code runs on PyTorch's CPU device (how the tests check it on machines without a
GPU); colour images (3 channels) with 3-channel models take this path, everything else
(grey, alpha) the host scheduler. Out of memory, both follow one rule: halve the batch,
then split a tile that alone does not fit into smaller ones with their full halos
(:func:`~burnish.engine.tiling.scheduler.run_split_tile`), so the pixels do not change.
"""

from __future__ import annotations

import logging
import queue

import numpy as np

from burnish.engine.pixels import to_planar_float
from burnish.engine.tiling.model_tiles import UpscaleOp
from burnish.engine.tiling.scheduler import (
    ArraySource,
    ProgressCallback,
    RowSink,
    SchedulerOptions,
    StagePipeline,
    StageStopped,
    core_offset,
    plan_grid,
    run_split_tile,
)
from burnish.errors import BackendOutOfMemory
from burnish.kernels.stitch import stitch_tile
from burnish.models.runner import Runner

log = logging.getLogger(__name__)
_END = object()


def takes_device_path(runner: Runner, channels: int) -> bool:
    """Whether an upscale with ``runner`` of a ``channels``-channel image runs on the device."""
    return (runner.runs_tensors and runner.device.startswith("cuda")
            and channels == 3 and runner.descriptor.channels == 3)


def upscale_on_device(pixels: np.ndarray, runner: Runner, scale: int, sink: RowSink, *,
                      options: SchedulerOptions, progress: ProgressCallback | None = None,
                      torch_device: str | None = None) -> None:
    """Upscale an ``H x W x 3`` array with ``runner`` on ``torch_device`` (by default the
    runner's own device, ``"cuda:N"``), rows into ``sink``; the stitching kernel runs on the
    same GPU.

    Gives what :func:`burnish.engine.tiling.scheduler.run_tiled` gives with the same options.
    """
    import torch

    op = UpscaleOp(runner, scale, pixels.shape[2])
    source = ArraySource(pixels, runner.descriptor.pad_mode)
    grid = plan_grid(source, op, options)
    device = torch.device(torch_device or runner.device)
    on_gpu = device.type == "cuda"
    kernel_device = f"cuda:{device.index or 0}" if on_gpu else "cpu"
    # The whole padded input, planar float32 like the host path's windows (same conversion).
    padded = to_planar_float(source.read(0, grid.padded_height, 0, grid.padded_width))
    staged = torch.from_numpy(padded)
    image = (staged.pin_memory() if on_gpu else staged).to(device, non_blocking=True)
    copies = torch.cuda.Stream(device) if on_gpu else None
    bands: queue.Queue = queue.Queue(maxsize=2)
    pipeline = StagePipeline()

    def write_bands():
        while (item := pipeline.get(bands)) is not _END:
            host, copied = item
            if copied is not None:
                copied.synchronize()
            sink.write_rows(host.numpy())

    writer = pipeline.thread(write_bands)
    s, done, total = scale, 0, grid.tile_count
    batch_size = max(options.batch_size, 1)
    try:
        for band_tiles in grid.bands():
            rows = band_tiles[0].rows
            band = torch.empty(((rows.core_stop - rows.core_start) * s, grid.width * s, 3),
                               dtype=_torch_dtype(pixels.dtype), device=device)
            band_view = _kernel_view(band)
            start = 0
            while start < len(band_tiles):
                tiles = band_tiles[start: start + batch_size]
                try:
                    outputs = [(output, *core_offset(t.rows, t.cols, s))
                               for t, output in zip(tiles, _run_windows(runner, op, image, tiles))]
                except BackendOutOfMemory:
                    # The host scheduler's rule, the one rule of both placements: halve the
                    # batch, then split the tile into smaller ones with their full halos.
                    if batch_size > 1:
                        batch_size //= 2
                        log.info("out of memory: %d tiles per call", batch_size)
                        continue
                    core = run_split_tile(op, source, grid, tiles[0].rows, tiles[0].cols)
                    outputs = [(torch.from_numpy(core).to(device), 0, 0)]
                for tile, (output, top, left) in zip(tiles, outputs):
                    stitch_tile(_kernel_view(output), band_view, src_top=top, src_left=left,
                                height=band.shape[0],
                                width=(tile.cols.core_stop - tile.cols.core_start) * s,
                                dst_left=tile.cols.core_start * s, device=kernel_device)
                    done += 1
                    if progress is not None:
                        progress(done, total)
                start += len(tiles)
            pipeline.put(bands, _to_host(band, copies))
        pipeline.put(bands, _END)
        writer.join()
    except StageStopped:
        pass
    finally:
        pipeline.stop.set()
        writer.join()
    if pipeline.errors:
        raise pipeline.errors[0]


def _run_windows(runner: Runner, op: UpscaleOp, image, tiles):
    """The model's float32 outputs for a batch of tiles, cut from the device image."""
    import torch

    windows = torch.stack([image[:, t.rows.window_start: t.rows.window_stop,
                                 t.cols.window_start: t.cols.window_stop] for t in tiles])
    try:
        out = runner.run_tensor(windows.to(getattr(runner, "dtype", torch.float32)))
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise BackendOutOfMemory(f"out of memory for {len(tiles)} tiles") from None
    return op.reduce_scale(out.float()).contiguous()


def _to_host(band, copies):
    """``(host tensor, event)``: the band's copy to pinned memory, started on ``copies``."""
    import torch

    if copies is None:
        return band, None
    host = torch.empty(band.shape, dtype=band.dtype, pin_memory=True)
    copies.wait_stream(torch.cuda.current_stream(band.device))
    with torch.cuda.stream(copies):
        host.copy_(band, non_blocking=True)
        band.record_stream(copies)  # the allocator keeps the band until the copy is done
        copied = torch.cuda.Event()
        copied.record(copies)
    return host, copied


def _kernel_view(tensor):
    """A tensor as the stitch kernel reads it: NumPy on the CPU, in place on the GPU."""
    if tensor.device.type == "cuda":
        from numba import cuda

        return cuda.as_cuda_array(tensor)
    return tensor.numpy()


def _torch_dtype(dtype: np.dtype):
    import torch

    return {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16,
            np.dtype(np.float32): torch.float32}[np.dtype(dtype)]
