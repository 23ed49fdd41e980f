"""Non-destructive editing: every edit of an image is a recorded version, and any version can
be made current again.

``burnish edit cat.png "adjust exposure=0.5"`` never writes to ``cat.png``. Everything it
keeps lives in a ``.burnish/`` folder beside the image, so deleting that folder forgets the
history and leaves the image as it was::

    .burnish/catalogue.sqlite               which versions exist, how each was made
    .burnish/objects/3f/3f2a...9c.png        each version's pixels, named by their file's sha256
    .burnish/work/cat.png/cat.png            the working copy of cat.png: the current pixels
    .burnish/work/cat.jpg/cat.png            ... and of cat.jpg, beside it

**Objects.** A version's result is stored once, losslessly (PNG for 8- and 16-bit pixels,
TIFF for float32), under the sha256 of the encoded file. The encoding is deterministic, so
the same image and steps give the same files and hashes in any folder, and a version that
repeats an earlier one (a revert) costs no space. Each edit starts from the current version's
object, never from the original file again: a lossy original (JPEG, WebP) is decoded once,
when it is imported, and re-encoding it lossily at every step would add generation loss.

**Catalogue.** ``images`` has one row per image, keyed by its whole file name (``cat.jpg``
and ``cat.png`` are two images; several images can share one ``.burnish/``): the sha256 the
original had when it was imported, its working copy's path in ``work/`` without the suffix,
and its ``head`` (the current version). ``versions`` holds, per image, version 0 (op
``original``, the imported pixels) and then one row per step, each naming its ``parent``, the
op and the parameters as given, its object, how long it took and when it was made (UTC,
ISO 8601 to the millisecond). The history is append-only: a revert adds a version (op
``revert``) with the same object as the version it returns to, whose number is its parent.
The schema version is ``PRAGMA user_version``; a schema-1 catalogue (working copies named
``work/<stem>.png``, or ``work/<name>.png`` when the stem was taken) is migrated in place the
first time this version opens it. Every change is one transaction that also checks the head
did not move in the meantime, so two edits of the same image at once cannot interleave.

**Working copy.** ``.burnish/work/<name>/<stem>.png`` (or ``.tif``) is always a byte-for-byte
copy of the head's object, for viewers and other tools; changes made to it are not kept (the
next edit starts from the head's object and overwrites it). It is replaced atomically after
the catalogue commits. The folder carries the original's whole name, so ``cat.jpg``,
``cat.png`` and ``cat.PNG`` cannot collide and a person sees which is which; the file inside
keeps the original's stem, so ``burnish run`` over a working copy names its output ``cat.*``
(a flat ``work/cat.png.png`` would be unambiguous too, but reads as a typo).

**Safety.** The original must be a regular file (a FIFO or ``/dev/zero`` is refused before
anything reads it). An edit parses every step and computes every version before it records
anything: the new objects wait in a private folder beside the image (``.burnish.incoming-*``,
removed when the edit ends) and move into the store in the transaction that records them,
which is also the one place that creates ``.burnish/``. So a failed edit (a bad step, an
unreadable image) leaves no ``.burnish/`` if there was none, and an existing one unchanged.
An edit refuses an original whose content changed since it was imported (the history would
describe another image).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from burnish.engine.imageio import ImageMeta, read_image, write_image
from burnish.engine.ops.params import Context
from burnish.engine.recipes.recipe import Step, parse_step
from burnish.errors import BurnishError, InputError, OptionError, OutputError, first_line
from burnish.files import check_regular_file
from burnish.models.descriptor import file_sha256

if TYPE_CHECKING:
    from burnish.engine.recipes.resources import Resources

FOLDER = ".burnish"
SCHEMA_VERSION = 2
# Objects were written by burnish itself, so the decompression-bomb guard for inputs does
# not apply: an upscaled version may well be larger than any input would be allowed to be.
OBJECT_MAX_PIXELS = sys.maxsize
OBJECT_SUFFIXES = (".png", ".tif")
NO_HISTORY = 'no edit history yet: burnish edit IMAGE "OP KEY=VALUE" makes one'

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
    says whether this is the current version; ``object`` is its file in the object store;
    ``created`` is when it was made (timezone-aware, UTC).
    """

    number: int
    parent: int | None
    op: str
    params: dict
    result_sha256: str
    result_ext: str
    seconds: float
    created: datetime
    note: str | None
    model: dict | None
    head: bool
    object: Path

    @property
    def summary(self) -> str:
        """The op and its parameters, written the way ``burnish edit`` takes a step."""
        return step_text(self.op, self.params)


def step_text(op: str, params: dict) -> str:
    """A step as ``burnish edit`` (and :func:`edit`) takes it: ``"OP KEY=VALUE ..."``."""
    return " ".join([op, *(f"{key}={_step_value(value)}" for key, value in params.items())])


def _step_value(value) -> str:
    """A parameter as ``parse_step`` reads it back: plain words bare, anything else as JSON
    (which is also TOML for the strings, numbers and lists that steps use)."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][\w.\-/]*", value) and value not in (
            "true", "false", "inf", "nan"):
        return value
    return json.dumps(value)


def edit(image: str | os.PathLike, steps: Sequence[str], *, device: str = "auto",
         backend: str = "auto", on_step: Callable[[int, int], None] | None = None,
         resources: Resources | None = None) -> list[Version]:
    """Apply ``steps`` (``"OP KEY=VALUE ..."``, as ``burnish ops`` lists them) one after
    another to the current version of ``image``, record one version per step and make the
    last one current. Returns the new versions (the imported original not included).

    All steps are parsed first; relative paths in them start at the current folder. Nothing
    is recorded, and no ``.burnish/`` folder is created, unless every step succeeds.
    ``on_step(done, total)`` is told as each step finishes; ``resources`` shares another
    owner's open models (a server's), by default the edit opens its own.
    """
    from burnish.engine.recipes.pipeline import apply_steps
    from burnish.engine.recipes.resources import Resources

    image = _original_path(image)
    parsed = _parse_edit_steps(steps)
    context = Context(Path.cwd())
    original_sha256 = _hash_original(image)
    start = _current_head(image, original_sha256)
    opened = (resources.view() if resources is not None else
              Resources(device=device, backend=backend))
    with _staging(image) as staging, opened as resources:
        if start is None:
            started = time.perf_counter()
            pixels, meta = read_image(image)
            entry = _Entry(None, image.name, original_sha256, _work_name(image.name), None)
            pending = [staging.store(pixels, meta, "original", {},
                                     time.perf_counter() - started)]
        else:
            entry, pixels, meta = start
            pending = []
        first_parent = entry.head
        for number, (text, step) in enumerate(parsed, 1):
            try:
                applied = apply_steps(pixels, [step], resources, image=image, context=context)
            except BurnishError as error:
                # apply_steps numbers the steps of its own list; name the step as typed
                detail = error.problem.removeprefix(f"step 1 ({step.op.name}): ")
                raise type(error)(f"step {text!r}: {detail}", path=error.path) from None
            record = applied.records[0]
            pixels = applied.pixels
            if on_step is not None:
                on_step(number, len(parsed))
            pending.append(staging.store(pixels, meta, step.op.name, step.given,
                                         record.seconds, record.note, record.model))
        with _catalogue(image, create=True) as catalogue:
            versions = catalogue.commit(entry, first_parent, pending)
    return versions[-len(parsed):]


def history(image: str | os.PathLike, *, missing_ok: bool = False) -> list[Version]:
    """Every recorded version of ``image``, oldest first; with ``missing_ok`` an image
    without a history has none (else that is the one-line :data:`NO_HISTORY` error)."""
    image = _original_path(image)
    if missing_ok and not _database(image).is_file():
        return []
    with _catalogue(image) as catalogue:
        entry = catalogue.entry(image.name)
        if entry is None and missing_ok:
            return []
        return catalogue.versions(entry or catalogue.existing_entry(image))


def lineage(image: str | os.PathLike) -> list[Version]:
    """The steps that made the current version (:func:`lineage_of` its history)."""
    return lineage_of(history(image))


def lineage_of(history_versions: Sequence[Version]) -> list[Version]:
    """The steps that made the current version, in order, from the original on: each
    version's parent chain, with every revert replaced by the chain of the version it
    returned to. Running these steps (``burnish edit`` of them, or a recipe of them) on the
    original makes the current pixels again. No versions: no steps."""
    versions = {version.number: version for version in history_versions}
    if not versions:
        return []
    head = next(version for version in versions.values() if version.head)
    steps, number = [], head.number
    while number is not None:
        version = versions[number]
        if version.op == "revert":
            number = version.params["to"]
        else:
            if version.op != "original":
                steps.append(version)
            number = version.parent
    return steps[::-1]


def revert(image: str | os.PathLike, to: int) -> Version:
    """Make version ``to`` current again, as a new version with the same pixels (the history
    keeps everything that was done), and put its bytes back in the working copy."""
    image = _original_path(image)
    with _catalogue(image) as catalogue:
        entry = catalogue.existing_entry(image)
        last = catalogue.last_number(entry)
        if not 0 <= to <= last:
            raise OptionError(f"no version {to}: this history has versions 0 to {last}",
                              path=image)
        started = time.perf_counter()
        target = catalogue.version(entry, to)
        catalogue.verify(target)
        reverted = _Pending("revert", {"to": to}, target.result_sha256, target.result_ext,
                            time.perf_counter() - started, _utc_now())
        return catalogue.commit(entry, to, [reverted])[0]


def working_copy(image: str | os.PathLike) -> Path:
    """The working copy of ``image``: the current version's pixels, for viewers and tools."""
    image = _original_path(image)
    with _catalogue(image) as catalogue:
        entry = catalogue.existing_entry(image)
        return catalogue.work_path(entry, catalogue.version(entry, entry.head).result_ext)


def _original_path(image: str | os.PathLike) -> Path:
    """``image`` as an original with (or for) a history: a regular file, checked before
    anything opens it (a FIFO would block, ``/dev/zero`` never ends), and not a working copy,
    since editing that would start a second history inside the first."""
    check_regular_file(image, what="image")
    image = Path(image)
    if FOLDER in image.resolve().parent.parts:
        raise OptionError(f"this file is inside a {FOLDER} folder (a working copy or object); "
                          "give the original image instead", path=image)
    return image


def _work_name(name: str) -> str:
    """Where the working copy of the original ``name`` lives in ``work/``, without its suffix:
    a folder with the original's whole name (unique in its folder, as the catalogue's key is),
    holding a file with its stem (see the module's docstring)."""
    return f"{name}/{Path(name).stem}"


def _parse_edit_steps(texts: Sequence[str]) -> list[tuple[str, Step]]:
    if not texts:
        raise OptionError('no steps: give at least one, e.g. "adjust exposure=0.5"')
    _refuse_split_steps(texts)
    return [_parse_edit_step(text) for text in texts]


def _refuse_split_steps(texts: Sequence[str]) -> None:
    """An unquoted ``adjust exposure=0.5`` reaches us as two steps, ``adjust`` and
    ``exposure=0.5``. No op's name holds ``=``, so a step that starts with ``KEY=VALUE`` is the
    tail of the step before it; say so and show the step whole. Checked before any step is
    parsed: ``crop`` alone would fail first, with a message that misleads."""

    def starts_with_setting(text: str) -> bool:
        words = text.split(maxsplit=1)
        return bool(words) and "=" in words[0]

    for index in range(1, len(texts)):
        if starts_with_setting(texts[index]) and not starts_with_setting(texts[index - 1]):
            end = index + 1
            while end < len(texts) and starts_with_setting(texts[end]):
                end += 1
            whole = " ".join(text.strip() for text in texts[index - 1:end])
            raise OptionError(f"step {texts[index]!r} is not an op; quote each step as one "
                              f'argument: "{whole}"')


def _parse_edit_step(text: str) -> tuple[str, Step]:
    step = parse_step(text, Path.cwd())
    if step.op.role == "encode":
        raise OptionError(f"step {text!r}: encode only says how `burnish run` writes its "
                          "output; edit versions are always kept lossless")
    return text, step


def _hash_original(image: Path) -> str:
    try:
        return file_sha256(image)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=image) from None


def _current_head(image: Path, original_sha256: str
                  ) -> tuple[_Entry, np.ndarray, ImageMeta] | None:
    """The catalogue entry of ``image`` and its head's pixels, or None when it has no history
    yet. Reads only: a first edit creates the catalogue when it records its versions."""
    if not _database(image).is_file():
        return None
    with _catalogue(image) as catalogue:
        entry = catalogue.entry(image.name)
        if entry is None:
            return None
        if entry.original_sha256 != original_sha256:
            raise InputError("changed since its edit history was made; delete the "
                             f"{FOLDER} folder beside it to start a fresh history", path=image)
        return (entry, *catalogue.load(catalogue.version(entry, entry.head)))


def _utc_now() -> datetime:
    """When a version is made (tests replace this clock)."""
    return datetime.now(timezone.utc)


def _stored_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _read_time(text: str) -> datetime:
    # schema 1 wrote "2026-12-02T10:14:03Z"; Python < 3.11 reads only "+00:00" for UTC
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _database(image: Path) -> Path:
    return image.parent / FOLDER / "catalogue.sqlite"


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
    """A version computed but not yet recorded. ``staged`` is its object's file while it
    waits outside the store (None when the store already has it, as for a revert)."""

    op: str
    params: dict
    result_sha256: str
    result_ext: str
    seconds: float
    created: datetime
    note: str | None = None
    model: dict | None = None
    staged: Path | None = None


class _Staging:
    """A private folder beside the image where an edit's objects wait to be recorded."""

    def __init__(self, path: Path):
        self.path = path

    def store(self, pixels: np.ndarray, meta: ImageMeta, op: str, params: dict,
              seconds: float, note: str | None = None, model: dict | None = None) -> _Pending:
        """Encode ``pixels`` (with the original's ICC, EXIF and XMP) as the object of a
        version made now."""
        ext = OBJECT_SUFFIXES[1] if pixels.dtype == np.float32 else OBJECT_SUFFIXES[0]
        encoded = self.path / f"encoded{ext}"
        write_image(encoded, pixels, meta=meta)
        sha256 = file_sha256(encoded, error=OutputError, what="version")
        staged = self.path / f"{sha256}{ext}"
        try:
            os.replace(encoded, staged)
        except OSError as error:
            raise OutputError(f"cannot store a version: {error.strerror or error}",
                              path=staged) from None
        return _Pending(op, params, sha256, ext, seconds, _utc_now(), note, model, staged)


@contextmanager
def _staging(image: Path) -> Iterator[_Staging]:
    """A :class:`_Staging` folder on the image's file system (so its objects move into the
    store by renaming), removed with whatever is left in it when the edit ends."""
    try:
        path = Path(tempfile.mkdtemp(prefix=f"{FOLDER}.incoming-", dir=image.parent))
    except OSError as error:
        raise OutputError(f"cannot write beside the image: {error.strerror or error}",
                          path=image.parent) from None
    try:
        yield _Staging(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _catalogue(image: Path, *, create: bool = False) -> Iterator[_Catalogue]:
    """The catalogue beside ``image``, with SQLite and file-system failures turned into
    one-line errors that name the file involved. Only ``create=True`` (an edit recording
    its versions) makes the folder and the tables; otherwise no catalogue is no history."""
    database = _database(image)
    folder = database.parent
    if not create and not database.is_file():
        raise InputError(NO_HISTORY, path=image)
    try:
        if create:
            folder.mkdir(exist_ok=True)
        with closing(sqlite3.connect(database, isolation_level=None, timeout=30)) as db:
            yield _Catalogue(folder, db, image, create=create)
    except sqlite3.Error as error:
        raise OutputError(f"edit catalogue unusable: {first_line(error)}; deleting the "
                          f"{FOLDER} folder starts a fresh history", path=database) from None
    except OSError as error:
        raise OutputError(f"cannot update the edit catalogue: {error.strerror or error}",
                          path=error.filename or folder) from None


class _Catalogue:
    """One open ``.burnish/`` folder: its database, objects and working copies."""

    def __init__(self, folder: Path, db: sqlite3.Connection, image: Path, *, create: bool):
        self.folder, self.db, self.image = folder, db, image
        schema = db.execute("PRAGMA user_version").fetchone()[0]
        # schema 0: a new file, or the empty one an older burnish left after a failed edit
        self.has_tables = schema != 0 or create
        if schema == 0 and create:
            db.executescript(SCHEMA)
        elif schema == 1:
            self._migrate_from_schema_1()
        elif schema not in (0, SCHEMA_VERSION):
            raise OutputError(f"edit catalogue has schema {schema}, this burnish reads "
                              f"{SCHEMA_VERSION}", path=folder / "catalogue.sqlite")

    def _migrate_from_schema_1(self) -> None:
        """Move schema 1's working copies (``work/<stem>.png``, or ``work/<name>.png`` when the
        stem was taken) to where :func:`_work_name` puts them. They are copies of objects, so
        the old files are removed first (``work/cat.png`` may be in the way of the folder
        ``work/cat.png/``) and the new ones are copied from the store."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.db.execute("PRAGMA user_version").fetchone()[0] == 1:  # else done meanwhile
                heads = self.db.execute(
                    "SELECT id, name, work_name, result_sha256, result_ext FROM images JOIN "
                    "versions ON image_id = id AND number = head").fetchall()
                for _, _, old_name, _, _ in heads:
                    for suffix in OBJECT_SUFFIXES:
                        old = self.folder / "work" / f"{old_name}{suffix}"
                        if old.is_file():
                            old.unlink()
                for image_id, name, _, sha256, ext in heads:
                    work_path = self.folder / "work" / f"{_work_name(name)}{ext}"
                    if self.object_path(sha256, ext).is_file():
                        os.replace(self._stage_working_copy(work_path,
                                                            self.object_path(sha256, ext)),
                                   work_path)
                    self.db.execute("UPDATE images SET work_name = ? WHERE id = ?",
                                    (_work_name(name), image_id))
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- rows ------------------------------------------------------------------------------

    def entry(self, name: str) -> _Entry | None:
        if not self.has_tables:
            return None
        row = self.db.execute("SELECT id, name, original_sha256, work_name, head FROM images "
                              "WHERE name = ?", (name,)).fetchone()
        return None if row is None else _Entry(*row)

    def existing_entry(self, image: Path) -> _Entry:
        entry = self.entry(image.name)
        if entry is None:
            raise InputError(NO_HISTORY, path=image)
        return entry

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
        return Version(number, parent, op, json.loads(params), sha256, ext, seconds,
                       _read_time(created), note, None if model is None else json.loads(model),
                       number == entry.head, self.object_path(sha256, ext))

    def commit(self, entry: _Entry, first_parent: int | None,
               pending: Sequence[_Pending]) -> list[Version]:
        """Record ``pending`` as the next versions, each the child of the one before (the
        first of ``first_parent``), move their staged objects into the store, make the last
        one the head, and update the working copy. Refused when another edit moved the head
        since ``entry`` was read."""
        head = pending[-1]
        work_path = self.work_path(entry, head.result_ext)
        staged = self._stage_working_copy(
            work_path, head.staged or self.object_path(head.result_sha256, head.result_ext))
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                numbers = self._insert(entry, first_parent, pending)
                self._file_objects(pending)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            os.replace(staged, work_path)
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
                (entry.name, entry.original_sha256, entry.work_name,
                 _stored_time(_utc_now()))).lastrowid
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
                 version.result_sha256, version.result_ext, version.seconds,
                 _stored_time(version.created), version.note,
                 None if version.model is None else json.dumps(version.model)))
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

    def _file_objects(self, pending: Sequence[_Pending]) -> None:
        """Move the staged objects into the store. Done inside the transaction that names
        them, so a crash leaves at most an unused object, never a row without its pixels."""
        moved = set()
        for version in pending:
            if version.staged is None or version.staged in moved:
                continue
            target = self.object_path(version.result_sha256, version.result_ext)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(version.staged, target)
            moved.add(version.staged)

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

    @staticmethod
    def _stage_working_copy(work_path: Path, source: Path) -> Path:
        """A copy of ``source`` beside ``work_path``, renamed over it once the catalogue has
        committed."""
        from burnish.engine.imageio.write import create_temp, remove_quietly

        work_path.parent.mkdir(parents=True, exist_ok=True)
        staged, file = create_temp(work_path)
        try:
            with file, open(source, "rb") as copied:
                shutil.copyfileobj(copied, file)
        except BaseException:
            remove_quietly(staged)
            raise
        return Path(staged)


_VERSION_COLUMNS = ("number, parent, op, params_json, result_sha256, result_ext, seconds, "
                    "created, note, model_json")
