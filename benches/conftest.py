"""Shared bench helpers: inputs from the shared photos (skipped when absent) and timing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"


def photo(name: str) -> Path:
    path = PHOTOS / name
    if not path.exists():
        pytest.skip(f"{path} is absent (benchmarks read ../shared/data/photos)")
    return path


def photo_crop(name: str, height: int, width: int) -> np.ndarray:
    """A ``height x width`` RGB crop from the middle of a shared photo."""
    image = np.asarray(Image.open(photo(name)).convert("RGB"))
    y, x = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[y: y + height, x: x + width])


def blob_mask(height: int = 2160, width: int = 3840, seed: int = 0) -> np.ndarray:
    """A bool mask of smooth random blobs (about 30% set): what masks to dilate, feather and
    blur look like. The kernels' cost does not depend on content beyond that."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    blobs = ndimage.zoom(rng.random((height // 16, width // 16)), 16, order=1) > 0.7
    return np.ascontiguousarray(blobs)


def best_seconds(function, rounds: int = 3) -> float:
    """Fastest of ``rounds`` runs: the peer is timed like pytest-benchmark's ``min``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def compare(benchmark, ours, peer, label: str, rounds: int = 3, **extra) -> float:
    """Time ``ours`` with pytest-benchmark and ``peer`` by the same min-of-rounds rule in the
    same run; store both and the ratio (and ``extra``) in extra_info, print a line, and return
    the speed-up. The first call of ``ours`` (compilation, or loading the cache) is not timed."""
    ours()
    benchmark.pedantic(ours, rounds=rounds, iterations=1)
    mine = benchmark.stats.stats.min
    theirs = best_seconds(peer, rounds)
    benchmark.extra_info.update(burnish_ms=mine * 1e3, peer_ms=theirs * 1e3,
                                speedup=theirs / mine, **extra)
    details = "".join(f", {key} {value:.2g}" for key, value in extra.items())
    print(f"\n{label}: burnish {mine * 1e3:.1f} ms, peer {theirs * 1e3:.1f} ms, "
          f"{theirs / mine:.2f}x{details}")
    return theirs / mine
