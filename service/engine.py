"""The loaded index and encoder a running service answers from, swapped atomically on reload.

Requests take a reference to the current `Engine` once and finish on it; a reload
builds a complete new Engine first and then replaces the reference in one assignment,
so no request ever sees a half-loaded index.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from index.backends.base import Backend, BackendUnavailable, IndexInfo
from index.backends.select import build_marker, open_backend, selected_backend
from index.config import Settings
from index.build import same_sense
from index.build.dense import Encoder
from index.build.embedder import EmbedderUnavailable, open_encoder
from index.search import Searcher
from index.build.plan import IndexUnavailable

log = logging.getLogger("policyqa")


def torch_threads(settings: Settings) -> int:
    """Intra-op threads for query encoding in this worker process.

    POLICYQA_TORCH_THREADS wins; otherwise the CPUs this process may use are shared out
    between the uvicorn workers (WEB_CONCURRENCY, which uvicorn also reads as its
    default --workers), so N workers do not each start one thread per core and fight.
    """
    explicit = settings.torch_threads.strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    workers = settings.web_concurrency.strip()
    return max(1, cpus // (int(workers) if workers.isdigit() and int(workers) > 0 else 1))


@dataclass
class Engine:
    backend: Backend
    searcher: Searcher
    info: IndexInfo = field(default=None)  # read once at load: health answers without a round trip

    def __post_init__(self) -> None:
        if self.info is None:
            self.info = self.backend.info()

    @property
    def index(self) -> Backend:  # the name older callers use
        return self.backend


def _check_dimension(engine: Engine, encoder) -> None:
    """An embedding server that now returns vectors of another size than the build holds (its model
    was swapped under the same name) is refused at load, with what to do, rather than at every query."""
    m = engine.info.manifest
    built = (m.get("counts") or {}).get("dim") or m.get("dim")
    known = encoder.describe().get("dim")  # None while a server has not answered yet
    if built and known and int(built) != int(known):
        raise IndexUnavailable(f"the embedder now returns {known}-dimensional vectors but the index holds "
                               f"{built}-dimensional ones: rebuild the index (python -m index build)")


class EngineHolder:
    RETRY_SECONDS = 5.0  # while the backend is unreachable, a request tries to load again at most this often
    WATCH_SECONDS = 1.0  # how often each worker looks whether another worker made a new build current
    FOLLOW_TRIES = 3

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None
        self.backend_name = selected_backend(settings)
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._unreachable_since: float | None = None  # set when loading failed because the store was down
        self._last_try = 0.0
        self._watching = False
        self._followed: tuple[str, int] = ("", 0)  # the build the watcher last tried to load, and how often

    def encoder(self) -> Encoder:
        # The model is loaded once per process and kept across index reloads.
        if self._encoder is None:
            threads = torch_threads(self.settings)
            self._encoder = open_encoder(self.settings, threads=threads)
            if getattr(self._encoder, "backend", None) == "torch":  # only the torch encoder imports torch here
                import torch

                torch.set_num_threads(threads)
            log.info("encoder loaded: %s, %d threads", self.settings.model_dir.name, threads)
        return self._encoder

    def load(self) -> Engine:
        """Load the current index; on failure keep serving the previous one (if any)."""
        with self._lock:
            self._last_try = time.monotonic()
            backend = None
            try:
                backend = open_backend(self.settings)
                engine = Engine(backend, Searcher(backend, self.encoder(), self.settings))
                try:
                    engine.searcher.search("预热 warm-up", top_k=1)  # first call pays lazy init; not a user
                    same_sense("老师", "教师")  # CC-CEDICT's senses, read once (under a second) for the reader's refusals
                except EmbedderUnavailable as err:  # queries get 503 with the reason until the server answers
                    log.warning("embedding server not answering at start: %s", err)
                _check_dimension(engine, self._encoder)
            except (IndexUnavailable, RuntimeError) as err:  # BackendUnavailable is a RuntimeError
                if backend is not None:
                    backend.close()
                self.error = str(err)
                self._unreachable_since = self._unreachable_since or time.monotonic() \
                    if isinstance(err, BackendUnavailable) else None
                log.error("index not loaded: %s", err)
                raise
            previous, self.engine, self.error, self._unreachable_since = self.engine, engine, None, None
            if previous is not None and previous.backend is not backend:
                previous.backend.close()  # a local backend's close is a no-op: requests may still hold its index
            log.info("index loaded: %s backend, build %s (%d passages) at %s", engine.info.backend,
                     engine.info.build_id, engine.info.passages, engine.info.location)
            return engine

    def backend(self) -> Backend:
        """The backend serving now (trying to load one when the store was unreachable)."""
        engine = self.engine or self.retry_if_due()
        if engine is None:
            raise BackendUnavailable(self.error or "the index is not loaded yet")
        return engine.backend

    def reload(self) -> Backend:
        return self.load().backend

    @property
    def unreachable(self) -> bool:
        """The last load failed because the index store was down (it retries by itself)."""
        return self._unreachable_since is not None

    def refresh(self) -> None:
        """A document was written into the serving backend (Milvus): show its new counts."""
        engine = self.engine
        if engine is not None:
            engine.info = engine.backend.info()

    def retry_if_due(self) -> Engine | None:
        """No engine because the index store was unreachable: try again, at most every RETRY_SECONDS,
        so the service recovers by itself when the store comes back."""
        if self.engine is None and self._unreachable_since is not None \
                and time.monotonic() - self._last_try >= self.RETRY_SECONDS:
            try:
                return self.load()
            except (IndexUnavailable, RuntimeError):
                return None
        return self.engine

    def watch(self) -> None:
        """Follow the current build in the background: when another worker (the one running library
        jobs) or `index build` makes a new build current, this worker serves it within WATCH_SECONDS."""
        if self._watching:
            return
        self._watching = True

        def follow() -> None:
            while self._watching:
                time.sleep(self.WATCH_SECONDS)
                try:
                    self.follow_current()
                except Exception:  # the watcher must outlive any one failed look
                    log.exception("index watch: looking for a new build failed")
        threading.Thread(target=follow, name="index-watch", daemon=True).start()

    def stop_watching(self) -> None:
        self._watching = False

    def follow_current(self) -> None:
        """Load the current build if it is not the one serving. A build that fails to load is tried again
        after RETRY_SECONDS, FOLLOW_TRIES times in all: the job runner makes a build current a moment
        before it commits library.json, and a load in between finds the library changed."""
        marker = build_marker(self.settings)
        engine = self.engine
        if marker is None or (engine is not None and engine.info.build_id == marker):
            return
        tried, tries = self._followed
        if tried == marker and (tries >= self.FOLLOW_TRIES or time.monotonic() - self._last_try < self.RETRY_SECONDS):
            return
        self._followed = (marker, tries + 1 if tried == marker else 1)
        try:
            self.load()
        except (IndexUnavailable, RuntimeError):
            pass  # logged by load; the previous build keeps serving
