"""The contract every backend honours: a lifecycle and one validated ``infer`` call.

Following Polygraphy's runners: the public :meth:`Runner.infer` validates, the private
:meth:`Runner._infer_impl` computes. The tile scheduler knows runners only through this class.
"""

from __future__ import annotations

import abc

import numpy as np

from burnish.models.descriptor import ModelDescriptor


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
        return self._infer_impl(np.ascontiguousarray(batch))

    @abc.abstractmethod
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        """Compute on a validated, contiguous batch."""

    @property
    def device(self) -> str:
        """Where the computation runs, for logs and provenance (``"cpu"``, ``"cuda:0"``)."""
        return "cpu"

    def close(self) -> None:
        """Release backend resources; the runner is unusable afterwards."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
