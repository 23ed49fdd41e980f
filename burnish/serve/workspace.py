"""The workspace behind the page: a folder of images and, for each, its mask, its edit history,
recipes and approved outputs. Nothing here is a second implementation: masks are drawn by
:func:`~burnish.engine.edit_masks.draw_mask` into the files recipes read, steps are
``burnish edit``'s (:mod:`burnish.engine.provenance.history`, so the CLI and the page see
one history), and approving runs the steps as a recipe through ``burnish run``'s own worker.

Only files inside the root are reachable: names are relative, without hidden parts
(``.burnish/`` included), and must still lie inside the root once links are resolved.

**Masks** live beside the image, where recipes find them: ``masks/{stem}.png`` (grey, 255
where edited) with the shapes it was drawn from in ``masks/{stem}.json``, so the page can
go on editing it. The first masked step of an image's history uses ``masks/{stem}.png``,
the second ``masks/{stem}-2.png`` and so on: a later mask never changes the file an earlier
step read, so the saved recipe replays every step with its own mask.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath

from burnish.engine.recipes.batch_run import IMAGE_SUFFIXES
from burnish.errors import OptionError
from burnish.serve.errors import HttpError
from burnish.serve.views import ViewCache

MASKS = "masks"
UPLOADS = "uploads"
APPROVED = "approved"
MAX_LISTED = 5000
RECIPE_NAME_CHARS = "-_"
# Ops the page offers: those that read no file but the image and its mask (a request names
# no path; models are named as on every route). Their parameters are checked by the engine.
PAGE_OPS = ("remove", "adjust", "upscale", "resize", "crop")


class Workspace:
    """One root folder (or, without one, a temporary folder that holds uploads only)."""

    def __init__(self, root: Path | None, *, approved: Path | None = None,
                 device: str = "auto", backend: str = "auto",
                 max_pixels: int | None = None):
        self.temporary = root is None
        if root is not None and not Path(root).is_dir():
            raise OptionError("no such folder", path=root)
        self.root = (Path(tempfile.mkdtemp(prefix="burnish-workspace-")) if root is None
                     else Path(root)).resolve()
        self.approved = Path(approved).resolve() if approved else self.root / APPROVED
        self.device, self.backend = device, backend
        self.max_pixels = max_pixels  # for the images people bring, not burnish's versions
        self.views = ViewCache()
        self._lock = threading.Lock()  # masks and recipes of one image written one at a time

    def close(self) -> None:
        self.views.close()
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- names and files --------------------------------------------------------------------

    def image(self, name: str) -> Path:
        """The image file named ``name`` (relative to the root), or a 403/404/415."""
        path = self._inside(name)
        if not path.is_file():
            raise HttpError(404, f"no image {name!r} in the workspace")
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise HttpError(415, f"{name!r} is not an image ({', '.join(IMAGE_SUFFIXES)})")
        return path

    def _inside(self, name: str) -> Path:
        parts = PurePosixPath(name).parts if isinstance(name, str) else ()
        if (not parts or "\x00" in name or "\\" in name or PurePosixPath(name).is_absolute()
                or any(part in ("..", ".") or part.startswith(".") for part in parts)):
            raise HttpError(403, f"{name!r} is not a name inside the workspace")
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise HttpError(403, f"{name!r} leads outside the workspace")
        return path

    def name_of(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def shown(self, text: str) -> str:
        """``text`` (a step, a message) with the root's own path cut from the paths in it:
        the page names files as the workspace does."""
        return text.replace(os.fspath(self.root) + os.sep, "")

    def images(self) -> list[str]:
        """The images under the root (not in hidden, masks or approved folders), sorted."""
        found = []
        for folder, subfolders, files in os.walk(self.root):
            here = Path(folder)
            subfolders[:] = sorted(
                d for d in subfolders if not d.startswith(".") and d != MASKS
                and (here / d).resolve() != self.approved)
            for file in sorted(files):
                if Path(file).suffix.lower() in IMAGE_SUFFIXES and not file.startswith("."):
                    found.append((here / file).relative_to(self.root).as_posix())
                    if len(found) >= MAX_LISTED:
                        return found
        return found

    def store_upload(self, upload: Path, file_name: str) -> str:
        """Move an uploaded image into ``uploads/`` under a name of its own (never over
        another file); returns its workspace name."""
        folder = self.root / UPLOADS
        folder.mkdir(exist_ok=True)
        stem = "".join(c for c in Path(file_name).stem if c.isalnum() or c in "-_")[:64]
        stem, suffix = stem or "image", upload.suffix
        target, number = folder / f"{stem}{suffix}", 1
        with self._lock:
            while target.exists():
                number += 1
                target = folder / f"{stem}-{number}{suffix}"
            shutil.move(upload, target)
        return self.name_of(target)

    # -- what the page shows ----------------------------------------------------------------

    def info(self, name: str) -> dict:
        image = self.image(name)
        versions = self._versions(image)  # read once for everything below
        steps = self._lineage(image, versions)
        # The current version's geometry (an upscale changes it), and the original's for
        # the before/after view; the pixel limit is checked on the file first.
        original = self._view(image, versions, 0)
        current = self._view(image, versions, None)
        in_result = {version.number for version in steps}
        return {"name": name, **current.describe(), "original": original.describe(),
                "versions": [{"number": v.number, "parent": v.parent, "op": v.op,
                              "summary": self.shown(v.summary), "head": v.head,
                              "in_result": v.number in in_result, "seconds": v.seconds,
                              "created": v.created.isoformat(), "note": v.note}
                             for v in versions],
                "mask": self._mask_shapes(image, steps),
                "mask_file": self._next_mask(image, steps)[0].name,
                "approved": self._approved_name(image, steps)}

    def _versions(self, image: Path) -> list:
        """The image's recorded versions; none without a history."""
        from burnish.engine.provenance import history

        return history.history(image, missing_ok=True)

    def _lineage(self, image: Path, versions: list | None = None) -> list:
        from burnish.engine.provenance import history

        return history.lineage_of(self._versions(image) if versions is None else versions)

    @staticmethod
    def _version_file(image: Path, versions: list, number: int | None) -> Path:
        """The file holding version ``number`` (None: the current one; an image without a
        history has only its own file)."""
        if not versions and number in (None, 0):
            return image
        chosen = [v for v in versions if (v.head if number is None else v.number == number)]
        if not chosen:
            raise HttpError(404, f"{image.name!r} has no version {number}")
        return chosen[0].object

    def view(self, name: str, number: int | None):
        image = self.image(name)
        return self._view(image, self._versions(image), number)

    def _view(self, image: Path, versions: list, number: int | None):
        path = self._version_file(image, versions, number)
        return self.views.view(path, self.max_pixels if path == image else None)

    # -- masks ------------------------------------------------------------------------------

    def _next_mask(self, image: Path, steps: list | None = None) -> tuple[Path, Path]:
        """The mask file (and its shapes) the next masked step of ``image`` will read."""
        steps = self._lineage(image) if steps is None else steps
        used = sum(1 for version in steps if version.params.get("mask"))
        stem = image.stem + (f"-{used + 1}" if used else "")
        folder = image.parent / MASKS
        return folder / f"{stem}.png", folder / f"{stem}.json"

    def _mask_shapes(self, image: Path, steps: list | None = None) -> list:
        _, shapes = self._next_mask(image, steps)
        if not shapes.is_file():
            return []
        try:
            return json.loads(shapes.read_text())["shapes"]
        except (ValueError, KeyError, TypeError):
            return []

    def save_mask(self, name: str, shapes: list) -> dict:
        """Draw ``shapes`` (see :func:`~burnish.engine.edit_masks.draw_mask`) at the
        current version's size and write the mask and its shapes beside the image."""
        from burnish.engine.edit_masks import draw_mask
        from burnish.engine.imageio import write_image
        from burnish.engine.imageio.write import write_bytes_atomically

        image = self.image(name)
        view = self.view(name, None)
        mask = draw_mask((view.height, view.width), shapes)
        mask_path, shapes_path = self._next_mask(image)
        with self._lock:
            mask_path.parent.mkdir(exist_ok=True)
            write_image(mask_path, mask, format="PNG")
            write_bytes_atomically(shapes_path, json.dumps({"shapes": shapes}).encode())
        return {"mask_file": self.name_of(mask_path), "pixels": int((mask > 127).sum())}

    # -- steps and history ------------------------------------------------------------------

    def step_text(self, name: str, op: str, params: dict, use_mask: bool) -> str:
        """The ``burnish edit`` step for a page's request, with the image's mask file
        when ``use_mask``."""
        from burnish.engine.provenance.history import step_text
        from burnish.engine.recipes.recipe import parse_step

        if op not in PAGE_OPS:
            raise HttpError(400, f"op must be one of {', '.join(PAGE_OPS)}")
        if not isinstance(params, dict) or "mask" in params:
            raise HttpError(400, "params is an object of the op's parameters (the mask "
                            "comes from the page: use_mask)")
        image = self.image(name)
        params = dict(params)
        if use_mask:
            mask_path, _ = self._next_mask(image)
            if not mask_path.is_file():
                raise HttpError(400, "no mask painted yet: paint one, or run the step on "
                                "the whole image")
            params["mask"] = os.fspath(mask_path)
        text = step_text(op, params)
        parse_step(text, image.parent)  # a bad parameter is a 400 now, not a failed job
        return text

    def run_step(self, name: str, text: str, *, on_step=None, resources=None):
        from burnish.engine.provenance import history

        return history.edit(self.image(name), [text], device=self.device,
                            backend=self.backend, on_step=on_step, resources=resources)[-1]

    def undo(self, name: str):
        """Make the current version's parent current again (a revert: nothing is lost)."""
        from burnish.engine.provenance import history

        image = self.image(name)
        steps = self._lineage(image)
        if not steps:
            raise HttpError(409, "nothing to undo: the image is at its original")
        return history.revert(image, steps[-1].parent)

    def revert(self, name: str, to: int):
        from burnish.engine.provenance import history

        return history.revert(self.image(name), to)

    # -- recipes and approval ---------------------------------------------------------------

    def recipe_data(self, name: str) -> dict:
        """The steps that made the current version, as a recipe: paths inside the image's
        folder relative to it (where the recipe is saved), the image's stem as ``{stem}``."""
        image = self.image(name)
        return self._recipe_of(image, self._lineage(image))

    def _recipe_of(self, image: Path, steps: list) -> dict:
        if not steps:
            raise HttpError(409, "no steps yet: run a step, then save it as a recipe")
        return {"steps": [{"op": version.op, **{key: self._portable(value, image)
                                                for key, value in version.params.items()}}
                          for version in steps]}

    @staticmethod
    def _portable(value, image: Path):
        if not isinstance(value, str) or not os.path.isabs(value):
            return value
        path = Path(value)
        if not path.is_relative_to(image.parent):
            return value
        relative = path.relative_to(image.parent).as_posix()
        folder, _, file = relative.rpartition("/")
        if file.startswith(image.stem + ".") or file.startswith(image.stem + "-"):
            file = "{stem}" + file[len(image.stem):]
        return f"{folder}/{file}" if folder else file

    def recipe_text(self, name: str) -> str:
        return recipe_toml(self.recipe_data(name))

    def save_recipe(self, name: str, recipe_name: str) -> str:
        """Write the recipe beside the image as ``RECIPE_NAME.toml``; returns its name."""
        if (not recipe_name or len(recipe_name) > 64
                or not all(c.isalnum() or c in RECIPE_NAME_CHARS for c in recipe_name)):
            raise HttpError(400, "a recipe name is 1-64 letters, digits, '-' or '_'")
        from burnish.engine.imageio.write import write_bytes_atomically

        text = self.recipe_text(name)
        target = self.image(name).parent / f"{recipe_name}.toml"
        with self._lock:
            write_bytes_atomically(target, text.encode())
        return self.name_of(target)

    def _approved_name(self, image: Path, steps: list) -> str | None:
        """The approved output's name when it exists (None before any step, or when a
        step's file has gone since: then there is no output to name)."""
        if not steps:
            return None
        try:
            _, target = self._approval_plan(image, steps)
        except OptionError:
            return None
        return target.name if target.is_file() else None

    def _approval_plan(self, image: Path, steps: list):
        """(recipe, target): the image's steps as a recipe, and where approving writes."""
        from burnish.engine.recipes.batch_run import plan_outputs
        from burnish.engine.recipes.recipe import recipe_from_data

        recipe = recipe_from_data(self._recipe_of(image, steps), base=image.parent,
                                  origin=os.fspath(image.parent / "workspace"))
        return recipe, plan_outputs(recipe, [image], self._approved_folder(image))[0].target

    def _approved_folder(self, image: Path) -> Path:
        relative = image.parent.relative_to(self.root)
        return self.approved / relative

    def approve(self, name: str, resources=None) -> dict:
        """Run the image's steps as a recipe on the original, exactly as ``burnish run`` of
        the saved recipe does: the output and its sidecar, written atomically to the
        approved folder (the same relative folder as the image)."""
        from burnish.engine.recipes.batch_run import RunOptions, Worker

        image = self.image(name)
        recipe, target = self._approval_plan(image, self._lineage(image))
        folder = target.parent
        folder.mkdir(parents=True, exist_ok=True)
        worker = Worker(recipe, RunOptions(output=folder, device=self.device,
                                           backend=self.backend), threads=None,
                        resources=resources)
        try:
            result = worker.process(image, target)
        finally:
            worker.close()
        if result.error is not None:
            raise HttpError(422, result.error)
        return {"output": os.fspath(target), "name": target.name,
                "in_workspace": target.is_relative_to(self.root), "note": result.note}


def recipe_toml(data: dict) -> str:
    """A recipe's data as TOML, one ``[[steps]]`` table a step (values written as JSON,
    which is TOML for the strings, numbers, booleans and lists of strings steps hold)."""
    lines = ["# Made by the burnish workspace from the steps of one image.",
             "# Run it on others: burnish run THIS.toml IMAGES... -o OUT", ""]
    for step in data["steps"]:
        lines.append("[[steps]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in step.items())
        lines.append("")
    return "\n".join(lines)
