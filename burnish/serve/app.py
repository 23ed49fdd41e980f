"""The HTTP side of ``burnish serve``: Starlette routes over a :class:`Service`.

Every handler is thin: it checks the token, admits the request (or refuses it with 429 at
once), stores the upload in the request's own folder (within the upload limit), hands the
work to a worker thread and waits for it without blocking the event loop, watching for the
client going away and for the request's timeout (either cancels the work: its remaining
tiles are dropped). Errors are one-line JSON, ``{"error": "..."}``, with a 4xx status for
anything the client can fix; a 5xx only for a bug, logged with its traceback, never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import mimetypes
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from burnish.errors import BurnishError
from burnish.serve import workspace_routes
from burnish.serve.batching import Cancelled, Ticket
from burnish.serve.errors import HttpError, describe_error
from burnish.serve.openapi import openapi_document
from burnish.serve.service import SUFFIXES, Output, Service

log = logging.getLogger(__name__)

IMAGE_FIELDS = ("image", "file")
# PatchMatch's largest patch side for a request: each side opens a filler of its own, kept
# warm, and larger patches cost quadratically more (the CLI has no such bound).
MAX_PATCH = 31
# Fields that may be repeated (or hold several values split by ';').
LIST_FIELDS = ("box", "boxes", "polygon", "polygons")
_CHUNK = 1 << 20


class _Gone(Exception):
    """The client went away before its answer: nothing is sent."""


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(service: Service) -> Starlette:
    """The ASGI application; the service's models warm in a thread from startup on."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.start_warming()
        try:
            yield
        finally:
            service.close()

    def route(path, endpoint, methods, name):
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            response = await _answer(service, request, endpoint)
            service.metrics.latency.labels(name, str(response.status_code)).observe(
                time.perf_counter() - started)
            return response
        return Route(path, handle, methods=methods, name=name)

    routes = [
        route("/v1/upscale", _upscale, ["POST"], "upscale"),
        route("/v1/remove", _remove, ["POST"], "remove"),
        route("/v1/recipes/{name}", _run_recipe, ["POST"], "recipe"),
        route("/v1/jobs", _new_job, ["POST"], "jobs"),
        route("/v1/jobs/{id}", _job_status, ["GET"], "job"),
        route("/v1/jobs/{id}", _delete_job, ["DELETE"], "job_delete"),
        route("/v1/jobs/{id}/events", _job_events, ["GET"], "job_events"),
        route("/v1/jobs/{id}/result", _job_result, ["GET"], "job_result"),
        route("/v1/models", _models, ["GET"], "models"),
        route("/v1/recipes", _recipes, ["GET"], "recipes"),
        route("/healthz", _healthz, ["GET"], "healthz"),
        route("/readyz", _readyz, ["GET"], "readyz"),
        route("/metrics", _metrics, ["GET"], "metrics"),
        route("/openapi.json", _openapi, ["GET"], "openapi"),
        *(route(r.path, r.endpoint, r.methods, r.name) for r in workspace_routes.routes()),
    ]

    async def not_found(request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, exc.detail or "not found")

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: not_found})


# Routes that answer without a token (probes, and the page's own files: they hold no data).
OPEN_ROUTES = ("/healthz", "/readyz", *workspace_routes.OPEN_PATHS)


def _open(path: str) -> bool:
    return path in OPEN_ROUTES or path.startswith(workspace_routes.OPEN_PREFIXES)


async def _answer(service: Service, request: Request, endpoint) -> Response:
    try:
        if not _open(request.url.path):
            _check_token(service, request)
        return await endpoint(service, request)
    except _Gone:
        service.metrics.errors.labels("client_gone").inc()
        return Response(status_code=499)
    except Exception as error:  # noqa: BLE001 - every failure is one JSON line
        status, message, headers = describe_error(error)
        service.metrics.errors.labels(_kind(error, status)).inc()
        return error_response(status, message, headers)


def _kind(error: BaseException, status: int) -> str:
    """The errors metric's label: the error's class for the engine's errors, else the status."""
    return type(error).__name__ if isinstance(error, BurnishError) else str(status)


def _check_token(service: Service, request: Request) -> None:
    token = service.config.token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                              token.encode()):
        raise HttpError(401, "a valid bearer token is needed (Authorization: Bearer ...)",
                        {"WWW-Authenticate": "Bearer"})


# ---- uploads ------------------------------------------------------------------------------

def _limited(request: Request, limit: int) -> Request:
    """The request, its body refused past ``limit`` bytes (413) however it is sent."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"the upload is larger than the limit of {limit:,} bytes")
    seen = 0
    receive = request.receive

    async def limited_receive():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HttpError(413, f"the upload is larger than the limit of {limit:,} bytes")
        return message

    return Request(request.scope, limited_receive)


class _Upload:
    """A request's inputs, stored in its folder: the image (raw body or a multipart part),
    an optional mask part, and the form's or query's fields."""

    def __init__(self, image: Path, shown_name: str, fields: dict, mask: Path | None):
        self.image, self.shown_name, self.fields, self.mask = image, shown_name, fields, mask


async def _receive_upload(service: Service, request: Request, folder: Path,
                          with_mask: bool = False) -> _Upload:
    request = _limited(request, service.config.max_upload_bytes)
    fields = {key: request.query_params.getlist(key) if key in LIST_FIELDS else value
              for key, value in request.query_params.items()}
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            return await _receive_form(request, folder, fields, with_mask)
        raw = folder / "upload"
        with raw.open("wb") as file:
            async for chunk in request.stream():
                file.write(chunk)
    except ClientDisconnect:
        raise _Gone() from None
    return _Upload(_named_by_content(raw, "image", "image"), fields.get("name") or "image",
                   fields, None)


async def _receive_form(request: Request, folder: Path, fields: dict, with_mask: bool):
    from starlette.formparsers import MultiPartException

    try:
        form = await request.form(max_files=2, max_fields=64)
    except MultiPartException as error:
        raise HttpError(400, f"bad multipart body: {error.message}") from None
    try:
        files = {key: value for key, value in form.multi_items()
                 if isinstance(value, UploadFile)}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                continue
            if key in LIST_FIELDS:
                fields.setdefault(key, []).append(value)
            else:
                fields[key] = value
        image_part = next((files[key] for key in IMAGE_FIELDS if key in files), None)
        if image_part is None:
            raise HttpError(400, "the multipart body has no 'image' file part")
        image = await _store_part(image_part, folder / "upload")
        shown = Path(image_part.filename or "image").name or "image"
        mask = None
        if with_mask and "mask" in files:
            mask = _named_by_content(await _store_part(files["mask"], folder / "mask-upload"),
                                     "mask", "mask")
        elif "mask" in files:
            raise HttpError(400, "a mask part is only for /v1/remove")
        return _Upload(_named_by_content(image, Path(shown).stem or "image", "image"), shown,
                       fields, mask)
    finally:
        await form.close()


async def _store_part(part: UploadFile, path: Path) -> Path:
    with path.open("wb") as file:
        while chunk := await part.read(_CHUNK):
            file.write(chunk)
    return path


def _named_by_content(path: Path, stem: str, what: str) -> Path:
    """The upload renamed with the suffix its first bytes name: formats are sniffed, never
    taken from a client's file name or content type."""
    from burnish.engine.imageio.read import _sniff

    with path.open("rb") as file:
        head = file.read(16)
    if not head:
        raise HttpError(400, f"the {what} is empty")
    fmt = _sniff(head)
    if fmt is None:
        raise HttpError(415, f"the {what} is not a PNG, JPEG, TIFF or WebP file")
    safe_stem = "".join(c for c in stem if c.isalnum() or c in "-_")[:64] or what
    named = path.with_name(safe_stem + SUFFIXES[fmt])
    path.rename(named)
    return named


# ---- running work -------------------------------------------------------------------------

async def _run(service: Service, request: Request, slot, work) -> Output:
    """``work(ticket)`` in a worker thread; cancelled when the client goes or the timeout
    passes (504). The work holds the admission ``slot`` from now on and frees it when it
    ends (at once if it was cancelled before it started)."""
    ticket = Ticket()
    future = asyncio.wrap_future(service.submit(lambda: work(ticket), ticket, slot))
    deadline = time.monotonic() + service.config.timeout
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.05)
            if done:
                break
            if await request.is_disconnected():
                ticket.cancel("the client went away")
                raise _Gone()
            if time.monotonic() > deadline:
                ticket.cancel("timed out")
                raise HttpError(504, f"timed out after {service.config.timeout:g} s")
        try:
            return future.result()
        except Cancelled as error:
            raise HttpError(504, str(error)) from None
    except BaseException:
        future.add_done_callback(_discard_output)
        raise


def _discard_output(future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().discard()


async def _admitted(service: Service, request: Request, handle) -> Response:
    """Admit the request (429 at once when full), then ``handle(folder)``; the request's
    folder is removed after the answer is sent, or at once on an error."""
    slot = service.admit()
    folder = None
    try:
        folder = service.new_folder()
        return await handle(folder, slot)
    except BaseException:
        slot.release_unless_handed()
        if folder is not None:
            Output(folder, folder).discard()
        raise


def _file_response(output: Output, headers: dict | None = None,
                   keep: bool = False) -> FileResponse:
    """The result file, streamed; removed after it is sent unless ``keep`` (a job's result,
    kept until it expires or is deleted)."""
    media_type = mimetypes.guess_type(output.path.name)[0] or "application/octet-stream"
    headers = dict(headers or {})
    if output.note:
        headers["X-Burnish-Note"] = output.note.encode("ascii", "replace").decode()
    return FileResponse(output.path, media_type=media_type, headers=headers,
                        filename=output.path.name, content_disposition_type="inline",
                        background=None if keep else BackgroundTask(output.discard))


# ---- routes -------------------------------------------------------------------------------

def _int(fields: dict, name: str, default, low: int | None = None, high: int | None = None):
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"{name} must be an integer, not {value!r}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise HttpError(400, f"{name} must be {bounds}, not {number}")
    return number


def _float(fields: dict, name: str, default: float, low: float = 0.0) -> float:
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HttpError(400, f"{name} must be a number, not {value!r}") from None
    if not number >= low:
        raise HttpError(400, f"{name} must be at least {low:g}")
    return number


def _bool(fields: dict, name: str, default: bool) -> bool:
    value = fields.get(name)
    if value is None or value == "":
        return default
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise HttpError(400, f"{name} must be true or false, not {value!r}")


# ---- the kinds of work: each reads its options from the upload, then is run as a quick
# request (its answer is the result) or as a job (its result is kept for the client) -------

def _upscale_work(service: Service, upload: _Upload, folder: Path):
    f = upload.fields
    options = {"model": f.get("model") or None, "scale": _int(f, "scale", 4, 1, 16),
               "tile": _int(f, "tile", None, 0), "output_format": f.get("format") or None,
               "quality": _int(f, "quality", 95, 1, 100)}
    return lambda ticket, progress: service.upscale(upload.image, folder, ticket=ticket,
                                                    progress=progress, **options)


def _remove_work(service: Service, upload: _Upload, folder: Path):
    from burnish.engine.removal.object_removal import MaskSpec

    f = upload.fields
    masks = MaskSpec(mask_file=upload.mask, boxes=_listed(f, "boxes", "box"),
                     polygons=_listed(f, "polygons", "polygon"),
                     alpha=_bool(f, "alpha", False), key=f.get("key") or None,
                     key_tolerance=_float(f, "key_tolerance", 12.0))
    options = {"method": f.get("method") or "patchmatch",
               "dilate": _int(f, "dilate", 4, 0), "feather": _float(f, "feather", 4.0),
               "harmonize": _bool(f, "harmonize", True), "seed": _int(f, "seed", 0, 0),
               "patch": _int(f, "patch", 7, 3, MAX_PATCH), "output_format": f.get("format") or None,
               "quality": _int(f, "quality", 95, 1, 100)}
    return lambda ticket, progress: service.remove(upload.image, folder, masks, ticket=ticket,
                                                   progress=progress, **options)


def _recipe_work(service: Service, upload: _Upload, folder: Path, name: str):
    return lambda ticket, progress: service.run_recipe(name, upload.image, folder,
                                                       shown_name=upload.shown_name)


def _listed(fields: dict, plural: str, singular: str) -> tuple[str, ...]:
    """Boxes or polygons: repeated fields (either name), each value split on ';'."""
    values = [*fields.get(plural, ()), *fields.get(singular, ())]
    return tuple(part.strip() for item in values for part in str(item).split(";")
                 if part.strip())


def _recipe_name(service: Service, name: str) -> str:
    try:
        service.recipe(name)
    except LookupError as error:
        raise HttpError(404, str(error)) from None
    return name


def _planned(service: Service, kind: str, upload: _Upload, folder: Path, recipe: str | None):
    if kind == "upscale":
        return _upscale_work(service, upload, folder)
    if kind == "remove":
        return _remove_work(service, upload, folder)
    return _recipe_work(service, upload, folder, recipe)


async def _quick(service: Service, request: Request, kind: str,
                 recipe: str | None = None) -> Response:
    """A request answered with its result."""
    async def handle(folder: Path, slot) -> Response:
        upload = await _receive_upload(service, request, folder, with_mask=kind == "remove")
        work = _planned(service, kind, upload, folder, recipe)
        output = await _run(service, request, slot, lambda ticket: work(ticket, None))
        return _file_response(output, _sidecar_header(output))

    return await _admitted(service, request, handle)


def _sidecar_header(output: Output) -> dict:
    if output.sidecar is None:
        return {}
    return {"X-Burnish-Sidecar": json.dumps(output.sidecar, separators=(",", ":"),
                                            ensure_ascii=True)}


async def _upscale(service: Service, request: Request) -> Response:
    return await _quick(service, request, "upscale")


async def _remove(service: Service, request: Request) -> Response:
    return await _quick(service, request, "remove")


async def _run_recipe(service: Service, request: Request) -> Response:
    name = _recipe_name(service, request.path_params["name"])
    return await _quick(service, request, "recipe", name)


# ---- jobs ----------------------------------------------------------------------------------

JOB_KINDS = ("upscale", "remove", "recipe")


async def _new_job(service: Service, request: Request) -> Response:
    fields = request.query_params
    kind = fields.get("kind", "upscale")
    if kind not in JOB_KINDS:
        raise HttpError(400, f"kind must be one of {', '.join(JOB_KINDS)}")
    recipe = _recipe_name(service, fields.get("recipe", "")) if kind == "recipe" else None
    job = service.jobs.new(kind)
    try:
        upload = await _receive_upload(service, request, job.folder,
                                       with_mask=kind == "remove")
        service.jobs.check_space(job)
        work = _planned(service, kind, upload, job.folder, recipe)
    except BaseException:
        service.jobs.remove(job.id)
        raise
    service.submit_job(job, work)
    return JSONResponse(job.describe(), status_code=202,
                        headers={"Location": f"/v1/jobs/{job.id}"})


def _job(service: Service, request: Request):
    job = service.jobs.get(request.path_params["id"])
    if job is None:
        raise HttpError(404, "no such job (never made, deleted, or expired)")
    return job


async def _job_status(service: Service, request: Request) -> Response:
    return JSONResponse(_job(service, request).describe())


async def _job_events(service: Service, request: Request) -> Response:
    """Server-Sent Events: the job's state on every change (``progress``), then one event
    named by how it ended (``done``, ``failed`` or ``cancelled``); a comment every 15 s keeps
    idle connections open."""
    from burnish.serve.jobs import ENDED

    job = _job(service, request)

    async def events():
        seen, quiet_since = -1, time.monotonic()
        while True:
            version, state = job.version, job.describe()
            if version != seen or job.status in ENDED:
                seen, quiet_since = version, time.monotonic()
                name = job.status if job.status in ENDED else "progress"
                yield f"event: {name}\ndata: {json.dumps(state)}\n\n"
                if job.status in ENDED:
                    return
            elif time.monotonic() - quiet_since > 15:
                quiet_since = time.monotonic()
                yield ": still running\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.1)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _job_result(service: Service, request: Request) -> Response:
    from burnish.serve.jobs import CANCELLED, DONE, FAILED

    job = _job(service, request)
    if job.status == DONE:
        output = Output(job.output, job.folder, sidecar=job.sidecar, note=job.note)
        return _file_response(output, _sidecar_header(output), keep=True)
    if job.status == FAILED:
        return error_response(job.error_status or 500, job.error)
    if job.status == CANCELLED:
        raise HttpError(410, "the job was cancelled")
    raise HttpError(409, f"the job is {job.status}; its events say when it is done",
                    {"Retry-After": "1"})


async def _delete_job(service: Service, request: Request) -> Response:
    job = _job(service, request)
    service.jobs.cancel(job.id)
    return JSONResponse({"id": job.id, "deleted": True})


async def _models(service: Service, request: Request) -> Response:
    from burnish.models.registry import DEFAULT_MODEL, shipped_models

    shipped = shipped_models()
    models = []
    for name in service.models:
        d = shipped.get(name)
        models.append({"name": name, "default": name == DEFAULT_MODEL,
                       "scale": d.scale if d else None,
                       "architecture": d.architecture if d else None,
                       "shipped": name in shipped or name == "lanczos"})
    return JSONResponse({"models": models})


async def _recipes(service: Service, request: Request) -> Response:
    return JSONResponse({"recipes": [
        {"name": name, "steps": [step.op.name for step in recipe.steps],
         "sha256": recipe.sha256} for name, recipe in service.recipes.items()]})


async def _healthz(service: Service, request: Request) -> Response:
    return JSONResponse({"alive": True})


async def _readyz(service: Service, request: Request) -> Response:
    if service.ready.is_set():
        return JSONResponse({"ready": True})
    body = {"ready": False, "error": service.warm_error or "warming up"}
    return JSONResponse(body, status_code=503)


async def _metrics(service: Service, request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _openapi(service: Service, request: Request) -> Response:
    return JSONResponse(openapi_document())
