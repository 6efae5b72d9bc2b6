"""Library jobs (upload, delete) run one at a time in a background thread.

A job parses the new documents (originals and parses are kept in the local library folder),
then changes the index the way its backend changes:

- local: build a complete new index of seeds + library as it will be (vectors of unchanged
  passages are reused from the current build), make that build current, then commit
  library.json and swap the serving engine. Until then queries are served from the previous
  build, and the library is unchanged if the job fails.
- Milvus: write each document through the backend (all of a document or none of it; see
  MilvusBackend.add_document), its library entry in the same rows. The library lives in
  Milvus, so every replica lists and serves the same documents.

Job records are kept in <library_dir>/jobs.json. On start, a job left queued or running by
a stopped service is marked failed; a local library is brought back in line with the index
build that is current (the build is what was really finished), and Milvus finishes or rolls
back a half-written document itself when it is opened.
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

import numpy as np

from index.backends.base import Backend, BackendUnavailable, BuildReplaced
from index.build.chunk import chunk_document
from index.config import Settings
from index.ingest.library import Library, atomic_write_json, fingerprint
from index.ingest.parse import ParseError, to_clean_document
from index.backends.local.store import build, current_build, read_manifest
from index.build.plan import index_text

log = logging.getLogger("policyqa")
MAX_PENDING_JOBS = 8
KEEP_JOBS = 200
INTERRUPTED = "the service stopped before this job finished; no document was left half-added"
ENCODE_BATCH = 32  # passages per progress step on Milvus
JOB_ENCODE_BATCH = 8  # texts per encoder call in a job: a query's encode never waits behind a long one
JOB_NICE = 19  # the job thread yields the CPU to queries; it still gets every cycle they leave
RECOVERY_INTERVAL, RECOVERY_SECONDS = 2.0, 3600
GC_GRACE_SECONDS = 3600  # on Milvus, an original no document or job needs goes after an hour


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class QueueFull(RuntimeError):
    pass


class BackgroundEncoder:
    """The service's encoder as a job uses it: the same model and session (no second copy in
    memory), called with small batches. With the job thread at low priority this keeps query
    latency near idle during an upload (measured: query encode p50 22 ms -> 11 ms while a job
    encodes, 8.8 ms idle; the job's own throughput unchanged)."""

    def __init__(self, encoder):
        self._encoder = encoder

    def __getattr__(self, name):  # dim, model_id, backend, ...
        return getattr(self._encoder, name)

    def encode_passages(self, texts: list[str], batch_size: int = JOB_ENCODE_BATCH, progress: bool = False):
        return self._encoder.encode_passages(texts, batch_size=min(batch_size, JOB_ENCODE_BATCH), progress=progress)


def _lower_priority() -> None:
    """Linux scheduling is per thread: only this job thread (and the threads it starts, such as
    the OCR engine's) gives way to the request threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICE)
    except (AttributeError, OSError) as err:  # not Linux, or not allowed: jobs run at normal priority
        log.info("library jobs run at normal priority (%s)", err)


class JobRunner:
    def __init__(self, settings: Settings, holder):
        self.settings = settings
        self.holder = holder
        self.local = holder.backend_name == "local"
        self.library = Library(settings.library_dir)
        self.jobs_file = settings.library_dir / "jobs.json"
        self._lock = threading.Lock()
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.jobs: dict[str, dict] = {}
        self._recover()

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> None:
        try:
            self.jobs = {j["id"]: j for j in json.loads(self.jobs_file.read_text(encoding="utf-8"))}
        except (OSError, ValueError, KeyError, TypeError):
            self.jobs = {}
        changed = False
        for job in self.jobs.values():
            if job["status"] in ("queued", "running"):
                job.update(status="failed", reason=INTERRUPTED, finished=_now())
                changed = True
        if changed:
            self._save()
        if not self.local:
            return  # Milvus lines itself up when opened (MilvusBackend.recover); its library is in its rows
        try:
            manifest = read_manifest(current_build(self.settings))
        except Exception:  # no index yet: nothing to line up with
            return
        built = manifest.get("library")
        try:
            committed = self.library.entries()
        except ValueError:
            committed = None
        if isinstance(built, list) and (committed is None or fingerprint(built) != fingerprint(committed)):
            if all(self.library.blob_path(e["sha256"]).exists() for e in built):
                log.warning("library: lined up with the current index build %s", manifest.get("build_id"))
                self.library.commit(built)
        try:
            self.library.collect_garbage()
        except (OSError, ValueError) as err:
            log.warning("library: garbage collection skipped: %s", err)

    # ------------------------------------------------------------------ the committed library

    def committed(self) -> list[dict]:
        """The library documents the index holds now: library.json beside a local index (lined up
        with the current build), the documents' rows in Milvus."""
        return self.library.entries() if self.local else self._backend().library_entries()

    def _backend(self) -> Backend:
        engine = self.holder.engine or self.holder.retry_if_due()
        if engine is None:
            raise BackendUnavailable(self.holder.error or "the index is not loaded yet")
        return engine.backend

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

    def _update(self, job: dict, persist: bool = False, **fields) -> None:
        with self._lock:
            job.update(fields)
            if persist:
                self._save()

    def _progress(self, job: dict):
        def report(stage: str, done: int, total: int) -> None:
            self._update(job, stage=stage, progress={"done": done, "total": total}, message=f"{stage} {done}/{total}")
        return report

    # ------------------------------------------------------------------ submitting

    def submit(self, kind: str, files: list[dict] | None = None, source: str | None = None) -> str:
        with self._lock:
            if sum(1 for j in self.jobs.values() if j["status"] in ("queued", "running")) >= MAX_PENDING_JOBS:
                raise QueueFull(f"{MAX_PENDING_JOBS} library jobs are already waiting; try again when they have finished")
            job = {"id": uuid.uuid4().hex[:16], "kind": kind, "status": "queued", "stage": "queued", "message": "waiting",
                   "progress": None, "files": files or [], "source": source, "created": _now(), "finished": None,
                   "reason": None, "result": None}
            self.jobs[job["id"]] = job
            self._save()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="library-jobs", daemon=True)
                self._thread.start()
        self._queue.put(job["id"])
        return job["id"]

    # ------------------------------------------------------------------ running

    def _work(self) -> None:
        _lower_priority()
        while True:
            job = self.jobs[self._queue.get()]
            self._update(job, persist=True, status="running", stage="starting", message="starting")
            t0 = time.perf_counter()
            try:
                result = self._upload(job) if job["kind"] == "upload" else self._delete(job)
            except (ParseError, BackendUnavailable) as err:  # their messages are written for people
                self._update(job, persist=True, status="failed", reason=str(err), finished=_now())
            except Exception as err:  # the job fails with the reason; the service keeps serving
                log.exception("library job %s failed", job["id"])
                self._update(job, persist=True, status="failed", reason=f"{type(err).__name__}: {err}", finished=_now())
            else:
                result["seconds"] = round(time.perf_counter() - t0, 2)
                self._update(job, persist=True, status="done", stage="done", message="done", result=result,
                             finished=_now())

    def _upload(self, job: dict) -> dict:
        entries = {e["source"]: e for e in self.committed()}
        new = []
        for f in job["files"]:
            old = entries.get(f["source"])
            if old is not None and old["sha256"] == f["sha256"]:
                continue  # same name, same content: nothing to do
            entry = {"source": f["source"], "sha256": f["sha256"], "size": f["size"], "added": _now()}
            try:
                parsed = self.library.parsed(entry, self._progress(job))
                doc = to_clean_document(entry["source"], parsed)
            except ParseError as err:
                raise ParseError(f"{f['source']}: {err}") from err
            entry.update(format=parsed.format, pages=len(parsed.pages) if parsed.paged else None,
                         ocr_pages=parsed.ocr_pages, title=doc.title)
            new.append((entry, doc))
        if not new:
            return {"changed": False, "documents": [f["source"] for f in job["files"]]}
        if self.local:
            for entry, _ in new:
                entries[entry["source"]] = entry
            self._rebuild(job, list(entries.values()))
        else:
            self._write(job, added=new, deleted=[])
        return {"changed": True, "documents": [e["source"] for e, _ in new]}

    def _delete(self, job: dict) -> dict:
        if self.local:
            self._rebuild(job, [e for e in self.library.entries() if e["source"] != job["source"]])
        else:
            self._write(job, added=[], deleted=[job["source"]])
        return {"changed": True, "deleted": job["source"]}

    def _rebuild(self, job: dict, entries: list[dict]) -> None:
        """Build with the library as it will be; commit it only once that build is current."""
        self._update(job, stage="indexing", message="indexing")
        build(self.settings, encoder=BackgroundEncoder(self.holder.encoder()), progress=False, library_entries=entries,
              on_progress=self._progress(job))
        self.library.commit(entries)
        self._update(job, stage="loading", message="loading the new index")
        self.holder.load()

    def _write(self, job: dict, added: list[tuple[dict, object]], deleted: list[str]) -> None:
        """Milvus: each document is written (or removed) whole, one after another; queries see a
        document either as it was or as it is now. Every file was parsed before the first write."""
        encoder, done = BackgroundEncoder(self.holder.encoder()), []
        try:
            for entry, doc in added:
                passages = chunk_document(doc, self.settings.chunk)
                texts = [index_text(p, self.settings.index_context) for p in passages]
                batches = []
                for first in range(0, len(texts), ENCODE_BATCH):
                    self._progress(job)("encoding", first, len(texts))
                    batches.append(encoder.encode_passages(texts[first:first + ENCODE_BATCH]))
                vectors = np.concatenate(batches) if batches else np.zeros((0, encoder.dim), dtype=np.float32)
                self._update(job, stage="writing", message=f"writing {entry['source']} to the index", progress=None)
                self._on_current_build(lambda b: b.add_document(doc, passages, texts, vectors,
                                                                encode=encoder.encode_passages, library_entry=entry))
                done.append(entry["source"])
            for source in deleted:
                self._update(job, stage="deleting", message=f"removing {source} from the index")
                self._on_current_build(lambda b: b.delete_document(source))
            self._collect_garbage()
        except BackendUnavailable as err:
            self._recover_when_back()
            if done:  # say what this job did change before it stopped
                raise BackendUnavailable(f"{err} (added before that: {', '.join(done)})") from err
            raise
        finally:
            self.holder.refresh()

    def _collect_garbage(self) -> None:
        """Milvus holds the library; originals here are only needed by documents it lists and by
        jobs still waiting (a failed upload's original would otherwise stay for good)."""
        keep = {e["sha256"] for e in self.committed()}
        keep |= {f["sha256"] for job in self.pending() for f in job["files"]}
        try:
            self.library.collect_garbage(keep, older_than_s=GC_GRACE_SECONDS)
        except OSError as err:
            log.warning("library: garbage collection skipped: %s", err)

    def _recover_when_back(self) -> None:
        """Milvus went away in the middle of a write: as soon as it answers again, finish or roll
        back that write (MilvusBackend.recover), rather than leave its rows to the next write."""
        def retry() -> None:
            deadline = time.monotonic() + RECOVERY_SECONDS
            while time.monotonic() < deadline:
                time.sleep(RECOVERY_INTERVAL)
                engine = self.holder.engine
                try:
                    if engine is not None:
                        engine.backend.recover()
                        self.holder.refresh()
                        return
                except BackendUnavailable:
                    continue
            log.warning("library: Milvus did not come back within %d s; the next write finishes the "
                        "interrupted one", RECOVERY_SECONDS)
        threading.Thread(target=retry, name="library-recovery", daemon=True).start()

    def _on_current_build(self, write) -> None:
        """A rebuild (another replica's `index ensure`) that became current during the write was
        made without it: load that build and write again."""
        try:
            write(self._backend())
        except BuildReplaced:
            log.warning("library: the index was rebuilt during a write; writing again to the new build")
            self.holder.load()
            write(self._backend())
