"""Tiny ONNX graphs built in the tests (no weights shipped, no torch needed): super-resolution
and inpainting-contract models, and hostile ones (downscalers, wrong shapes, NaN or Inf output)."""

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
    return _save(path, nodes, [_image_input()], "upscaled", initializers, metadata)


def _image_input(name="image", channels=3):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", channels, "h", "w"])


def _save(path, nodes, inputs, output, initializers=(), metadata=None, output_rank=4):
    """Save a graph whose output is the tensor named ``output`` (any sizes), with ``burnish.*``
    (or any) metadata properties; returns the path."""
    graph = helper.make_graph(
        nodes, "test-graph", inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None] * output_rank)],
        list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))
    return path


POISONS = ("nan", "inf")


def _poison_nodes(source, poison, threshold):
    """Nodes that pass ``source`` through unchanged except where it exceeds ``threshold``,
    which become NaN (``Sqrt`` of a negative number) or +Inf (``Reciprocal`` of zero): a real
    graph that computes non-finite values on some inputs. Returns (nodes, initializers, name
    of the result)."""
    constants = [numpy_helper.from_array(np.float32(threshold), "threshold"),
                 numpy_helper.from_array(np.float32(0.0 if poison == "nan" else 1e-6), "weight")]
    nodes = [helper.make_node("Sub", ["threshold", source], ["headroom"])]
    if poison == "nan":
        nodes.append(helper.make_node("Sqrt", ["headroom"], ["poison"]))
    elif poison == "inf":
        nodes += [helper.make_node("Relu", ["headroom"], ["clamped"]),
                  helper.make_node("Reciprocal", ["clamped"], ["poison"])]
    else:
        raise ValueError(poison)
    nodes += [helper.make_node("Mul", ["poison", "weight"], ["weighted"]),
              helper.make_node("Add", [source, "weighted"], ["poisoned"])]
    return nodes, constants, "poisoned"


def resize_model(path, *, scales=(2, 2), poison=None, threshold=0.99, metadata=None):
    """Nearest-neighbour resize of the image by ``scales`` (height, width): an integer
    upscaler, or with fractions a downscaler or a fractional scaler. With ``poison`` ("nan" or
    "inf") input values above ``threshold`` come out non-finite (all of them for a threshold
    below 0). Receptive radius 0."""
    nodes, initializers, source = [], [], "image"
    if poison is not None:
        nodes, initializers, source = _poison_nodes("image", poison, threshold)
    initializers.append(numpy_helper.from_array(np.array([1, 1, *scales], np.float32), "scales"))
    nodes.append(helper.make_node("Resize", [source, "", "scales"], ["upscaled"],
                                  mode="nearest"))
    return _save(path, nodes, [_image_input()], "upscaled", initializers, metadata)


def average_pool_model(path, *, metadata=None):
    """A downscaler: 2 x 2 average pooling with stride 2."""
    node = helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[2, 2],
                            strides=[2, 2])
    return _save(path, [node], [_image_input()], "pooled", metadata=metadata)


def reduce_model(path, *, axes=(1,), keepdims=1, metadata=None):
    """The mean over ``axes``: over channels it keeps the rank and changes the channel count;
    without ``keepdims`` the output has fewer dimensions than the input."""
    node = helper.make_node("ReduceMean", ["image"], ["reduced"], axes=list(axes),
                            keepdims=keepdims)
    return _save(path, [node], [_image_input()], "reduced", metadata=metadata,
                 output_rank=4 if keepdims else 4 - len(axes))


def identity_model(path, *, channels=3, metadata=None):
    """The image unchanged, with a fixed channel count in the graph's input."""
    node = helper.make_node("Identity", ["image"], ["same"])
    return _save(path, [node], [_image_input(channels=channels)], "same", metadata=metadata)


def inpaint_contract_model(path, *, scale=1.0, mask_first=False, names=("image", "mask"),
                           channels=(3, 1), poison=None, threshold=-1.0, metadata=None):
    """A LaMa-contract graph without PyTorch: ``image * scale + mask * 0.25`` (non-finite
    where the result exceeds ``threshold`` with ``poison``)."""
    image_name, mask_name = names
    image = helper.make_tensor_value_info(image_name, TensorProto.FLOAT,
                                          [1, channels[0], "h", "w"])
    mask = helper.make_tensor_value_info(mask_name, TensorProto.FLOAT, [1, channels[1], "h", "w"])
    nodes = [helper.make_node("Mul", [image_name, "scale"], ["scaled"]),
             helper.make_node("Mul", [mask_name, "fill"], ["filled"]),
             helper.make_node("Add", ["scaled", "filled"], ["inpainted"])]
    initializers = [numpy_helper.from_array(np.float32(scale), "scale"),
                    numpy_helper.from_array(np.float32(0.25), "fill")]
    output = "inpainted"
    if poison is not None:
        more_nodes, more_initializers, output = _poison_nodes("inpainted", poison, threshold)
        nodes += more_nodes
        initializers += more_initializers
    return _save(path, nodes, [mask, image] if mask_first else [image, mask], output,
                 initializers, metadata)


def map_contract_model(path, *, size=None, gain=8.0, rng=None, output_rank=4, sigmoid=True,
                       metadata=None):
    """One image in, one map out (rembg's saliency and PP-OCR's text contracts): a 1x1
    convolution of the three channels then a sigmoid. By default it maps brightness above
    the normalised middle to 1 (``gain`` sets how sharply); with ``rng`` the weights are
    random (a 3x3 convolution). ``size``: a static square input side, else dynamic."""
    side = [size, size] if size else ["h", "w"]
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, *side])
    if rng is None:
        weight = np.full((1, 3, 1, 1), gain / 3, np.float32)
        bias = np.zeros(1, np.float32)
        conv = helper.make_node("Conv", ["x", "w", "b"], ["score"], kernel_shape=[1, 1])
    else:
        weight = (rng.standard_normal((1, 3, 3, 3)) * 0.5).astype(np.float32)
        bias = (rng.standard_normal(1) * 0.1).astype(np.float32)
        conv = helper.make_node("Conv", ["x", "w", "b"], ["score"], kernel_shape=[3, 3],
                                pads=[1, 1, 1, 1])
    nodes = [conv]
    output = "score"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["score"], ["map"]))
        output = "map"
    if output_rank == 3:
        nodes.append(helper.make_node("Squeeze", [output, "axis"], ["plane"]))
        output = "plane"
    initializers = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
                    numpy_helper.from_array(np.array([1], np.int64), "axis")]
    return _save(path, nodes, [image], output, initializers, metadata, output_rank=output_rank)
