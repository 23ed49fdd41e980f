"""Colour look-up tables (.cube) and the basic tonal adjustments, with optional masks.

A :class:`Lut` holds a float32 table: ``(N, N, N, 3)`` indexed ``[r, g, b]`` for a 3D LUT,
``(N, 3)`` for a 1D LUT (one curve per channel). :func:`read_cube` reads the Adobe / Resolve
``.cube`` text format, in which the *red* index of a 3D table changes fastest.

Conventions shared by every function here:

- Images are H x W x 3, uint8, uint16 or float32 in [0, 1]; a sample is read as ``value / top``
  (``top`` = 255, 65535 or 1), processed in float32, clipped to [0, 1] and written back in the
  input's dtype (integers rounded to nearest, half to even).
- LUT inputs are the encoded values as stored: they are mapped from ``[domain_min,
  domain_max]`` to table coordinates ``[0, N - 1]`` and clamped to the table. 3D tables are
  interpolated trilinearly or tetrahedrally (the cube split into 6 tetrahedra by the order of
  the fractional coordinates, as in Resolve, OCIO and most grading tools), 1D tables linearly.
- Adjustments that are physical (exposure, white balance, saturation) decode sRGB to linear
  light, act there, and encode back; contrast is a perceptual operation and acts on the encoded
  values. Each docstring says which.
- ``mask`` (H x W float32, clipped to [0, 1]) is the weight of the adjusted result:
  ``out = mask * adjusted + (1 - mask) * image`` in encoded values. Where it is exactly 0 the
  pixel is copied bit for bit, so a masked edit changes nothing outside its mask.

Kernels (see :mod:`burnish.kernels.dispatch`): every public function takes ``device="cpu"`` or
``"cuda"`` and gives the same result on both. Each kernel is one ``@njit`` body called once per
output value by two drivers, a loop over bands of rows in threads and a ``@cuda.jit``
kernel with one thread per pixel. The adjustments mix channels (saturation), so their body
returns a pixel's three samples; the LUT bodies return one sample and take the table itself,
so the CUDA driver calls their :func:`~burnish.kernels.dispatch.device_function` twins. For the
CUDA driver the image, mask and table are copied to the GPU and the output back.

Both drivers do the same float32 operations in the same order, and the tests check that their
outputs are byte for byte equal in Numba's CUDA simulator. On a real GPU two things can still
move a float32 result by an ulp (and an integer one by a level, at a rounding tie): Numba
compiles CUDA with fused multiply-adds enabled (``a * b + c`` rounded once), and the GPU's
``powf`` (sRGB transfer) is not the CPU's.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit

from burnish.errors import InputError
from burnish.kernels.dispatch import Out, check_device, cuda, cuda_kernel, device_function, run
from burnish.kernels.dtypes import check_pixel_dtype, full_scale
from burnish.kernels.primitives import clip_value, round_half_even
from burnish.kernels.srgb import linear_to_srgb_f32, srgb_to_linear_f32
from burnish.kernels.threads import band_driver

# Rec.709 / sRGB luminance weights of linear light.
_LUMA_R, _LUMA_G, _LUMA_B = 0.2126, 0.7152, 0.0722

# Operations of the adjustment driver: one compiled loop serves all of them.
_GAIN, _SATURATION, _CONTRAST = 0, 1, 2

_MIN_SIZE, _MAX_SIZE = 2, 256
# Data lines parsed per np.loadtxt call: bounded memory, and C-speed parsing of big tables.
_BATCH_LINES = 65536


@dataclass(frozen=True, eq=False)  # eq=False: the generated __eq__ cannot compare arrays
class Lut:
    """A 1D or 3D colour look-up table.

    Attributes
    ----------
    table : ndarray, float32
        ``(N, N, N, 3)`` indexed ``[r, g, b]`` for a 3D LUT, ``(N, 3)`` for a 1D LUT.
    domain_min, domain_max : tuple of 3 floats
        Input values mapped to the first and the last table entry, per channel.
    title : str or None
    kind : {"1D", "3D"}
        Inferred from ``table`` when left as None.
    """

    table: np.ndarray
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str | None = None
    kind: str | None = None

    def __post_init__(self):
        table = np.ascontiguousarray(self.table, dtype=np.float32)
        size = table.shape[0] if table.ndim else 0
        if table.shape == (size, size, size, 3):
            kind = "3D"
        elif table.shape == (size, 3):
            kind = "1D"
        else:
            raise ValueError(f"a LUT table must be (N, N, N, 3) or (N, 3), got {table.shape}")
        if self.kind not in (None, kind):
            raise ValueError(f"kind {self.kind!r} does not fit a table of shape {table.shape}")
        if not _MIN_SIZE <= size <= _MAX_SIZE:
            raise ValueError(f"LUT size must be {_MIN_SIZE}..{_MAX_SIZE}, got {size}")
        low = tuple(float(v) for v in self.domain_min)
        high = tuple(float(v) for v in self.domain_max)
        if len(low) != 3 or len(high) != 3 or not all(a < b for a, b in zip(low, high)):
            raise ValueError(f"domain must be 3 increasing pairs, got {low} to {high}")
        # frozen: the normalised values are set once, here
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "domain_min", low)
        object.__setattr__(self, "domain_max", high)
        object.__setattr__(self, "kind", kind)

    @property
    def size(self) -> int:
        """Entries per axis (N)."""
        return self.table.shape[0]


# --------------------------------------------------------------------------------------------
# .cube reader


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _floats(tokens: list[str], count: int, keyword: str, path, lineno: int) -> list[float]:
    if len(tokens) != count or not all(_is_number(t) for t in tokens):
        raise InputError(f"line {lineno}: {keyword} needs {count} numbers, got "
                         f"{' '.join(tokens) or 'none'!r}", path=path)
    return [float(t) for t in tokens]


def _find_bad_line(lines: list[str], first_lineno: int, path) -> None:
    """Raise the InputError for the first malformed data line (slow: only on the error path)."""
    for offset, line in enumerate(lines):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        lineno = first_lineno + offset
        if len(tokens) != 3:
            raise InputError(f"line {lineno}: expected 3 values, got {len(tokens)}", path=path)
        for token in tokens:
            if not _is_number(token):
                raise InputError(f"line {lineno}: not a number: {token[:40]!r}", path=path)


def _read_header(lines, path):
    """Consume keyword lines; return the header and the first data line with its number."""
    header = {"title": None, "size": None, "kind": None,
              "low": [0.0] * 3, "high": [1.0] * 3}
    for lineno, raw in lines:
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        if _is_number(tokens[0]):
            return header, lineno, raw
        keyword, args = tokens[0].upper(), tokens[1:]
        if keyword == "TITLE":
            # the title is quoted and may contain spaces (and '#'): take the raw remainder
            header["title"] = raw.strip()[len(tokens[0]):].strip().strip('"')
        elif keyword in ("LUT_3D_SIZE", "LUT_1D_SIZE"):
            if header["size"] is not None:
                raise InputError(f"line {lineno}: a second LUT size", path=path)
            (size,) = _floats(args, 1, keyword, path, lineno)
            if size != int(size) or not _MIN_SIZE <= size <= _MAX_SIZE:
                raise InputError(f"line {lineno}: {keyword} {args[0]} is outside "
                                 f"{_MIN_SIZE}..{_MAX_SIZE}", path=path)
            header["size"], header["kind"] = int(size), keyword[4:6]
        elif keyword == "DOMAIN_MIN":
            header["low"] = _floats(args, 3, keyword, path, lineno)
        elif keyword == "DOMAIN_MAX":
            header["high"] = _floats(args, 3, keyword, path, lineno)
        elif keyword in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
            low, high = _floats(args, 2, keyword, path, lineno)
            header["low"], header["high"] = [low] * 3, [high] * 3
        else:
            raise InputError(f"line {lineno}: unknown keyword {tokens[0][:40]!r}", path=path)
    return header, None, None


def read_cube(path: str | os.PathLike) -> Lut:
    """Read an Adobe / Resolve ``.cube`` LUT.

    Keywords: ``TITLE "..."``, ``LUT_3D_SIZE N`` or ``LUT_1D_SIZE N`` (N in 2..256),
    ``DOMAIN_MIN r g b`` and ``DOMAIN_MAX r g b`` (default 0 0 0 and 1 1 1), or Resolve's
    ``LUT_3D_INPUT_RANGE lo hi`` / ``LUT_1D_INPUT_RANGE lo hi``; ``#`` starts a comment. Then
    N**3 (or N) lines of 3 numbers; in a 3D table the red index changes fastest (line ``i``
    holds ``r = i % N``, ``g = (i // N) % N``, ``b = i // N**2``).

    The file is streamed: data lines are parsed in batches with :func:`numpy.loadtxt`
    straight into the table.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Lut

    Raises
    ------
    InputError
        The file is missing or unreadable, or malformed (unknown keyword, size out of range,
        wrong number of values on a line, non-numeric value, wrong number of lines); the
        message names the file and, where one is to blame, the line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> cube = pathlib.Path(tempfile.mkdtemp()) / "id.cube"
    >>> _ = cube.write_text("LUT_1D_SIZE 2\\n0 0 0\\n1 1 1\\n")
    >>> lut = read_cube(cube)
    >>> lut.kind, lut.table.shape
    ('1D', (2, 3))
    """
    try:
        with open(path, encoding="utf-8") as file:
            return _parse_cube(file, path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text .cube file (not UTF-8)", path=path) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=path) from None


def _parse_cube(file, path) -> Lut:
    lines = enumerate(file, start=1)
    header, first_lineno, first_line = _read_header(lines, path)
    size, kind = header["size"], header["kind"]
    if size is None:
        raise InputError("no LUT_3D_SIZE or LUT_1D_SIZE line", path=path)
    expected = size**3 if kind == "3D" else size
    flat = np.empty((expected, 3), np.float32)
    filled = 0
    batch_start = first_lineno
    pending = itertools.chain([(first_lineno, first_line)] if first_line is not None else [],
                              lines)
    while True:
        numbered = list(itertools.islice(pending, _BATCH_LINES))
        if not numbered:
            break
        batch = [line for _, line in numbered]
        batch_start = numbered[0][0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a batch of only comments
                values = np.loadtxt(batch, dtype=np.float32, comments="#", ndmin=2)
        except ValueError:
            _find_bad_line(batch, batch_start, path)
            raise  # loadtxt refused something the line scan accepts: a bug, not the file
        if values.size and values.shape[1] != 3:
            _find_bad_line(batch, batch_start, path)
        if filled + len(values) > expected:
            extra = _nth_data_line(batch, batch_start, expected - filled)
            raise InputError(f"line {extra}: more than the {expected} entries of a "
                             f"{kind} LUT of size {size}", path=path)
        flat[filled:filled + len(values)] = values
        filled += len(values)
    if filled < expected:
        raise InputError(f"{filled} entries, a {kind} LUT of size {size} needs {expected}",
                         path=path)
    if not np.isfinite(flat).all():
        raise InputError("the table holds non-finite values", path=path)
    if kind == "3D":
        # rows run r fastest, so the C-order reshape is [b, g, r]
        table = np.ascontiguousarray(flat.reshape(size, size, size, 3).transpose(2, 1, 0, 3))
    else:
        table = flat
    try:
        return Lut(table, tuple(header["low"]), tuple(header["high"]), header["title"], kind)
    except ValueError as error:
        raise InputError(str(error), path=path) from None


def _nth_data_line(lines: list[str], first_lineno: int, index: int) -> int:
    """Line number of the data line ``index`` (0-based) of a batch."""
    seen = 0
    for offset, line in enumerate(lines):
        if line.split("#", 1)[0].split():
            if seen == index:
                return first_lineno + offset
            seen += 1
    return first_lineno + len(lines) - 1


# --------------------------------------------------------------------------------------------
# Scalar helpers
#
# A helper that is given a float computed by another helper casts it to float32 on entry: in
# the CUDA simulator, the LUT bodies run as Python and a helper's result comes back boxed as a
# Python float, which the next helper would otherwise receive as float64. The cast is exact,
# and a no-op where the bodies are compiled (CPU and GPU).


@njit(cache=True, inline="always")
def _non_negative(value):
    return clip_value(value, np.float32(0), np.float32(np.inf))


@njit(cache=True, inline="always")
def _weight(mask_value, masked):
    """The weight of the adjusted result at a pixel, from its raw mask sample."""
    if not masked:
        return np.float32(1)
    return clip_value(np.float32(mask_value), np.float32(0), np.float32(1))


@njit(cache=True, inline="always")
def _finish(value, stored, weight, top, rounded):
    """The stored output sample: ``value`` (in [0, 1] units) clipped, mixed with the stored
    input sample by ``weight`` > 0, scaled to the dtype and, for integers, rounded to nearest
    (half to even)."""
    value, weight = np.float32(value), np.float32(weight)
    value = clip_value(value, np.float32(0), np.float32(1))
    if weight != 1:
        value = weight * value + (np.float32(1) - weight) * (np.float32(stored) / top)
    value = value * top
    return round_half_even(value) if rounded else value


@njit(cache=True, inline="always")
def _coordinate(stored, top, low, scale, last):
    """Table cell and fraction of one stored input sample; clamped so the cell + 1 exists."""
    position = clip_value((np.float32(stored) / top - low) * scale, np.float32(0), np.float32(last))
    cell = int(position)
    if cell > last - 1:
        cell = last - 1
    return cell, position - np.float32(cell)


@njit(cache=True, inline="always")
def _lerp(a, b, f):
    # (1 - f) a + f b, not a + f (b - a): exact at both f = 0 and f = 1, so grid nodes are
    # reproduced bit for bit
    f = np.float32(f)
    return (np.float32(1) - f) * a + f * b


@njit(cache=True, inline="always")
def _tetrahedron(fr, fg, fb):
    """The tetrahedron holding (fr, fg, fb) in the unit cube: offsets of its two middle
    corners (the first and last corners are 000 and 111) and the four barycentric weights.
    The corners are reached by stepping along the axes in decreasing order of fraction."""
    fr, fg, fb = np.float32(fr), np.float32(fg), np.float32(fb)
    one = np.float32(1)
    if fr > fg:
        if fg > fb:
            return 1, 0, 0, 1, 1, 0, one - fr, fr - fg, fg - fb, fb
        if fr > fb:
            return 1, 0, 0, 1, 0, 1, one - fr, fr - fb, fb - fg, fg
        return 0, 0, 1, 1, 0, 1, one - fb, fb - fr, fr - fg, fg
    if fb > fg:
        return 0, 0, 1, 0, 1, 1, one - fb, fb - fg, fg - fr, fr
    if fb > fr:
        return 0, 1, 0, 0, 1, 1, one - fg, fg - fb, fb - fr, fr
    return 0, 1, 0, 1, 1, 0, one - fg, fg - fr, fr - fb, fb


@njit(cache=True, inline="always")
def _tetrahedral_mix(w0, v0, w1, v1, w2, v2, w3, v3):
    """The four corner values ``v`` weighted by their barycentric weights ``w``."""
    w0, w1, w2, w3 = np.float32(w0), np.float32(w1), np.float32(w2), np.float32(w3)
    return w0 * v0 + w1 * v1 + w2 * v2 + w3 * v3


@njit(cache=True, inline="always")
def _trilinear_mix(fr, fg, fb, v000, v100, v010, v110, v001, v101, v011, v111):
    """The eight corner values ``v[r][g][b]`` interpolated along r, then g, then b."""
    fr, fg, fb = np.float32(fr), np.float32(fg), np.float32(fb)
    g0 = _lerp(_lerp(v000, v100, fr), _lerp(v010, v110, fr), fg)
    g1 = _lerp(_lerp(v001, v101, fr), _lerp(v011, v111, fr), fg)
    return _lerp(g0, g1, fb)


@njit(cache=True, inline="always")
def _adjusted(r, g, b, op, p0, p1, p2):
    """One pixel through an adjustment; encoded [0, 1] in and out (out not yet clipped)."""
    if op == _CONTRAST:
        half = np.float32(0.5)
        return half + p0 * (r - half), half + p0 * (g - half), half + p0 * (b - half)
    r, g, b = srgb_to_linear_f32(r), srgb_to_linear_f32(g), srgb_to_linear_f32(b)
    if op == _GAIN:
        r, g, b = r * p0, g * p1, b * p2
    else:  # _SATURATION
        luma = (np.float32(_LUMA_R) * r + np.float32(_LUMA_G) * g
                + np.float32(_LUMA_B) * b)
        r, g, b = luma + p0 * (r - luma), luma + p0 * (g - luma), luma + p0 * (b - luma)
    return (linear_to_srgb_f32(_non_negative(r)), linear_to_srgb_f32(_non_negative(g)),
            linear_to_srgb_f32(_non_negative(b)))


# --------------------------------------------------------------------------------------------
# Bodies: one call per output value, returning what the driver stores


@njit(cache=True, inline="always")
def _lut3d_sample(r, g, b, c, mask_value, masked, table, low, scale, top, rounded, tetrahedral):
    """Output channel ``c`` of the pixel whose stored samples are ``r, g, b``.

    Takes the table (and the per-channel ``low``, ``scale``), so the CUDA driver calls its
    :func:`~burnish.kernels.dispatch.device_function` twin. It reads the table and adds indices;
    all float arithmetic is in the scalar helpers (see the note above them). Each channel
    recomputes the pixel's cell and tetrahedron; on the CPU that costs about 8% against the
    former loop that shared them across channels (33-point table, one thread).
    """
    stored = r if c == 0 else (g if c == 1 else b)
    weight = _weight(mask_value, masked)
    if weight == 0:
        return np.float32(stored)
    last = table.shape[0] - 1
    ir, fr = _coordinate(r, top, low[0], scale[0], last)
    ig, fg = _coordinate(g, top, low[1], scale[1], last)
    ib, fb = _coordinate(b, top, low[2], scale[2], last)
    if tetrahedral:
        ar, ag, ab, br, bg, bb, w0, w1, w2, w3 = _tetrahedron(fr, fg, fb)
        value = _tetrahedral_mix(w0, table[ir, ig, ib, c],
                                 w1, table[ir + ar, ig + ag, ib + ab, c],
                                 w2, table[ir + br, ig + bg, ib + bb, c],
                                 w3, table[ir + 1, ig + 1, ib + 1, c])
    else:
        value = _trilinear_mix(fr, fg, fb,
                               table[ir, ig, ib, c], table[ir + 1, ig, ib, c],
                               table[ir, ig + 1, ib, c], table[ir + 1, ig + 1, ib, c],
                               table[ir, ig, ib + 1, c], table[ir + 1, ig, ib + 1, c],
                               table[ir, ig + 1, ib + 1, c], table[ir + 1, ig + 1, ib + 1, c])
    return _finish(value, stored, weight, top, rounded)


@njit(cache=True, inline="always")
def _lut1d_sample(stored, c, mask_value, masked, table, low, scale, top, rounded):
    """Output channel ``c`` of a pixel through a 1D LUT (channels are independent)."""
    weight = _weight(mask_value, masked)
    if weight == 0:
        return np.float32(stored)
    i, f = _coordinate(stored, top, low[c], scale[c], table.shape[0] - 1)
    return _finish(_lerp(table[i, c], table[i + 1, c], f), stored, weight, top, rounded)


@njit(cache=True, inline="always")
def _adjust_pixel(r, g, b, mask_value, masked, top, rounded, op, p0, p1, p2):
    """The three output samples of a pixel through an adjustment (saturation mixes channels,
    so the body is per pixel). Takes no arrays: both drivers call it as it is."""
    weight = _weight(mask_value, masked)
    if weight == 0:
        return np.float32(r), np.float32(g), np.float32(b)
    ar, ag, ab = _adjusted(np.float32(r) / top, np.float32(g) / top, np.float32(b) / top,
                           op, p0, p1, p2)
    return (_finish(ar, r, weight, top, rounded), _finish(ag, g, weight, top, rounded),
            _finish(ab, b, weight, top, rounded))


_lut3d_sample_gpu = device_function(_lut3d_sample)
_lut1d_sample_gpu = device_function(_lut1d_sample)


# --------------------------------------------------------------------------------------------
# Drivers: the same loops, on the CPU over rows in parallel, on the GPU one thread per pixel.
# ``mask`` is an empty stand-in when ``masked`` is False and is then never read.


@band_driver
def _lut3d_cpu(image, table, low, scale, mask, masked, out, top, rounded, tetrahedral,
               first_row, stop_row):
    for y in range(first_row, stop_row):
        for x in range(image.shape[1]):
            r, g, b = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            mask_value = mask[y, x] if masked else np.float32(1)
            for c in range(3):
                out[y, x, c] = _lut3d_sample(r, g, b, c, mask_value, masked, table, low, scale,
                                             top, rounded, tetrahedral)


@cuda_kernel
def _lut3d_cuda(image, table, low, scale, mask, masked, out, top, rounded, tetrahedral):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        r, g, b = image[y, x, 0], image[y, x, 1], image[y, x, 2]
        mask_value = mask[y, x] if masked else np.float32(1)
        for c in range(3):
            out[y, x, c] = _lut3d_sample_gpu(r, g, b, c, mask_value, masked, table, low, scale,
                                             top, rounded, tetrahedral)


@band_driver
def _lut1d_cpu(image, table, low, scale, mask, masked, out, top, rounded, first_row, stop_row):
    for y in range(first_row, stop_row):
        for x in range(image.shape[1]):
            mask_value = mask[y, x] if masked else np.float32(1)
            for c in range(3):
                out[y, x, c] = _lut1d_sample(image[y, x, c], c, mask_value, masked, table, low,
                                             scale, top, rounded)


@cuda_kernel
def _lut1d_cuda(image, table, low, scale, mask, masked, out, top, rounded):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        mask_value = mask[y, x] if masked else np.float32(1)
        for c in range(3):
            out[y, x, c] = _lut1d_sample_gpu(image[y, x, c], c, mask_value, masked, table, low,
                                             scale, top, rounded)


@band_driver
def _adjust_cpu(image, mask, masked, out, top, rounded, op, p0, p1, p2, first_row, stop_row):
    for y in range(first_row, stop_row):
        for x in range(image.shape[1]):
            mask_value = mask[y, x] if masked else np.float32(1)
            out[y, x, 0], out[y, x, 1], out[y, x, 2] = _adjust_pixel(
                image[y, x, 0], image[y, x, 1], image[y, x, 2], mask_value, masked, top, rounded,
                op, p0, p1, p2)


@cuda_kernel
def _adjust_cuda(image, mask, masked, out, top, rounded, op, p0, p1, p2):
    y, x = cuda.grid(2)
    if y < image.shape[0] and x < image.shape[1]:
        mask_value = mask[y, x] if masked else np.float32(1)
        out[y, x, 0], out[y, x, 1], out[y, x, 2] = _adjust_pixel(
            image[y, x, 0], image[y, x, 1], image[y, x, 2], mask_value, masked, top, rounded,
            op, p0, p1, p2)


# --------------------------------------------------------------------------------------------
# Public wrappers


def _prepare(image: np.ndarray, mask: np.ndarray | None, device: str):
    """Validate; return the contiguous image, mask (or an empty stand-in), flags and output."""
    check_device(device)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H x W x 3 array, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    check_pixel_dtype(image.dtype)
    if mask is None:
        # the drivers take arrays only; an empty one stands in and is never read
        mask_array, masked = np.empty((0, 0), np.float32), False
    else:
        mask = np.asarray(mask)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask must be H x W {image.shape[:2]}, got {mask.shape}")
        mask_array, masked = np.ascontiguousarray(mask, dtype=np.float32), True
    integer = image.dtype.kind == "u"
    top = np.float32(full_scale(image.dtype))
    return np.ascontiguousarray(image), mask_array, masked, top, integer, np.empty_like(image)


def apply_lut(image: np.ndarray, lut: Lut, *, interpolation: str = "tetrahedral",
              mask: np.ndarray | None = None, device: str = "cpu") -> np.ndarray:
    """Map an image through a 1D or 3D LUT.

    Each encoded input value (``value / top``, no linearisation: a LUT defines its own input
    encoding) is mapped from ``[domain_min, domain_max]`` to ``[0, N - 1]`` and clamped to
    the table; outputs are clipped to [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 in [0, 1]
    lut : Lut
    interpolation : {"tetrahedral", "trilinear"}
        For 3D LUTs. Tetrahedral uses 4 of the cube's 8 corners (the standard 6-tetrahedra
        split by the order of the fractional coordinates) and keeps the grey axis on the
        table's diagonal; both are exact on grid nodes and for affine tables. 1D LUTs are
        always interpolated linearly.
    mask : ndarray, shape (H, W), float32 in [0, 1], optional
        Weight of the mapped result; 0 leaves a pixel bit-identical.
    device : {"cpu", "cuda"}
        Where the kernel runs (see the module notes on how identical the results are).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> invert = Lut(np.array([[1, 1, 1], [0, 0, 0]], np.float32))
    >>> apply_lut(np.array([[[0, 51, 255]]], np.uint8), invert).tolist()
    [[[255, 204, 0]]]
    """
    if interpolation not in ("tetrahedral", "trilinear"):
        raise ValueError(f"interpolation must be 'tetrahedral' or 'trilinear', "
                         f"got {interpolation!r}")
    if not isinstance(lut, Lut):
        raise ValueError(f"lut must be a Lut, got {type(lut).__name__}")
    image, mask_array, masked, top, integer, out = _prepare(image, mask, device)
    low = np.array(lut.domain_min, np.float32)
    scale = ((lut.size - 1) / (np.array(lut.domain_max) - np.array(lut.domain_min))).astype(
        np.float32)
    if lut.kind == "3D":
        run(device, _lut3d_cpu, _lut3d_cuda, image.shape[:2], image, lut.table, low, scale,
            mask_array, masked, Out(out), top, integer, interpolation == "tetrahedral")
    else:
        run(device, _lut1d_cpu, _lut1d_cuda, image.shape[:2], image, lut.table, low, scale,
            mask_array, masked, Out(out), top, integer)
    return out


def _adjust(image, mask, device, op, p0, p1=1.0, p2=1.0):
    image, mask_array, masked, top, integer, out = _prepare(image, mask, device)
    run(device, _adjust_cpu, _adjust_cuda, image.shape[:2], image, mask_array, masked, Out(out),
        top, integer, op, np.float32(p0), np.float32(p1), np.float32(p2))
    return out


def _finite(name: str, value: float, low: float = -math.inf, high: float = math.inf) -> float:
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return value


def exposure(image: np.ndarray, stops: float, *, mask: np.ndarray | None = None,
             device: str = "cpu") -> np.ndarray:
    """Exposure change in stops: linear light multiplied by ``2 ** stops``.

    Works in linear light (sRGB decoded, scaled, encoded back); results are clipped to [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 in [0, 1]
    stops : float
        +1 doubles the light, -1 halves it, 0 changes nothing.
    mask : ndarray, shape (H, W), float32 in [0, 1], optional
        Weight of the adjusted result; 0 leaves a pixel bit-identical.
    device : {"cpu", "cuda"}
        Where the kernel runs (see the module notes on how identical the results are).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> exposure(np.full((1, 1, 3), 100, np.uint8), 1.0)[0, 0].tolist()
    [138, 138, 138]
    """
    gain = 2.0 ** _finite("stops", stops)
    return _adjust(image, mask, device, _GAIN, gain, gain, gain)


def _white_balance_gains(temperature: float = 0.0, tint: float = 0.0) -> tuple[float, ...]:
    """The linear-light (R, G, B) gains of :func:`white_balance`."""
    temperature = _finite("temperature", temperature, -1.0, 1.0)
    tint = _finite("tint", tint, -1.0, 1.0)
    raw = (2.0 ** (temperature / 2), 2.0 ** (-tint / 2), 2.0 ** (-temperature / 2))
    grey = _LUMA_R * raw[0] + _LUMA_G * raw[1] + _LUMA_B * raw[2]
    return tuple(gain / grey for gain in raw)


def white_balance(image: np.ndarray, *, temperature: float = 0.0, tint: float = 0.0,
                  mask: np.ndarray | None = None, device: str = "cpu") -> np.ndarray:
    """Warm/cool and green/magenta shift: von-Kries-style per-channel gains in linear light.

    With ``t = temperature`` and ``m = tint``, the raw gains are
    ``(2 ** (t / 2), 2 ** (-m / 2), 2 ** (-t / 2))`` for (R, G, B) (at the extremes, half a
    stop on each channel), each divided by ``k = 0.2126 gR + 0.7152 gG + 0.0722 gB``
    so that the Rec.709 luminance of any grey, mid-grey included, is unchanged. Positive
    temperature warms (R up, B down); positive tint moves towards magenta (G down, so R and B
    up after normalisation), negative towards green. Results are clipped to [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 in [0, 1]
    temperature, tint : float in [-1, 1]
    mask : ndarray, shape (H, W), float32 in [0, 1], optional
        Weight of the adjusted result; 0 leaves a pixel bit-identical.
    device : {"cpu", "cuda"}
        Where the kernel runs (see the module notes on how identical the results are).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> white_balance(np.full((1, 1, 3), 128, np.uint8), temperature=0.5)[0, 0].tolist()
    [137, 126, 117]
    """
    return _adjust(image, mask, device, _GAIN, *_white_balance_gains(temperature, tint))


def saturation(image: np.ndarray, amount: float, *, mask: np.ndarray | None = None,
               device: str = "cpu") -> np.ndarray:
    """Scale colourfulness around the pixel's luminance, in linear light.

    ``c' = Y + amount * (c - Y)`` per channel, ``Y = 0.2126 R + 0.7152 G + 0.0722 B``
    (Rec.709, linear); negative results are clipped to 0 and the encoded result to [0, 1].

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 in [0, 1]
    amount : float >= 0
        1 changes nothing, 0 gives grey (R == G == B) of the same luminance.
    mask : ndarray, shape (H, W), float32 in [0, 1], optional
        Weight of the adjusted result; 0 leaves a pixel bit-identical.
    device : {"cpu", "cuda"}
        Where the kernel runs (see the module notes on how identical the results are).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> grey = saturation(np.array([[[200, 30, 90]]], np.uint8), 0.0)[0, 0]
    >>> bool(grey[0] == grey[1] == grey[2])
    True
    """
    return _adjust(image, mask, device, _SATURATION, _finite("amount", amount, 0.0))


def contrast(image: np.ndarray, amount: float, *, mask: np.ndarray | None = None,
             device: str = "cpu") -> np.ndarray:
    """Linear contrast pivoting around 0.5 in the encoded (sRGB) values.

    ``v' = 0.5 + amount * (v - 0.5)`` per channel, clipped to [0, 1]. It acts on encoded
    values on purpose: there the pivot is a perceptual mid-tone, and equal steps are roughly
    equal steps of lightness.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8, uint16 or float32 in [0, 1]
    amount : float >= 0
        1 changes nothing, 0 gives flat 0.5 grey, above 1 increases contrast.
    mask : ndarray, shape (H, W), float32 in [0, 1], optional
        Weight of the adjusted result; 0 leaves a pixel bit-identical.
    device : {"cpu", "cuda"}
        Where the kernel runs (see the module notes on how identical the results are).

    Returns
    -------
    ndarray
        Same shape and dtype as ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> contrast(np.array([[[0.25, 0.5, 0.75]]], np.float32), 2.0)[0, 0].tolist()
    [0.0, 0.5, 1.0]
    """
    return _adjust(image, mask, device, _CONTRAST, _finite("amount", amount, 0.0))
