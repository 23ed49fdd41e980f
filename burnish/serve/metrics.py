"""The server's Prometheus metrics (``GET /metrics``), on a registry of its own per server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

# Seconds: tiles answer in milliseconds, large images in tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)


class Metrics:
    """Latency per route, queue depth, batch sizes, tiles, model time, errors by kind and
    resident memory (the process collector's ``process_resident_memory_bytes``)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.latency = Histogram("burnish_request_seconds", "Time to answer a request.",
                                 ["route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("burnish_queue_depth",
                                 "Requests admitted and not yet answered (queued or running).",
                                 registry=r)
        self.batch_tiles = Histogram("burnish_batch_tiles", "Tiles per model call.",
                                     ["model"], buckets=BATCH_BUCKETS, registry=r)
        self.tiles = Counter("burnish_tiles", "Tiles run through a model.", ["model"],
                             registry=r)
        self.model_seconds = Histogram("burnish_model_seconds", "Time of one model call.",
                                       ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("burnish_errors", "Requests answered with an error, by kind.",
                              ["kind"], registry=r)
        self.refused = Counter("burnish_refused", "Requests refused with 429 (queue full).",
                               registry=r)

    def model_call(self, model: str, tiles: int, seconds: float) -> None:
        self.batch_tiles.labels(model).observe(tiles)
        self.tiles.labels(model).inc(tiles)
        self.model_seconds.labels(model).observe(seconds)
