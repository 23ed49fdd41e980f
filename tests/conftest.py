"""Shared fixtures: fresh random generators (seed shown on failure) and model runners."""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest


@pytest.fixture
def rng(request):
    """A generator with a fresh seed each run; the seed is in the test's report on failure."""
    seed = int(os.environ.get("BURNISH_TEST_SEED", secrets.randbits(32)))
    request.node.user_properties.append(("seed", seed))
    print(f"random seed {seed} (BURNISH_TEST_SEED={seed} repeats it)")
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def default_runner():
    """The shipped default model on the CPU, opened once."""
    from burnish.models.registry import open_model

    with open_model(device="cpu") as runner:
        yield runner


def random_image(rng, height, width, channels, dtype=np.uint8):
    """Random pixels over the dtype's whole range (float32 in [0, 1])."""
    if np.dtype(dtype) == np.float32:
        return rng.random((height, width, channels), dtype=np.float32)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=(height, width, channels), dtype=dtype)
