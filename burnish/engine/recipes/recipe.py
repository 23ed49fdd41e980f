"""Recipes: a saved sequence of steps, checked in full before any image is touched.

A recipe is a TOML (or JSON) file::

    name = "campaign"                 # optional
    description = "..."               # optional

    [[steps]]
    op = "upscale"
    scale = 2

    [[steps]]
    op = "remove"
    boxes = ["40,60,120,90"]

    [[steps]]
    op = "encode"
    format = "jpeg"
    name = "{stem}_final"

Each step names an op of :data:`burnish.engine.ops.OPS` and gives its parameters; every
unknown op or key, bad value or missing file is a one-line :class:`~burnish.errors.OptionError`
naming the recipe, the step and the key. Relative paths are relative to the recipe's folder.
A recipe is data only: nothing in it is evaluated or imported, and an output name can only
be a plain file name in the output folder (:class:`~burnish.engine.ops.params.NameTemplate`).

:func:`parse_step` reads the same steps from the command line (``"adjust exposure=0.5"``),
for ``burnish edit``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from burnish.engine.ops import OPS, Op
from burnish.engine.ops.encode import DEFAULTS as ENCODE_DEFAULTS
from burnish.engine.ops.params import (
    Context,
    File,
    Method,
    ModelSpec,
    recipe_path,
    template_fields,
)
from burnish.errors import OptionError
from burnish.files import TooDeep, parse_data, read_limited

TOP_LEVEL_KEYS = ("name", "description", "steps")
MAX_RECIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class Step:
    """One validated step: its op, the parameters as given, and all of them normalised."""

    op: Op
    given: dict
    params: dict

    def describe(self) -> dict:
        """The step as a recipe would write it (op and the keys that were given)."""
        return {"op": self.op.name, **self.given}


@dataclass(frozen=True)
class Recipe:
    steps: tuple[Step, ...]
    context: Context
    name: str = ""
    origin: str = "<recipe>"

    @property
    def encode(self) -> dict:
        """The encode step's parameters (the defaults when there is none)."""
        last = self.steps[-1] if self.steps else None
        return last.params if last is not None and last.op.role == "encode" else ENCODE_DEFAULTS

    @property
    def edits(self) -> tuple[Step, ...]:
        """The steps that change pixels: all but the encode step."""
        return tuple(s for s in self.steps if s.op.role != "encode")

    @cached_property
    def file_hashes(self) -> dict[str, str]:
        """sha256 of every file the recipe names without a per-image template, by the text
        it is named with (shipped models by their manifest hash); read once per recipe."""
        return fixed_file_hashes(self)

    @cached_property
    def sha256(self) -> str:
        """A hash of what the recipe does: its steps as normalised data plus the content of
        every fixed file it reads (models, LUTs, references). Moving the recipe and its files
        elsewhere keeps the hash; editing any of them changes it."""
        return _digest({"steps": [{"op": s.op.name, **s.params} for s in self.steps],
                        "files": self.file_hashes})

    def describe(self) -> dict:
        return {"name": self.name, "steps": [s.describe() for s in self.steps]}


def _digest(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe file (``.toml``, or ``.json``)."""
    path = Path(path)
    raw = read_limited(path, error=OptionError, what="recipe", limit=MAX_RECIPE_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OptionError("recipe is not UTF-8 text", path=path) from None
    try:
        data = parse_data(text, kind="json" if path.suffix.lower() == ".json" else "toml")
    except ValueError as error:
        raise OptionError(str(error), path=path) from None
    return recipe_from_data(data, base=path.resolve().parent, origin=str(path))


def recipe_from_data(data, *, base: Path, origin: str = "<recipe>") -> Recipe:
    """Check recipe data (as parsed from TOML or JSON); relative paths start at ``base``."""
    def fail(problem: str) -> OptionError:
        return OptionError(problem, path=origin)

    if not isinstance(data, dict):
        raise fail("a recipe is a table with a 'steps' list")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise fail(f"unknown key {key!r} (a recipe has {', '.join(TOP_LEVEL_KEYS)})")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail("no steps: add [[steps]] tables (TOML) or a \"steps\" list (JSON)")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise fail("name must be a string")
    context = Context(base)
    steps = []
    for number, raw in enumerate(raw_steps, 1):
        try:
            steps.append(check_step(raw, context))
        except ValueError as error:
            op = raw.get("op") if isinstance(raw, dict) else None
            label = f"step {number}" + (f" ({op})" if isinstance(op, str) and op in OPS else "")
            raise fail(f"{label}: {error}") from None
    for number, step in enumerate(steps, 1):
        if step.op.role == "encode" and number != len(steps):
            raise fail(f"step {number} (encode): encode must be the last step")
    return Recipe(tuple(steps), context, name=name, origin=origin)


def check_step(raw, context: Context) -> Step:
    """One step from a ``{"op": ..., key: value}`` table; :class:`ValueError` says what is
    wrong (the caller adds where)."""
    if not isinstance(raw, dict):
        raise ValueError("a step is a table with an 'op' key")
    given = dict(raw)
    op_name = given.pop("op", None)
    if not isinstance(op_name, str):
        raise ValueError(f"no 'op' (one of {', '.join(OPS)})")
    op = OPS.get(op_name)
    if op is None:
        import difflib

        close = difflib.get_close_matches(op_name, list(OPS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown op {op_name!r}{hint}; ops: {', '.join(OPS)}")
    return Step(op, given, op.check(given, context))


def parse_step(text: str, base: Path) -> Step:
    """A step from the command line: ``"OP KEY=VALUE ..."``. Values are read as TOML
    (``2``, ``0.5``, ``true``, ``"text"``, ``["a", "b"]``); a bare word is a string."""
    words = _split_step(text)
    if not words:
        raise OptionError(f"empty step {text!r}")
    raw: dict = {"op": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise OptionError(f"step {text!r}: {word!r} is not KEY=VALUE")
        try:
            raw[key] = parse_data(f"v = {value}", kind="toml")["v"]
        except TooDeep as error:
            raise OptionError(f"step {text!r}: {key}: {error}") from None
        except ValueError:
            raw[key] = value  # a bare word is a string
    try:
        return check_step(raw, Context(base))
    except ValueError as error:
        raise OptionError(f"step {text!r}: {error}") from None


def _split_step(text: str) -> list[str]:
    """Shell-like words, so that ``boxes=["1,2,3,4"]`` or ``key='#00ff00'`` stay whole."""
    import shlex

    try:
        return shlex.split(text, posix=False)
    except ValueError as error:
        raise OptionError(f"step {text!r}: {error}") from None


def fixed_file_hashes(recipe: Recipe) -> dict[str, str]:
    """What :attr:`Recipe.file_hashes` holds (computed there once)."""
    from burnish.models.descriptor import file_sha256
    from burnish.models.registry import shipped_models

    shipped = shipped_models()
    hashes = {}
    for step in recipe.steps:
        for param in step.op.params:
            value = step.params.get(param.name)
            if not isinstance(value, str) or not isinstance(param.kind, (File, ModelSpec, Method)):
                continue
            if value in shipped:
                hashes[value] = shipped[value].sha256
            elif not template_fields(value):
                path = recipe_path(value, recipe.context)
                if path.is_file():
                    hashes[value] = file_sha256(path)
        if step.op.name == "upscale" and step.params["model"] is None:
            from burnish.models.registry import default_model

            name = default_model(step.params.get("scale") or 4)
            hashes[name] = shipped[name].sha256
    return hashes
