"""Dynamic batching: concurrent calls share model calls, each caller gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from burnish.errors import ModelError
from burnish.models.descriptor import ModelDescriptor
from burnish.models.runner import Runner
from burnish.serve.batching import CURRENT_TICKET, BatchedRunner, Cancelled, Ticket


class RecordingRunner(Runner):
    """x2 nearest upscale plus the tile's index marker; records each call's batch size;
    refuses (ModelError) any batch holding a tile whose first pixel is negative."""

    def __init__(self, delay: float = 0.0):
        self.descriptor = ModelDescriptor(name="recording", scale=2, halo=0)
        self.calls: list[int] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def _infer_impl(self, batch):
        self.gate.wait()
        time.sleep(self.delay)
        self.calls.append(batch.shape[0])
        if (batch[:, 0, 0, 0] < 0).any():
            raise ModelError("refused a poisoned tile")
        return np.repeat(np.repeat(batch, 2, axis=2), 2, axis=3)


def _call_concurrently(runner, batches):
    results, errors = [None] * len(batches), [None] * len(batches)
    start = threading.Barrier(len(batches))

    def call(i):
        start.wait()
        try:
            results[i] = runner.infer(batches[i])
        except Exception as error:  # noqa: BLE001 - checked by the test
            errors[i] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def _tiles(rng, count, size=8):
    return [rng.random((1, 3, size, size), dtype=np.float32) for _ in range(count)]


def test_concurrent_calls_share_model_calls_and_get_their_own_rows(rng):
    inner = RecordingRunner(delay=0.02)
    runner = BatchedRunner(inner, max_batch=4, max_wait=0.2)
    try:
        tiles = _tiles(rng, 8)
        results, errors = _call_concurrently(runner, tiles)
    finally:
        runner.close()
    assert errors == [None] * 8
    for tile, result in zip(tiles, results):
        np.testing.assert_array_equal(result, np.repeat(np.repeat(tile, 2, axis=2), 2, axis=3))
    assert sum(inner.calls) == 8
    assert max(inner.calls) <= 4
    assert len(inner.calls) < 8  # some calls were shared


def test_no_batching_with_max_batch_one(rng):
    inner = RecordingRunner()
    runner = BatchedRunner(inner, max_batch=1, max_wait=0.05)
    try:
        _, errors = _call_concurrently(runner, _tiles(rng, 5))
    finally:
        runner.close()
    assert errors == [None] * 5
    assert inner.calls == [1] * 5


def test_tiles_of_other_shapes_are_not_merged(rng):
    inner = RecordingRunner()
    runner = BatchedRunner(inner, max_batch=8, max_wait=0.2)
    try:
        batches = _tiles(rng, 3, size=8) + _tiles(rng, 3, size=12)
        results, errors = _call_concurrently(runner, batches)
    finally:
        runner.close()
    assert errors == [None] * 6
    assert [r.shape[2] for r in results] == [16, 16, 16, 24, 24, 24]
    assert sum(inner.calls) == 6 and len(inner.calls) >= 2


def test_a_failing_tile_fails_only_its_caller(rng):
    inner = RecordingRunner()
    runner = BatchedRunner(inner, max_batch=4, max_wait=0.2)
    tiles = _tiles(rng, 4)
    tiles[2] = -tiles[2]
    try:
        results, errors = _call_concurrently(runner, tiles)
    finally:
        runner.close()
    assert isinstance(errors[2], ModelError)
    for i in (0, 1, 3):
        assert errors[i] is None
        np.testing.assert_array_equal(results[i],
                                      np.repeat(np.repeat(tiles[i], 2, axis=2), 2, axis=3))


def test_a_cancelled_request_stops_waiting_and_its_queued_tiles_are_dropped(rng):
    inner = RecordingRunner()
    inner.gate.clear()  # the model thread blocks in its first call
    runner = BatchedRunner(inner, max_batch=1, max_wait=0.0)
    first = threading.Thread(target=runner.infer, args=(_tiles(rng, 1)[0],))
    first.start()
    time.sleep(0.1)
    ticket = Ticket()
    outcome = {}

    def cancelled_call():
        CURRENT_TICKET.set(ticket)
        try:
            runner.infer(_tiles(rng, 1)[0])
        except Cancelled as error:
            outcome["error"] = error

    second = threading.Thread(target=cancelled_call)
    second.start()
    time.sleep(0.1)
    ticket.cancel("the client went away")
    second.join(timeout=5)
    assert not second.is_alive() and "client went away" in str(outcome["error"])
    inner.gate.set()
    first.join(timeout=5)
    runner.close()
    assert inner.calls == [1]  # the cancelled tile never reached the model


def test_a_cancelled_ticket_refuses_new_calls(rng):
    runner = BatchedRunner(RecordingRunner(), max_batch=2, max_wait=0.0)
    ticket = Ticket()
    ticket.cancel("timed out")
    CURRENT_TICKET.set(ticket)
    try:
        with pytest.raises(Cancelled, match="timed out"):
            runner.infer(_tiles(rng, 1)[0])
    finally:
        CURRENT_TICKET.set(None)
        runner.close()


def test_default_model_batched_equals_alone_bit_for_bit(rng, default_runner):
    """What keeps the server's bytes equal to the CLI's: on ONNX Runtime's CPU provider a
    tile's output does not depend on what it is batched with."""
    batch = rng.random((4, 3, 40, 40), dtype=np.float32)
    together = default_runner.infer(batch)
    alone = np.concatenate([default_runner.infer(batch[i: i + 1]) for i in range(4)])
    np.testing.assert_array_equal(together, alone)


def test_provenance_names_the_wrapped_backend():
    from burnish.engine.recipes.resources import Resources
    from burnish.models.registry import open_model

    wrapped = BatchedRunner(open_model("lanczos", scale=2), max_batch=2, max_wait=0.0)
    try:
        record = Resources(device="cpu").model_record(wrapped)
    finally:
        wrapped.close()
    assert record["backend"] == "pillow" and record["name"] == "lanczos"
