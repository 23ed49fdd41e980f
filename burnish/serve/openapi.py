"""The server's OpenAPI 3.1 document (``GET /openapi.json``): every route, its fields and
its answers. Written out, not generated: the routes take raw or multipart image bodies,
which a schema generator would not describe."""

from __future__ import annotations

from burnish import __version__

_ERROR = {"description": "A one-line error", "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
_IMAGE_OUT = {"description": "The result image (the bytes the CLI writes for the same input "
              "and options)", "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {},
                                          "image/tiff": {}}}
_ERRORS = {
    "400": {**_ERROR, "description": "A bad option or request body"},
    "401": {**_ERROR, "description": "Missing or wrong bearer token (servers with --token)"},
    "413": {**_ERROR, "description": "The upload or the image is over the server's limits"},
    "415": {**_ERROR, "description": "The body is not a PNG, JPEG, TIFF or WebP file"},
    "422": {**_ERROR, "description": "The image cannot be read (truncated, corrupt)"},
    "429": {**_ERROR, "description": "The queue is full; see Retry-After (seconds)"},
    "504": {**_ERROR, "description": "The request ran past the server's timeout"},
}


def _field(name: str, kind: str, text: str, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": {"type": kind, **extra}}


_COMMON = [
    _field("format", "string", "Output format (default: the input's).",
           enum=["png", "jpeg", "webp", "tiff"]),
    _field("quality", "integer", "JPEG and WebP quality.", minimum=1, maximum=100, default=95),
]
_BODY = {"required": True, "description": "The image as the raw body (any image content "
         "type), or multipart/form-data with an 'image' file part (and, for /v1/remove, a "
         "'mask' part); options may be form fields instead of query parameters.",
         "content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}},
                     "multipart/form-data": {"schema": {"type": "object", "properties": {
                         "image": {"type": "string", "format": "binary"},
                         "mask": {"type": "string", "format": "binary"}}}}}}


_JOB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _post(summary: str, parameters: list, extra_responses: dict | None = None) -> dict:
    return {"post": {"summary": summary, "parameters": parameters, "requestBody": _BODY,
                     "responses": {"200": _IMAGE_OUT, **_ERRORS, **(extra_responses or {})}}}


def _get(summary: str, description: str) -> dict:
    return {"get": {"summary": summary, "responses": {"200": {"description": description}}}}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "burnish serve", "version": __version__,
                 "description": "Upscaling, object removal and recipes over HTTP, with "
                 "dynamic batching, a bounded queue (429 when full) and Prometheus metrics."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/upscale": _post("Upscale an image (burnish upscale)", [
                _field("model", "string", "A model from GET /v1/models (default: the "
                       "shipped default)."),
                _field("scale", "integer", "Output scale.", minimum=1, maximum=16, default=4),
                _field("tile", "integer", "Tile size in input pixels (0: no tiling).",
                       minimum=0), *_COMMON]),
            "/v1/remove": _post("Remove objects and fill the hole (burnish remove)", [
                _field("box", "string", "x,y,w,h in pixels; repeat, or separate with ';'."),
                _field("polygon", "string", "'x1,y1 x2,y2 ...'; repeat, or separate with ';'."),
                _field("alpha", "boolean", "Fill where the image is more than half "
                       "transparent."),
                _field("key", "string", "Remove this colour (#rrggbb or r,g,b)."),
                _field("key_tolerance", "number", "0-255 per channel.", default=12.0),
                _field("method", "string", "Hole filler.", enum=["patchmatch", "telea"]),
                _field("dilate", "integer", "Grow the mask first (pixels).", default=4),
                _field("feather", "number", "Soft edge (pixels).", default=4.0),
                _field("harmonize", "boolean", "Match the fill's colour and grain.",
                       default=True),
                _field("patch", "integer", "PatchMatch patch side (odd).", default=7),
                _field("seed", "integer", "The same seed gives the same bytes.", default=0),
                *_COMMON]),
            "/v1/recipes/{name}": _post(
                "Run a recipe from the server's --recipes folder (burnish run); the sidecar "
                "is in the X-Burnish-Sidecar header (JSON)",
                [{"name": "name", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"}},
                 _field("name", "string", "The input's file name for the sidecar (multipart "
                        "bodies give it with the part).")],
                {"404": {**_ERROR, "description": "No recipe of that name"}}),
            "/v1/jobs": {"post": {
                "summary": "Start a job for a large image: 202 with its id and links at once",
                "parameters": [_field("kind", "string", "What to run (the options of its "
                                      "route apply).", enum=["upscale", "remove", "recipe"],
                                      default="upscale"),
                               _field("recipe", "string", "The recipe, for kind=recipe.")],
                "requestBody": _BODY,
                "responses": {"202": {"description": "{id, status, progress, events, result}"},
                              **_ERRORS}}},
            "/v1/jobs/{id}": {
                "get": {"summary": "A job's state", "parameters": [_JOB_ID],
                        "responses": {"200": {"description": "{id, status, progress, ...}"},
                                      "404": _ERROR}},
                "delete": {"summary": "Cancel a job (its remaining tiles are dropped) and "
                           "remove its files", "parameters": [_JOB_ID],
                           "responses": {"200": {"description": "{id, deleted: true}"},
                                         "404": _ERROR}}},
            "/v1/jobs/{id}/events": {"get": {
                "summary": "Server-Sent Events: 'progress' on every change, then 'done', "
                "'failed' or 'cancelled'", "parameters": [_JOB_ID],
                "responses": {"200": {"description": "text/event-stream"}, "404": _ERROR}}},
            "/v1/jobs/{id}/result": {"get": {
                "summary": "The result, streamed (kept until it expires or is deleted)",
                "parameters": [_JOB_ID],
                "responses": {"200": _IMAGE_OUT, "404": _ERROR,
                              "409": {**_ERROR, "description": "Not done yet"},
                              "410": {**_ERROR, "description": "Cancelled"},
                              "422": {**_ERROR, "description": "The job failed: its error"}}}},
            "/v1/models": _get("The models requests may name", "{models: [...]}"),
            "/v1/recipes": _get("The served recipes", "{recipes: [...]}"),
            "/healthz": _get("Alive (no token needed)", "{alive: true}"),
            "/readyz": _get("Ready: every served model loaded and warmed (no token needed); "
                            "503 until then", "{ready: true}"),
            "/metrics": _get("Prometheus metrics", "Prometheus text format"),
            **_workspace_paths(),
        },
    }


def _workspace_paths() -> dict:
    """The workspace's routes (:mod:`burnish.serve.workspace_routes`), from their table."""
    from burnish.serve.workspace_routes import routes

    paths: dict = {}
    for route in routes():
        operation = {"summary": route.summary,
                     "responses": {"200": {"description": "JSON (a tile: PNG; the page: "
                                           "HTML)"}, **_ERRORS}}
        if "{file}" in route.path:
            operation["parameters"] = [{"name": "file", "in": "path", "required": True,
                                        "schema": {"type": "string"}}]
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = operation
    return paths
