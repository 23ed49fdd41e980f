"""Export-time fixes for architectures whose forward bakes the example's shape into an ONNX graph.

burnish exports super-resolution models with dynamic batch, height and width. Convolutional
networks trace to shape-free graphs, but the shifted-window transformers that spandrel loads
(SwinIR, Swin2SR, HAT, DAT) compute shape-dependent constants in plain Python, and both ONNX
exporters freeze them at the example input:

* ``window_reverse`` (``windows2img`` in DAT) recovers the batch size as
  ``int(windows.shape[0] / (H * W / ws / ws))``. ``int()`` of a traced size is a constant, so
  the graph reshapes every batch as if it had the example's batch size. With the legacy
  exporter that is a Reshape error or garbage; with the dynamo exporter the graph runs but
  scrambles channels and batch items whenever the batch differs from the example's. That is
  the "~1e-3 everywhere" error: in a randomly initialised model the transformer body only adds
  a small residual to the convolutional path, so scrambling it looks like a small error spread
  over the whole image (with trained weights it is ruinous).
* The shifted-window attention mask is built with Python slices and, in SwinIR and Swin2SR,
  taken from a buffer computed for ``img_size`` when ``self.input_resolution == x_size``. That
  comparison (``self.patches_resolution != _H`` in DAT) is traced as a constant branch, so an
  export from an ``img_size`` example applies the ``img_size`` mask at every size.
* ``check_image_size`` reflect-pads to a multiple of the window only ``if pad_h or pad_w``;
  that branch is frozen too, so an export from a window-multiple example never pads and fails
  on, say, 37x50.

:func:`traceable` swaps those pieces, for the duration of an export, for versions that compute
the same numbers from tensor shapes with tensor operations. With it the legacy exporter
(``torch.onnx.export(..., dynamo=False)``) gives a graph that matches
PyTorch at every batch size and image size, including sizes that are not multiples of the
window. The replacements give bit-identical results in PyTorch, so a model used inside the
context computes exactly what it computes outside (and, in fp16, also at sizes other than
``img_size``, where spandrel's SwinIR and Swin2SR fail on a float32 mask).

PyTorch is imported lazily so that the package's doctest collection works on installs without
the ``export`` extra.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# What the original masks add to attention between tokens of different shifted regions.
_CROSS_REGION_ATTENTION_BIAS = -100.0

# Class names of the modules patched below, as spandrel 0.4 names them.
_SWIN_BLOCKS = {"SwinTransformerBlock"}  # SwinIR's and Swin2SR's
_WINDOW_PADDED_MODELS = {"SwinIR", "Swin2SR", "HAT"}
_MODELS_WITH_SHARED_MASK = {"HAT"}  # one mask per forward, passed down to every block
_DAT_SPATIAL_ATTENTIONS = {"Adaptive_Spatial_Attention"}


@contextlib.contextmanager
def traceable(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block, `model`'s modules compute shape-dependent constants (SwinIR's
    shifted-window attention masks, window counts) from tensor shapes, so an ONNX export with
    dynamic height, width and batch gives, at every size, what PyTorch gives. Restores the
    original methods afterwards. A no-op for models that need nothing.

    Handles spandrel's SwinIR, Swin2SR, HAT and DAT.
    """
    patches = _Patches()
    try:
        for module in model.modules():
            _patch_module(module, patches)
        yield model
    finally:
        patches.restore()


def shifted_window_attention_mask(height: Any, width: Any, window: tuple[int, int],
                                  shift: tuple[int, int],
                                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """The shifted-window attention mask, ``(windows, wh * ww, wh * ww)``, from tensor ops only.

    Swin labels the rows ``[0, H - wh)``, ``[H - wh, H - sh)`` and ``[H - sh, H)`` as regions
    0, 1 and 2 (the last two are the ones the cyclic shift wrapped around), likewise the
    columns, and lets a token attend only to tokens of the same (row region, column region).
    Computing the labels by comparing ``arange`` with the size, instead of assigning Python
    slices, keeps ``height`` and ``width`` symbolic when they are traced sizes. The values
    (0 and -100, float32 unless ``dtype``) are exactly the original's.
    """
    import torch

    window_h, window_w = window
    row_region = _region_labels(height, window_h, shift[0])
    column_region = _region_labels(width, window_w, shift[1])
    region = row_region[:, None] * 3 + column_region[None, :]  # (H, W)
    region_windows = (region.view(height // window_h, window_h, width // window_w, window_w)
                      .permute(0, 2, 1, 3)
                      .reshape(-1, window_h * window_w))
    crosses_region = region_windows.unsqueeze(1) != region_windows.unsqueeze(2)
    mask = torch.where(crosses_region, _CROSS_REGION_ATTENTION_BIAS, 0.0)
    return mask if dtype is None else mask.to(dtype)


def _region_labels(length: Any, window: int, shift: int) -> torch.Tensor:
    import torch

    positions = torch.arange(length)
    # With shift 0 Swin's slices put every position in one region, these labels put a boundary
    # at ``length - window``; both give the same mask, since that boundary never cuts a window.
    return (positions >= length - window).long() + (positions >= length - shift).long()


def _window_reverse_any_batch(windows: torch.Tensor, window_size: int, h: Any,
                              w: Any) -> torch.Tensor:
    """``window_reverse`` of SwinIR, Swin2SR and HAT, with the batch size left to ``view``."""
    channels = windows.shape[-1]
    x = windows.view(-1, h // window_size, w // window_size, window_size, window_size, channels)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, h, w, channels)


def _windows2img_any_batch(img_splits_hw: torch.Tensor, H_sp: int, W_sp: int,  # noqa: N803
                           H: Any, W: Any) -> torch.Tensor:  # noqa: N803 (DAT's names)
    """DAT's ``windows2img``, with the batch size left to ``view``."""
    channels = img_splits_hw.shape[-1]
    img = img_splits_hw.view(-1, H // H_sp, W // W_sp, H_sp, W_sp, channels)
    return img.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, channels)


# Module-level helpers that recover the batch size with int(). They are replaced in the
# architecture's Python module (not on an instance) while the context is open; the
# replacements give identical results for every input the originals accept, so other models
# of the same architecture running meanwhile are unaffected.
_BATCH_AGNOSTIC_HELPERS: dict[str, Callable[..., torch.Tensor]] = {
    "window_reverse": _window_reverse_any_batch,
    "windows2img": _windows2img_any_batch,
}


def _pad_to_window_multiple(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``check_image_size`` without its ``if pad_h or pad_w``: always reflect-pads, by amounts
    computed from the (possibly traced) size, which are zero when it is already a multiple."""
    from torch.nn import functional as F

    multiple = model.window_size
    height, width = x.shape[2:]
    pad_bottom = (multiple - height % multiple) % multiple
    pad_right = (multiple - width % multiple) % multiple
    return F.pad(x, (0, pad_right, 0, pad_bottom), mode="reflect")


class _ComparesAs:
    """Stands in for a module's build-time resolution so that the "is this the size the
    cached mask was built for?" test has a fixed answer, instead of one traced as a constant.

    ``differs=True`` sends shifted blocks to the branch that calls (the patched)
    ``calculate_mask`` for the actual size. ``differs=False`` keeps unshifted Swin blocks on
    the branch with no mask, where the original adds an all-zero mask at sizes other than
    ``img_size`` (adding zeros changes nothing but costs a windows x N x N tensor per block).
    """

    def __init__(self, original: Any, *, differs: bool):
        self.original = original
        self.differs = differs

    def __eq__(self, other: object) -> bool:
        return not self.differs

    def __ne__(self, other: object) -> bool:
        return self.differs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.original)


class _Patches:
    """Attribute replacements, undone in reverse order."""

    _ABSENT = object()

    def __init__(self) -> None:
        self._undo: list[tuple[object, str, object]] = []

    def replace(self, owner: object, name: str, value: object) -> None:
        # A method found on the class must afterwards be removed from the instance, not left
        # there as a copy, so remember whether the owner itself held the attribute.
        own_value = vars(owner).get(name, self._ABSENT)
        self._undo.append((owner, name, own_value))
        setattr(owner, name, value)

    def replace_method(self, module: torch.nn.Module, name: str,
                       function: Callable[..., Any]) -> None:
        self.replace(module, name, types.MethodType(function, module))

    def restore(self) -> None:
        while self._undo:
            owner, name, own_value = self._undo.pop()
            if own_value is self._ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, own_value)


def _patch_module(module: torch.nn.Module, patches: _Patches) -> None:
    kind = type(module).__name__
    if kind in _WINDOW_PADDED_MODELS and hasattr(module, "check_image_size"):
        patches.replace_method(module, "check_image_size", _pad_to_window_multiple)
    if not hasattr(module, "calculate_mask"):
        return
    if kind in _SWIN_BLOCKS:
        _patch_swin_block(module, patches)
    elif kind in _MODELS_WITH_SHARED_MASK:
        patches.replace_method(module, "calculate_mask", _model_mask)
    elif kind in _DAT_SPATIAL_ATTENTIONS:
        _patch_dat_attention(module, patches)
    else:
        return
    architecture = sys.modules[type(module).__module__]
    for name, replacement in _BATCH_AGNOSTIC_HELPERS.items():
        current = getattr(architecture, name, None)
        if callable(current) and current is not replacement:
            patches.replace(architecture, name, replacement)


def _patch_swin_block(block: torch.nn.Module, patches: _Patches) -> None:
    shifted = block.shift_size > 0
    patches.replace(block, "input_resolution",
                    _ComparesAs(block.input_resolution, differs=shifted))
    if shifted:
        patches.replace_method(block, "calculate_mask", _block_mask)


def _block_mask(block: torch.nn.Module, x_size: tuple[Any, Any]) -> torch.Tensor:
    height, width = x_size
    window, shift = block.window_size, block.shift_size
    # In the dtype of the cached mask, which follows the model's (.half()): the original builds
    # float32 masks for other sizes, which fails in an fp16 model ("float != Half" in matmul).
    return shifted_window_attention_mask(height, width, (window, window), (shift, shift),
                                         block.attn_mask.dtype)


def _model_mask(model: torch.nn.Module, x_size: tuple[Any, Any],
                dtype: torch.dtype | None = None) -> torch.Tensor:
    height, width = x_size
    window, shift = model.window_size, model.shift_size
    return shifted_window_attention_mask(height, width, (window, window), (shift, shift), dtype)


def _patch_dat_attention(attention: torch.nn.Module, patches: _Patches) -> None:
    # Only DAT's shifted blocks read patches_resolution; "differs" sends them to the branch
    # that calls calculate_mask for the actual (padded) size.
    patches.replace(attention, "patches_resolution",
                    _ComparesAs(attention.patches_resolution, differs=True))
    patches.replace_method(attention, "calculate_mask", _dat_masks)


def _dat_masks(attention: torch.nn.Module, height: Any, width: Any,
               dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    # DAT's two branches use rectangular windows (and shifts) transposed to each other.
    split, shift = tuple(attention.split_size), tuple(attention.shift_size)
    return (shifted_window_attention_mask(height, width, split, shift, dtype),
            shifted_window_attention_mask(height, width, split[::-1], shift[::-1], dtype))
