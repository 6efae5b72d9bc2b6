"""The loaded index and encoder a running service answers from, swapped atomically on reload.

Requests take a reference to the current `Engine` once and finish on it; a reload
builds a complete new Engine first and then replaces the reference in one assignment,
so no request ever sees a half-loaded index.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from index.config import Settings
from index.dense import Encoder
from index.search import Searcher
from index.store import IndexUnavailable, LoadedIndex, load

log = logging.getLogger("policyqa")


@dataclass
class Engine:
    index: LoadedIndex
    searcher: Searcher


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
            self._encoder = Encoder(self.settings.model_dir)
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
