"""Non-destructive editing: every edit of an image is a recorded version, and any version can
be made current again.

``burnish edit cat.png "adjust exposure=0.5"`` never writes to ``cat.png``. Everything it
keeps lives in a ``.burnish/`` folder beside the image, so deleting that folder forgets the
history and leaves the image as it was::

    .burnish/catalogue.sqlite               which versions exist, how each was made
    .burnish/objects/3f/3f2a...9c.png        each version's pixels, named by their file's sha256
    .burnish/work/cat.png                    the working copy: the current version's pixels

**Objects.** A version's result is stored once, losslessly (PNG for 8- and 16-bit pixels,
TIFF for float32), under the sha256 of the encoded file. The encoding is deterministic, so
the same image and steps give the same files and hashes in any folder, and a version that
repeats an earlier one (a revert) costs no space. An object is written completely before any
row names it, so a crash leaves at most an unused object, never a row without its pixels.
Each edit starts from the current version's object, never from the original file again: a
lossy original is decoded once, when it is imported.

**Catalogue.** ``images`` has one row per image file name in the folder (several images can
share one ``.burnish/``): the sha256 the original had when it was imported, the name of its
working copy, and its ``head`` (the current version). ``versions`` holds, per image, version
0 (op ``original``, the imported pixels) and then one row per step, each naming its
``parent``, the op and the parameters as given, its object, how long it took and when. The
history is append-only: a revert adds a version (op ``revert``) with the same object as the
version it returns to, whose number is its parent. The schema version is ``PRAGMA
user_version``. Every change is one transaction that also checks the head did not move in
the meantime, so two edits of the same image at once cannot interleave their versions.

**Working copy.** ``.burnish/work/<stem>.png`` (or ``.tif``) is always a byte-for-byte copy
of the head's object, for viewers and other tools; changes made to it are not kept (the next
edit starts from the head's object and overwrites it). It is replaced atomically after the
catalogue commits. Two images with the same stem (``cat.png``, ``cat.jpg``) get distinct
working copies: the second is named by its whole file name (``cat.jpg.png``).

**Safety.** An edit parses every step before it reads or writes anything, so a typo costs
nothing, and it refuses an original whose content changed since it was imported (the history
would describe another image).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from burnish.engine.imageio import ImageMeta, read_image, write_image
from burnish.engine.ops.params import Context
from burnish.engine.recipe import Step, parse_step
from burnish.errors import BurnishError, InputError, OptionError, OutputError, first_line
from burnish.models.descriptor import file_sha256

FOLDER = ".burnish"
SCHEMA_VERSION = 1
# Objects were written by burnish itself, so the decompression-bomb guard for inputs does
# not apply: an upscaled version may well be larger than any input would be allowed to be.
OBJECT_MAX_PIXELS = sys.maxsize
NO_HISTORY = "no edit history (burnish edit IMAGE STEP starts one)"

SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    original_sha256 TEXT NOT NULL,
    work_name TEXT NOT NULL UNIQUE,
    head INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    image_id INTEGER NOT NULL REFERENCES images (id),
    number INTEGER NOT NULL,
    parent INTEGER,
    op TEXT NOT NULL,
    params_json TEXT NOT NULL,
    result_sha256 TEXT NOT NULL,
    result_ext TEXT NOT NULL,
    seconds REAL NOT NULL,
    created TEXT NOT NULL,
    note TEXT,
    model_json TEXT,
    PRIMARY KEY (image_id, number)
);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""


@dataclass(frozen=True)
class Version:
    """One recorded version of an image.

    ``params`` are the step's parameters as they were given (``{"to": N}`` for a revert,
    empty for the original); ``model`` is what an upscale or model fill ran with; ``head``
    says whether this is the current version; ``object`` is its file in the object store.
    """

    number: int
    parent: int | None
    op: str
    params: dict
    result_sha256: str
    result_ext: str
    seconds: float
    created: str
    note: str | None
    model: dict | None
    head: bool
    object: Path

    @property
    def summary(self) -> str:
        """The op and its parameters, written the way ``burnish edit`` takes a step."""
        return " ".join([self.op, *(f"{key}={_step_value(value)}"
                                    for key, value in self.params.items())])


def _step_value(value) -> str:
    """A parameter as ``parse_step`` reads it back: plain words bare, anything else as JSON
    (which is also TOML for the strings, numbers and lists that steps use)."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][\w.\-/]*", value) and value not in (
            "true", "false", "inf", "nan"):
        return value
    return json.dumps(value)


def edit(image: str | os.PathLike, steps: Sequence[str], *, device: str = "auto",
         backend: str = "auto") -> list[Version]:
    """Apply ``steps`` (``"OP KEY=VALUE ..."``, as ``burnish ops`` lists them) one after
    another to the current version of ``image``, record one version per step and make the
    last one current. Returns the new versions (the imported original not included).

    All steps are parsed first; relative paths in them start at the current folder. Nothing
    is recorded unless every step succeeds.
    """
    from burnish.engine.pipeline import apply_steps
    from burnish.engine.resources import Resources

    image = _original_path(image)
    parsed = [_parse_edit_step(text) for text in steps]
    if not parsed:
        raise OptionError('no steps: give at least one, e.g. "adjust exposure=0.5"')
    context = Context(Path.cwd())
    original_sha256 = _hash_original(image)
    with _catalogue(image, create=True) as catalogue:
        entry = catalogue.entry(image.name)
        pending: list[_Pending] = []
        if entry is None:
            started = time.perf_counter()
            pixels, meta = read_image(image)
            entry = catalogue.new_entry(image.name, original_sha256)
            pending.append(catalogue.store(pixels, meta, "original", {},
                                           time.perf_counter() - started))
            first_parent = None
        else:
            if entry.original_sha256 != original_sha256:
                raise InputError("changed since its edit history was made; delete the "
                                 f"{FOLDER} folder beside it to start a fresh history",
                                 path=image)
            pixels, meta = catalogue.load(catalogue.version(entry, entry.head))
            first_parent = entry.head
        with Resources(device=device, backend=backend) as resources:
            for text, step in parsed:
                try:
                    applied = apply_steps(pixels, [step], resources, image=image,
                                          context=context)
                except BurnishError as error:
                    # apply_steps numbers the steps of its own list; name the step as typed
                    detail = error.problem.removeprefix(f"step 1 ({step.op.name}): ")
                    raise type(error)(f"step {text!r}: {detail}", path=error.path) from None
                record = applied.records[0]
                pixels = applied.pixels
                pending.append(catalogue.store(pixels, meta, step.op.name, step.given,
                                               record.seconds, record.note, record.model))
        versions = catalogue.commit(entry, first_parent, pending)
    return versions[-len(parsed):]


def history(image: str | os.PathLike) -> list[Version]:
    """Every recorded version of ``image``, oldest first."""
    image = Path(image)
    with _catalogue(image, create=False) as catalogue:
        return catalogue.versions(catalogue.existing_entry(image))


def revert(image: str | os.PathLike, to: int) -> Version:
    """Make version ``to`` current again, as a new version with the same pixels (the history
    keeps everything that was done), and put its bytes back in the working copy."""
    image = _original_path(image)
    with _catalogue(image, create=False) as catalogue:
        entry = catalogue.existing_entry(image)
        last = catalogue.last_number(entry)
        if not 0 <= to <= last:
            raise OptionError(f"no version {to}: this history has versions 0 to {last}",
                              path=image)
        started = time.perf_counter()
        target = catalogue.version(entry, to)
        catalogue.verify(target)
        reverted = _Pending("revert", {"to": to}, target.result_sha256, target.result_ext,
                            time.perf_counter() - started)
        return catalogue.commit(entry, to, [reverted])[0]


def working_copy(image: str | os.PathLike) -> Path:
    """The working copy of ``image``: the current version's pixels, for viewers and tools."""
    image = Path(image)
    with _catalogue(image, create=False) as catalogue:
        entry = catalogue.existing_entry(image)
        return catalogue.work_path(entry, catalogue.version(entry, entry.head).result_ext)


def _original_path(image: str | os.PathLike) -> Path:
    """``image`` as the original to edit: a working copy is refused, since editing it would
    start a second history inside the first."""
    image = Path(image)
    if FOLDER in image.resolve().parent.parts:
        raise OptionError(f"this file is inside a {FOLDER} folder (a working copy or object); "
                          "edit the original image instead", path=image)
    return image


def _parse_edit_step(text: str) -> tuple[str, Step]:
    step = parse_step(text, Path.cwd())
    if step.op.role == "encode":
        raise OptionError(f"step {text!r}: encode only says how `burnish run` writes its "
                          "output; edit versions are always kept lossless")
    return text, step


def _hash_original(image: Path) -> str:
    try:
        return file_sha256(image)
    except FileNotFoundError:
        raise InputError("file not found", path=image) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=image) from None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Entry:
    """An image's row in ``images``; ``id`` is None until the first commit inserts it."""

    id: int | None
    name: str
    original_sha256: str
    work_name: str
    head: int | None


@dataclass(frozen=True)
class _Pending:
    """A version whose object is stored but whose row is not yet committed."""

    op: str
    params: dict
    result_sha256: str
    result_ext: str
    seconds: float
    note: str | None = None
    model: dict | None = None


@contextmanager
def _catalogue(image: Path, *, create: bool) -> Iterator[_Catalogue]:
    """The catalogue beside ``image``, with SQLite and file-system failures turned into
    one-line errors that name the file involved."""
    folder = image.parent / FOLDER
    database = folder / "catalogue.sqlite"
    if not create and not database.is_file():
        raise InputError(NO_HISTORY, path=image)
    try:
        folder.mkdir(exist_ok=True)
        with closing(sqlite3.connect(database, isolation_level=None, timeout=30)) as db:
            yield _Catalogue(folder, db, image)
    except sqlite3.Error as error:
        raise OutputError(f"edit catalogue unusable: {first_line(error)}; deleting the "
                          f"{FOLDER} folder starts a fresh history", path=database) from None
    except OSError as error:
        raise OutputError(f"cannot update the edit catalogue: {error.strerror or error}",
                          path=error.filename or folder) from None


class _Catalogue:
    """One open ``.burnish/`` folder: its database, objects and working copies."""

    def __init__(self, folder: Path, db: sqlite3.Connection, image: Path):
        self.folder, self.db, self.image = folder, db, image
        schema = db.execute("PRAGMA user_version").fetchone()[0]
        if schema == 0:
            db.executescript(SCHEMA)
        elif schema != SCHEMA_VERSION:
            raise OutputError(f"edit catalogue has schema {schema}, this burnish reads "
                              f"{SCHEMA_VERSION}", path=folder / "catalogue.sqlite")

    # -- rows ------------------------------------------------------------------------------

    def entry(self, name: str) -> _Entry | None:
        row = self.db.execute("SELECT id, name, original_sha256, work_name, head FROM images "
                              "WHERE name = ?", (name,)).fetchone()
        return None if row is None else _Entry(*row)

    def existing_entry(self, image: Path) -> _Entry:
        entry = self.entry(image.name)
        if entry is None:
            raise InputError(NO_HISTORY, path=image)
        return entry

    def new_entry(self, name: str, original_sha256: str) -> _Entry:
        """An image not yet in the catalogue, with a working-copy name no other image has."""
        stem = Path(name).stem
        taken = self.db.execute("SELECT 1 FROM images WHERE work_name = ?", (stem,)).fetchone()
        return _Entry(None, name, original_sha256, name if taken else stem, None)

    def versions(self, entry: _Entry) -> list[Version]:
        rows = self.db.execute(f"SELECT {_VERSION_COLUMNS} FROM versions WHERE image_id = ? "
                               "ORDER BY number", (entry.id,))
        return [self._version(entry, row) for row in rows]

    def version(self, entry: _Entry, number: int) -> Version:
        row = self.db.execute(f"SELECT {_VERSION_COLUMNS} FROM versions WHERE image_id = ? "
                              "AND number = ?", (entry.id, number)).fetchone()
        return self._version(entry, row)

    def last_number(self, entry: _Entry) -> int:
        return self.db.execute("SELECT MAX(number) FROM versions WHERE image_id = ?",
                               (entry.id,)).fetchone()[0]

    def _version(self, entry: _Entry, row) -> Version:
        number, parent, op, params, sha256, ext, seconds, created, note, model = row
        return Version(number, parent, op, json.loads(params), sha256, ext, seconds, created,
                       note, None if model is None else json.loads(model),
                       number == entry.head, self.object_path(sha256, ext))

    def commit(self, entry: _Entry, first_parent: int | None,
               pending: Sequence[_Pending]) -> list[Version]:
        """Record ``pending`` as the next versions, each the child of the one before (the
        first of ``first_parent``), make the last one the head, and update the working
        copy. Refused when another edit moved the head since ``entry`` was read."""
        staged = self._stage_working_copy(entry, pending[-1])
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                numbers = self._insert(entry, first_parent, pending)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            os.replace(staged, self.work_path(entry, pending[-1].result_ext))
        finally:
            staged.unlink(missing_ok=True)
        return [self.version(entry, number) for number in numbers]

    def _insert(self, entry: _Entry, first_parent: int | None,
                pending: Sequence[_Pending]) -> list[int]:
        current = self.entry(entry.name)
        if (current.head if current else None) != entry.head:
            raise OutputError("its edit history changed while this command ran (another "
                              "burnish edit or revert?); run it again", path=self.image)
        if entry.id is None:
            entry.id = self.db.execute(
                "INSERT INTO images (name, original_sha256, work_name, head, created) "
                "VALUES (?, ?, ?, 0, ?)",
                (entry.name, entry.original_sha256, entry.work_name, _now())).lastrowid
            number = 0
        else:
            number = self.last_number(entry) + 1
        parent, numbers = first_parent, []
        for version in pending:
            self.db.execute(
                "INSERT INTO versions (image_id, number, parent, op, params_json, "
                "result_sha256, result_ext, seconds, created, note, model_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.id, number, parent, version.op, json.dumps(version.params),
                 version.result_sha256, version.result_ext, version.seconds, _now(),
                 version.note, None if version.model is None else json.dumps(version.model)))
            numbers.append(number)
            parent, number = number, number + 1
        self.db.execute("UPDATE images SET head = ? WHERE id = ?", (numbers[-1], entry.id))
        entry.head = numbers[-1]
        return numbers

    # -- files -----------------------------------------------------------------------------

    def object_path(self, sha256: str, ext: str) -> Path:
        return self.folder / "objects" / sha256[:2] / f"{sha256}{ext}"

    def work_path(self, entry: _Entry, ext: str) -> Path:
        return self.folder / "work" / f"{entry.work_name}{ext}"

    def store(self, pixels: np.ndarray, meta: ImageMeta, op: str, params: dict,
              seconds: float, note: str | None = None, model: dict | None = None) -> _Pending:
        """Write ``pixels`` (with the original's ICC, EXIF and XMP) to the object store and
        return the version that will name it."""
        ext = ".tif" if pixels.dtype == np.float32 else ".png"
        objects = self.folder / "objects"
        objects.mkdir(exist_ok=True)
        incoming = objects / f"incoming-{secrets.token_hex(8)}{ext}"
        try:
            write_image(incoming, pixels, meta=meta)
            sha256 = file_sha256(incoming)
            target = self.object_path(sha256, ext)
            target.parent.mkdir(exist_ok=True)
            os.replace(incoming, target)
        finally:
            incoming.unlink(missing_ok=True)
        return _Pending(op, params, sha256, ext, seconds, note, model)

    def verify(self, version: Version) -> None:
        """Refuse an object that is missing or no longer has the content it is named by."""
        if not version.object.is_file():
            problem = "is missing"
        elif file_sha256(version.object) != version.result_sha256:
            problem = "is corrupt (its sha256 no longer matches its name)"
        else:
            return
        raise InputError(f"the result of version {version.number} {problem}; the edit "
                         "catalogue is damaged", path=version.object)

    def load(self, version: Version) -> tuple[np.ndarray, ImageMeta]:
        self.verify(version)
        return read_image(version.object, max_pixels=OBJECT_MAX_PIXELS)

    def _stage_working_copy(self, entry: _Entry, head: _Pending) -> Path:
        """A copy of the new head's object beside the working copy, renamed over it once the
        catalogue has committed."""
        from burnish.engine.imageio.write import create_temp, remove_quietly

        work_path = self.work_path(entry, head.result_ext)
        work_path.parent.mkdir(exist_ok=True)
        staged, file = create_temp(work_path)
        try:
            with file, open(self.object_path(head.result_sha256, head.result_ext), "rb") as source:
                shutil.copyfileobj(source, file)
        except BaseException:
            remove_quietly(staged)
            raise
        return Path(staged)


_VERSION_COLUMNS = ("number, parent, op, params_json, result_sha256, result_ext, seconds, "
                    "created, note, model_json")
