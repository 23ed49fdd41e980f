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


def run_cli(monkeypatch, capsys, *args):
    """Run ``burnish ARGS`` in-process through the real entry point; (exit code, out, err)."""
    import sys

    from burnish.cli.app import main

    monkeypatch.setattr(sys, "argv", ["burnish", *map(str, args)])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    code = stop.value.code
    code = code if isinstance(code, int) else (0 if code is None else 1)
    return code, captured.out, captured.err


def structured_image(height, width, seed=0):
    """A photo-like 8-bit RGB image: smooth gradients and edges plus a little noise (a
    removal has something to copy, and changes pixels)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([128 + 100 * np.sin(x / 17), 128 + 90 * np.cos(y / 23),
                      (x + y) * 255 / (height + width)], axis=-1)
    image[(x // 40 + y // 40) % 2 == 0] *= 0.7
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def random_image(rng, height, width, channels, dtype=np.uint8):
    """Random pixels over the dtype's whole range (float32 in [0, 1])."""
    if np.dtype(dtype) == np.float32:
        return rng.random((height, width, channels), dtype=np.float32)
    top = np.iinfo(dtype).max
    return rng.integers(0, top + 1, size=(height, width, channels), dtype=dtype)


@pytest.fixture(params=["cpu", "cuda"])
def device(request, monkeypatch):
    """Runs a kernel test on each driver: the CPU one and the CUDA one (on the GPU where there
    is one, else in Numba's CUDA simulator, which the root conftest switches on). CUDA blocks
    shrink to 4 x 4 (and 4 threads for per-line kernels) so that small inputs span several
    blocks; keep inputs small (tens of pixels a side): the simulator runs each thread in
    Python."""
    if request.param == "cuda":
        from numba import cuda

        from burnish.kernels import dispatch as kernel_device

        if not cuda.is_available():
            pytest.skip("no CUDA GPU and the simulator is off (NUMBA_ENABLE_CUDASIM=0)")
        monkeypatch.setattr(kernel_device, "BLOCK_2D", (4, 4))
        monkeypatch.setattr(kernel_device, "BLOCK_1D", 4)
    return request.param


def random_size(rng, device, largest=37):
    """A fresh random (height, width): up to ``largest`` on the CPU, up to 13 through the CUDA
    drivers (the simulator is slow), which with 4 x 4 blocks covers both less than one block
    and several."""
    top = largest if device == "cpu" else 14
    return tuple(int(v) for v in rng.integers(1, top, size=2))


def assert_cuda_matches_cpu(on_cuda: np.ndarray, on_cpu: np.ndarray) -> None:
    """Identical in the simulator, which runs the CPU-compiled bodies. On a GPU, NVVM fuses
    multiply-adds by default, which can move a float result by an ulp and an integer result
    across a rounding boundary: one level, or 1e-6 for float32."""
    assert on_cuda.shape == on_cpu.shape and on_cuda.dtype == on_cpu.dtype
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        np.testing.assert_array_equal(on_cuda, on_cpu)
    else:
        tolerance = 1 if on_cpu.dtype.kind in "ui" else 1e-6
        np.testing.assert_allclose(on_cuda.astype(np.float64), on_cpu, rtol=0, atol=tolerance)


def boxes_or_blob(rng, height, width):
    """A random hole shape: one to three boxes, or a blob of smoothed noise (may be empty or
    whole; callers add their own guarantees)."""
    from scipy import ndimage

    hole = np.zeros((height, width), bool)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 4))):
            top, left = rng.integers(0, height), rng.integers(0, width)
            hole[top: top + rng.integers(1, height // 2 + 2),
                 left: left + rng.integers(1, width // 2 + 2)] = True
        return hole
    field = ndimage.gaussian_filter(rng.random((height, width)), rng.uniform(1, 4))
    return field > np.quantile(field, rng.uniform(0.6, 0.95))
