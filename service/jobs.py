"""Library jobs (upload, delete): a queue run one at a time in a background thread, and its records.

What a job does is not decided here (service/library_jobs.py: parse, then the backend's writer).
Job records are kept in <library_dir>/jobs.json. On start, a job left queued or running by a
stopped service is marked failed.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from index.backends import BackendUnavailable
from index.build import EmbedderUnavailable
from index.ingest import ParseError, atomic_write_json

log = logging.getLogger("policyqa")
MAX_PENDING_JOBS = 8
KEEP_JOBS = 200
INTERRUPTED = "the service stopped before this job finished; no document was left half-added"
JOB_NICE = 19  # the job thread yields the CPU to queries; it still gets every cycle they leave


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class QueueFull(RuntimeError):
    pass


def _lower_priority() -> None:
    """Linux scheduling is per thread: only this job thread (and the threads it starts, such as
    the OCR engine's) gives way to the request threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICE)
    except (AttributeError, OSError) as err:  # not Linux, or not allowed: jobs run at normal priority
        log.info("library jobs run at normal priority (%s)", err)


class JobReport:
    """How a running job tells its record what it is doing."""

    def __init__(self, runner: "JobRunner", job: dict):
        self._runner, self._job = runner, job

    def progress(self, stage: str, done: int, total: int) -> None:
        self._runner.update(self._job, stage=stage, progress={"done": done, "total": total},
                            message=f"{stage} {done}/{total}")

    def status(self, stage: str, message: str, **fields) -> None:
        self._runner.update(self._job, stage=stage, message=message, **fields)


class JobRunner:
    """The job queue and its records. `run(job, report)` does a job and returns its result."""

    def __init__(self, jobs_file: Path, run: Callable[[dict, JobReport], dict]):
        self.jobs_file = jobs_file
        self._run = run
        self._lock = threading.Lock()
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.jobs: dict[str, dict] = {}
        self._recover()

    def _recover(self) -> None:
        try:
            self.jobs = {j["id"]: j for j in json.loads(self.jobs_file.read_text(encoding="utf-8"))}
        except (OSError, ValueError, KeyError, TypeError):
            self.jobs = {}
        changed = False
        for job in self.jobs.values():
            if job["status"] in ("queued", "running"):
                job.update(status="failed", reason=INTERRUPTED, finished=now())
                changed = True
        if changed:
            self._save()

    # ------------------------------------------------------------------ records

    def _save(self) -> None:
        recent = sorted(self.jobs.values(), key=lambda j: j["created"])[-KEEP_JOBS:]
        atomic_write_json(self.jobs_file, recent)

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self.jobs.get(job_id)
            return json.loads(json.dumps(job)) if job else None

    def pending(self) -> list[dict]:
        with self._lock:
            return [dict(j) for j in self.jobs.values() if j["status"] in ("queued", "running")]

    def update(self, job: dict, persist: bool = False, **fields) -> None:
        with self._lock:
            job.update(fields)
            if persist:
                self._save()

    # ------------------------------------------------------------------ the queue

    def submit(self, kind: str, files: list[dict] | None = None, source: str | None = None) -> str:
        with self._lock:
            if sum(1 for j in self.jobs.values() if j["status"] in ("queued", "running")) >= MAX_PENDING_JOBS:
                raise QueueFull(f"{MAX_PENDING_JOBS} library jobs are already waiting; try again when they have finished")
            job = {"id": uuid.uuid4().hex[:16], "kind": kind, "status": "queued", "stage": "queued", "message": "waiting",
                   "progress": None, "files": files or [], "source": source, "created": now(), "finished": None,
                   "reason": None, "result": None}
            self.jobs[job["id"]] = job
            self._save()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="library-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job["id"])
        return job["id"]

    def _work(self) -> None:
        _lower_priority()
        while True:
            job = self.jobs[self._queue.get()]
            self.update(job, persist=True, status="running", stage="starting", message="starting")
            t0 = time.perf_counter()
            try:
                result = self._run(job, JobReport(self, job))
            except (ParseError, BackendUnavailable, EmbedderUnavailable) as err:  # their messages are written for people
                self.update(job, persist=True, status="failed", reason=str(err), finished=now())
            except Exception as err:  # the job fails with the reason; the service keeps serving
                log.exception("library job %s failed", job["id"])
                self.update(job, persist=True, status="failed", reason=f"{type(err).__name__}: {err}", finished=now())
            else:
                result["seconds"] = round(time.perf_counter() - t0, 2)
                self.update(job, persist=True, status="done", stage="done", message="done", result=result,
                            finished=now())
