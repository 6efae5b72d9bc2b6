"""The loaded index and encoder a running service answers from, swapped atomically on reload.

Requests take a reference to the current `Engine` once and finish on it; a reload
builds a complete new Engine first and then replaces the reference in one assignment,
so no request ever sees a half-loaded index.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field

from index.config import Settings
from index.dense import Encoder
from index.search import Searcher
from index.store import IndexUnavailable, LoadedIndex, load

log = logging.getLogger("policyqa")


def torch_threads() -> int:
    """Intra-op threads for query encoding in this worker process.

    POLICYQA_TORCH_THREADS wins; otherwise the CPUs this process may use are shared out
    between the uvicorn workers (WEB_CONCURRENCY, which uvicorn also reads as its
    default --workers), so N workers do not each start one thread per core and fight.
    """
    explicit = os.environ.get("POLICYQA_TORCH_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    workers = os.environ.get("WEB_CONCURRENCY", "1").strip()
    return max(1, cpus // (int(workers) if workers.isdigit() and int(workers) > 0 else 1))


@dataclass
class Engine:
    index: LoadedIndex
    searcher: Searcher
    passage_counts: dict[str, int] = field(default_factory=dict)  # per document, counted once at load

    def __post_init__(self) -> None:
        if not self.passage_counts:
            self.passage_counts = dict(Counter(p.source for p in self.index.passages))


class EngineHolder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    def encoder(self) -> Encoder:
        # The model is loaded once per process and kept across index reloads.
        if self._encoder is None:
            import torch

            torch.set_num_threads(torch_threads())
            self._encoder = Encoder(self.settings.model_dir)
            log.info("encoder loaded: %s, %d torch threads", self.settings.model_dir.name, torch.get_num_threads())
        return self._encoder

    def load(self) -> Engine:
        """Load the current index; on failure keep serving the previous one (if any)."""
        with self._lock:
            try:
                index = load(self.settings)
                engine = Engine(index, Searcher(index, self.encoder(), self.settings))
                engine.searcher.search("预热 warm-up", top_k=1)  # first call pays lazy init; not a user
            except (IndexUnavailable, RuntimeError) as err:
                self.error = str(err)
                log.error("index not loaded: %s", err)
                raise
            self.engine, self.error = engine, None
            log.info("index loaded: %s (%d passages)", index.folder.name, len(index.passages))
            return engine
