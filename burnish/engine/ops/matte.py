"""The ``cutout`` and ``background`` ops: the subject's edge matted
(:func:`burnish.engine.cutout.cutout`), then kept with its alpha, or laid over a new
background.

The subject is the step's region (:mod:`.region`: a mask file, boxes, polygons, a colour
key, or ``detect = "subject"`` with a saliency or SAM model, or GrabCut from
``detect_box``). Both need the whole image (the matting solves the band around the edge as
one system).

- ``cutout`` adds (or replaces) the alpha channel: RGB becomes RGBA, grey becomes grey +
  alpha; a format without alpha (JPEG) then refuses the output, naming the file.
- ``background`` lays the matted subject over a colour, an image (scaled to cover the
  frame, centred) or the image itself blurred with the subject left out of the blur (so
  no halo of the subject's colour spreads into it): ``subject * alpha + new * (1 - alpha)``;
  where the alpha is 1 the pixels are the input's, bit for bit. The result has no alpha.
"""

from __future__ import annotations

import numpy as np

from burnish.engine.cutout import DEFAULT_BAND
from burnish.engine.ops.declare import Op, Outcome, Param, StepInput, whole_stage
from burnish.engine.ops.params import File, Number, resolve_file
from burnish.engine.ops.region import (
    COLOUR,
    check_region,
    colour_count,
    has_region,
    region_mask,
    region_params,
)
from burnish.engine.sparse_mask import SparseMask
from burnish.engine.tiling.chain import Stage
from burnish.errors import InputError
from burnish.kernels.dtypes import full_scale

BAND = Param("band", Number(1, 200, integer=True), "Pixels each side of the subject's edge "
             "whose alpha is matted.", DEFAULT_BAND)
SUBJECT = tuple(p for p in region_params(feather=0.0, what="the subject")
                if p.name != "feather")  # the matte is the edge: no feather on top


def _matted(pixels: np.ndarray, step: StepInput) -> np.ndarray:
    """The cut-out of ``pixels``: colour channels and the matted alpha, in their dtype."""
    from burnish.engine.cutout import cutout

    subject = region_mask(pixels, step)
    if not subject.any():
        raise InputError("the subject region selects no pixel: nothing to cut out",
                         path=step.image)
    try:
        return cutout(pixels, subject, band=step.params["band"])
    except InputError as error:
        raise InputError(error.problem, path=step.image) from None


def _opaque(rgba: np.ndarray) -> np.ndarray:
    return rgba[..., -1] == full_scale(rgba.dtype)


def _cutout(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    def compute(pixels: np.ndarray) -> Outcome:
        rgba = _matted(pixels, step)
        return Outcome(rgba, edited=SparseMask.from_dense(~_opaque(rgba)))

    shape = (upstream.height, upstream.width, colour_count(upstream.channels) + 1)
    return whole_stage(upstream, outcome, compute, shape)


def _new_background(pixels: np.ndarray, alpha: np.ndarray, step: StepInput) -> np.ndarray:
    """The background, float32 ``H x W x C`` (C: the image's colour channels) in [0, 1]."""
    from burnish.engine.edit_masks import parse_colour
    from burnish.engine.pixels import to_float
    from burnish.kernels import gaussian_blur
    from burnish.models.inpaint_model import resize_pixels

    p = step.params
    height, width, channels = pixels.shape
    if p["colour"] is not None:
        rgb = np.float32(parse_colour(p["colour"])) / np.float32(255)
        value = rgb[:channels] if channels == 3 else rgb.mean(keepdims=True)
        return np.broadcast_to(value, pixels.shape).astype(np.float32)
    if p["backdrop"] is not None:
        try:
            path = resolve_file(p["backdrop"], step.context, step.image)
        except ValueError as error:
            raise InputError(f"backdrop: {error}", path=step.image) from None
        other = to_float(step.resources.image(path))
        other = other if other.ndim == 3 else other[:, :, None]
        other = other[..., :colour_count(other.shape[2])]
        if other.shape[2] != channels:  # grey over colour, or colour over grey
            other = (np.repeat(other, channels, axis=2) if other.shape[2] == 1
                     else other.mean(axis=2, keepdims=True))
        ratio = max(height / other.shape[0], width / other.shape[1])  # cover the frame
        size = (max(height, round(other.shape[0] * ratio)), max(width, round(other.shape[1] * ratio)))
        other = np.clip(resize_pixels(np.ascontiguousarray(other, np.float32), *size), 0, 1)
        top, left = (size[0] - height) // 2, (size[1] - width) // 2
        return other[top:top + height, left:left + width]
    # The image blurred without its subject: each pixel the blur-weighted mean of the
    # background around it (a normalised convolution), so the subject's colour does not
    # bleed into the blur round its edge.
    device = step.resources.kernel_device
    colour, weight = to_float(pixels), (1.0 - alpha).astype(np.float32)
    spread = gaussian_blur(weight, p["blur"], device=device)
    lonely = spread <= 1e-3  # deep inside a large subject: no background within reach
    plain = np.empty_like(colour)
    for c in range(channels):
        plain[..., c] = (gaussian_blur(colour[..., c] * weight, p["blur"], device=device)
                         / np.maximum(spread, 1e-3))
        if lonely.any():  # there the plain blur (the subject covers it anyway)
            plain[..., c][lonely] = gaussian_blur(colour[..., c], p["blur"],
                                                  device=device)[lonely]
    return np.clip(plain, 0.0, 1.0)


def _background(upstream: Stage, step: StepInput, outcome: Outcome) -> Stage:
    from burnish.engine.pixels import from_float, to_float

    def compute(pixels: np.ndarray) -> Outcome:
        rgba = _matted(pixels, step)
        n = rgba.shape[2] - 1
        alpha = to_float(rgba[..., n:])
        new = _new_background(pixels[..., :n], alpha[..., 0], step)
        laid = from_float(to_float(rgba[..., :n]) * alpha + new * (1 - alpha), pixels.dtype)
        opaque = _opaque(rgba)
        laid[opaque] = pixels[opaque, :n]
        return Outcome(laid, edited=SparseMask.from_dense(~opaque))

    shape = (upstream.height, upstream.width, colour_count(upstream.channels))
    return whole_stage(upstream, outcome, compute, shape)


def _check_subject(params: dict) -> None:
    check_region(params)
    if not has_region(params):
        raise ValueError("say what the subject is: mask, boxes, polygons, key or detect "
                         "(subject, with a model or detect_box)")
    if params["detect"] == "text":
        raise ValueError("detect: the subject of a cut-out is subject or background, not text")


def _check_background(params: dict) -> None:
    _check_subject(params)
    given = [name for name in ("colour", "backdrop", "blur") if params[name] is not None]
    if len(given) != 1:
        raise ValueError("give one new background: colour, backdrop (an image) or blur"
                         + (f" (not {' and '.join(given)})" if given else ""))


CUTOUT = Op(
    "cutout", "Cut the subject out: its edge matted (hair, fur, glass) into an alpha "
    "channel, its colour there freed of the old background.",
    (*SUBJECT, BAND),
    _cutout,
    check_together=_check_subject,
)

BACKGROUND = Op(
    "background", "Replace the background: the matted subject over a colour, an image, or "
    "the image blurred without its subject.",
    (
        *SUBJECT, BAND,
        Param("colour", COLOUR, "A plain background of this colour.", None),
        Param("backdrop", File(template=True), "A background image, scaled to cover the "
              "frame and centred.", None),
        Param("blur", Number(0.5, 500), "The image itself blurred (Gaussian sigma, pixels), "
              "the subject left out of the blur.", None),
    ),
    _background,
    check_together=_check_background,
)
