"""Tiny ONNX super-resolution graphs built in the tests (no weights shipped, no torch needed)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_pixelshuffle_model(path, *, rng, scale=2, features=4, convs=2, metadata=None):
    """``convs`` 3x3 convolutions (zero padded), ReLU between, then a depth-to-space by ``scale``.

    Receptive radius: ``convs``. Returns the path.
    """
    nodes, initializers = [], []
    channels_in, name_in = 3, "image"
    for index in range(convs):
        last = index == convs - 1
        channels_out = 3 * scale * scale if last else features
        weight = (rng.standard_normal((channels_out, channels_in, 3, 3)) * 0.2).astype(np.float32)
        bias = (rng.standard_normal(channels_out) * 0.05).astype(np.float32)
        initializers += [numpy_helper.from_array(weight, f"w{index}"),
                         numpy_helper.from_array(bias, f"b{index}")]
        conv_out = f"conv{index}"
        nodes.append(helper.make_node("Conv", [name_in, f"w{index}", f"b{index}"], [conv_out],
                                      pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        if not last:
            nodes.append(helper.make_node("Relu", [conv_out], [f"relu{index}"]))
            name_in = f"relu{index}"
        else:
            name_in = conv_out
        channels_in = channels_out
    nodes.append(helper.make_node("DepthToSpace", [name_in], ["upscaled"], blocksize=scale,
                                  mode="CRD"))
    graph = helper.make_graph(
        nodes, "tiny-sr",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("upscaled", TensorProto.FLOAT, ["n", 3, "sh", "sw"])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))
    return path
