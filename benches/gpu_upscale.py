"""The GPU path against the Real-ESRGAN loop, host array to host array, in one run.

    python3 benches/gpu_upscale.py                  # on a CUDA machine: Markdown for BENCHMARKS.md
    python3 benches/gpu_upscale.py --device cpu --smoke   # checks the script itself, tiny sizes

Builds two networks with random weights (spandrel's classes, saved and loaded back as a user's
checkpoint would be): RRDBNet x4plus (64 features, 23 blocks) and the Compact x4 network
(realesr-animevideov3's shape: 64 features, 16 convolutions). For each, on one 1920 x 1080
frame, it times:

- the Real-ESRGAN loop: ``RealESRGANer.tile_process`` re-implemented (512-pixel tiles, pad 10,
  one tile at a time, fp16 and fp32), with Real-ESRGAN's own pre- and post-processing;
- plain PyTorch: the whole frame in one call, fp16, channels-last;
- burnish: ``burnish.upscale`` with the PyTorch runner (the GPU path: tiles stay on the
  device), whole frame and tiled, eager and ``torch.compile``d; and with ONNX Runtime's CUDA
  provider (IO binding) when onnxruntime-gpu is installed.

Every timing is the best of several runs after a warm-up, from a uint8 host array to a uint8
host array. Every burnish result is checked against the fp32 whole-frame output (levels of
difference reported beside the time).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from spandrel_builders import centre_output, save  # noqa: E402

import burnish  # noqa: E402
from burnish.models.torch_runner import TorchOptions, TorchRunner  # noqa: E402


def networks(smoke: bool) -> dict[str, torch.nn.Module]:
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    if smoke:
        return {"RRDBNet x4plus": ESRGAN(num_filters=8, num_blocks=1, scale=4),
                "Compact x4": Compact(num_feat=8, num_conv=2, upscale=4)}
    return {"RRDBNet x4plus": ESRGAN(num_filters=64, num_blocks=23, scale=4),
            "Compact x4": Compact(num_feat=64, num_conv=16, upscale=4)}


def realesrgan_loop(network, image: np.ndarray, device, dtype, tile=512, pad=10, scale=4):
    """``RealESRGANer.pre_process``, ``tile_process`` and ``post_process``, as Real-ESRGAN runs
    them (one tile per call, overlapping by ``pad``, cores pasted into a full output)."""
    img = torch.from_numpy(np.transpose(image, (2, 0, 1))).float() / 255.0
    img = img.unsqueeze(0).to(device).to(dtype)
    batch, channel, height, width = img.shape
    output = img.new_zeros((batch, channel, height * scale, width * scale))
    tiles_x, tiles_y = -(-width // tile), -(-height // tile)
    with torch.no_grad():
        for y in range(tiles_y):
            for x in range(tiles_x):
                x0, y0 = x * tile, y * tile
                x1, y1 = min(x0 + tile, width), min(y0 + tile, height)
                px0, px1 = max(x0 - pad, 0), min(x1 + pad, width)
                py0, py1 = max(y0 - pad, 0), min(y1 + pad, height)
                out = network(img[:, :, py0:py1, px0:px1])
                ox0, oy0 = (x0 - px0) * scale, (y0 - py0) * scale
                output[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                    out[:, :, oy0:oy0 + (y1 - y0) * scale, ox0:ox0 + (x1 - x0) * scale]
    result = output.data.squeeze().float().cpu().clamp_(0, 1).numpy()
    return (np.transpose(result, (1, 2, 0)) * 255.0).round().astype(np.uint8)


def whole_frame(network, image, device, dtype, channels_last=True):
    x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].to(dtype) / 255
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = network(x)
    return (out[0].float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def best_seconds(run, device, rounds):
    result = run()  # warm-up (cuDNN autotuning, allocator, compilation)
    best = float("inf")
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_model(name, network, image, device, half, args, folder, has_ort_cuda, records):
    """Time and check every way of running one network; Markdown rows, and ``records`` filled."""
    rows = []
    torch.manual_seed(0)
    centre_output(network.eval())
    checkpoint = save(network, folder / f"{name.split()[0]}.safetensors")
    reference = whole_frame(network.float().to(device), image, device, torch.float32, False)

    def record(method, seconds, result, baseline=None):
        levels = int(np.abs(result.astype(int) - reference).max())
        records.append({"model": name, "method": method, "seconds": seconds,
                        "max_levels_vs_fp32": levels})
        ratio = "" if baseline is None else f"{baseline / seconds:.2f}x"
        rows.append(f"| {name} | {method} | {seconds * 1000:.1f} ms | {ratio} | {levels} |")

    fp16_net = network.to(device, half)
    loop16, out = best_seconds(lambda: realesrgan_loop(fp16_net, image, device, half), device,
                               args.rounds)
    record("Real-ESRGAN loop (512 tiles, pad 10) fp16", loop16, out, loop16)
    fp32_net = copy.deepcopy(network).to(device, torch.float32)
    seconds, out = best_seconds(lambda: realesrgan_loop(fp32_net, image, device, torch.float32),
                                device, args.rounds)
    record("Real-ESRGAN loop fp32", seconds, out, loop16)
    plain = fp16_net.to(memory_format=torch.channels_last)
    seconds, out = best_seconds(lambda: whole_frame(plain, image, device, half), device,
                                args.rounds)
    record("PyTorch whole frame fp16 channels-last", seconds, out, loop16)
    model = TorchRunner.open(checkpoint, options=TorchOptions(device=args.device))
    halo = model.descriptor.halo
    for tile, batch in ((0, 1), (512, 4)):
        seconds, out = best_seconds(
            lambda tile=tile, batch=batch: burnish.upscale(image, model=model, tile=tile,
                                                           batch_size=batch),
            device, args.rounds)
        record(f"burnish GPU path, torch {model.descriptor.precisions[0]}, "
               f"tile {tile or 'whole'} (halo {halo})", seconds, out, loop16)
    if device.type == "cuda":
        compiled = TorchRunner.open(checkpoint, options=TorchOptions(device="cuda", compile=True))
        seconds, out = best_seconds(lambda: burnish.upscale(image, model=compiled, tile=0),
                                    device, args.rounds)
        record("burnish GPU path, torch.compile, whole frame", seconds, out, loop16)
    if has_ort_cuda:
        from burnish.export.onnx_export import export_checkpoint
        from burnish.models.onnx_runner import OrtOptions, OrtRunner

        exported = export_checkpoint(checkpoint, folder / f"{name.split()[0]}.onnx")
        with OrtRunner(exported.path, options=OrtOptions("cuda")) as ort_runner:
            seconds, out = best_seconds(lambda: burnish.upscale(image, model=ort_runner, tile=0),
                                        device, args.rounds)
            record(f"burnish GPU path, ONNX Runtime {ort_runner.providers[0]} fp32", seconds,
                   out, loop16)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    height, width = (36, 64) if args.smoke else (1080, 1920)
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    folder = Path(tempfile.mkdtemp(prefix="burnish-gpu-bench-"))
    rows, records = [], []
    has_ort_cuda = False
    try:
        import onnxruntime as ort

        has_ort_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        pass
    half = torch.float16 if device.type == "cuda" else torch.float32
    for name, network in networks(args.smoke).items():
        rows += bench_model(name, network, image, device, half, args, folder, has_ort_cuda, records)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{height}x{width} -> x4 on {gpu}, torch {torch.__version__}, best of {args.rounds}\n")
    print("| model | method | time | vs Real-ESRGAN fp16 | max levels vs fp32 whole frame |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    out_dir = args.json or (Path(os.environ["OUT"]) / "gpu_upscale.json" if "OUT" in os.environ else None)
    if out_dir is not None:
        out_dir.write_text(json.dumps({"device": gpu, "records": records}, indent=2))


if __name__ == "__main__":
    main()
