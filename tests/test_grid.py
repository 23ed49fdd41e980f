"""The tile grid covers the image exactly and gives every core its halo."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burnish.engine.tiling.grid import TileGrid, padded_length, split_axis


@pytest.mark.parametrize("length", [1, 7, 31, 64, 100, 257, 1000])
@pytest.mark.parametrize("tile", [0, 16, 32, 100, 512])
@pytest.mark.parametrize("halo", [0, 3, 10])
@pytest.mark.parametrize("multiple", [1, 8])
def test_cores_partition_axis_and_windows_hold_halo(length, tile, halo, multiple):
    spans = split_axis(length, tile, halo=halo, multiple=multiple)
    padded = padded_length(length, multiple)
    assert spans[0].core_start == 0 and spans[-1].core_stop == length
    for before, after in zip(spans, spans[1:]):
        assert before.core_stop == after.core_start
    sizes = {s.window_stop - s.window_start for s in spans}
    assert len(sizes) == 1, "all windows of an axis have one size (so tiles batch together)"
    for span in spans:
        assert span.core_stop > span.core_start
        if tile > 0 and len(spans) > 1:
            assert span.core_stop - span.core_start <= tile
        assert 0 <= span.window_start and span.window_stop <= padded
        assert span.window_start % multiple == 0 and span.window_stop % multiple == 0
        assert span.window_start <= max(span.core_start - halo, 0)
        assert span.window_stop >= min(span.core_stop + halo, padded)


def test_untiled_is_one_window_over_padded_image():
    assert split_axis(37, 0, halo=4, multiple=8)[0].window_stop == 40
    grid = TileGrid.build(37, 50, tile_height=0, tile_width=0, halo=4)
    assert grid.tile_count == 1


def test_min_size_pads_small_images():
    (span,) = split_axis(5, 0, halo=2, multiple=1, min_size=16)
    assert (span.core_stop, span.window_stop) == (5, 16)


def test_bands_are_in_reading_order():
    grid = TileGrid.build(100, 70, tile_height=32, tile_width=32, halo=2)
    order = [(t.row, t.col) for band in grid.bands() for t in band]
    assert order == sorted(order)
    assert grid.tile_count == len(order) == 4 * 3


@given(length=st.integers(1, 3000), tile=st.integers(0, 600), halo=st.integers(0, 40),
       multiple=st.sampled_from([1, 2, 4, 8, 16]), min_size=st.integers(1, 64))
@settings(max_examples=300, deadline=None)
def test_grid_invariants_hold_for_any_geometry(length, tile, halo, multiple, min_size):
    spans = split_axis(length, tile, halo=halo, multiple=multiple, min_size=min_size)
    padded = padded_length(length, multiple, min_size)
    covered = [i for s in spans for i in range(s.core_start, s.core_stop)]
    assert covered == list(range(length))
    assert len({s.window_stop - s.window_start for s in spans}) == 1
    for span in spans:
        assert 0 <= span.window_start <= max(span.core_start - halo, 0)
        assert span.window_stop >= min(span.core_stop + halo, padded)
        assert span.window_stop <= padded and span.window_start % multiple == 0
        assert span.window_stop - span.window_start >= min(padded, min_size)
