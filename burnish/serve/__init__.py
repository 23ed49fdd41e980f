"""``burnish serve``: the engine behind HTTP, warm and batched (DESIGN.md, "Serving").

| module | what |
| --- | --- |
| :mod:`~burnish.serve.service` | the warm state (models, recipes), the worker pool, admission |
| :mod:`~burnish.serve.batching` | dynamic batching of tiles from concurrent requests; cancellation |
| :mod:`~burnish.serve.app` | the Starlette routes, uploads, limits, errors as one-line JSON |
| :mod:`~burnish.serve.metrics` | Prometheus metrics |
| :mod:`~burnish.serve.openapi` | the OpenAPI document |

Needs the ``serve`` extra (uvicorn, Starlette, python-multipart, prometheus-client).
"""
