"""The stitching kernel against its NumPy reference (crop, clip, round, cast, interleave)."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.engine.pixels import from_float
from burnish.kernels.stitch import stitch_tile

from conftest import random_size


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_stitch_matches_reference(rng, device, dtype, channels):
    height, width = random_size(rng, device, largest=40)
    planar = (rng.random((channels, height + 7, width + 5), dtype=np.float32) * 1.4 - 0.2)
    planar[0, 0, 0] = np.nan  # clipped to 0, like the reference's clip of NaN... see below
    top, left, dst_left = int(rng.integers(0, 8)), int(rng.integers(0, 6)), int(rng.integers(0, 9))
    band = np.zeros((height, width + dst_left + 3, channels), dtype=dtype)
    stitch_tile(planar, band, src_top=top, src_left=left, height=height, width=width,
                dst_left=dst_left, device=device)
    crop = planar[:, top: top + height, left: left + width].transpose(1, 2, 0)
    expected = from_float(np.nan_to_num(crop, nan=0.0), dtype)
    np.testing.assert_array_equal(band[:, dst_left: dst_left + width], expected)
    assert not band[:, :dst_left].any() and not band[:, dst_left + width:].any()


def test_half_levels_round_to_even_like_numpy(device):
    planar = (np.array([0.5, 1.5, 2.5, 253.5], np.float32) / 255).reshape(1, 1, 4)
    band = np.zeros((1, 4, 1), np.uint8)
    stitch_tile(planar, band, src_top=0, src_left=0, height=1, width=4, dst_left=0,
                device=device)
    expected = from_float(planar.transpose(1, 2, 0), np.uint8)
    np.testing.assert_array_equal(band, expected)


def test_out_of_bounds_region_is_refused():
    with pytest.raises(ValueError, match="out of bounds"):
        stitch_tile(np.zeros((3, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8),
                    src_top=1, src_left=0, height=4, width=4, dst_left=0)
    with pytest.raises(ValueError, match="channels"):
        stitch_tile(np.zeros((1, 4, 4), np.float32), np.zeros((4, 4, 3), np.uint8),
                    src_top=0, src_left=0, height=4, width=4, dst_left=0)
