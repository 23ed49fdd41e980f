"""The colour transfers beside their peers on photos, 2 cores.

    python3 -m pytest benches/test_kernels_colour.py --benchmark-only -s -p no:cacheprovider

Each test times burnish with pytest-benchmark and the peer with the same min-of-rounds rule in
the same run, and stores both and the ratio in extra_info (``compare``). Inputs are crops of
the shared photos: histogram counting and Reinhard's statistics do depend a little on content
(smooth areas repeat levels), so real pictures are the honest input.

- Histogram matching, 3840 x 2160 RGB uint8 against a reference of the same size, beside
  ``skimage.exposure.match_histograms(channel_axis=-1)`` (whose result it reproduces bit for
  bit).
- Reinhard, 1920 x 1080 RGB uint8, beside color-matcher's ``ColorMatcher().transfer(method=
  "reinhard")`` (GPL: a benchmark peer only, never imported by the package; it transfers in
  Ruderman's log-LMS space rather than CIELAB, the same amount of work per pixel).
"""

from __future__ import annotations

import numpy as np
import pytest

from burnish.kernels.colour import match_histograms, reinhard

from conftest import compare, photo_crop


def test_histogram_matching_against_skimage(benchmark):
    from skimage.exposure import match_histograms as skimage_match

    image = photo_crop("Elephants_5640x3172.jpg", 2160, 3840)
    reference = photo_crop("Kleiber_by_Lukas_Baubkus.jpg", 2160, 3840)
    np.testing.assert_array_equal(match_histograms(image, reference),
                                  skimage_match(image, reference, channel_axis=-1))
    compare(benchmark, lambda: match_histograms(image, reference),
            lambda: skimage_match(image, reference, channel_axis=-1),
            "histogram match 3840x2160 RGB uint8 vs skimage", rounds=5, goal=14)


def test_reinhard_against_color_matcher(benchmark):
    color_matcher = pytest.importorskip("color_matcher")

    image = photo_crop("Blinds.jpg", 1080, 1920)
    reference = photo_crop("RainDrops.jpg", 1080, 1920)
    # The peer writes into its inputs (zeros to 1/255, which a uint8 array stores as 0): it
    # gets its own writable copies, made once.
    peer_image, peer_reference = image.copy(), reference.copy()

    def peer():
        # It takes log10 of LMS, which black pixels make -inf: the warnings are its own.
        with np.errstate(divide="ignore", invalid="ignore"):
            color_matcher.ColorMatcher().transfer(src=peer_image, ref=peer_reference,
                                                  method="reinhard")

    compare(benchmark, lambda: reinhard(image, reference), peer,
            "Reinhard 1920x1080 RGB uint8 vs color-matcher", rounds=15, goal=25)
