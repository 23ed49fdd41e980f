"""The re-parameterised Compact (burnish.export.rep_compact) and its training recipe
(burnish.export.train_sr): merging the branches changes nothing, the schedule, and a run
stopped, resumed and exported as an x2 model that the engine tiles exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import burnish

torch = pytest.importorskip("torch")

from burnish.export import train_sr  # noqa: E402
from burnish.export.compact import SRVGGNetCompact  # noqa: E402
from burnish.export.data import degrade  # noqa: E402
from burnish.export.rep_compact import RepCompact, merged, warm_started  # noqa: E402
from burnish.export.train_default import PatchSampler, export_onnx  # noqa: E402
from burnish.export.train_sr import (  # noqa: E402
    WARMUP_STEPS,
    fade_slopes,
    fitted_steps,
    learning_rate,
    main,
)


@pytest.mark.parametrize("scale, num_conv", [(2, 3), (4, 1)])
def test_merged_network_computes_what_the_branches_do(rng, scale, num_conv):
    torch.manual_seed(int(rng.integers(1 << 31)))
    model = RepCompact(num_feat=8, num_conv=num_conv, upscale=scale).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # away from the initialisation's symmetry
            parameter.add_(0.1 * torch.randn_like(parameter))
    plain = merged(model)
    height, width = (int(v) for v in rng.integers(5, 40, 2))
    x = torch.from_numpy(rng.random((2, 3, height, width), dtype=np.float32))
    with torch.no_grad():
        expected, got = model(x), plain(x)
    assert got.shape == (2, 3, height * scale, width * scale)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("extra_depth", [0, 2])
def test_a_warm_start_computes_what_the_trained_network_computes(rng, extra_depth):
    torch.manual_seed(int(rng.integers(1 << 31)))
    trained = SRVGGNetCompact(num_feat=8, num_conv=3, upscale=4).eval()
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model = warm_started(RepCompact(num_feat=8, num_conv=3 + extra_depth, upscale=4),
                         trained.state_dict()).eval()
    x = torch.from_numpy(rng.random((1, 3, 23, 17), dtype=np.float32))
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(merged(model)(x), trained(x), atol=1e-5, rtol=1e-5)
    # the branches start where training can move them: every one gets a gradient
    model.train()
    model(x).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_warm_start_cannot_drop_layers():
    trained = SRVGGNetCompact(num_feat=8, num_conv=3, upscale=4).state_dict()
    with pytest.raises(ValueError, match="3 body convolutions, more than the 2"):
        warm_started(RepCompact(num_feat=8, num_conv=2, upscale=4), trained)


def test_learning_rate_warms_up_then_decays_to_zero():
    peak, total = 1e-3, 10 * WARMUP_STEPS
    assert learning_rate(0, total, peak) == pytest.approx(peak / WARMUP_STEPS)
    assert learning_rate(WARMUP_STEPS, total, peak) == pytest.approx(peak)
    rates = [learning_rate(step, total, peak) for step in range(WARMUP_STEPS, total + 1, 500)]
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[-1] == pytest.approx(0)


def test_the_slope_fade_is_linear_and_ends_in_relu_at_its_step(rng):
    torch.manual_seed(int(rng.integers(1 << 31)))
    model = RepCompact(num_feat=4, num_conv=1, upscale=2)
    slopes = [layer for layer in model.body if isinstance(layer, torch.nn.PReLU)]
    with torch.no_grad():
        for layer in slopes:
            layer.weight.uniform_(-0.2, 1.2)
    start = [layer.weight.clone() for layer in slopes]
    fade_slopes(model, 1, 0)  # no fade asked: nothing changes
    assert all(torch.equal(layer.weight, first) for layer, first in zip(slopes, start))
    relu_by = 5
    for step in range(1, relu_by + 3):
        fade_slopes(model, step, relu_by)
        share = max(0, relu_by - step) / relu_by  # what is left of the slopes, untrained
        for layer, first in zip(slopes, start):
            torch.testing.assert_close(layer.weight, first * share)
    assert all(not layer.weight.any() for layer in slopes)


def test_zero_slope_prelus_are_exported_as_relu_with_the_same_outputs(tmp_path, rng):
    onnx = pytest.importorskip("onnx")
    torch.manual_seed(int(rng.integers(1 << 31)))
    network = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
        for index in (1, 3):  # two of the three activations trained into ReLU
            network.body[index].weight.zero_()
    path = tmp_path / "net.onnx"
    export_onnx(network, path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("Relu") == 2 and ops.count("PRelu") == 1
    assert all(isinstance(network.body[i], torch.nn.PReLU) for i in (1, 3, 5))  # untouched
    x = rng.random((1, 3, 21, 26), dtype=np.float32)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    with torch.no_grad():
        expected = network(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _half_flat_half_noise(rng, height: int, width: int, scale: int):
    """A target whose left half is flat grey (bicubic's error 0) and right half noise."""
    high = np.full((height, width, 3), 128, dtype=np.uint8)
    high[:, width // 2:] = rng.integers(0, 256, (height, width - width // 2, 3))
    return degrade(high, scale), high


@pytest.mark.parametrize("scale", [2, 4])
def test_informative_patches_come_from_where_bicubic_errs(rng, scale):
    pairs = [_half_flat_half_noise(rng, 40 * scale, 96 * scale, scale),
             _half_flat_half_noise(rng, 30 * scale, 50 * scale, scale)]
    anywhere = PatchSampler(pairs, 12, seed=1, scale=scale)
    informative = PatchSampler(pairs, 12, seed=1, scale=scale, informative_share=0.3)
    for sampler in (anywhere, informative):
        low, high = sampler.batch(300)
        assert low.shape == (300, 3, 12, 12) and high.shape == (300, 3, 12 * scale, 12 * scale)
    flat = lambda patches: (patches.std(dim=(1, 2, 3)) == 0).float().mean().item()  # noqa: E731
    assert flat(anywhere.batch(300)[1]) > 0.2  # uniform positions land in the grey half
    # the best 30% of positions all lie mostly in the noise; a jitter below the grid's step
    # cannot move one of those wholly into the grey
    assert flat(informative.batch(300)[1]) == 0
    assert len(informative.positions) == round(0.3 * sum(
        len(range(0, low.shape[0] - 11, 3)) * len(range(0, low.shape[1] - 11, 3))
        for low, _ in pairs))


def test_patch_pairs_stay_aligned_with_informative_sampling(rng):
    pairs = [_half_flat_half_noise(rng, 64, 160, 4)]
    sampler = PatchSampler(pairs, 10, seed=3, scale=4, informative_share=0.5)
    low, high = sampler.batch(50)
    # each low patch is its high patch degraded (up to Pillow's rounding at patch borders)
    again = torch.from_numpy(np.stack([
        degrade((h.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), 4)
        for h in high])).permute(0, 3, 1, 2).float() / 255
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert (again[inner] - low[inner]).abs().mean() < 0.02
    assert (torch.roll(again, 1, 0)[inner] - low[inner]).abs().mean() > 0.05


def test_patches_come_in_all_eight_orientations_the_same_for_both_sides(rng):
    """A patch as large as the image has one position: each pair drawn must be the image
    turned and mirrored, both sides the same way, and all 8 ways turn up."""
    low = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    high = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    sampler = PatchSampler([(low, high)], 6, seed=5, scale=2)

    def orientations(image):
        turns = [np.rot90(image, k) for k in range(4)]
        return [np.ascontiguousarray(t.transpose(2, 0, 1)) for t in turns + [
            t[:, ::-1] for t in turns]]

    lows, highs = orientations(low), orientations(high)
    seen = set()
    for low_patch, high_patch in zip(*sampler.batch_bytes(64), strict=True):
        which = [k for k in range(8) if np.array_equal(low_patch.numpy(), lows[k])]
        assert len(which) == 1 and np.array_equal(high_patch.numpy(), highs[which[0]])
        seen.add(which[0])
    assert seen == set(range(8))
    floats = sampler.batch(3)
    assert floats[0].dtype == torch.float32 and 0 <= floats[1].min() and floats[1].max() <= 1


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_an_informative_share_outside_0_1_is_refused(rng, share):
    with pytest.raises(ValueError, match="informative_share"):
        PatchSampler([_half_flat_half_noise(rng, 32, 32, 2)], 8, seed=0, scale=2,
                     informative_share=share)


def test_a_run_stops_resumes_and_exports_an_x2_model(tmp_path, rng):
    pytest.importorskip("skimage")
    photos = tmp_path / "photos"
    photos.mkdir()
    for number in range(2):
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(
            photos / f"p{number}.jpg")
    more = tmp_path / "more"  # another package's images: two new, one of the same name
    more.mkdir()
    for name in ("p0.jpg", "q.jpg", "q.png"):
        Image.fromarray(rng.integers(0, 256, (100, 90, 3), dtype=np.uint8)).save(more / name)
    (more / "README.txt").write_text("not an image")
    start = tmp_path / "trained.pth"  # a shallower trained network to start from
    torch.save(SRVGGNetCompact(num_feat=8, num_conv=1, upscale=2).state_dict(), start)
    work = tmp_path / "work"
    common = ["--photos", str(photos), "--work", str(work), "--threads", "1"]
    main([*common, "--scale", "2", "--num-feat", "8", "--num-conv", "2", "--patch", "16",
          "--batch", "2", "--steps", "6", "--minutes", "0", "--more-photos", str(more),
          "--init", str(start), "--relu-by", "4", "--informative-share", "0.5",
          "--ema", "0.9"])  # the average too is restored on resume and faded to ReLU
    assert torch.load(work / "checkpoint.pt", weights_only=False)["step"] == 0
    main([*common, "--resume", "--every", "2"])  # sizes, data and start from the checkpoint
    # exported again elsewhere: the manifest names the machine that trained it, not this one
    main(["--photos", str(photos), "--work", str(work), "--threads", "2", "--resume",
          "--export-only"])
    entry = json.loads((work / "out" / "manifest.json").read_text())["models"][0]
    assert entry["name"] == "compact-x2" and entry["scale"] == 2 and entry["halo"] == 4
    training = entry["training"]
    assert training["steps"] == 6 and training["started_from"] == "trained.pth"
    # the fade, restored from the checkpoint, ended at step 4: a ReLU network
    assert training["relu_by"] == 4 and entry["hyperparameters"]["activation"] == "relu"
    assert training["weights"] == "moving average, decay 0.9 per step"
    assert training["patches_from"].startswith("the 50% of positions")
    assert entry["architecture"].endswith(", ReLU")
    assert [n for n in training["data"] if n[0] in "pqR"] == [
        "p0.jpg", "p1.jpg", "q.jpg", "q.png"]
    assert training["machine"].endswith("CPU, 1 thread") and ", then" not in training["machine"]
    # a checkpoint older than the machines record: its own flags name the machine
    checkpoint = torch.load(work / "checkpoint.pt", weights_only=False)
    del checkpoint["machines"]
    torch.save(checkpoint, work / "checkpoint.pt")
    main(["--photos", str(photos), "--work", str(work), "--threads", "2", "--resume",
          "--export-only"])
    entry = json.loads((work / "out" / "manifest.json").read_text())["models"][0]
    assert entry["training"]["machine"].endswith("CPU, 1 thread")
    model = work / "out" / "compact-x2.onnx"
    import onnx

    assert "PRelu" not in {node.op_type for node in onnx.load(str(model)).graph.node}
    image = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    whole = burnish.upscale(image, scale=2, model=model, tile=0, device="cpu")
    assert whole.shape == (74, 58, 3)
    np.testing.assert_array_equal(burnish.upscale(image, scale=2, model=model, tile=16,
                                                  device="cpu"), whole)


def test_with_ema_the_export_is_the_weights_moving_average(tmp_path, rng):
    pytest.importorskip("skimage")
    photos = tmp_path / "photos"  # none held out: no crops, so the last average is exported
    photos.mkdir()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photos / "p.jpg")
    work = tmp_path / "work"
    main(["--photos", str(photos), "--work", str(work), "--threads", "1", "--scale", "2",
          "--num-feat", "4", "--num-conv", "1", "--patch", "8", "--batch", "1", "--lr", "0.1",
          "--steps", "3", "--ema", "0.5"])
    saved = torch.load(work / "checkpoint.pt", weights_only=False)
    assert int(saved["average"]["n_averaged"]) == 3
    average, trained = (RepCompact(num_feat=4, num_conv=1, upscale=2) for _ in range(2))
    average.load_state_dict({key.removeprefix("module."): value
                             for key, value in saved["average"].items() if key != "n_averaged"})
    trained.load_state_dict(saved["model"])
    exported = torch.load(work / "out" / "compact-x2.pth", weights_only=True)
    for key, value in merged(average).state_dict().items():
        torch.testing.assert_close(exported[key], value)
    # and not the weights as trained (a large step: the average lags them)
    assert any(not torch.allclose(exported[key], value)
               for key, value in merged(trained).state_dict().items())
    entry = json.loads((work / "out" / "manifest.json").read_text())["models"][0]
    assert entry["training"]["weights"] == "moving average, decay 0.5 per step"


@pytest.mark.parametrize("decay", ["1", "-0.1"])
def test_an_ema_decay_outside_0_1_is_refused(tmp_path, decay, capsys):
    with pytest.raises(SystemExit):
        main(["--work", str(tmp_path), "--ema", decay])
    assert f"--ema {float(decay)}: a decay in [0, 1)" in capsys.readouterr().err


def test_a_fitted_schedule_ends_when_the_minutes_do():
    # 300 steps done at 10 steps/s with 100 s left: 95% of the 1000 steps that fit
    assert fitted_steps(300, 10.0, 100.0) == 300 + 950
    assert fitted_steps(300, 0.1, 10.0) == max(301, WARMUP_STEPS)  # never shorter than that


def test_fit_minutes_sizes_the_schedule_from_the_first_steps(tmp_path, rng, monkeypatch):
    pytest.importorskip("skimage")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photos / "p.jpg")
    monkeypatch.setattr(train_sr, "WARMUP_STEPS", 2)
    monkeypatch.setattr(train_sr, "FIT_SKIPPED_STEPS", 2)
    monkeypatch.setattr(train_sr, "FIT_STEPS", 5)
    work = tmp_path / "work"
    main(["--photos", str(photos), "--work", str(work), "--threads", "1", "--scale", "2",
          "--num-feat", "4", "--num-conv", "1", "--patch", "8", "--batch", "1",
          "--steps", "1000000", "--fit-minutes", "0.02", "--validate", "100000"])
    saved = torch.load(work / "checkpoint.pt", weights_only=False)
    # the schedule saved for --resume is the fitted one, past the timed steps
    assert 7 < saved["args"]["steps"] < 1_000_000
    assert saved["step"] <= saved["args"]["steps"]


@pytest.mark.parametrize("flags", [["--resume"], []])
def test_fit_minutes_is_refused_with_resume_or_no_time(tmp_path, flags, capsys):
    minutes = "5" if flags else "0"
    with pytest.raises(SystemExit):
        main(["--work", str(tmp_path), "--fit-minutes", minutes, *flags])
    assert "--fit-minutes sizes a new schedule" in capsys.readouterr().err
