"""Asynchronous jobs for large images: ``POST /v1/jobs`` answers at once with an id; the work
runs in the jobs' own worker threads (so long jobs never hold the workers of the quick
routes), its progress is read as Server-Sent Events, its result streamed when done.

Uploads and results live in the jobs folder, within a space limit: a job that would pass
it is refused (429, with the time until the oldest result expires as Retry-After). A
finished job's files are kept for the expiry time, then removed; ``DELETE`` cancels a
job (its remaining tiles are dropped) and removes its files at once.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from burnish.serve.batching import Cancelled, Ticket
from burnish.serve.errors import Refused, describe_error

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)


class JobSpaceFull(Refused):
    """The jobs' folder holds as much as it may: refused until results expire (429)."""

    def __init__(self, retry_after: int):
        super().__init__("the jobs' space is full; retry when results expire", retry_after)


@dataclass
class Job:
    id: str
    kind: str
    folder: Path
    ticket: Ticket = field(default_factory=Ticket)
    status: str = QUEUED
    done: int = 0
    total: int | None = None
    error: str | None = None
    error_status: int | None = None
    output: Path | None = None
    sidecar: dict | None = None
    note: str | None = None
    created: float = field(default_factory=time.time)
    ended: float | None = None
    version: int = 0  # bumped on every change: what an event stream waits on

    def describe(self) -> dict:
        # tiles counted by the model's calls when the work reports no progress (recipes)
        progress = {"done": self.done or self.ticket.tiles, "total": self.total}
        body = {"id": self.id, "kind": self.kind, "status": self.status, "progress": progress,
                "events": f"/v1/jobs/{self.id}/events", "result": f"/v1/jobs/{self.id}/result"}
        if self.error is not None:
            body["error"] = self.error
        if self.note is not None:
            body["note"] = self.note
        return body


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class JobStore:
    """The jobs, their files and their space; safe to use from any thread."""

    def __init__(self, folder: Path, *, space_bytes: int, expiry: float, max_active: int):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.space_bytes, self.expiry, self.max_active = space_bytes, expiry, max_active
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def new(self, kind: str) -> Job:
        """A job with its own folder, after expired jobs are cleared; refused (429) when
        ``max_active`` jobs are queued or running."""
        self.expire()
        job_id = secrets.token_urlsafe(12)
        job = Job(job_id, kind, self.folder / job_id)
        with self._lock:
            if sum(j.status not in ENDED for j in self._jobs.values()) >= self.max_active:
                raise Refused("too many jobs queued or running; retry later", retry_after=5)
            self._jobs[job_id] = job
        job.folder.mkdir()
        return job

    def check_space(self, job: Job) -> None:
        """Refuse (and forget) ``job`` if its upload puts the jobs past their space."""
        if self.used_bytes() <= self.space_bytes:
            return
        self.remove(job.id)
        with self._lock:
            ends = [j.ended for j in self._jobs.values() if j.ended is not None]
        wait = (min(ends) + self.expiry - time.time()) if ends else self.expiry
        raise JobSpaceFull(retry_after=max(1, round(wait)))

    def used_bytes(self) -> int:
        with self._lock:
            folders = [job.folder for job in self._jobs.values()]
        return sum(folder_bytes(folder) for folder in folders if folder.exists())

    def get(self, job_id: str) -> Job | None:
        self.expire()
        with self._lock:
            return self._jobs.get(job_id)

    def update(self, job: Job, **changes) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            job.version += 1

    def run(self, job: Job, work: Callable[[Job], object]) -> None:
        """``work(job)`` (in a jobs' worker thread): its result's output, sidecar and note
        become the job's, or its error the job's error."""
        if job.ticket.cancelled.is_set():
            return
        self.update(job, status=RUNNING)
        try:
            output = work(job)
        except Cancelled:
            self.update(job, status=CANCELLED, ended=time.time())
        except BaseException as error:  # noqa: BLE001 - the job's error, for its client
            status, message, _ = describe_error(error)
            self.update(job, status=FAILED, error=message, error_status=status,
                        ended=time.time())
        else:
            self.update(job, status=DONE, output=output.path, sidecar=output.sidecar,
                        note=output.note, done=job.total or job.done, ended=time.time())

    def cancel(self, job_id: str) -> bool:
        """Cancel a job (its remaining tiles are dropped) and remove its files."""
        job = self.get(job_id)
        if job is None:
            return False
        job.ticket.cancel("the job was deleted")
        if job.status not in ENDED:
            self.update(job, status=CANCELLED, ended=time.time())
        self.remove(job_id)
        return True

    def remove(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def expire(self) -> None:
        """Remove the jobs that ended more than the expiry time ago."""
        now = time.time()
        with self._lock:
            old = [job_id for job_id, job in self._jobs.items()
                   if job.ended is not None and now - job.ended > self.expiry]
        for job_id in old:
            self.remove(job_id)

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.ticket.cancel("the server is stopping")
        shutil.rmtree(self.folder, ignore_errors=True)
