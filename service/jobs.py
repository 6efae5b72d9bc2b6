"""Library jobs (upload, delete): records on disk shared by every worker, run one at a time by
whichever worker holds the runner lease.

What a job does is not decided here (service/library_jobs.py: parse, then the backend's writer).
Layout under <library_dir>/jobs/ (one data folder, any number of uvicorn workers):
    <job id>.json   one record per job, rewritten atomically: any worker answers GET /api/jobs/{id}
    records.lock    serialises submissions (the queue cap holds across workers) and the pruning
    runner.lock     the runner lease: an OS file lock (filelock), so exactly one worker runs jobs and
                    the lease is freed by the kernel when that worker dies; another worker then takes it

Jobs run oldest first; uploads waiting together are written in one change (one build). A job found `running` when a worker takes the lease was cut short (its worker
died or stopped): it is run again from the start (a build is made current whole or not at all, so
nothing half-done is left), and failed with INTERRUPTED once it has been cut short MAX_ATTEMPTS times.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from index.backends import BackendUnavailable
from index.build import EmbedderUnavailable
from index.ingest import ParseError, atomic_write_json

log = logging.getLogger("policyqa")
MAX_PENDING_JOBS = 16
KEEP_JOBS = 200
MAX_BATCH = 16  # uploads written together in one change at most
MAX_ATTEMPTS = 2  # a job that took its worker down twice is not tried a third time
INTERRUPTED = ("the service stopped twice while running this job, so it was not tried again; "
               "no document was left half-added. Upload the files again to retry.")
JOB_NICE = 19  # the job thread yields the CPU to queries; it still gets every cycle they leave
POLL_SECONDS = 0.3  # how soon the lease holder sees a job another worker queued
PROGRESS_WRITE_SECONDS = 0.5  # progress is written at most this often (status changes at once)
_JOB_ID = re.compile(r"[0-9a-f]{16}")


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
    """The job records and the queue. `run(jobs, reports)` does a delete or a batch of uploads and
    returns one outcome per job (its result, or the exception it failed with);
    `on_lead()` runs once when this worker takes the lease, before its first job (the library is
    lined up with the index there: only the lease holder writes the library)."""

    def __init__(self, jobs_dir: Path, run: Callable[[list[dict], list[JobReport]], list], on_lead: Callable[[], None] = lambda: None):
        self.dir = Path(jobs_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._run, self._on_lead = run, on_lead
        self._records = FileLock(self.dir / "records.lock")
        self._lease = FileLock(self.dir / "runner.lock")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written: dict[str, float] = {}
        self._finished: dict[str, dict] = {}  # file name -> a done or failed record
        self.leading = False

    # ------------------------------------------------------------------ records

    def _path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def _write(self, job: dict, durable: bool = True) -> None:
        if durable:
            atomic_write_json(self._path(job["id"]), job)
        else:  # a progress step: atomic (rename) but not worth an fsync
            tmp = self.dir / f".tmp-{job['id']}"
            tmp.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self._path(job["id"]))
        self._written[job["id"]] = time.monotonic()

    def _read(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # gone (pruned) or unreadable: not a job

    def _all(self) -> list[dict]:
        jobs, paths = [], list(self.dir.glob("*.json"))
        for gone in self._finished.keys() - {p.name for p in paths}:  # pruned by the lease holder
            self._finished.pop(gone, None)
        for path in paths:
            record = self._finished.get(path.name) or self._read(path)
            if record is None:
                continue
            if record["status"] in ("done", "failed"):  # final: never rewritten, so read once
                self._finished[path.name] = record
            jobs.append(dict(record))
        return sorted(jobs, key=lambda j: (j.get("order", 0), j["created"], j["id"]))

    def get(self, job_id: str) -> dict | None:
        return self._read(self._path(job_id)) if _JOB_ID.fullmatch(job_id) else None

    def pending(self) -> list[dict]:
        return [j for j in self._all() if j["status"] in ("queued", "running")]

    def update(self, job: dict, persist: bool = False, **fields) -> None:
        # a new status or stage is written at once (clients wait on it); progress within a stage is throttled
        changed = "status" in fields or fields.get("stage", job.get("stage")) != job.get("stage")
        job.update(fields)
        if persist or changed or time.monotonic() - self._written.get(job["id"], 0) >= PROGRESS_WRITE_SECONDS:
            self._write(job, durable=persist or "status" in fields)

    # ------------------------------------------------------------------ the queue

    def submit(self, kind: str, files: list[dict] | None = None, source: str | None = None) -> str:
        with self._records:
            if len(self.pending()) >= MAX_PENDING_JOBS:
                raise QueueFull(f"{MAX_PENDING_JOBS} library jobs are already waiting; try again when they have finished")
            job = {"id": uuid.uuid4().hex[:16], "kind": kind, "status": "queued", "stage": "queued", "message": "waiting",
                   "progress": None, "files": files or [], "source": source, "created": now(), "finished": None,
                   "reason": None, "result": None, "attempts": 0, "order": time.time_ns()}  # order: of submission
            self._write(job)
        self._wake.set()
        return job["id"]

    def start(self) -> None:
        """Compete for the lease in the background; the winner runs every worker's jobs."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._lead, name="library-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Let go of the lease after the job in hand (the app is shutting down)."""
        self._stop.set()
        self._wake.set()

    def _lead(self) -> None:
        _lower_priority()
        while not self._stop.is_set():
            try:
                self._lease.acquire(timeout=1.0, poll_interval=0.25)  # held until stop, exit or death
                break
            except Timeout:
                continue
        else:
            return
        try:
            self._serve_queue()
        finally:
            self.leading = False
            self._lease.release()

    def _serve_queue(self) -> None:
        self.leading = True
        log.info("library jobs: this worker (pid %d) runs the jobs", os.getpid())
        self._import_legacy()
        try:
            self._on_lead()
        except Exception:
            log.exception("library: lining up with the index failed; jobs run anyway")
        self._resume_interrupted()
        self._prune()
        while not self._stop.is_set():
            queued = [j for j in self._all() if j["status"] == "queued"]
            if not queued:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            self._do(self._batch(queued))
            self._prune()

    def _import_legacy(self) -> None:
        """Records of the single-file format (<library_dir>/jobs.json) move to one file per job."""
        legacy = self.dir.parent / "jobs.json"
        try:
            records = json.loads(legacy.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for job in records if isinstance(records, list) else []:
            if isinstance(job, dict) and _JOB_ID.fullmatch(str(job.get("id", ""))) and not self._path(job["id"]).exists():
                self._write({**job, "attempts": 1 if job.get("status") == "running" else 0})
        legacy.unlink(missing_ok=True)

    def _resume_interrupted(self) -> None:
        """Jobs `running` when the lease was free were cut short: queue them again, or fail them."""
        for job in self._all():
            if job["status"] != "running":
                continue
            if job.get("attempts", 1) >= MAX_ATTEMPTS:
                self.update(job, status="failed", reason=INTERRUPTED, finished=now())
            else:
                log.warning("library job %s was cut short; running it again", job["id"])
                self.update(job, status="queued", stage="queued", message="resumed after a stop", progress=None)

    @staticmethod
    def _batch(queued: list[dict]) -> list[dict]:
        """The oldest job, with the uploads queued right behind it when it is an upload: they are
        written together (one build), each keeping its own record and outcome."""
        if queued[0]["kind"] != "upload":
            return queued[:1]
        batch = []
        for job in queued[:MAX_BATCH]:
            if job["kind"] != "upload":
                break
            batch.append(job)
        return batch

    def _do(self, jobs: list[dict]) -> None:
        for job in jobs:
            self.update(job, status="running", stage="starting", message="starting",
                        attempts=job.get("attempts", 0) + 1)
        t0 = time.perf_counter()
        try:
            outcomes = self._run(jobs, [JobReport(self, job) for job in jobs])
        except Exception as err:  # noqa: BLE001
            outcomes = [err] * len(jobs)
        seconds = round(time.perf_counter() - t0, 2)
        for job, outcome in zip(jobs, outcomes):
            if isinstance(outcome, (ParseError, BackendUnavailable, EmbedderUnavailable)):  # their messages are written for people
                self.update(job, status="failed", reason=str(outcome), finished=now())
            elif isinstance(outcome, Exception):  # the job fails with the reason; the service keeps serving
                log.error("library job %s failed", job["id"], exc_info=outcome)
                self.update(job, status="failed", reason=f"{type(outcome).__name__}: {outcome}", finished=now())
            else:
                self.update(job, status="done", stage="done", message="done", result={**outcome, "seconds": seconds},
                            finished=now())

    def _prune(self) -> None:
        with self._records:
            finished = [j for j in self._all() if j["status"] in ("done", "failed")]
            for job in finished[:-KEEP_JOBS]:
                self._path(job["id"]).unlink(missing_ok=True)
                self._written.pop(job["id"], None)
                self._finished.pop(f"{job['id']}.json", None)
