"""One Device value: parsed and resolved once, honoured by ONNX Runtime's providers (their
device_id), refused by the CLI before any work when it is not a choice or not on this
machine, and reaching the kernels' CUDA drivers from a recipe (in Numba's simulator here)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from burnish import device as device_module
from burnish.device import Device, resolve_device
from burnish.errors import OptionError

from conftest import assert_cuda_matches_cpu, random_image, run_cli


@pytest.mark.parametrize(("text", "value", "kind", "index"), [
    ("cpu", "cpu", "cpu", None), ("cuda", "cuda:0", "cuda", 0), ("CUDA:2", "cuda:2", "cuda", 2),
    (" cuda:0 ", "cuda:0", "cuda", 0)])
def test_a_device_is_its_normal_name(text, value, kind, index):
    device = Device(text)
    assert device == value and str(device) == value
    assert (device.kind, device.index, device.is_cuda) == (kind, index, kind == "cuda")


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cpu:1", "cuda:-1", "", "auto"])
def test_a_device_that_is_not_one_is_refused(text):
    with pytest.raises(OptionError, match="unknown device"):
        Device(text)


def test_auto_is_the_first_gpu_when_the_driver_reports_one(monkeypatch):
    monkeypatch.setattr(device_module, "gpu_count", lambda: 0)
    chosen = resolve_device("auto")
    assert chosen == "cpu" and chosen.auto
    monkeypatch.setattr(device_module, "gpu_count", lambda: 2)
    chosen = resolve_device("auto")
    assert chosen == "cuda:0" and chosen.auto
    assert resolve_device(chosen) is chosen  # resolved once: a Device passes through
    asked = resolve_device("cuda:1")
    assert asked == "cuda:1" and not asked.auto
    with pytest.raises(OptionError, match="cuda:2 asked for, but this machine has 2"):
        resolve_device("cuda:2")
    copied = pickle.loads(pickle.dumps(chosen))  # to a batch's worker processes
    assert copied == "cuda:0" and copied.auto and isinstance(copied, Device)


def test_onnx_runtime_gets_the_gpus_index(monkeypatch):
    import onnxruntime as ort

    from burnish.models.onnx_runner import choose_providers

    monkeypatch.setattr(device_module, "gpu_count", lambda: 2)
    monkeypatch.setattr(ort, "get_available_providers", lambda: [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    providers, options = choose_providers("cuda:1", trt_cache_dir="/tmp/trt")
    assert providers == ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                         "CPUExecutionProvider"]
    assert options[0]["device_id"] == 1 and options[0]["trt_engine_cache_path"] == "/tmp/trt"
    assert options[1] == {"device_id": 1} and options[2] == {}
    assert choose_providers("cpu") == (["CPUExecutionProvider"], [{}])
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    # a GPU chosen by auto falls back to the CPU; one asked for is an error
    assert choose_providers(resolve_device("auto"))[0] == ["CPUExecutionProvider"]
    with pytest.raises(OptionError, match="no CUDA provider"):
        choose_providers("cuda:0")


def test_a_runner_reports_where_it_runs_and_whether_it_takes_tensors():
    from burnish.models.registry import open_model

    with open_model(device="cpu") as runner:
        assert runner.device == "cpu" and runner.runs_tensors
    with open_model("lanczos", scale=2) as lanczos:
        assert not lanczos.runs_tensors
        with pytest.raises(NotImplementedError, match="NumPy batches only"):
            lanczos.run_tensor(None)


def test_the_cli_refuses_a_device_before_any_work(tmp_path, rng, monkeypatch, capsys):
    from burnish.engine.imageio import write_image

    write_image(tmp_path / "in.png", random_image(rng, 8, 8, 3))
    code, _, err = run_cli(monkeypatch, capsys, "upscale", tmp_path / "in.png", "--device",
                           "gpu")
    assert code == 2 and "--device" in err and "'gpu' is not one of" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setattr(device_module, "gpu_count", lambda: 0)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    code, _, err = run_cli(monkeypatch, capsys, "upscale", tmp_path / "in.png", "--device",
                           "cuda:3")
    assert code == 1 and "cuda:3 asked for, but this machine has no CUDA GPU" in err
    assert not (tmp_path / "in_x4.png").exists()


def test_a_recipes_grades_run_their_cuda_drivers_on_the_device(tmp_path, rng, monkeypatch):
    """With device cuda, adjust, a masked LUT and a colour match run the kernels' CUDA
    drivers (Numba's simulator here, a GPU where there is one) and give the CPU's pixels."""
    from numba import cuda

    from burnish.engine.ops.params import Context
    from burnish.engine.recipes.pipeline import apply_steps
    from burnish.engine.recipes.recipe import recipe_from_data
    from burnish.engine.recipes.resources import Resources
    from burnish.kernels import dispatch

    if not cuda.is_available():
        pytest.skip("no CUDA GPU and the simulator is off (NUMBA_ENABLE_CUDASIM=0)")
    monkeypatch.setattr(dispatch, "BLOCK_2D", (4, 4))
    monkeypatch.setattr(dispatch, "BLOCK_1D", 4)
    size = 6
    grid = np.linspace(0, 1, size)
    cube = [f"LUT_3D_SIZE {size}"] + [f"{b:.5f} {g:.5f} {r * 0.8:.5f}"
                                      for b in grid for g in grid for r in grid]
    (tmp_path / "look.cube").write_text("\n".join(cube) + "\n")
    from burnish.engine.imageio import write_image

    write_image(tmp_path / "ref.png", random_image(rng, 9, 7, 3))
    steps = [{"op": "adjust", "exposure": 0.5, "saturation": 1.2},
             {"op": "lut", "file": "look.cube", "boxes": ["2,3,6,5"], "feather": 2},
             {"op": "match_colour", "reference": "ref.png"}]
    recipe = recipe_from_data({"steps": steps}, base=tmp_path)
    image = random_image(rng, 13, 11, 3)
    launches = []
    real_launch = dispatch._launch
    monkeypatch.setattr(dispatch, "_launch", lambda *a: (launches.append(a[0]), real_launch(*a)))

    def applied(device):
        with Resources(device=device) as resources:
            assert resources.kernel_device == ("cpu" if device == "cpu" else "cuda:0")
            return apply_steps(image, recipe.steps, resources, image=tmp_path / "x.png",
                               context=Context(tmp_path)).pixels

    on_cpu = applied("cpu")
    assert not launches
    on_cuda = applied("cuda")
    assert len(launches) >= 3  # adjust, the LUT and its composite, the colour match
    assert_cuda_matches_cpu(on_cuda, on_cpu)
