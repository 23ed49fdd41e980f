"""The workspace's HTTP side: the page at ``/``, its files at ``/ui/``, and its API at
``/api/``. Long work (a step, an approval) runs as a job of the server's job store, so its
progress is the jobs' Server-Sent Events (``/v1/jobs/ID/events``). Every handler here is
registered through :func:`burnish.serve.app.create_app`'s wrapper: the same token check,
metrics and one-line JSON errors as the rest of the server.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from importlib import resources as package_files
from pathlib import Path
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from burnish.serve.errors import HttpError
from burnish.serve.views import ViewError, difference, encode_png

STATIC = package_files.files("burnish.serve") / "static"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
               ".svg": "image/svg+xml"}
# The page loads only its own files; nothing from any other host (the browser enforces it).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "connect-src 'self'; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}
MAX_JSON_BYTES = 16 * 1024 * 1024


class WorkspaceRoute(NamedTuple):
    path: str
    endpoint: object
    methods: list[str]
    name: str  # the latency metric's label
    summary: str  # for the OpenAPI document


def routes() -> list[WorkspaceRoute]:
    """Every workspace route."""
    return [WorkspaceRoute(*route) for route in [
        ("/", _page, ["GET"], "ui", "The workspace page (no token needed)"),
        ("/ui/{file}", _static, ["GET"], "ui", "The page's script and style (no token needed)"),
        ("/api/workspace", _workspace, ["GET"], "ws_workspace",
         "The images under the root, and the ops and models the page offers"),
        ("/api/upload", _upload, ["POST"], "ws_upload",
         "An image (raw body or multipart 'image') into uploads/ under a new name"),
        ("/api/image", _image, ["GET"], "ws_image",
         "?name=: size, zoom levels, versions and the mask being painted"),
        ("/api/tile", _tile, ["GET"], "ws_tile",
         "?name=&v=&z=&x=&y=[&diff=]: a PNG tile of a version at a zoom level"),
        ("/api/mask", _save_mask, ["PUT"], "ws_mask",
         "?name=, {shapes}: the mask drawn into masks/{stem}.png"),
        ("/api/step", _step, ["POST"], "ws_step",
         "{name, op, params, use_mask}: a step as a job (202; events at /v1/jobs/ID/events)"),
        ("/api/undo", _undo, ["POST"], "ws_undo", "{name}: back to the last step's parent"),
        ("/api/revert", _revert, ["POST"], "ws_revert", "{name, to}: make a version current"),
        ("/api/recipe", _recipe, ["GET"], "ws_recipe", "?name=: the steps as recipe TOML"),
        ("/api/recipe", _save_recipe, ["POST"], "ws_recipe_save",
         "{name, recipe}: save the steps as RECIPE.toml beside the image"),
        ("/api/approve", _approve, ["POST"], "ws_approve",
         "{name}: a job writing the output and its sidecar as burnish run does"),
    ]]


# Pages and their files answer without a token (they hold no data); the API needs it.
OPEN_PREFIXES = ("/ui/",)
OPEN_PATHS = ("/",)


def _static_file(name: str) -> Response:
    path = STATIC / name
    suffix = Path(name).suffix
    if "/" in name or name.startswith(".") or suffix not in MEDIA_TYPES or not path.is_file():
        raise HttpError(404, "not found")
    return Response(path.read_bytes(), media_type=MEDIA_TYPES[suffix],
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


async def _page(service, request: Request) -> Response:
    return _static_file("index.html")


async def _static(service, request: Request) -> Response:
    return _static_file(request.path_params["file"])


def _name(request: Request) -> str:
    name = request.query_params.get("name")
    if not name:
        raise HttpError(400, "name the image: ?name=PATH (relative to the workspace)")
    return name


async def _json(request: Request) -> dict:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise HttpError(413, f"the request body is larger than {MAX_JSON_BYTES:,} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body is a JSON object")
    return data


def _field(data: dict, key: str, kind: type, default=None):
    value = data.get(key, default)
    if value is None or (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise HttpError(400, f"{key!r} must be {'an integer' if kind is int else kind.__name__}")
    return value


async def _in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


async def _workspace(service, request: Request) -> Response:
    from burnish.serve.workspace import PAGE_OPS

    workspace = service.workspace
    images = await _in_thread(workspace.images)
    return JSONResponse({"root": workspace.root.name if not workspace.temporary else None,
                         "images": images, "ops": list(PAGE_OPS),
                         "models": sorted(service.models)})


async def _upload(service, request: Request) -> Response:
    from burnish.serve.app import _receive_upload

    folder = service.new_folder()
    try:
        upload = await _receive_upload(service, request, folder)
        name = await _in_thread(service.workspace.store_upload, upload.image,
                                upload.shown_name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return JSONResponse({"name": name}, status_code=201)


async def _image(service, request: Request) -> Response:
    return JSONResponse(await _in_thread(service.workspace.info, _name(request)))


def _int_query(request: Request, key: str, default: int | None = None) -> int | None:
    text = request.query_params.get(key)
    if text is None or text == "":
        if default is None and key in ("z", "x", "y"):
            raise HttpError(400, f"{key} is needed")
        return default
    try:
        return int(text)
    except ValueError:
        raise HttpError(400, f"{key} must be an integer") from None


async def _tile(service, request: Request) -> Response:
    name = _name(request)
    number = _int_query(request, "v")
    other = _int_query(request, "diff")
    z, x, y = (_int_query(request, key) for key in ("z", "x", "y"))

    def make() -> bytes:
        try:
            pixels = service.workspace.view(name, number).tile_pixels(z, x, y)
            if other is not None:
                pixels = difference(pixels,
                                    service.workspace.view(name, other).tile_pixels(z, x, y))
            return encode_png(pixels)
        except ViewError as error:
            raise HttpError(404, str(error)) from None

    data = await _in_thread(make)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})


async def _save_mask(service, request: Request) -> Response:
    data = await _json(request)
    shapes = _field(data, "shapes", list)
    saved = await _in_thread(service.workspace.save_mask, _name(request), shapes)
    return JSONResponse(saved)


def _version_body(workspace, version) -> dict:
    return {"number": version.number, "summary": workspace.shown(version.summary)}


async def _step(service, request: Request) -> Response:
    """Run one step on the image's current version, as a job (202: its events say when)."""
    data = await _json(request)
    name = _field(data, "name", str)
    op = _field(data, "op", str)
    params = _field(data, "params", dict, {})
    use_mask = _field(data, "use_mask", bool, False)
    workspace = service.workspace
    text = await _in_thread(workspace.step_text, name, op, _named_only(service, op, params),
                            use_mask)

    def work(ticket, progress):
        from burnish.serve.service import Output

        version = workspace.run_step(name, text, on_step=progress, resources=service.resources)
        return Output(version.object, job.folder, sidecar=None,
                      note=workspace.shown(version.summary))

    job = service.jobs.new("workspace-step")
    service.submit_job(job, work)
    return JSONResponse({**job.describe(), "step": workspace.shown(text)}, status_code=202)


def _named_only(service, op: str, params: dict) -> dict:
    """A step's parameters with models by name only (the served ones) and removal by the
    built-in methods: a request never makes the server open a file it names."""
    from burnish.serve.service import REMOVE_METHODS

    if op == "upscale":
        return {**params, "model": service.model_spec(params.get("model"))}
    if op == "remove" and params.get("method", REMOVE_METHODS[0]) not in REMOVE_METHODS:
        raise HttpError(400, f"method must be one of {', '.join(REMOVE_METHODS)}")
    return params


async def _approve(service, request: Request) -> Response:
    data = await _json(request)
    name = _field(data, "name", str)
    workspace = service.workspace
    await _in_thread(workspace.recipe_data, name)  # nothing to approve: refused at once

    def work(ticket, progress):
        from burnish.serve.service import Output

        approved = workspace.approve(name, resources=service.resources)
        return Output(Path(approved["output"]), job.folder, note=approved["name"])

    job = service.jobs.new("workspace-approve")
    service.submit_job(job, work)
    return JSONResponse(job.describe(), status_code=202)


async def _undo(service, request: Request) -> Response:
    data = await _json(request)
    version = await _in_thread(service.workspace.undo, _field(data, "name", str))
    return JSONResponse(_version_body(service.workspace, version))


async def _revert(service, request: Request) -> Response:
    data = await _json(request)
    version = await _in_thread(service.workspace.revert, _field(data, "name", str),
                               _field(data, "to", int))
    return JSONResponse(_version_body(service.workspace, version))


async def _recipe(service, request: Request) -> Response:
    text = await _in_thread(service.workspace.recipe_text, _name(request))
    return Response(text, media_type="application/toml")


async def _save_recipe(service, request: Request) -> Response:
    data = await _json(request)
    saved = await _in_thread(service.workspace.save_recipe, _field(data, "name", str),
                             _field(data, "recipe", str))
    return JSONResponse({"recipe": saved}, status_code=201)
