"""The contract every backend honours: a lifecycle and one validated ``infer`` call.

Following Polygraphy's runners: the public :meth:`Runner.infer` validates, the private
:meth:`Runner._infer_impl` computes. The tile scheduler knows runners only through this class.

Every output passes :func:`check_finite` on its way out (of :meth:`Runner.infer`, of the
probes, of :meth:`DeviceRunner.run_tensor`, of the inpainting model): a model that computes
NaN or Inf is a one-line :class:`~burnish.errors.ModelError` naming it, never an image of
black pixels written with exit status 0.
"""

from __future__ import annotations

import abc
import os

import numpy as np

from burnish.errors import ModelError
from burnish.models.descriptor import ModelDescriptor


def check_finite(output, *, model: str | os.PathLike, batch_shape: tuple[int, ...]):
    """``output`` (a NumPy array, or a tensor on a device), refused when it holds NaN or Inf.

    ``model`` names the model in the error (its file); ``batch_shape`` is the input's shape,
    which says which call failed. One pass over the output: cheap beside the model's own
    work. Tensors are checked with their own operations, on their device.
    """
    if isinstance(output, np.ndarray):
        finite, has_nan = np.isfinite(output).all, lambda: np.isnan(output).any()
    else:  # a torch tensor
        finite, has_nan = output.isfinite().all, lambda: output.isnan().any()
    if bool(finite()):
        return output
    kind = "NaN" if bool(has_nan()) else "infinite"
    n, c, h, w = batch_shape
    raise ModelError(f"the model produced {kind} values (on a batch of {n} tile"
                     f"{'s' if n != 1 else ''} of {h}x{w} pixels, {c} channels); refusing to "
                     "write an image from them", path=model)


class Runner(abc.ABC):
    """A loaded model that maps an ``N x C x H x W`` float32 batch to its upscaled batch."""

    descriptor: ModelDescriptor

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a batch of equally sized tiles.

        Parameters
        ----------
        batch : ndarray, float32, shape (N, C, H, W)
            Pixels in [0, 1]; ``C == descriptor.channels``; ``H`` and ``W`` multiples of
            ``descriptor.size_multiple`` and at least ``descriptor.min_size``.

        Returns
        -------
        ndarray, float32, shape (N, C, H * scale, W * scale)
            Not clipped: the caller decides how to bring values back into range.

        Raises
        ------
        burnish.errors.BackendOutOfMemory
            When the backend could not allocate memory for this batch; a smaller batch or
            smaller tiles may succeed.
        """
        d = self.descriptor
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1] != d.channels:
            raise ValueError(f"expected float32 N x {d.channels} x H x W, got "
                             f"{batch.dtype} {batch.shape}")
        height, width = batch.shape[2:]
        if height % d.size_multiple or width % d.size_multiple:
            raise ValueError(f"{height}x{width} is not a multiple of {d.size_multiple}")
        if min(height, width) < d.min_size:
            raise ValueError(f"{height}x{width} is below the minimum size {d.min_size}")
        out = self._infer_checked(np.ascontiguousarray(batch))
        expected = (batch.shape[0], d.channels, height * d.scale, width * d.scale)
        if out.shape != expected:
            raise ModelError(f"the model returned {' x '.join(map(str, out.shape))} for a "
                             f"{' x '.join(map(str, batch.shape))} batch, not the input "
                             f"scaled by {d.scale}", path=self.model_name)
        return out

    def _infer_checked(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`_infer_impl` with its output checked by :func:`check_finite`; for
        :meth:`infer`, and for the probes, which run models whose descriptor is not yet
        complete."""
        out = self._infer_impl(batch)
        if not isinstance(out, np.ndarray) or out.ndim != 4:
            raise ModelError(f"the model returned {_described(out)}, not an N x C x H x W "
                             "image batch", path=self.model_name)
        return check_finite(out, model=self.model_name, batch_shape=batch.shape)

    @property
    def model_name(self) -> str:
        """How errors name the model: its file, or its name for built-in ones."""
        d = self.descriptor
        return d.name if d.source == "builtin" else d.source

    @abc.abstractmethod
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        """Compute on a validated, contiguous batch."""

    @property
    def device(self) -> str:
        """Where the computation runs, for logs and provenance (``"cpu"``, ``"cuda:0"``)."""
        return "cpu"

    # Whether run_tensor takes tensors on the runner's device (the engine's GPU path).
    runs_tensors = False

    def run_tensor(self, batch):
        """The model on an ``N x C x H x W`` tensor on the runner's device, as a new tensor
        on it; refused (:func:`check_finite`) when the output holds NaN or Inf. Only for
        runners with :attr:`runs_tensors`."""
        if not self.runs_tensors:
            raise NotImplementedError(f"{type(self).__name__} runs NumPy batches only")
        return check_finite(self._run_tensor_impl(batch), model=self.model_name,
                            batch_shape=tuple(batch.shape))

    def _run_tensor_impl(self, batch):
        """Compute on a tensor on the device (runners with :attr:`runs_tensors`)."""
        raise NotImplementedError

    def unwrapped(self) -> Runner:
        """The runner that computes: itself, or the one a wrapper (the server's batching
        runner) hands its calls to. Provenance names that one's backend."""
        return self

    def close(self) -> None:
        """Release backend resources; the runner is unusable afterwards."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class DeviceRunner(Runner):
    """A runner that can also run on a tensor already on its device (the engine's GPU path
    keeps tiles there between the model and the kernels)."""

    runs_tensors = True

    @abc.abstractmethod
    def _run_tensor_impl(self, batch):
        """Compute on a tensor on the device."""


def _described(value) -> str:
    shape = getattr(value, "shape", None)
    return (f"a {len(shape)}-dimensional {' x '.join(map(str, shape))} array"
            if shape is not None else f"a {type(value).__name__}")
