"""On a real GPU: the CUDA drivers against the CPU ones on 3840 x 2160 inputs, and the
bandwidth of the per-pixel drivers against a device-to-device copy.

    python3 benches/gpu_kernels.py            # prints a Markdown table for BENCHMARKS.md

Needs an NVIDIA GPU (not the simulator). Correctness goes through the public functions
(NumPy in, NumPy out). Bandwidth launches the drivers on arrays already on the GPU, through
the same :func:`burnish.kernels.dispatch.run`, and counts the bytes each launch must read and
write once; the goal in the kernels issue is >= 60% of a device-to-device copy.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from numba import config, cuda

HEIGHT, WIDTH = 2160, 3840


def _seconds(launch, rounds=20) -> float:
    launch()
    cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        launch()
        cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def check_against_cpu(rng) -> list[str]:
    from burnish import kernels as k

    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    mask = rng.random((HEIGHT // 8, WIDTH // 8)).repeat(8, 0).repeat(8, 1) > 0.7
    plane = rng.random((HEIGHT, WIDTH), dtype=np.float32)
    cases = {
        "dilate r=16": lambda d: k.dilate(mask, 16, device=d),
        "erode r=16": lambda d: k.erode(mask, 16, device=d),
        "distance_transform": lambda d: k.distance_transform(mask, device=d),
        "gaussian_blur sigma=32": lambda d: k.gaussian_blur(plane, 32.0, device=d),
        "feather 24": lambda d: k.feather(mask, 24.0, device=d),
        "blend": lambda d: k.blend(image, other, plane, device=d),
        "reinhard": lambda d: k.reinhard(image, other, device=d),
        "match_histograms": lambda d: k.match_histograms(image, other, device=d),
        "mkl": lambda d: k.mkl(image, other, device=d),
        "exposure": lambda d: k.exposure(image, 0.5, device=d),
    }
    lines = []
    for name, call in cases.items():
        cpu, gpu = call("cpu"), call("cuda")
        difference = float(np.abs(cpu.astype(np.float64) - gpu.astype(np.float64)).max())
        lines.append(f"| {name} | {difference:.3g} |")
    return lines


def bandwidth() -> list[str]:
    from burnish.kernels import blend, device, stitch

    run, Out = device.run, device.Out
    nbytes = HEIGHT * WIDTH * 3
    source = cuda.to_device(np.zeros(nbytes * 4, np.uint8))
    target = cuda.device_array_like(source)
    copy_rate = 2 * source.nbytes / _seconds(lambda: target.copy_to_device(source))

    fg = cuda.to_device(np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    bg = cuda.to_device(np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    out = cuda.device_array((HEIGHT, WIDTH, 3), np.uint8)
    alpha = cuda.to_device(np.zeros((HEIGHT, WIDTH), np.float32))
    planar = cuda.to_device(np.zeros((3, HEIGHT, WIDTH), np.float32))
    top = np.float32(255)
    launches = {
        "blend uint8 RGB": (lambda: run("cuda", blend._blend_cpu, blend._blend_cuda,
                                        (HEIGHT, WIDTH), fg, bg, alpha, Out(out), top, True, 0,
                                        True), 4 * nbytes + 4 * HEIGHT * WIDTH),
        "stitch float32 -> uint8": (lambda: run("cuda", stitch._stitch_cpu, stitch._stitch_cuda,
                                                (HEIGHT, WIDTH), planar, 0, 0, HEIGHT, WIDTH,
                                                Out(out), 0, top, True), 5 * nbytes),
    }
    lines = [f"| device-to-device copy | {copy_rate / 1e9:.0f} GB/s | 100% |"]
    for name, (launch, moved) in launches.items():
        rate = moved / _seconds(launch)
        lines.append(f"| {name} | {rate / 1e9:.0f} GB/s | {100 * rate / copy_rate:.0f}% |")
    return lines


def main() -> int:
    if config.ENABLE_CUDASIM or not cuda.is_available():
        print("needs a real NVIDIA GPU (not the simulator)", file=sys.stderr)
        return 1
    name = cuda.get_current_device().name
    print(f"GPU: {name.decode() if isinstance(name, bytes) else name}\n")
    print("| kernel | max abs difference, CUDA vs CPU |\n| --- | --- |")
    print("\n".join(check_against_cpu(np.random.default_rng(0))))
    print("\n| kernel | bandwidth | of a device copy |\n| --- | --- | --- |")
    print("\n".join(bandwidth()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
