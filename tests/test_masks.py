"""Edit masks from boxes, polygons, mask files, alpha and colour keys."""

from __future__ import annotations

import numpy as np
import pytest

from burnish.engine.edit_masks import (
    alpha_mask,
    box_mask,
    key_mask,
    mask_from_file,
    parse_box,
    parse_colour,
    parse_polygon,
    polygon_mask,
)
from burnish.engine.imageio import write_image
from burnish.errors import InputError, OptionError


def reference_polygon_mask(shape, points):
    """Slow and obvious: even-odd ray casting from every pixel centre."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    inside = np.zeros(shape, bool)
    for (x0, y0), (x1, y1) in zip(points, np.roll(points, -1, axis=0)):
        crosses = (y0 <= ys) != (y1 <= ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < at)
    return inside


def test_polygons_match_ray_casting(rng):
    missed = 0
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(1, 40, size=2))
        points = rng.uniform(-5, 45, size=(int(rng.integers(3, 9)), 2))
        expected = reference_polygon_mask((height, width), points)
        if expected.any():
            np.testing.assert_array_equal(polygon_mask((height, width), points), expected)
        else:  # a polygon that covers no pixel centre is the region's error
            missed += 1
            with pytest.raises(InputError, match=f"the {width}x{height} image"):
                polygon_mask((height, width), points)
    assert missed < 40


def test_box_covers_the_pixels_whose_centres_it_contains():
    mask = box_mask((6, 8), (1, 2, 3, 2))
    expected = np.zeros((6, 8), bool)
    expected[2:4, 1:4] = True
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(InputError, match="box -10,-10,5,5 lies outside the 8x6 image"):
        box_mask((6, 8), (-10, -10, 5, 5))
    assert box_mask((6, 8), (-10, -10, 100, 100)).all()  # clipped to the image


def test_a_box_and_the_same_rectangle_as_a_polygon_agree(rng):
    x, y, w, h = rng.uniform(-3, 20, size=4) + np.array([0, 0, 5, 5])
    square = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    np.testing.assert_array_equal(box_mask((25, 30), (x, y, w, h)), polygon_mask((25, 30), square))


@pytest.mark.parametrize("text,problem", [
    ("1,2,3", "four numbers"), ("1,2,0,4", "not positive"), ("a,b,c,d", "not a list of numbers"),
])
def test_bad_boxes_get_one_line(text, problem):
    with pytest.raises(OptionError, match=problem):
        parse_box(text)


@pytest.mark.parametrize("text,problem", [
    ("", "at least 3 points"), ("1,2 3,4", "at least 3 points"), ("1,2 3", "odd count"),
    ("0,0 1,1 2,2", "empty"), ("0,0 1,x 2,2", "not a list of numbers"),
])
def test_bad_or_empty_polygons_get_one_line(text, problem):
    with pytest.raises(OptionError, match=problem) as raised:
        parse_polygon(text)
    assert "\n" not in str(raised.value)


def test_alpha_mask_marks_transparent_pixels():
    image = np.zeros((2, 3, 4), np.uint16)
    image[..., 3] = [[0, 32767, 32768], [65535, 0, 1]]
    np.testing.assert_array_equal(alpha_mask(image), [[True, True, False], [False, True, True]])
    with pytest.raises(OptionError, match="no alpha"):
        alpha_mask(np.zeros((2, 3, 3), np.uint8))


def test_colour_key_with_tolerance():
    image = np.array([[[0, 255, 0], [10, 250, 5], [40, 200, 0]]], np.uint8)
    colour = parse_colour("#00ff00")
    np.testing.assert_array_equal(key_mask(image, colour), [[True, False, False]])
    np.testing.assert_array_equal(key_mask(image, colour, 10), [[True, True, False]])
    as_16_bit = image.astype(np.uint16) * 257
    np.testing.assert_array_equal(key_mask(as_16_bit, colour, 10), [[True, True, False]])
    with pytest.raises(OptionError, match="not #rrggbb"):
        parse_colour("0,256,0")


def test_mask_file_is_thresholded_and_its_size_checked(tmp_path):
    path = tmp_path / "mask.png"
    plane = np.array([[0, 127, 128], [255, 0, 200]], np.uint8)
    write_image(path, plane[..., None])
    np.testing.assert_array_equal(mask_from_file(path, (2, 3)), plane > 127.5)
    with pytest.raises(InputError, match="mask is 3x2, the image is 4x2") as raised:
        mask_from_file(path, (2, 4))
    assert str(raised.value).startswith(str(path))
    with pytest.raises(InputError):
        mask_from_file(tmp_path / "missing.png", (2, 3))
