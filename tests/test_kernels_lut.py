"""LUTs and tonal adjustments against float64 NumPy references; the .cube reader and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.errors import InputError
from burnish.kernels.lut import (
    Lut,
    apply_lut,
    contrast,
    exposure,
    read_cube,
    saturation,
    white_balance,
)

from conftest import random_image, random_size

DTYPES = [np.uint8, np.uint16, np.float32]
INTERPOLATIONS = ["tetrahedral", "trilinear"]
# Runs a test on the CUDA driver only (the simulator without a GPU), with the small blocks the
# `device` fixture sets up.
CUDA_ONLY = pytest.mark.parametrize("device", ["cuda"], indirect=True)
# Odd sizes, below one 4 x 4 block and across several.
ODD_SIZES = [(1, 1), (3, 2), (2, 5), (7, 5), (13, 9)]


def top_of(dtype):
    return np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)


# --- references: slow, obvious, float64 ----------------------------------------------------


def table_coordinates(values, lut):
    """Cell index and fraction of [0, 1] values, per channel, as the docs define them."""
    n = lut.table.shape[0]
    low, high = np.array(lut.domain_min), np.array(lut.domain_max)
    position = np.clip((values - low) / (high - low) * (n - 1), 0, n - 1)
    cell = np.minimum(np.floor(position).astype(int), n - 2)
    return cell, position - cell


def reference_lut(image, lut, interpolation):
    values = image.astype(np.float64) / top_of(image.dtype)
    table = lut.table.astype(np.float64)
    cell, frac = table_coordinates(values, lut)
    if lut.kind == "1D":
        channel = np.arange(3)
        out = (1 - frac) * table[cell, channel] + frac * table[cell + 1, channel]
    elif interpolation == "trilinear":
        out = np.zeros_like(values)
        for corner in np.ndindex(2, 2, 2):
            weight = np.prod(np.where(np.array(corner) == 1, frac, 1 - frac), axis=-1)
            index = cell + corner
            out += weight[..., None] * table[index[..., 0], index[..., 1], index[..., 2]]
    else:
        # generic form: walk from corner 000 to 111 stepping along the axes in decreasing
        # order of fraction; the barycentric weights are the differences of sorted fractions
        order = np.argsort(-frac, axis=-1, kind="stable")
        sorted_frac = np.take_along_axis(frac, order, axis=-1)
        steps = np.eye(3, dtype=int)[order]
        corners = [np.zeros_like(cell)] + [steps[..., : k + 1, :].sum(axis=-2) for k in range(3)]
        weights = [1 - sorted_frac[..., 0], sorted_frac[..., 0] - sorted_frac[..., 1],
                   sorted_frac[..., 1] - sorted_frac[..., 2], sorted_frac[..., 2]]
        out = np.zeros_like(values)
        for corner, weight in zip(corners, weights):
            index = cell + corner
            out += weight[..., None] * table[index[..., 0], index[..., 1], index[..., 2]]
    return np.clip(out, 0, 1)


def random_mask(rng, height, width):
    """Weights in [0, 1], with runs of exact 0 and exact 1."""
    mask = rng.random((height, width), dtype=np.float32)
    mask[mask < 0.3] = 0
    mask[mask > 0.7] = 1
    return mask


def grid(n):
    axis = np.linspace(0, 1, n)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1)


def identity_lut(n):
    return Lut(grid(n).astype(np.float32))


def smooth_lut(rng, n):
    rgb = grid(n)
    mix = rng.uniform(-0.3, 0.3, (3, 3)) + np.eye(3)
    table = 0.5 + 0.4 * np.sin(rgb @ mix.T * 2 + rng.uniform(0, np.pi, 3))
    return Lut(table.astype(np.float32))


def graded_table(n=33, angle=0.4):
    """A "real" grade: an S-curve per channel, then a hue rotation about the grey axis."""
    rgb = grid(n)
    curve = rgb + 0.15 * np.sin(2 * np.pi * rgb) / (2 * np.pi) * -4
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = (np.cos(angle) * np.eye(3) + np.sin(angle) * cross
                + (1 - np.cos(angle)) * np.outer(axis, axis))
    return np.clip(curve @ rotation.T, 0, 1).astype(np.float32)


def write_cube(path, table, header="", digits=9):
    """A .cube file, red index fastest in 3D, written with ``digits`` significant digits."""
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3) if table.ndim == 4 else table
    size_line = f"LUT_{'3D' if table.ndim == 4 else '1D'}_SIZE {table.shape[0]}"
    body = "\n".join(" ".join(f"{v:.{digits}g}" for v in row) for row in rows)
    path.write_text(f"# written by the tests\nTITLE \"graded # look\"\n{header}{size_line}\n\n"
                    f"{body}\n")
    return path


# --- apply_lut -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 17, 33])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_identity_lut_returns_the_input(rng, device, n, interpolation):
    image = random_image(rng, *random_size(rng, device), 3, np.float32)
    out = apply_lut(image, identity_lut(n), interpolation=interpolation, device=device)
    np.testing.assert_allclose(out, image, atol=1e-5)
    np.testing.assert_allclose(out, reference_lut(image, identity_lut(n), interpolation),
                               atol=1e-4)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("n", [2, 5, 17])
def test_random_smooth_lut_matches_reference(rng, device, interpolation, n):
    height, width = random_size(rng, device)
    image = random_image(rng, height, max(width, 3), 3, np.float32)
    image[0, :3] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5]]  # corners and ties of fractions
    lut = smooth_lut(rng, n)
    out = apply_lut(image, lut, interpolation=interpolation, device=device)
    np.testing.assert_allclose(out, reference_lut(image, lut, interpolation), atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_integer_images_round_the_reference(rng, device, dtype, interpolation):
    image = random_image(rng, *random_size(rng, device), 3, dtype)
    lut = smooth_lut(rng, 9)
    out = apply_lut(image, lut, interpolation=interpolation, device=device)
    assert out.dtype == dtype and out.shape == image.shape
    expected = reference_lut(image, lut, interpolation) * top_of(dtype)
    # float32 arithmetic (relative error ~1e-6) may round to the other side of a .5 boundary
    tolerance = 0.5 + 1e-6 * top_of(dtype) if dtype != np.float32 else 1e-4
    assert np.abs(out.astype(np.float64) - expected).max() <= tolerance


def test_real_lut_round_trips_through_cube_file(rng, tmp_path, device):
    table = graded_table()
    path = write_cube(tmp_path / "grade.cube", table)
    lut = read_cube(path)
    assert lut.kind == "3D" and lut.title == "graded # look"
    assert lut.domain_min == (0, 0, 0) and lut.domain_max == (1, 1, 1)
    np.testing.assert_allclose(lut.table, table, atol=1e-6, rtol=0)
    image = random_image(rng, *random_size(rng, device, largest=51), 3, np.float32)
    for interpolation in INTERPOLATIONS:
        out = apply_lut(image, lut, interpolation=interpolation, device=device)
        np.testing.assert_allclose(out, reference_lut(image, lut, interpolation), atol=1e-4)


def test_1d_lut_round_trip_and_reference(rng, tmp_path, device):
    n = 64
    axis = np.linspace(0, 1, n)[:, None]
    table = np.hstack([axis**0.5, axis, axis**2.2]).astype(np.float32)
    lut = read_cube(write_cube(tmp_path / "curve.cube", table))
    assert lut.kind == "1D" and lut.table.shape == (n, 3)
    np.testing.assert_allclose(lut.table, table, atol=1e-6, rtol=0)
    image = random_image(rng, *random_size(rng, device), 3, np.float32)
    np.testing.assert_allclose(apply_lut(image, lut, device=device),
                               reference_lut(image, lut, None), atol=1e-4)
    np.testing.assert_allclose(apply_lut(image, Lut(axis.repeat(3, 1)), device=device), image,
                               atol=1e-5)


def test_interpolations_agree_exactly_on_grid_nodes(rng, device):
    n = 17  # n - 1 a power of two: node values k / 16 map to exact table coordinates
    lut = smooth_lut(rng, n)
    nodes = rng.integers(0, n, (*random_size(rng, device), 3))
    image = (nodes / (n - 1)).astype(np.float32)
    tetra = apply_lut(image, lut, interpolation="tetrahedral", device=device)
    tri = apply_lut(image, lut, interpolation="trilinear", device=device)
    np.testing.assert_array_equal(tetra, tri)
    np.testing.assert_array_equal(tetra, lut.table[nodes[..., 0], nodes[..., 1], nodes[..., 2]])


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_luts_are_reproduced_exactly(rng, device, interpolation):
    matrix = rng.uniform(-0.2, 0.4, (3, 3))
    offset = rng.uniform(0.1, 0.2, 3)
    affine = grid(9) @ matrix.T + offset
    # stay inside [0, 1] so the output clip does not hide anything
    affine = (affine - affine.min()) / (affine.max() - affine.min())
    lut = Lut(affine.astype(np.float32))
    image = random_image(rng, *random_size(rng, device), 3, np.float32)
    low, high = np.min(grid(9) @ matrix.T + offset), np.max(grid(9) @ matrix.T + offset)
    expected = ((image.astype(np.float64) @ matrix.T + offset) - low) / (high - low)
    np.testing.assert_allclose(apply_lut(image, lut, interpolation=interpolation, device=device), expected,
                               atol=1e-5)


def test_domain_scales_inputs_into_the_table(rng, tmp_path, device):
    table = smooth_lut(rng, 9).table
    table[4:] = 0  # the upper half must never be reached by inputs in [0, 1]
    table[:, 5:] = 0
    table[:, :, 5:] = 0
    path = write_cube(tmp_path / "wide.cube", table, header="DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n")
    lut = read_cube(path)
    assert lut.domain_max == (2, 2, 2)
    image = random_image(rng, *random_size(rng, device), 3, np.float32)
    lower_half = Lut(table[:5, :5, :5].copy())
    for interpolation in INTERPOLATIONS:
        out = apply_lut(image, lut, interpolation=interpolation, device=device)
        np.testing.assert_allclose(out, reference_lut(image, lut, interpolation), atol=1e-4)
        np.testing.assert_allclose(out, apply_lut(image, lower_half, interpolation=interpolation), atol=1e-5)


def test_resolve_input_range_is_read_as_domain(tmp_path, device):
    path = write_cube(tmp_path / "range.cube", grid(2).astype(np.float32),
                      header="LUT_3D_INPUT_RANGE -0.5 1.5\n")
    lut = read_cube(path)
    assert lut.domain_min == (-0.5,) * 3 and lut.domain_max == (1.5,) * 3
    out = apply_lut(np.array([[[0.5, 0.0, 1.0]]], np.float32), lut, device=device)
    np.testing.assert_allclose(out, [[[0.5, 0.25, 0.75]]], atol=1e-6)


def test_lut_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Lut(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        Lut(np.zeros((4, 3), np.float32), kind="3D")
    with pytest.raises(ValueError):
        Lut(np.zeros((4, 3), np.float32), domain_min=(1, 1, 1), domain_max=(1, 1, 1))
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2, 3), np.float32), identity_lut(2), interpolation="cubic")
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2, 4), np.float32), identity_lut(2))
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2, 3), np.float64), identity_lut(2))
    with pytest.raises(ValueError):
        apply_lut(np.zeros((2, 2, 3), np.float32), identity_lut(2), mask=np.ones((2, 3)))
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N"):
        apply_lut(np.zeros((2, 2, 3), np.float32), identity_lut(2), device="gpu")


# --- read_cube errors ------------------------------------------------------------------------

GOOD_1D = "LUT_1D_SIZE 3\n0 0 0\n0.5 0.5 0.5\n1 1 1\n"
BAD_CUBES = {
    "wrong number of values": ("LUT_1D_SIZE 3\n0 0 0\n0.5 0.5\n1 1 1\n", "line 3"),
    "too many values": ("LUT_1D_SIZE 3\n0 0 0\n0.5 0.5 0.5 0.5\n1 1 1\n", "line 3"),
    "too few lines": ("LUT_1D_SIZE 3\n0 0 0\n1 1 1\n", "2 entries"),
    "too many lines": (GOOD_1D + "1 1 1\n", "line 5"),
    "3D too few lines": ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7, "7 entries"),
    "unknown keyword": ("LUT_1D_SIZE 3\nLUT_FANCY 1\n" + GOOD_1D[14:], "line 2"),
    "size too small": ("LUT_3D_SIZE 1\n0 0 0\n", "line 1"),
    "size too large": ("# big\nLUT_3D_SIZE 257\n", "line 2"),
    "size not an integer": ("LUT_1D_SIZE 2.5\n", "line 1"),
    "non-numeric value": ("LUT_1D_SIZE 3\n0 0 0\n0.5 abc 0.5\n1 1 1\n", "line 3"),
    "bad domain": ("DOMAIN_MIN 0 0\nLUT_1D_SIZE 3\n", "line 1"),
    "no size": ("TITLE \"x\"\n0 0 0\n", "LUT_3D_SIZE"),
    "empty domain": ("DOMAIN_MIN 1 1 1\n" + GOOD_1D, "domain"),
}


@pytest.mark.parametrize("case", BAD_CUBES)
def test_bad_cube_files_raise_one_line_input_errors(tmp_path, case):
    text, where = BAD_CUBES[case]
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_cube(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert where in message


def test_missing_and_binary_files_raise_input_errors(tmp_path):
    for path in (tmp_path / "missing.cube", tmp_path):
        with pytest.raises(InputError, match="^" + str(path)):
            read_cube(path)
    binary = tmp_path / "binary.cube"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(InputError, match="^" + str(binary)) as caught:
        read_cube(binary)
    assert "\n" not in str(caught.value)


def test_comments_blank_lines_and_batches(tmp_path, monkeypatch):
    import burnish.kernels.lut as lut_module

    monkeypatch.setattr(lut_module, "_BATCH_LINES", 3)  # a table spread over many batches
    table = graded_table(n=4)
    rows = table.transpose(2, 1, 0, 3).reshape(-1, 3)
    lines = ["TITLE \"t\"", "LUT_3D_SIZE 4", ""]
    for i, row in enumerate(rows):
        lines.append(" ".join(f"{v:.9g}" for v in row) + ("  # note" if i % 5 == 0 else ""))
        if i % 7 == 0:
            lines += ["", "# comment"]
    path = tmp_path / "commented.cube"
    path.write_text("\n".join(lines) + "\n")
    np.testing.assert_allclose(read_cube(path).table, table, atol=1e-6, rtol=0)
    path.write_text("\n".join(lines + ["0 0 0"]) + "\n")
    with pytest.raises(InputError, match=f"line {len(lines) + 1}"):
        read_cube(path)


# --- adjustments -----------------------------------------------------------------------------

IDENTITIES = {
    "exposure": lambda image, **kw: exposure(image, 0.0, **kw),
    "white_balance": lambda image, **kw: white_balance(image, temperature=0.0, tint=0.0, **kw),
    "saturation": lambda image, **kw: saturation(image, 1.0, **kw),
    "contrast": lambda image, **kw: contrast(image, 1.0, **kw),
}
ADJUSTMENTS = {
    "exposure": lambda image, **kw: exposure(image, 0.7, **kw),
    "white_balance": lambda image, **kw: white_balance(image, temperature=0.6, tint=-0.3, **kw),
    "saturation": lambda image, **kw: saturation(image, 1.6, **kw),
    "contrast": lambda image, **kw: contrast(image, 1.4, **kw),
    "lut": lambda image, **kw: apply_lut(image, Lut(graded_table(9)), **kw),
}


@pytest.mark.parametrize("name", IDENTITIES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_neutral_adjustments_return_the_input(rng, device, name, dtype):
    image = random_image(rng, *random_size(rng, device), 3, dtype)
    out = IDENTITIES[name](image, device=device)
    assert out.dtype == dtype and out.shape == image.shape
    tolerance = 1 if dtype != np.float32 else 1e-6
    assert np.abs(out.astype(np.float64) - image).max() <= tolerance


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_zero_is_grey_of_the_same_luminance(rng, device, dtype):
    image = random_image(rng, *random_size(rng, device), 3, dtype)
    out = saturation(image, 0.0, device=device)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    linear = srgb_to_linear(image / top_of(dtype))
    luma = linear @ [0.2126, 0.7152, 0.0722]
    grey = srgb_to_linear(out[..., 0] / top_of(dtype))
    np.testing.assert_allclose(grey, luma, atol=1e-5 if dtype == np.float32 else 0.01)


def test_exposure_plus_one_doubles_linear_light(rng, device):
    # linear values below 0.5 so the doubled light is not clipped
    image = linear_to_srgb(rng.uniform(0, 0.49, (*random_size(rng, device), 3))).astype(np.float32)
    out = exposure(image, 1.0, device=device)
    np.testing.assert_allclose(srgb_to_linear(out.astype(np.float64)),
                               2 * srgb_to_linear(image.astype(np.float64)), atol=2e-6)
    back = exposure(out, -1.0, device=device)
    np.testing.assert_allclose(back, image, atol=1e-5)


def test_white_balance_formula_direction_and_grey_luminance(rng, device):
    image = random_image(rng, *random_size(rng, device), 3, np.float32) * np.float32(0.6)
    temperature, tint = 0.8, 0.5
    raw = np.array([2 ** (temperature / 2), 2 ** (-tint / 2), 2 ** (-temperature / 2)])
    gains = raw / (raw @ [0.2126, 0.7152, 0.0722])
    expected = linear_to_srgb(np.minimum(srgb_to_linear(image.astype(np.float64)) * gains, 1))
    out = white_balance(image, temperature=temperature, tint=tint, device=device)
    np.testing.assert_allclose(out, expected, atol=1e-5)

    mid_grey = np.full((1, 1, 3), 0.5, np.float32)
    warm = white_balance(mid_grey, temperature=1.0, device=device)[0, 0]
    assert warm[0] > 0.5 > warm[2]
    magenta = white_balance(mid_grey, tint=1.0, device=device)[0, 0]
    assert magenta[1] < 0.5 < magenta[0] and magenta[2] > 0.5
    for shifted in (warm, magenta, white_balance(mid_grey, temperature=-0.7, tint=-0.9, device=device)[0, 0]):
        luma = srgb_to_linear(shifted.astype(np.float64)) @ [0.2126, 0.7152, 0.0722]
        assert luma == pytest.approx(srgb_to_linear(0.5), abs=1e-6)


def test_contrast_pivots_around_half_in_encoded_values(rng, device):
    image = random_image(rng, *random_size(rng, device), 3, np.float32)
    expected = np.clip(0.5 + 1.7 * (image.astype(np.float64) - 0.5), 0, 1)
    np.testing.assert_allclose(contrast(image, 1.7, device=device), expected, atol=1e-6)
    np.testing.assert_allclose(contrast(image, 0.0, device=device), 0.5, atol=0)


@pytest.mark.parametrize("name", ADJUSTMENTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masks_leave_zero_pixels_alone_and_full_pixels_adjusted(rng, device, name, dtype):
    height, width = random_size(rng, device)
    image = random_image(rng, height, width, 3, dtype)
    mask = random_mask(rng, height, width)
    adjust = ADJUSTMENTS[name]
    full = adjust(image, device=device)
    out = adjust(image, mask=mask, device=device)
    zero, one = mask == 0, mask == 1
    np.testing.assert_array_equal(out[zero], image[zero])
    np.testing.assert_array_equal(out[one], full[one])
    # partial weights mix the clipped result with the input in encoded values
    top = top_of(dtype)
    expected = mask[..., None] * (full / top) + (1 - mask[..., None]) * (image / top)
    # integers: out is rounded once, full was rounded before this mix: one level in all
    tolerance = 1 + 1e-6 * top if dtype != np.float32 else 1e-5
    assert np.abs(out - expected * top).max() <= tolerance


@pytest.mark.parametrize("name", ADJUSTMENTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", ["one pixel", "random"])
def test_shapes_dtypes_and_non_contiguous_input(rng, device, name, dtype, size):
    shape = (1, 1) if size == "one pixel" else random_size(rng, device)
    image = random_image(rng, *shape, 3, dtype)
    out = ADJUSTMENTS[name](image, device=device)
    assert out.shape == image.shape and out.dtype == image.dtype
    strided = random_image(rng, shape[0], 2 * shape[1], 3, dtype)
    np.testing.assert_array_equal(ADJUSTMENTS[name](strided[:, ::2], device=device),
                                  ADJUSTMENTS[name](strided[:, ::2].copy(), device=device))


def test_adjustments_reject_bad_arguments():
    image = np.zeros((2, 2, 3), np.float32)
    for call in (lambda: exposure(image, np.nan), lambda: white_balance(image, temperature=1.5),
                 lambda: white_balance(image, temperature=0, tint=-2), lambda: saturation(image, -0.1),
                 lambda: contrast(image, np.inf), lambda: contrast(image[..., :2], 1.0),
                 lambda: saturation(image, 1.0, mask=np.ones((3, 2), np.float32)),
                 lambda: exposure(image, 1.0, device="gpu")):
        with pytest.raises(ValueError):
            call()


# --- CUDA driver == CPU driver ----------------------------------------------------------------

LUTS = {
    "3D tetrahedral": (lambda rng: smooth_lut(rng, 9), "tetrahedral"),
    "3D trilinear": (lambda rng: smooth_lut(rng, 9), "trilinear"),
    "3D real": (lambda rng: Lut(graded_table(17)), "tetrahedral"),
    "1D": (lambda rng: Lut(np.sort(rng.random((17, 3)), axis=0).astype(np.float32)), None),
}


def assert_same_bytes(cuda_out, cpu_out):
    assert cuda_out.dtype == cpu_out.dtype and cuda_out.shape == cpu_out.shape
    if cuda_out.tobytes() != cpu_out.tobytes():
        differ = cuda_out != cpu_out
        raise AssertionError(f"{differ.sum()} of {differ.size} samples differ, e.g. CUDA "
                             f"{cuda_out[differ][:4]} vs CPU {cpu_out[differ][:4]}")


@CUDA_ONLY
@pytest.mark.parametrize("lut_name", LUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
def test_apply_lut_cuda_equals_cpu(rng, device, lut_name, dtype, masked):
    make_lut, interpolation = LUTS[lut_name]
    lut = make_lut(rng)
    for height, width in ODD_SIZES:
        image = random_image(rng, height, width, 3, dtype)
        corners = np.array([[0, 0, 0], [top_of(dtype)] * 3])[: height * width]
        image.reshape(-1, 3)[: len(corners)] = corners  # the table's first and last cells
        mask = random_mask(rng, height, width) if masked else None
        kwargs = {"mask": mask} if interpolation is None else {"mask": mask,
                                                               "interpolation": interpolation}
        assert_same_bytes(apply_lut(image, lut, device=device, **kwargs),
                          apply_lut(image, lut, **kwargs))


@CUDA_ONLY
@pytest.mark.parametrize("name", [name for name in ADJUSTMENTS if name != "lut"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
def test_adjustments_cuda_equal_cpu(rng, device, name, dtype, masked):
    for height, width in ODD_SIZES:
        image = random_image(rng, height, width, 3, dtype)
        mask = random_mask(rng, height, width) if masked else None
        assert_same_bytes(ADJUSTMENTS[name](image, mask=mask, device=device),
                          ADJUSTMENTS[name](image, mask=mask))
