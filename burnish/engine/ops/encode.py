"""The ``encode`` op: how the result is written (format, quality, bit depth, name, metadata).

It must be the last step, and it is not an edit: ``burnish run`` reads its parameters to write
each output (:func:`output_dtype`, :func:`suffix_for`), and the provenance lists the edits
before it. It changes pixels only when the bit depth changes (16-bit sources delivered as
8-bit JPEG or WebP are converted, rounding to nearest).
"""

from __future__ import annotations

import numpy as np

from burnish.engine.ops.declare import Op, Outcome, Param, StepInput
from burnish.engine.ops.params import Choice, Flag, NameTemplate, Number
from burnish.engine.tiling.chain import Stage, TiledStage

FORMATS = {"same": None, "png": ".png", "jpeg": ".jpg", "tiff": ".tif", "webp": ".webp"}
EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".webp")
DEFAULTS = {"format": "same", "quality": 95, "depth": "same", "name": "{stem}",
            "strip_exif": False}


def suffix_for(params: dict, input_suffix: str) -> str:
    """The output suffix: the chosen format's, or the input's own."""
    return FORMATS[params["format"]] or input_suffix.lower()


def output_dtype(params: dict, input_suffix: str, dtype) -> np.dtype:
    """The dtype an output is written in: the depth asked for, 8-bit for formats that hold
    nothing else, else the pixels' own."""
    depth = params["depth"]
    if depth == "8" or (depth == "same" and suffix_for(params, input_suffix) in EIGHT_BIT_ONLY):
        return np.dtype(np.uint8)
    return np.dtype(np.uint16) if depth == "16" else np.dtype(dtype)


def convert_for_output(pixels: np.ndarray, params: dict,
                       input_suffix: str) -> tuple[np.ndarray, str | None]:
    """``pixels`` in the output's dtype, and a note when that changed the depth."""
    from burnish.engine.pixels import from_float, to_float

    dtype = output_dtype(params, input_suffix, pixels.dtype)
    if dtype == pixels.dtype:
        return pixels, None
    return from_float(to_float(pixels), dtype), f"written as {dtype.itemsize * 8}-bit"


def _encode(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    """The bit depth the output is written in, pixel by pixel."""
    from burnish.engine.pixels import from_float, to_float

    dtype = output_dtype(step.params, step.image.suffix, upstream.dtype)
    outcome.edited = np.zeros((upstream.height, upstream.width), bool)
    if dtype == upstream.dtype:
        return TiledStage(upstream, lambda window, top: window)
    outcome.note = f"written as {dtype.itemsize * 8}-bit"
    return TiledStage(upstream, lambda window, top: from_float(to_float(window), dtype),
                      dtype=dtype)


ENCODE = Op(
    "encode", "How the output is written; the last step.",
    (Param("format", Choice(tuple(FORMATS)), "Output format (same: the input's).",
           DEFAULTS["format"]),
     Param("quality", Number(1, 100, integer=True), "JPEG/WebP quality (100: lossless WebP).",
           DEFAULTS["quality"]),
     Param("depth", Choice(("same", "8", "16")), "Bit depth (same: the input's; JPEG and "
           "WebP are always 8-bit).", DEFAULTS["depth"]),
     Param("name", NameTemplate(), "Output file name without extension.", DEFAULTS["name"]),
     Param("strip_exif", Flag(), "Leave the input's EXIF (camera, GPS) out of the output.",
           DEFAULTS["strip_exif"])),
    _encode,
    role="encode",
)
