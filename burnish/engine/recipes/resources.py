"""What a worker keeps warm between images: models, LUTs, reference images, their statistics.

A batch opens each model once per worker process and reuses it for every file, which is
where most of a batch's speed over one process per file comes from.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from burnish.device import resolve_device
from burnish.errors import OptionError
from burnish.models.descriptor import file_sha256

if TYPE_CHECKING:
    from burnish.models.runner import Runner

# How runner classes are named in provenance.
BACKEND_NAMES = {"OrtRunner": "onnxruntime", "TrtRunner": "tensorrt", "TorchRunner": "torch",
                 "LanczosRunner": "pillow", "InpaintModel": "onnxruntime"}


class Resources:
    """A cache of opened things, keyed by what opened them; :meth:`close` releases them.

    Safe to share between threads (the server's requests share one): each thing is opened
    once. ``wrap_runner``, if given, wraps every upscaling runner as it is opened (the
    server's batching runner).
    """

    def __init__(self, *, device: str = "auto", backend: str = "auto",
                 threads: int | None = None,
                 wrap_runner: Callable[[Runner], Runner] | None = None):
        # Resolved once: models, kernels and provenance all see this one device.
        self.device = resolve_device(device)
        self.backend, self.threads = backend, threads
        self._wrap_runner = wrap_runner
        self._cache: dict = {}
        self._lock = threading.RLock()
        self._used: dict = {}  # the keys this object was asked for, in order
        self._owner = True

    def view(self) -> Resources:
        """The same open things, with its own record of which it is asked for: a recipe
        sharing the server's models says in its provenance only the models it used
        (:meth:`models_opened`). Closing a view closes nothing."""
        view = copy.copy(self)
        view._used, view._owner = {}, False
        return view

    @cached_property
    def kernel_device(self) -> str:
        """Where the grades' kernels run: :attr:`device`, or the CPU when ``auto`` chose a
        GPU that Numba's CUDA target cannot use here (numba-cuda missing, say)."""
        if not self.device.is_cuda:
            return "cpu"
        from burnish.kernels.dispatch import check_device

        try:
            return check_device(self.device)
        except ValueError as error:
            if self.device.auto:
                return "cpu"
            raise OptionError(f"device {self.device}: {error}") from None

    def _get(self, key, make: Callable):
        with self._lock:
            self._used[key] = None
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def runner(self, model: str | None, scale: int, base: Path):
        """An upscaling runner for a recipe's model value (files relative to ``base``)."""
        from burnish.models.registry import open_model

        spec = _model_path(model, base)

        def make():
            runner = open_model(spec, scale=scale, device=self.device, backend=self.backend,
                                threads=self.threads)
            return runner if self._wrap_runner is None else self._wrap_runner(runner)

        return self._get(("runner", spec, scale), make)

    def reconstructor(self, method: str, patch_size: int, base: Path):
        """A hole filler: PatchMatch, Telea, or an opened ONNX inpainting model."""
        from burnish.engine.removal.object_removal import METHODS, Reconstructor

        spec = method if method in METHODS else str(_model_path(method, base))
        return self._get(("fill", spec, patch_size), lambda: Reconstructor(
            spec, patch_size=patch_size, device=self.device))

    def detector(self, kind: str, model: str | None, box: str | None,
                 points: tuple[str, ...], base: Path):
        """A mask source (:class:`~burnish.engine.detection.Detector`), its model opened
        once."""
        from burnish.engine.detection import Detector

        path = None if model is None else str(_model_path(model, base))
        return self._get(("detect", kind, path, box, points), lambda: Detector(
            kind, model=path, box=box, points=points, device=self.device))

    def image(self, path: Path):
        """A reference image's pixels (read once)."""
        from burnish.engine.imageio import read_image

        return self._get(("image", path), lambda: read_image(path)[0])

    def lut(self, path: Path):
        from burnish.kernels import read_cube

        return self._get(("lut", path), lambda: read_cube(path))

    def grain(self, path: Path, channels: int):
        """The grain of a reference image, on its first ``channels`` channels."""
        from burnish.kernels import estimate_grain

        return self._get(("grain", path, channels),
                         lambda: estimate_grain(self.image(path)[..., :channels]))

    def sha256(self, path: Path) -> str:
        return self._get(("sha256", path), lambda: file_sha256(path))

    def model_record(self, runner) -> dict:
        """What provenance says of a model: name, architecture, file hash, backend, device."""
        runner = runner.unwrapped()
        d = runner.descriptor
        sha256 = d.sha256
        if sha256 is None and d.source not in ("", "builtin") and Path(d.source).is_file():
            sha256 = self.sha256(Path(d.source))
        return {"name": d.name, "architecture": d.architecture, "scale": d.scale,
                "sha256": sha256, "source": d.source,
                "backend": BACKEND_NAMES.get(type(runner).__name__, type(runner).__name__),
                "device": runner.device}

    def fill_record(self, reconstructor) -> dict | None:
        """What provenance says of an inpainting model (None for PatchMatch and Telea)."""
        if reconstructor.model is None:
            return None
        record = self.model_record(reconstructor.model)
        return {key: record[key] for key in ("name", "sha256", "source", "backend", "device")}

    def models_opened(self) -> list[dict]:
        """Records of every model asked of this object so far (a recipe's models are the
        same for every image, so after its first image this is the models each image
        used)."""
        records = []
        for key in list(self._used):
            value = self._cache[key]
            record = (self.model_record(value) if key[0] == "runner"
                      else self.fill_record(value) if key[0] == "fill" else None)
            if record is not None:
                records.append(record)
        return records

    def close(self) -> None:
        if not self._owner:
            return
        for value in self._cache.values():
            close = getattr(value, "close", None)
            if callable(close):
                close()
        self._cache.clear()

    def __enter__(self) -> Resources:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _model_path(spec: str | None, base: Path) -> str | None:
    """A model value as ``open_model`` takes it: names as they are, files from ``base``."""
    from burnish.engine.ops.params import Context, recipe_path
    from burnish.models.registry import model_names

    if spec is None or spec == "lanczos" or spec in model_names():
        return spec
    return str(recipe_path(spec, Context(base)))
