"""Gradient-domain hole filling (burnish.kernels.poisson) against a sparse direct solve of the
same least-squares problem, built here pair by pair from its definition (SciPy's SuperLU), on
fresh random images, holes and guidance: odd sizes, holes on every edge and corner, several
channels; plus the exact cases (an image's own differences give the image back) and refusals.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from burnish.kernels.poisson import poisson_fill

from conftest import boxes_or_blob


def reference_fill(image, hole, gx, gy):
    """Minimise sum over 4-neighbour pairs (p, q) touching the hole of
    ``(f(q) - f(p) - g(p -> q))^2``, known pixels fixed: the normal equations, by hand."""
    height, width, channels = image.shape
    cells = [tuple(p) for p in np.argwhere(hole)]
    index = {p: k for k, p in enumerate(cells)}
    matrix = scipy.sparse.lil_matrix((len(cells), len(cells)))
    rhs = np.zeros((len(cells), channels))
    for k, (y, x) in enumerate(cells):
        pairs = [((y, x + 1), gx[y, x]), ((y + 1, x), gy[y, x])]
        if x > 0:
            pairs.append(((y, x - 1), -gx[y, x - 1]))
        if y > 0:
            pairs.append(((y - 1, x), -gy[y - 1, x]))
        for (qy, qx), wanted in pairs:
            if not (0 <= qy < height and 0 <= qx < width):
                continue
            # d/df(p) of (f(q) - f(p) - wanted)^2 / 2 = f(p) - f(q) + wanted
            matrix[k, k] += 1
            rhs[k] -= wanted
            if hole[qy, qx]:
                matrix[k, index[(qy, qx)]] -= 1
            else:
                rhs[k] += image[qy, qx]
    out = image.astype(np.float64)
    out[hole] = scipy.sparse.linalg.spsolve(matrix.tocsc(), rhs).reshape(len(cells), channels)
    return out


def random_case(rng, height, width, channels):
    image = rng.random((height, width, channels), dtype=np.float32)
    hole = boxes_or_blob(rng, height, width)
    hole[int(rng.integers(height)), int(rng.integers(width))] = True
    if hole.all():
        hole[0, 0] = False
    gx = (0.2 * rng.standard_normal(image.shape)).astype(np.float32)
    gy = (0.2 * rng.standard_normal(image.shape)).astype(np.float32)
    return image, hole, gx, gy


@pytest.mark.parametrize("channels", [1, 3])
def test_equals_a_sparse_direct_solve(rng, channels):
    for _ in range(6):
        height, width = (int(v) for v in rng.integers(1, 48, size=2))
        height, width = max(height, 2), max(width, 2)
        image, hole, gx, gy = random_case(rng, height, width, channels)
        out = poisson_fill(image, hole, gx, gy, tolerance=1e-10, max_iterations=500)
        expected = reference_fill(image, hole, gx, gy)
        assert out[~hole].tobytes() == image[~hole].tobytes()
        np.testing.assert_allclose(out, expected, atol=2e-5, err_msg=f"{height}x{width}")


@pytest.mark.parametrize("where", ["top", "bottom", "left", "right", "corner"])
def test_holes_on_the_image_edge(rng, where):
    """The edge is a Neumann edge: no pair, so no guidance read past it."""
    image, _, gx, gy = random_case(rng, 23, 31, 3)
    hole = np.zeros((23, 31), bool)
    rows = {"top": slice(0, 7), "bottom": slice(16, 23)}.get(where, slice(5, 18))
    cols = {"left": slice(0, 9), "right": slice(22, 31)}.get(where, slice(8, 20))
    if where == "corner":
        rows, cols = slice(15, 23), slice(20, 31)
    hole[rows, cols] = True
    out = poisson_fill(image, hole, gx, gy, tolerance=1e-10, max_iterations=500)
    np.testing.assert_allclose(out, reference_fill(image, hole, gx, gy), atol=2e-5)


def test_own_differences_give_the_image_back(rng):
    """Guidance that is the image's own gradient is met exactly by the image, from any first
    guess inside the hole: nothing of the true hole content is read. Solved to a tight
    tolerance: the default's relative residual (1e-5) bounds the error only loosely on white
    noise, whose right-hand side is small against its solution."""
    image = rng.random((41, 57, 3), dtype=np.float32)
    gx = np.zeros_like(image)
    gy = np.zeros_like(image)
    gx[:, :-1] = image[:, 1:] - image[:, :-1]
    gy[:-1] = image[1:] - image[:-1]
    hole = boxes_or_blob(rng, 41, 57)
    hole[0, 0], hole[20, 30] = False, True
    guess = np.where(hole[..., None], rng.random(image.shape, dtype=np.float32), image)
    out = poisson_fill(guess, hole, gx, gy, tolerance=1e-10)
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_zero_guidance_interpolates_a_plane_exactly(rng):
    """With no guidance the fill is harmonic: a linear ramp around the hole is continued."""
    yy, xx = np.mgrid[:30, :44].astype(np.float32)
    plane = (0.01 * xx + 0.02 * yy + 0.1)[..., None]
    hole = np.zeros((30, 44), bool)
    hole[5:25, 7:37] = True
    zero = np.zeros_like(plane)
    out = poisson_fill(np.where(hole[..., None], np.float32(0), plane), hole, zero, zero)
    np.testing.assert_allclose(out, plane, atol=1e-4)


def test_an_empty_hole_returns_a_copy(rng):
    image, _, gx, gy = random_case(rng, 9, 13, 3)
    out = poisson_fill(image, np.zeros((9, 13), bool), gx, gy)
    assert out is not image and out.tobytes() == image.tobytes()


def test_bad_arguments_are_refused(rng):
    image, hole, gx, gy = random_case(rng, 12, 14, 3)
    with pytest.raises(ValueError, match="float32"):
        poisson_fill(image.astype(np.float64), hole, gx, gy)
    with pytest.raises(ValueError, match="gx"):
        poisson_fill(image, hole, gx[:, :-1], gy)
    with pytest.raises(ValueError, match="hole"):
        poisson_fill(image, hole[:-1], gx, gy)
    with pytest.raises(ValueError, match="whole image"):
        poisson_fill(image, np.ones((12, 14), bool), gx, gy)
