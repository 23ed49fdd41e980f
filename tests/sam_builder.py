"""A tiny network pair with Segment Anything's ONNX contract and random weights, exported by
the tests (nothing is downloaded or shipped).

The **encoder** is one strided convolution (SAM's patch embedding in miniature) with random
weights: ``1 x 3 x S x S`` -> ``1 x C x S/16 x S/16``. The **decoder** takes SAM's decoder
inputs by SAM's names and answers with three masks, so that a test can tell which one the
caller picked and whether it placed the prompt where it should:

- mask 0: a random-weight 1x1 convolution of the embedding, upsampled (noise: never the
  best unless the prompt is empty);
- mask 1: the prompt's box (its label-2 and label-3 corners), in the image's pixels;
- mask 2: disks of radius ``S / 8`` (in the resized image) around the subject points
  (label 1), minus disks around the points labelled 0;

``iou_predictions`` rank mask 1 first when a box is given, mask 2 when only points are. With
``orig_im_size`` (SAM's own export) the masks come at the image's size: the box is moved back
from the resized frame by ``max(H, W) / S``, as SAM's postprocessing crops and resizes; with
``low_res=True`` the export has no ``orig_im_size`` and its masks are ``4h x 4w`` over the
padded square, as SAM's ``low_res_masks``.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

EMBED = 8


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.patches = nn.Conv2d(3, EMBED, kernel_size=16, stride=16)

    def forward(self, image):
        return self.patches(image)


class Decoder(nn.Module):
    def __init__(self, side: int, low_res: bool):
        super().__init__()
        self.side, self.low_res = side, low_res
        self.noise = nn.Conv2d(EMBED, 1, kernel_size=1)

    def _masks(self, embedding, coords, labels, rows, columns, to_resized):
        # Pixel centres of the output grid, in the resized image's pixels.
        y = (torch.arange(rows, dtype=torch.float32) + 0.5)[:, None] * to_resized
        x = (torch.arange(columns, dtype=torch.float32) + 0.5)[None, :] * to_resized
        big = torch.tensor(1e4)
        start = torch.where(labels == 2, 1.0, 0.0)[0]
        end = torch.where(labels == 3, 1.0, 0.0)[0]
        has_box = start.sum() > 0
        x0 = (coords[0, :, 0] * start).sum()
        y0 = (coords[0, :, 1] * start).sum()
        x1 = (coords[0, :, 0] * end).sum()
        y1 = (coords[0, :, 1] * end).sum()
        inside = torch.minimum(torch.minimum(x - x0, x1 - x), torch.minimum(y - y0, y1 - y))
        box = torch.where(has_box, inside, -big)
        distance = ((x[None] - coords[0, :, 0, None, None]) ** 2
                    + (y[None] - coords[0, :, 1, None, None]) ** 2).sqrt()
        radius = self.side / 8
        near = radius - distance  # > 0 inside a point's disk
        on = torch.where((labels[0] == 1)[:, None, None], near, -big).amax(0)
        off = torch.where((labels[0] == 0)[:, None, None], near, -big).amax(0)
        points = torch.minimum(on, -off)
        noise = nn.functional.interpolate(self.noise(embedding), size=(rows, columns),
                                          mode="bilinear", align_corners=False)[0, 0]
        scores = torch.where(has_box, torch.tensor([0.1, 0.9, 0.5]),
                             torch.tensor([0.1, 0.2, 0.9]))
        return torch.stack([noise, box, points])[None], scores[None]


class FullDecoder(Decoder):
    def forward(self, image_embeddings, point_coords, point_labels, mask_input,
                has_mask_input, orig_im_size):
        rows, columns = orig_im_size[0].to(torch.int64), orig_im_size[1].to(torch.int64)
        to_resized = self.side / torch.maximum(orig_im_size[0], orig_im_size[1])
        masks, scores = self._masks(image_embeddings, point_coords, point_labels, rows,
                                    columns, to_resized)
        return masks, scores, masks


class LowResDecoder(Decoder):
    def forward(self, image_embeddings, point_coords, point_labels):
        rows, columns = 4 * image_embeddings.shape[2], 4 * image_embeddings.shape[3]
        masks, scores = self._masks(image_embeddings, point_coords, point_labels, rows,
                                    columns, self.side / rows)
        return masks, scores


def build_sam_pair(folder, *, side: int = 128, low_res: bool = False, seed: int = 0,
                   prefix: str = "tiny_sam"):
    """Write ``{prefix}.encoder.onnx`` and ``{prefix}.decoder.onnx`` into ``folder``; their
    paths."""
    torch.manual_seed(seed)
    encoder, decoder = Encoder().eval(), (LowResDecoder if low_res else FullDecoder)(
        side, low_res).eval()
    encoder_path = folder / f"{prefix}.encoder.onnx"
    decoder_path = folder / f"{prefix}.decoder.onnx"
    grid = side // 16
    with torch.no_grad(), warnings.catch_warnings():
        # The decoder's constant tensors are constants on purpose.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(encoder, (torch.zeros(1, 3, side, side),), str(encoder_path),
                          input_names=["images"], output_names=["embeddings"],
                          dynamo=False, opset_version=17)
        example = {"image_embeddings": torch.zeros(1, EMBED, grid, grid),
                   "point_coords": torch.zeros(1, 3, 2),
                   "point_labels": torch.tensor([[1.0, 2.0, 3.0]])}
        outputs = ["masks", "iou_predictions"]
        if not low_res:
            example |= {"mask_input": torch.zeros(1, 1, 4 * grid, 4 * grid),
                        "has_mask_input": torch.zeros(1),
                        "orig_im_size": torch.tensor([100.0, 120.0])}
            outputs.append("low_res_masks")
        torch.onnx.export(decoder, tuple(example.values()), str(decoder_path),
                          input_names=list(example), output_names=outputs,
                          dynamic_axes={"point_coords": {1: "points"},
                                        "point_labels": {1: "points"}},
                          dynamo=False, opset_version=17)
    return encoder_path, decoder_path
