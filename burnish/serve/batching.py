"""Dynamic batching: tiles from concurrent requests share model calls (Triton's model).

Every request runs the engine's own code in a worker thread, and its tile scheduler calls
``runner.infer(batch)`` as it would in the CLI. In the server that runner is a
:class:`BatchedRunner`: the call is queued, and one thread per model takes what is queued,
waiting at most ``max_wait`` after the first item for more, and runs up to ``max_batch``
tiles of one shape in one model call. Each caller gets its own rows of the result back.

A tile's pixels do not depend on what it was batched with (batch items are independent;
on ONNX Runtime's CPU provider the results are bit-identical, which the tests check), so
responses stay equal to the CLI's bytes. A merged call that fails is retried item by item,
so one request's bad tile (a model producing NaN) fails that request alone.

Cancellation: a request's :class:`Ticket` is set in a context variable of its worker thread
(the engine's own threads run in their caller's context); a cancelled ticket's queued tiles
are dropped and its waiting call raises :class:`Cancelled` at once.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from burnish.models.runner import Runner


class Cancelled(Exception):
    """The request this work belongs to was cancelled (client gone, or timed out)."""


@dataclass
class Ticket:
    """One request's handle on its work: cancel it and its remaining tiles are dropped."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    reason: str = "cancelled"
    tiles: int = 0  # tiles of this request the model has run (a job's progress)

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self.cancelled.set()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled(self.reason)


CURRENT_TICKET: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar(
    "burnish_serve_ticket", default=None)


@dataclass
class _Item:
    batch: np.ndarray
    ticket: Ticket | None
    future: Future


_STOP = object()


class BatchedRunner(Runner):
    """A :class:`Runner` whose calls from many threads are gathered into shared model calls.

    ``on_call(tiles, seconds)`` is told of every model call (metrics). ``max_batch = 1``
    turns batching off: calls still go through the one model thread, one at a time.
    """

    def __init__(self, runner: Runner, *, max_batch: int, max_wait: float,
                 on_call: Callable[[int, float], None] | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.runner = runner
        self.descriptor = runner.descriptor
        self.max_batch, self.max_wait = max_batch, max_wait
        self._on_call = on_call
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name=f"burnish-batcher-{runner.descriptor.name}")
        self._thread.start()

    @property
    def device(self) -> str:
        return self.runner.device

    def unwrapped(self) -> Runner:
        return self.runner

    def infer(self, batch: np.ndarray) -> np.ndarray:
        ticket = CURRENT_TICKET.get()
        if ticket is not None:
            ticket.check()
        if self._closed:
            raise RuntimeError("the model is closed")
        item = _Item(np.ascontiguousarray(batch), ticket, Future())
        self._queue.put(item)
        while True:  # wake now and then: a cancelled request stops waiting at once
            try:
                out = item.future.result(timeout=0.05)
                if ticket is not None:
                    ticket.tiles += batch.shape[0]
                return out
            except TimeoutError:
                if ticket is not None and ticket.cancelled.is_set():
                    item.future.cancel()
                    ticket.check()

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:  # infer() is overridden
        raise NotImplementedError

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self.runner.close()

    # -- the model thread -------------------------------------------------------------------

    def _serve(self) -> None:
        held: list[_Item] = []  # taken from the queue, of another shape than the last call
        while True:
            first = held.pop(0) if held else self._queue.get()
            if first is _STOP:
                return
            group, tiles = [first], first.batch.shape[0]
            deadline = time.monotonic() + self.max_wait
            while tiles < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    held.append(item)
                    break
                if (item.batch.shape[1:] == first.batch.shape[1:]
                        and tiles + item.batch.shape[0] <= self.max_batch):
                    group.append(item)
                    tiles += item.batch.shape[0]
                else:
                    held.append(item)
                    if len(held) >= self.max_batch:
                        break
            self._run(group)

    def _run(self, group: list[_Item]) -> None:
        group = [item for item in group if self._wanted(item)]
        if group:
            self._call(group)

    def _call(self, group: list[_Item]) -> None:
        started = time.perf_counter()
        try:
            merged = (group[0].batch if len(group) == 1
                      else np.concatenate([item.batch for item in group]))
            out = self.runner.infer(merged)
        except BaseException as error:  # noqa: BLE001 - handed to the callers
            if len(group) == 1:
                group[0].future.set_exception(error)
            else:  # each alone: one request's failure stays its own
                for item in group:
                    self._call([item])
            return
        self._called(merged.shape[0], time.perf_counter() - started)
        offset = 0
        for item in group:
            count = item.batch.shape[0]
            if not item.future.done():
                item.future.set_result(out[offset: offset + count])
            offset += count

    def _wanted(self, item: _Item) -> bool:
        """False for an item whose request was cancelled (its tiles are dropped)."""
        if item.future.cancelled():
            return False
        if item.ticket is not None and item.ticket.cancelled.is_set():
            item.future.cancel()
            return False
        return item.future.set_running_or_notify_cancel()

    def _called(self, tiles: int, seconds: float) -> None:
        if self._on_call is not None:
            self._on_call(tiles, seconds)
