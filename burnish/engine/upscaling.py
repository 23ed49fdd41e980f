"""Upscaling jobs: arrays in memory, one file, or a batch of files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from burnish import defaults
from burnish.engine.imageio import ImageRows
from burnish.engine.pixels import check_dtype
from burnish.engine.recipes.batch_plan import FileResult, PlannedOutput, check_plan, run_batch
from burnish.engine.tiling.chain import ModelStage, SourceStage, Stage
from burnish.engine.tiling.model_tiles import UpscaleOp, check_scale
from burnish.engine.tiling.scheduler import (
    ArraySink,
    ArraySource,
    ProgressCallback,
    RowSink,
    SchedulerOptions,
    run_tiled,
)
from burnish.errors import OptionError
from burnish.models.runner import Runner

log = logging.getLogger(__name__)



def _scheduler_options(tile: int | None, batch_size: int | None, runner: Runner) -> SchedulerOptions:
    if tile is None:  # the model's advice (attention models want larger tiles), else ours
        tile = runner.descriptor.tile or defaults.TILE
    if tile < 0 or 0 < tile < defaults.SMALLEST_TILE:
        raise OptionError(f"tile size {tile} is too small: use 0 (no tiling) or "
                          f"{defaults.SMALLEST_TILE} and above")
    batch_size = (defaults.BATCH.get(runner.device.split(":")[0], 1) if batch_size is None
                  else batch_size)
    if batch_size < 1:
        raise OptionError("batch size must be at least 1")
    return SchedulerOptions(tile=tile, batch_size=batch_size)


def upscale_into(pixels: np.ndarray | ImageRows, sink: RowSink, *, runner: Runner, scale: int,
                 tile: int | None = None, batch_size: int | None = None,
                 progress: ProgressCallback | None = None) -> None:
    """Upscale ``H x W x C`` pixels, or the rows of an open image file, into a row sink (an
    array, or a file writer that streams to disk): the GPU path when the runner and image
    allow it, else the host scheduler, which reads a file's rows as it goes."""
    from burnish.engine.tiling.device_placement import takes_device_path, upscale_on_device

    options = _scheduler_options(tile, batch_size, runner)
    streamed = isinstance(pixels, ImageRows)
    channels = pixels.header.channels if streamed else pixels.shape[2]
    if takes_device_path(runner, channels):
        if streamed:  # the device path holds its input on the GPU: decode it whole
            pixels = pixels.read_all()
        upscale_on_device(pixels, runner, scale, sink, options=options, progress=progress)
        return
    op = UpscaleOp(runner, scale, channels)
    pad_mode = runner.descriptor.pad_mode
    source = SourceStage(pixels, pad_mode) if streamed else ArraySource(pixels, pad_mode)
    run_tiled(source, op, sink, options=options, progress=progress)


def upscale_stage(upstream: Stage, *, runner: Runner, scale: int, tile: int | None = None,
                  batch_size: int | None = None,
                  progress: ProgressCallback | None = None) -> ModelStage:
    """The upscale of a chain's stage: the tile scheduler reads the stage before it as its
    source, in a thread of its own. On the GPU path the input is gathered whole first (the
    device path holds its input on the GPU)."""
    from burnish.engine.tiling.device_placement import takes_device_path, upscale_on_device

    check_scale(runner, scale)
    options = _scheduler_options(tile, batch_size, runner)
    if takes_device_path(runner, upstream.channels):
        def run(source, sink):
            pixels = np.ascontiguousarray(source.rows(0, source.height))
            source.release(source.height)
            upscale_on_device(pixels, runner, scale, sink, options=options, progress=progress)
    else:
        op = UpscaleOp(runner, scale, upstream.channels)

        def run(source, sink):
            run_tiled(source, op, sink, options=options, progress=progress)

    return ModelStage(upstream, run, scale=scale, pad_mode=runner.descriptor.pad_mode)


class _ModelInHand:
    """Opens a model from a name or path for one job, or borrows an open runner."""

    def __init__(self, model: str | os.PathLike | Runner | None, scale: int, device: str,
                 backend: str):
        from burnish.models.registry import open_model

        self.owned = not isinstance(model, Runner)
        self.runner = (open_model(model, scale=scale, device=device, backend=backend)
                       if self.owned else model)

    def __enter__(self) -> Runner:
        return self.runner

    def __exit__(self, *exc_info) -> None:
        if self.owned:
            self.runner.close()


def upscale(image: np.ndarray, *, scale: int = 4, model: str | os.PathLike | Runner | None = None,
            tile: int | None = None, device: str = "auto", backend: str = "auto",
            batch_size: int | None = None,
            progress: ProgressCallback | None = None) -> np.ndarray:
    """Upscale an image array with a super-resolution model, tile by tile.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), C in {1, 2, 3, 4}
        uint8, uint16 or float32 (float32 in [0, 1]). Two and four channels carry alpha.
    scale : int
        Output scale. The default model is x4 and also gives 2 and 1; ``model="lanczos"``
        gives any integer scale.
    model : str, path, Runner or None
        ``None`` for the shipped default (``compact-x4``), a shipped name, ``"lanczos"``, a path
        to an ``.onnx`` file, a TensorRT engine or a PyTorch checkpoint, or an open
        :class:`~burnish.models.runner.Runner`.
    tile : int or None
        Tile size in input pixels (default: the model's advice, else 256); ``0`` runs the
        whole image in one call. The output is the same for every tile size (within one
        8-bit level).
    device : {"auto", "cpu", "cuda", "cuda:N"} or :class:`~burnish.device.Device`
        Where the model runs (:func:`burnish.device.resolve_device`); on a GPU the tiles
        stay there between the model and the stitching kernel.
    backend : {"auto", "ort", "trt", "torch"}
        See :func:`burnish.models.registry.open_model`.
    batch_size : int or None
        Tiles per model call (default: 1 on the CPU, 4 on a GPU).
    progress : callable(done, total) or None
        Called after each tile.

    Returns
    -------
    ndarray
        ``(H * scale, W * scale[, C])``, same dtype as ``image``.

    Examples
    --------
    >>> import numpy as np, burnish
    >>> image = np.zeros((20, 30, 3), dtype=np.uint8)
    >>> burnish.upscale(image, model="lanczos", scale=3).shape
    (60, 90, 3)
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise OptionError("image must be a NumPy array of shape H x W or H x W x C")
    check_dtype(image.dtype)
    pixels = np.ascontiguousarray(image if image.ndim == 3 else image[..., None])
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise OptionError(f"image of shape {image.shape} is empty")
    with _ModelInHand(model, scale, device, backend) as runner:
        height, width, channels = pixels.shape
        sink = ArraySink(height * scale, width * scale, channels, pixels.dtype)
        upscale_into(pixels, sink, runner=runner, scale=scale, tile=tile,
                     batch_size=batch_size, progress=progress)
    return sink.pixels if image.ndim == 3 else sink.pixels[..., 0]


def upscale_file(input_path: str | os.PathLike, output_path: str | os.PathLike, *,
                 runner: Runner, scale: int = 4, tile: int | None = None,
                 batch_size: int | None = None, max_pixels: int | None = None,
                 quality: int = 95, progress: ProgressCallback | None = None) -> None:
    """Upscale one image file into another, streaming the output to disk.

    The output keeps the input's bit depth, alpha, ICC profile and EXIF; it is written to a
    temporary name and renamed when complete, so a failure leaves no partial file.
    """
    from burnish.engine.imageio import DEFAULT_MAX_PIXELS, open_image, open_writer

    input_path, output_path = Path(input_path), Path(output_path)
    check_plan([PlannedOutput(input_path, output_path)], [input_path])
    _scheduler_options(tile, batch_size, runner)  # a bad option fails before the file is read
    with open_image(input_path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS) as rows:
        header = rows.header
        with open_writer(output_path, width=header.width * scale, height=header.height * scale,
                         channels=header.channels, dtype=header.dtype, meta=rows.meta,
                         quality=quality) as writer:
            upscale_into(rows, writer, runner=runner, scale=scale, tile=tile,
                         batch_size=batch_size, progress=progress)


def upscale_files(inputs: Sequence[str | os.PathLike], output: str | os.PathLike | None = None,
                  *, scale: int = 4, model: str | os.PathLike | Runner | None = None,
                  tile: int | None = None, device: str = "auto", backend: str = "auto",
                  batch_size: int | None = None, max_pixels: int | None = None,
                  quality: int = 95,
                  on_start: Callable[[Path, Path], None] | None = None,
                  progress: ProgressCallback | None = None,
                  on_done: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Upscale several files with one loaded model; one bad file never stops the rest.

    Problems with the job as a whole (unknown model, bad option, missing output folder) raise
    :class:`~burnish.errors.BurnishError`; problems with one file are reported in its
    :class:`FileResult` and the batch goes on.
    """
    with _ModelInHand(model, scale, device, backend) as runner:
        check_scale(runner, scale)  # before any file is read

        def job(input_path: Path, target: Path) -> None:
            upscale_file(input_path, target, runner=runner, scale=scale, tile=tile,
                         batch_size=batch_size, max_pixels=max_pixels, quality=quality,
                         progress=progress)

        return run_batch(inputs, output, suffix=f"_x{scale}", job=job, on_start=on_start,
                         on_done=on_done)
