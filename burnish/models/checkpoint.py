"""PyTorch checkpoints (``.pth``, ``.ckpt``, ``.pt``, ``.safetensors``) through spandrel.

Checkpoints from the community are untrusted files. A ``.pth`` is a pickle, and a pickle can
run any code while it loads, so pickles are read with PyTorch's weights-only unpickler: it
rebuilds tensors and plain containers and refuses every other global (``os.system``,
``builtins.eval``, a class from some module) before calling it. ``.safetensors`` holds no
code at all. TorchScript archives (``.pt`` saved by ``torch.jit``) are programs, and are
refused for the same reason.

spandrel then detects the architecture from the state dict's keys and shapes and builds it.
Its optional package of extra architectures (``spandrel_extra_arches``: non-commercial
licences) is used when installed.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import re
import zipfile
from pathlib import Path

from burnish.errors import ModelError, first_line
from burnish.files import check_regular_file
from burnish.models.descriptor import ModelDescriptor
from burnish.models.extras import require_extra

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pth", ".ckpt", ".pt", ".safetensors")
# spandrel's purposes that burnish runs as image-to-image models, and the task each becomes.
TASKS = {"SR": "super-resolution", "Restoration": "super-resolution",
         "Inpainting": "inpainting"}
# Tile advice for architectures spandrel says tile badly (attention over large windows):
# bigger tiles cost more halo recomputation but fewer seams for the model to see.
DISCOURAGED_TILE = 512
# What needs the export extra, in the error when it is not installed.
PURPOSE = "reading PyTorch checkpoints"


def is_checkpoint(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES


@functools.lru_cache(maxsize=1)
def _registry():
    """spandrel's registry, with the extra architectures when their package is installed
    (call after :func:`require_extra` has found spandrel)."""
    import spandrel

    try:
        import spandrel_extra_arches

        spandrel_extra_arches.install()
    except ImportError:
        log.debug("spandrel_extra_arches not installed: main architectures only")
    return spandrel.MAIN_REGISTRY


def load_state_dict(path: str | os.PathLike) -> dict:
    """The tensors of a checkpoint, loaded without running any code it contains."""
    path = Path(path)
    check_regular_file(path, error=ModelError, what="checkpoint")
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise ModelError(f"not a checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})", path=path)
    torch, safetensors_torch = require_extra("export", "torch", "safetensors.torch",
                                             purpose=PURPOSE, path=path)
    if path.suffix.lower() == ".safetensors":
        try:
            return safetensors_torch.load_file(str(path), device="cpu")
        except Exception as error:  # a damaged header can fail in the parser in any way
            raise ModelError(f"corrupt safetensors file ({first_line(error)})", path=path) from None
    if _is_torchscript(path):
        raise ModelError("a TorchScript program, not a checkpoint: burnish loads weights only "
                         "(save the state_dict instead)", path=path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # The weights-only unpickler names what it refused ("... unsupported GLOBAL
        # posix.system ..."); that name is the useful part of its long message.
        named = re.search(r"GLOBAL ([\w.]+)", str(error))
        reason = f"it would call {named.group(1)}" if named else "it holds more than weights"
        raise ModelError(f"refused: the checkpoint's pickle is not plain weights ({reason}); "
                         "burnish never runs code from a model file", path=path) from None
    except Exception as error:
        # Damaged bytes make the unpickler fail in any way (IndexError from an empty mark
        # stack, KeyError, struct errors, ...); none of that ran code, it only failed to parse.
        raise ModelError(f"corrupt or truncated checkpoint ({type(error).__name__}: "
                         f"{first_line(error)})", path=path) from None
    if not isinstance(loaded, dict):
        raise ModelError(f"the checkpoint holds a {type(loaded).__name__}, not a state dict",
                         path=path)
    return loaded


def _is_torchscript(path: Path) -> bool:
    """Whether a zip checkpoint is a TorchScript archive (it holds code and constants)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("constants.pkl") or "/code/" in name
                       for name in archive.namelist())
    except Exception:  # not a zip, or a damaged one: torch.load reports what is wrong
        return False


def load_checkpoint(path: str | os.PathLike):
    """A spandrel model descriptor (the network, eval mode, on the CPU) for a checkpoint."""
    path = Path(path)
    check_regular_file(path, error=ModelError, what="checkpoint")
    spandrel = require_extra("export", "spandrel", purpose=PURPOSE, path=path)
    state_dict = spandrel.canonicalize_state_dict(load_state_dict(path))
    try:
        model = _registry().load(state_dict)
    except spandrel.UnsupportedModelError:
        raise ModelError("not an architecture spandrel knows (installing "
                         "spandrel_extra_arches adds more)", path=path) from None
    except Exception as error:  # an architecture's loader choking on odd tensors
        raise ModelError(f"spandrel could not build the model ({first_line(error)})",
                         path=path) from None
    model.model.eval()
    return model


def spandrel_descriptor(model, path: str | os.PathLike, *, halo: int = 0) -> ModelDescriptor:
    """burnish's descriptor for a spandrel model (the halo is measured by the caller)."""
    path = Path(path)
    task = TASKS.get(model.purpose)
    if task is None:
        raise ModelError(f"a {model.purpose} model ({model.architecture.name}); burnish runs "
                         f"{', '.join(TASKS)} models", path=path)
    if model.input_channels != model.output_channels or model.input_channels not in (1, 3):
        raise ModelError(f"{model.input_channels} input and {model.output_channels} output "
                         "channels; burnish runs 1- or 3-channel image models", path=path)
    requirements = model.size_requirements
    if requirements.square:
        raise ModelError(f"{model.architecture.name} needs square inputs, which burnish "
                         "cannot tile", path=path)
    from spandrel import ModelTiling

    return ModelDescriptor(
        name=path.stem, task=task, scale=model.scale, halo=halo,
        channels=model.input_channels, size_multiple=requirements.multiple_of,
        min_size=max(requirements.minimum, 1),
        precisions=("fp32", "fp16") if model.supports_half else ("fp32",),
        architecture=model.architecture.name, source=str(path), pad_mode="reflect",
        tile=DISCOURAGED_TILE if model.tiling != ModelTiling.SUPPORTED else 0,
        extra={"spandrel_architecture": model.architecture.id, "tags": list(model.tags)})
