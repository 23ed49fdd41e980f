"""SparseMask (a region held as its set windows) against the dense bool mask it stands for,
and CompositePlan's per-cluster weights against the whole image's composite weight."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from burnish.engine.edit_masks import Frame
from burnish.engine.provenance.sidecar import decode_mask, encode_mask
from burnish.engine.removal.composite_plan import CompositePlan, composite_weight
from burnish.engine.removal.fill_regions import component_boxes
from burnish.engine.sparse_mask import Piece, SparseMask


def random_mask(rng, height, width, spots=6):
    """A few blobs and single pixels, some touching an edge, some touching each other."""
    mask = np.zeros((height, width), bool)
    for _ in range(spots):
        y, x = rng.integers(0, height), rng.integers(0, width)
        h, w = rng.integers(1, 9, 2)
        mask[y:y + h, x:x + w] = True
    mask[rng.integers(0, height, 5), rng.integers(0, width, 5)] = True
    return mask


@pytest.mark.parametrize("size", [(1, 1), (7, 300), (61, 47), (120, 33)])
def test_a_dense_mask_round_trips_with_its_run_lengths_and_components(rng, size):
    for _ in range(5):
        mask = random_mask(rng, *size)
        sparse = SparseMask.from_dense(mask)
        np.testing.assert_array_equal(sparse.dense(), mask)
        assert sparse.count() == mask.sum() and sparse.any() == mask.any()
        assert sparse.run_lengths() == encode_mask(mask)["counts"]
        np.testing.assert_array_equal(
            decode_mask({"size": list(size), "counts": sparse.run_lengths()}), mask)
        dense_boxes = component_boxes(mask)
        expected = dense_boxes[np.lexsort((dense_boxes[:, 1], dense_boxes[:, 0]))]
        np.testing.assert_array_equal(sparse.component_boxes(), expected)
        for piece in sparse.pieces:  # trimmed, apart from each other
            assert piece.mask[0].any() and piece.mask[-1].any()
            assert piece.mask[:, 0].any() and piece.mask[:, -1].any()


def test_pieces_that_touch_or_overlap_are_united(rng):
    a = Piece(2, 2, np.ones((3, 3), bool))
    diagonal = Piece(5, 5, np.ones((2, 2), bool))  # touches a's corner
    apart = Piece(0, 9, np.ones((2, 2), bool))
    sparse = SparseMask((10, 12), [a, diagonal, apart])
    assert len(sparse.pieces) == 2
    expected = np.zeros((10, 12), bool)
    expected[2:5, 2:5] = expected[5:7, 5:7] = expected[0:2, 9:11] = True
    np.testing.assert_array_equal(sparse.dense(), expected)
    left, right = random_mask(rng, 40, 50), random_mask(rng, 40, 50)
    united = SparseMask.from_dense(left) | SparseMask.from_dense(right)
    np.testing.assert_array_equal(united.dense(), left | right)
    with pytest.raises(ValueError, match="outside"):
        SparseMask((4, 4), [Piece(3, 3, np.ones((2, 2), bool))])


@pytest.mark.parametrize("frame", [
    Frame.resampled((37, 29), (148, 116)),  # x4
    Frame.resampled((37, 29), (11, 90)),  # down and up
    Frame.identity((37, 29)).cropped(5, 3, 20, 30),  # partly outside the source
    Frame.resampled((37, 29), (74, 58)).cropped(-4, 7, 70, 40),
    Frame((37, 29), (50, 50), Fraction(4, 3), Fraction(5, 7), Fraction(-3), Fraction(2)),
])
def test_a_sparse_mask_warps_like_the_dense_mask(rng, frame):
    for _ in range(4):
        mask = random_mask(rng, 37, 29)
        warped = SparseMask.from_dense(mask).warp(frame)
        assert warped.shape == frame.target
        np.testing.assert_array_equal(warped.dense(), frame.warp(mask))


@pytest.mark.parametrize(("dilate", "feather"), [(0, 0), (0, 4.5), (3, 2), (6, 0)])
def test_the_per_cluster_weights_are_the_whole_images_composite_weight(rng, dilate, feather):
    for size in ((90, 70), (23, 150)):
        mask = random_mask(rng, *size)
        plan = CompositePlan(SparseMask.from_dense(mask), dilate=dilate, feather=feather)
        expected = composite_weight(mask, dilate=dilate, feather=feather)
        np.testing.assert_array_equal(plan.weight(0, size[0], 0, size[1]), expected)
        np.testing.assert_array_equal(plan.region.dense(), expected > 0)
        # windows hold every weighted pixel, apart from each other
        covered = np.zeros(size, bool)
        for top, left, bottom, right in plan.windows(3):
            assert not covered[top:bottom, left:right].any()
            covered[top:bottom, left:right] = True
        assert covered[expected > 0].all()
