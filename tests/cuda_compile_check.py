"""Compile every CUDA driver for a real GPU (sm_90 PTX) without one; run as a script.

Numba's CUDA simulator runs kernels as Python, so it accepts code that the CUDA target
rejects (np.rint, for one). This script, run in a process without the simulator, calls every
public kernel with ``device="cuda"`` while :func:`burnish.kernels.dispatch.run` is replaced by a
stand-in that compiles the CUDA driver to PTX for the exact argument types a launch would have,
then runs the CPU driver so that the next step gets real data. It prints one JSON object:
``{"compiled": [...], "failed": {kernel: error}, "missing": [...]}``, or
``{"unavailable": reason}`` when no NVVM library is installed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types as pytypes

import numpy as np

COMPUTE_CAPABILITY = (9, 0)  # an H100; any real target would do


def _fake_device_for_compilation():
    # Compiling looks up the current device only to pick the target; give it one.
    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(
        compute_capability=COMPUTE_CAPABILITY)


def _kernel_modules():
    # By import path: some package attributes (blend, feather) are the functions, not modules.
    return [importlib.import_module(f"burnish.kernels.{name}") for name in
            ("accumulate", "blend", "colour", "feather", "gaussian", "grain", "lut",
             "morphology", "stitch")]


def main() -> int:
    _fake_device_for_compilation()
    import numba
    from numba import cuda
    from numba.cuda.dispatcher import CUDADispatcher

    import burnish.kernels as k
    from burnish.kernels import dispatch as device

    device.bind_cuda_drivers()  # the drivers as CUDA dispatchers, for compile_ptx below

    # Two phases: first every call runs on the CPU while the CUDA launches it would make are
    # recorded; only then is anything compiled for the GPU. Loading NVVM while the CPU drivers
    # were still being compiled aborted the process on a corrupted heap in about half the runs
    # (two LLVMs in one process; numba-cuda 0.30.4, NVVM 13.0).
    launches: dict[str, tuple] = {}

    def record_then_run_on_cpu(_device, cpu_driver, cuda_driver, grid, *args, cpu_items=None):
        values = [arg.array if isinstance(arg, device.Out) else arg for arg in args]
        # What a launch passes: C-contiguous device arrays, typed like contiguous NumPy ones.
        staged = [np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v for v in values]
        launches.setdefault(cuda_driver.py_func.__qualname__,
                            (cuda_driver.py_func, tuple(numba.typeof(v) for v in staged)))
        if cpu_driver is not None:  # None: the CPU does this launch fused with another
            device.run("cpu", cpu_driver, cuda_driver, grid, *args, cpu_items=cpu_items)

    stand_ins = {"run": record_then_run_on_cpu, "check_device": lambda d: d,
                 "empty": lambda shape, dtype, _d: np.empty(shape, dtype),
                 "to_device": lambda array, _d: array, "to_host": lambda array: array}
    modules = _kernel_modules()
    for module in modules:
        for name, stand_in in stand_ins.items():
            if hasattr(module, name):
                setattr(module, name, stand_in)

    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16, np.float32):
        if dtype == np.float32:
            image, other = (rng.random((9, 7, 3), dtype=np.float32) for _ in range(2))
        else:
            image, other = (rng.integers(0, np.iinfo(dtype).max, (9, 7, 3)).astype(dtype)
                            for _ in range(2))
        mask = rng.random((9, 7)) > 0.5
        plane = rng.random((9, 7), dtype=np.float32)
        k.blend(image, other, plane, device="cuda")
        k.blend(image, other, plane, linear=True, device="cuda")
        k.reinhard(image, other, mask=mask, device="cuda")
        k.mkl(image, other, mask=mask, device="cuda")
        k.match_histograms(image, other, mask=mask, device="cuda")
        lut3d = k.Lut(rng.random((5, 5, 5, 3), dtype=np.float32))
        for interpolation in ("tetrahedral", "trilinear"):
            k.apply_lut(image, lut3d, interpolation=interpolation, device="cuda")
        k.apply_lut(image, k.Lut(rng.random((7, 3), dtype=np.float32)), mask=mask, device="cuda")
        k.exposure(image, 0.3, device="cuda")
        k.white_balance(image, temperature=0.2, tint=0.1, device="cuda")
        k.saturation(image, 1.2, device="cuda")
        k.contrast(image, 1.1, device="cuda")
        grainy = np.clip(rng.normal(0.5, 0.05, (40, 40, 3)), 0, 1).astype(np.float32)
        k.synthesize_grain(image, k.estimate_grain(grainy, device="cuda"), seed=1, device="cuda")
        band = np.zeros((4, 7, 3), dtype)
        k.stitch_tile(rng.random((3, 6, 8), dtype=np.float32), band, src_top=1, src_left=1,
                      height=4, width=7, dst_left=0, device="cuda")
    mask = rng.random((9, 7)) > 0.5
    for radius in (3, 300):  # 8-bit and 16-bit column distances
        k.dilate(mask, radius, device="cuda")
        k.erode(mask.astype(np.float32), radius, device="cuda")
    k.distance_transform(mask, device="cuda")
    k.feather(mask, 3.0, device="cuda")
    k.signed_edge_distance(mask, device="cuda")
    for sigma in (1.0, 8.0):
        k.gaussian_blur(rng.random((9, 7), dtype=np.float32), sigma, device="cuda")
    accumulator, weights = np.zeros((9, 7, 3), np.float32), np.zeros((9, 7), np.float32)
    k.accumulate_tile(accumulator, weights, rng.random((3, 4, 5), dtype=np.float32),
                      np.ones((4, 5), np.float32), top=1, left=2, device="cuda")
    k.normalise(accumulator, weights, device="cuda")

    try:
        cuda.compile_ptx(lambda a: None, (numba.float32[:],), cc=COMPUTE_CAPABILITY)
    except Exception as error:  # no NVVM here: nothing can be compiled
        print(json.dumps({"unavailable": f"{type(error).__name__}: {error}"}))
        return 0
    compiled: set[str] = set()
    failed: dict[str, str] = {}
    for name, (function, signature) in launches.items():
        try:
            cuda.compile_ptx(function, signature, cc=COMPUTE_CAPABILITY)
            compiled.add(name)
        except Exception as error:
            failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"

    # Kernels only: device functions (the bodies' GPU twins) compile inside them.
    every_driver = {value.py_func.__qualname__ for module in modules
                    for value in vars(module).values()
                    if isinstance(value, CUDADispatcher) and not value.targetoptions.get("device")}
    missing = sorted(every_driver - compiled - set(failed))
    print(json.dumps({"compiled": sorted(compiled), "failed": failed, "missing": missing}),
          flush=True)
    # Skip interpreter teardown: NVVM's library can abort while being unloaded, after the
    # work is done and reported.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
