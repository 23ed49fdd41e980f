"""Parameter kinds: how a recipe value is checked, normalised and described.

A recipe is data from a file someone handed you, so every value goes through one of these
before any image is touched: numbers within their range, names among their choices, files
that exist (relative to the recipe's folder), and name templates that can only substitute
the few fields below. Nothing a recipe says is evaluated: there is no expression language
and a template field is a plain name, never an attribute or index lookup (``str.format``
would otherwise reach ``{stem.__class__}``).

Each kind's :meth:`check` returns the normalised value or raises :class:`ValueError` with a
short problem text; :class:`~burnish.engine.ops.declare.Param` adds the step and key to it.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path

from burnish.errors import BurnishError

# The fields a per-image template may use, with what they become for ``photos/cat.jpg``.
TEMPLATE_FIELDS = {"stem": "cat", "name": "cat.jpg", "ext": "jpg"}


def template_fields(text: str) -> list[str]:
    """The fields ``text`` uses, refusing anything but a plain known name in braces."""
    fields = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ValueError(f"bad template {text!r}: {error}") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(f"template {text!r} may only use {{stem}}, {{name}} and {{ext}}, "
                             f"not {{{field}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}")
        fields.append(field)
    return fields


def render_template(text: str, image: Path) -> str:
    """``text`` with ``{stem}``, ``{name}`` and ``{ext}`` of ``image`` filled in."""
    template_fields(text)
    return text.format(stem=image.stem, name=image.name, ext=image.suffix.lstrip("."))


@dataclass(frozen=True)
class Context:
    """Where relative paths in a recipe start (the recipe file's folder)."""

    base: Path


class Kind:
    """A parameter kind: ``check`` normalises a value, ``describe`` says what it accepts."""

    def check(self, value, context: Context):
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Kind):
    """A number in ``[low, high]``; ``integer`` refuses fractions."""

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False

    def check(self, value, context: Context):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {value!r}")
        if self.integer:
            if value != int(value):
                raise ValueError(f"must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not self.low <= value <= self.high:
            raise ValueError(f"{value!r} is out of range {self._range()}")
        return value

    def _range(self) -> str:
        def show(bound: float) -> str:
            if math.isinf(bound):
                return "-inf" if bound < 0 else "inf"
            return str(int(bound)) if self.integer or bound == int(bound) else f"{bound:g}"

        return f"[{show(self.low)}, {show(self.high)}]"

    def describe(self) -> str:
        return f"{'integer' if self.integer else 'number'} in {self._range()}"


@dataclass(frozen=True)
class Flag(Kind):
    def check(self, value, context: Context):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Choice(Kind):
    options: tuple[str, ...]

    def check(self, value, context: Context):
        if value not in self.options:
            raise ValueError(f"must be one of {', '.join(self.options)}; got {value!r}")
        return value

    def describe(self) -> str:
        return " | ".join(self.options)


def _text(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class File(Kind):
    """A file path, relative to the recipe's folder. With ``template`` it may use
    ``{stem}``/``{name}``/``{ext}`` of each image (a per-image file, checked per image);
    otherwise it must exist when the recipe is loaded."""

    suffixes: tuple[str, ...] = ()
    template: bool = False

    def check(self, value, context: Context):
        text = _text(value)
        fields = template_fields(text) if self.template else []
        if self.suffixes and not text.lower().endswith(self.suffixes):
            raise ValueError(f"{text!r} must be a {' or '.join(self.suffixes)} file")
        if not fields:
            resolve_file(text, context)  # a fixed file must be there before any image
        return text

    def describe(self) -> str:
        kind = " or ".join(self.suffixes) + " file" if self.suffixes else "file"
        return kind + (" (may use {stem}, {name}, {ext})" if self.template else "")


def recipe_path(text: str, context: Context, image: Path | None = None) -> Path:
    """The path ``text`` names (a template filled for ``image``): ``~`` expanded, relative
    paths from the recipe's folder."""
    path = Path(render_template(text, image) if image is not None else text).expanduser()
    return path if path.is_absolute() else context.base / path


def resolve_file(text: str, context: Context, image: Path | None = None) -> Path:
    """The file ``text`` names (a template filled for ``image``), checked to exist."""
    path = recipe_path(text, context, image)
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


@dataclass(frozen=True)
class Text(Kind):
    """Free text checked by ``parser`` (one of :mod:`burnish.engine.edit_masks`' parsers)."""

    parser: object
    example: str

    def check(self, value, context: Context):
        text = _text(value)
        try:
            self.parser(text)
        except BurnishError as error:
            raise ValueError(error.problem) from None
        return text

    def describe(self) -> str:
        return f"text like {self.example!r}"


@dataclass(frozen=True)
class TextList(Kind):
    """A list of :class:`Text` values (a single string is taken as a list of one)."""

    item: Text

    def check(self, value, context: Context):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise ValueError(f"must be a list of strings, got {value!r}")
        return [self.item.check(item, context) for item in items]

    def describe(self) -> str:
        return f"list of {self.item.describe()}"


@dataclass(frozen=True)
class ModelSpec(Kind):
    """A shipped model name, ``lanczos``, or a model file (relative to the recipe)."""

    def check(self, value, context: Context):
        from burnish.models.registry import model_names

        text = _text(value)
        if text == "lanczos" or text in model_names():
            return text
        if not text.lower().endswith((".onnx", ".engine", ".plan", ".trt", ".pth", ".pt",
                                      ".ckpt", ".safetensors")):
            raise ValueError(f"unknown model {text!r}: use one of {', '.join(model_names())}, "
                             "lanczos, or an .onnx, .engine, .pth or .safetensors file")
        resolve_file(text, context)
        return text

    def describe(self) -> str:
        return "shipped model name, lanczos, or a model file"


@dataclass(frozen=True)
class Method(Kind):
    """An inpainting method by name, or a LaMa-style ``.onnx`` model file."""

    names: tuple[str, ...]

    def check(self, value, context: Context):
        text = _text(value)
        if text in self.names:
            return text
        if not text.lower().endswith(".onnx"):
            raise ValueError(f"must be {', '.join(self.names)} or an .onnx model, got {text!r}")
        resolve_file(text, context)
        return text

    def describe(self) -> str:
        return " | ".join(self.names) + " | an .onnx inpainting model"


@dataclass(frozen=True)
class NameTemplate(Kind):
    """An output file name without extension; only ``{stem}``, ``{name}``, ``{ext}`` fields,
    and never a path: no separators, no ``..``, no leading dot."""

    def check(self, value, context: Context):
        text = _text(value)
        template_fields(text)
        check_file_name(text.format(**TEMPLATE_FIELDS), template=text)
        return text

    def describe(self) -> str:
        return "file name template, e.g. '{stem}_final'"


def check_file_name(name: str, *, template: str | None = None) -> str:
    """Refuse a name that is not a plain file name inside the output folder. ``template``:
    the template ``name`` was made from, named in the message instead of the sample name (a
    sample "cat" for ``{stem}`` would mean nothing to the reader)."""
    shown = repr(template if template is not None else name)
    if "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"{shown} is a path: give a file name (no / or \\)")
    if name in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"{shown} is not a usable file name (empty, or starts with '.')")
    return name
