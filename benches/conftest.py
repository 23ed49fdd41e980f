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


def best_seconds(function, rounds: int = 3) -> float:
    """Fastest of ``rounds`` runs: the peer is timed like pytest-benchmark's ``min``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best
