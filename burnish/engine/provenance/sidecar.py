"""Provenance: what was done to every pixel, by which model, as a sidecar and as XMP.

- **Sidecar** (``OUTPUT.burnish.json``, :func:`sidecar`): the input's hash, the recipe and its
  hash, each step's parameters, model (name, sha256, backend, device) and time, the edited
  regions as boxes and a run-length-encoded mask (:func:`encode_mask`), library versions.
  It is written after the image, so an output with a sidecar whose hashes match is complete
  (what ``--resume`` checks).
- **XMP** (:func:`xmp_packet`), embedded in the image: the IPTC digital source type, the tool,
  and the hashes that tie the file to its sidecar. It holds no time or path, so the same
  input, recipe, model and backend give the same bytes.

IPTC digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/): an output
with a fill (a removal) is ``compositeWithTrainedAlgorithmicMedia``; an output that was only
upscaled or graded is ``algorithmicallyEnhanced``.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from burnish import __version__
from burnish.engine.sparse_mask import SparseMask
from burnish.errors import BurnishError
from burnish.files import parse_data, read_limited

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
ENHANCED = IPTC + "algorithmicallyEnhanced"
SIDECAR_SUFFIX = ".burnish.json"
SIDECAR_FORMAT = "burnish-provenance/1"


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + SIDECAR_SUFFIX)


def digital_source_type(fill: bool) -> str:
    return COMPOSITE if fill else ENHANCED


# ---- masks as run lengths and boxes ---------------------------------------------------------


def encode_mask(mask: np.ndarray) -> dict:
    """A bool ``H x W`` mask as run lengths in row-major order, starting with a run of
    unset pixels (0 when the first pixel is set): ``{"size": [H, W], "counts": [...]}``."""
    flat = np.ascontiguousarray(mask, bool).ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def decode_mask(rle: dict) -> np.ndarray:
    """The inverse of :func:`encode_mask`."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], np.int64)
    if counts.sum() != height * width or (counts < 0).any():
        raise ValueError("run lengths do not add up to the mask size")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(height, width)


def mask_boxes(mask: SparseMask) -> list[list[int]]:
    """Bounding boxes ``[x, y, w, h]`` of the mask's 8-connected components, by top then left."""
    return [[int(left), int(top), int(right - left), int(bottom - top)]
            for top, left, bottom, right in mask.component_boxes().tolist()]


def region_record(mask: SparseMask | None) -> dict | str:
    """A step's region: its boxes, its run lengths (:func:`encode_mask`'s form, computed from
    the mask's pieces, never a full-size array) and its pixel count."""
    if mask is None:
        return "whole image"
    rle = {"size": list(mask.shape), "counts": mask.run_lengths()}
    return {"boxes": mask_boxes(mask), "mask": rle, "pixels": mask.count()}


# ---- the sidecar ----------------------------------------------------------------------------


def sidecar(*, input_path: Path, input_sha256: str, input_shape: tuple, output_path: Path,
            output_sha256: str, recipe, job_key: str, applied, environment: dict,
            seconds: float, credentials: dict | None = None) -> dict:
    """The provenance record of one output (see the module notes)."""
    def shape(s: tuple) -> dict:
        return {"width": int(s[1]), "height": int(s[0]), "channels": int(s[2])}

    edited = applied.edited_region
    return {
        "format": SIDECAR_FORMAT,
        "software": f"burnish {__version__}",
        "input": {"path": str(input_path), "sha256": input_sha256, **shape(input_shape)},
        "output": {"path": output_path.name, "sha256": output_sha256, **shape(applied.shape),
                   "dtype": str(applied.dtype)},
        "encode": recipe.encode,
        "recipe": {"origin": recipe.origin, "name": recipe.name, "sha256": recipe.sha256,
                   "files": recipe.file_hashes, **recipe.describe()},
        "job_key": job_key,
        "digital_source_type": digital_source_type(applied.fill),
        "steps": [{"index": number, "op": r.step.op.name, "params": r.step.params,
                   "seconds": round(r.seconds, 4), "model": r.model, "note": r.note,
                   "region": region_record(r.region)}
                  for number, r in enumerate(applied.records, 1)],
        "edited_regions": None if edited is None else region_record(edited),
        "environment": environment,
        "seconds": round(seconds, 4),
        "content_credentials": credentials,
    }


def write_json_atomically(path: Path, data: dict) -> None:
    """Write JSON atomically (:func:`~burnish.engine.imageio.write.write_bytes_atomically`)."""
    from burnish.engine.imageio.write import write_bytes_atomically

    write_bytes_atomically(path, json.dumps(data, indent=1, default=_jsonable).encode("utf-8"))


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def read_sidecar(output: Path) -> dict | None:
    """The sidecar of ``output``, or None when it is missing or unreadable."""
    try:
        data = parse_data(read_limited(sidecar_path(output), what="sidecar").decode("utf-8"),
                          kind="json")
    except (BurnishError, ValueError):  # missing, not a regular file, too big, too deep, ...
        return None
    return data if isinstance(data, dict) and data.get("format") == SIDECAR_FORMAT else None


# ---- C2PA actions ---------------------------------------------------------------------------

# The C2PA action each op is reported as (C2PA 2.x standard actions).
C2PA_ACTIONS = {"upscale": "c2pa.resized", "resize": "c2pa.resized", "crop": "c2pa.cropped",
                "remove": "c2pa.edited", "match_colour": "c2pa.color_adjustments",
                "adjust": "c2pa.color_adjustments", "lut": "c2pa.color_adjustments",
                "match_grain": "c2pa.filtered"}


def c2pa_actions(records) -> list[dict]:
    """The steps as C2PA actions; a removal is marked as trained algorithmic media."""
    actions = []
    for record in records:
        name = C2PA_ACTIONS.get(record.step.op.name)
        if name is None:  # encode: how the file is written, not an edit
            continue
        action = {"action": name, "digitalSourceType": digital_source_type(record.fill),
                  "parameters": {"burnish.op": record.step.op.name, **record.step.given}}
        if record.model:
            action["parameters"]["burnish.model_sha256"] = record.model.get("sha256")
        actions.append(action)
    return actions


# ---- XMP ------------------------------------------------------------------------------------


def xmp_packet(*, fill: bool, recipe_sha256: str, input_sha256: str, steps: list[str],
               models: list[dict]) -> bytes:
    """The XMP packet embedded in an output (deterministic: no times, no paths)."""
    model_items = "".join(
        f"<rdf:li rdf:parseType=\"Resource\"><burnish:name>{escape(str(m.get('name')))}"
        f"</burnish:name><burnish:sha256>{escape(str(m.get('sha256')))}</burnish:sha256>"
        f"<burnish:backend>{escape(str(m.get('backend')))}</burnish:backend></rdf:li>"
        for m in models)
    step_items = "".join(f"<rdf:li>{escape(s)}</rdf:li>" for s in steps)
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about=""'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:burnish="https://burnish.dev/ns/provenance/1.0/"'
        f' xmp:CreatorTool={quoteattr(f"burnish {__version__}")}'
        f' Iptc4xmpExt:DigitalSourceType={quoteattr(digital_source_type(fill))}'
        f' burnish:RecipeSHA256={quoteattr(recipe_sha256)}'
        f' burnish:InputSHA256={quoteattr(input_sha256)}>'
        f'<burnish:Steps><rdf:Seq>{step_items}</rdf:Seq></burnish:Steps>'
        f'<burnish:Models><rdf:Bag>{model_items}</rdf:Bag></burnish:Models>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )
    return text.encode("utf-8")


def read_xmp_fields(packet: bytes) -> dict:
    """The burnish and IPTC fields of a packet made by :func:`xmp_packet` (for checks)."""
    import xml.etree.ElementTree as ElementTree

    ns = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
          "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
          "burnish": "https://burnish.dev/ns/provenance/1.0/",
          "xmp": "http://ns.adobe.com/xap/1.0/"}
    text = packet.decode("utf-8")
    body = text[text.index("<x:xmpmeta"):text.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")]
    description = ElementTree.fromstring(body).find(".//rdf:Description", ns)
    attribute = {prefix: lambda name, p=prefix: description.get(f"{{{ns[p]}}}{name}")
                 for prefix in ns}
    return {
        "digital_source_type": attribute["Iptc4xmpExt"]("DigitalSourceType"),
        "creator_tool": attribute["xmp"]("CreatorTool"),
        "recipe_sha256": attribute["burnish"]("RecipeSHA256"),
        "input_sha256": attribute["burnish"]("InputSHA256"),
        "steps": [li.text for li in description.findall("burnish:Steps/rdf:Seq/rdf:li", ns)],
        "models": [{child.tag.split("}")[1]: child.text for child in li}
                   for li in description.findall("burnish:Models/rdf:Bag/rdf:li", ns)],
    }
