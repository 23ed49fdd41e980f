"""The public kernel API: names in ``burnish.kernels``, the ``device=`` argument, and no
recompilation from one call to the next."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import burnish.kernels as kernels
from burnish.kernels import dispatch as kernel_device

TAKES_DEVICE = ["accumulate_tile", "apply_lut", "blend", "contrast", "dilate",
                "distance_transform", "erode", "estimate_grain", "exposure", "feather",
                "gaussian_blur", "match_histograms", "mkl", "normalise", "reinhard", "saturation",
                "signed_edge_distance", "stitch_tile", "synthesize_grain", "white_balance"]


@pytest.mark.parametrize("name", TAKES_DEVICE)
def test_public_kernels_take_a_device_defaulting_to_the_cpu(name):
    parameter = inspect.signature(getattr(kernels, name)).parameters.get("device")
    assert parameter is not None and parameter.default == "cpu"
    assert parameter.kind == inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cpu:0", "cuda:"])
def test_unknown_devices_are_refused_with_the_choices(device):
    with pytest.raises(ValueError, match=f"device must be cpu, cuda or cuda:N, got '{device}'"):
        kernel_device.check_device(device)


def test_a_gpu_index_the_machine_lacks_is_refused():
    from numba import cuda

    if not cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off")
    assert kernel_device.check_device("cuda:0") == "cuda:0"
    with pytest.raises(ValueError, match="cuda:9.*GPU"):
        kernel_device.check_device("cuda:9")


def _cpu_dispatchers():
    # By import path: some package attributes (blend, feather) are the functions, not modules.
    for name in ("accumulate", "blend", "colour", "feather", "gaussian", "grain", "lut",
                 "morphology", "patchmatch", "stitch", "telea"):
        for value in vars(importlib.import_module(f"burnish.kernels.{name}")).values():
            if isinstance(value, CPUDispatcher):
                yield value


def _run_everything(rng, height, width):
    """Every public kernel once on fresh data of one size (uint8 images, bool masks)."""
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = rng.random((height, width)) > 0.6
    plane = rng.random((height, width), dtype=np.float32)
    grainy = np.clip(rng.normal(0.5, 0.05, (height, width, 3)), 0, 1).astype(np.float32)
    kernels.dilate(mask, int(rng.integers(1, 9)))
    kernels.erode(mask, int(rng.integers(1, 9)))
    kernels.feather(mask, float(rng.uniform(1, 8)))
    kernels.gaussian_blur(plane, float(rng.uniform(2, 9)))
    kernels.blend(image, other, plane)
    kernels.reinhard(image, other, mask=mask)
    kernels.match_histograms(image, other)
    kernels.mkl(image, other)
    kernels.synthesize_grain(image, kernels.estimate_grain(grainy), seed=int(rng.integers(9)))
    kernels.exposure(image, float(rng.uniform(-1, 1)))
    hole = np.zeros((height, width), bool)
    hole[height // 3: height // 2, width // 3: width // 2] = True
    kernels.patchmatch_inpaint(grainy, hole, patch_size=5, seed=int(rng.integers(9)))
    kernels.telea_inpaint(grainy, hole, radius=int(rng.integers(2, 6)))


def test_calls_with_new_sizes_and_parameters_compile_nothing_new(rng):
    """The first call compiles (or loads from the on-disk cache); later calls with other sizes
    and parameter values of the same types must reuse those machine-code versions."""
    _run_everything(rng, 64, 48)
    compiled = {dispatcher: len(dispatcher.signatures) for dispatcher in _cpu_dispatchers()}
    assert sum(compiled.values()) > 0
    for height, width in [(37, 91), (80, 33)]:
        _run_everything(rng, height, width)
    grown = {d.py_func.__qualname__: (compiled[d], len(d.signatures))
             for d in _cpu_dispatchers() if len(d.signatures) != compiled[d]}
    assert not grown, f"recompiled for new sizes or values: {grown}"
