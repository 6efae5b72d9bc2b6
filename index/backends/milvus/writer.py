"""Library changes on Milvus: each document is written through the backend (all of a document or
none of it; see MilvusBackend.add_document), its library entry in the same rows. The library lives in
Milvus, so every replica lists and serves the same documents; a half-written document is finished or
rolled back by the backend itself (MilvusBackend.recover)."""
from __future__ import annotations

import logging

import numpy as np

from index.backends.base import BackendUnavailable, BuildReplaced, Serving, WriteJob
from index.build.chunk import chunk_document
from index.build.plan import index_text
from index.config import Settings
from index.ingest.clean import CleanDocument
from index.ingest.library import Library

log = logging.getLogger("policyqa")
ENCODE_BATCH = 32  # passages per progress step
GC_GRACE_SECONDS = 3600  # an original no document or job needs goes after an hour


class MilvusWriter:
    def __init__(self, settings: Settings, library: Library, serving: Serving):
        self.settings = settings
        self.library = library
        self.serving = serving

    def committed(self) -> list[dict]:
        """The library documents' rows in Milvus."""
        return self.serving.backend().library_entries()

    def line_up(self, keep: set[str] = frozenset()) -> None:
        """Nothing here: Milvus lines itself up when opened (MilvusBackend.recover); its library is in its rows."""

    def apply(self, added: list[tuple[dict, CleanDocument]], deleted: list[str], job: WriteJob) -> None:
        """Each document is written (or removed) whole, one after another; queries see a document
        either as it was or as it is now. Every file was parsed before the first write."""
        encoder, done = job.encoder, []
        try:
            for entry, doc in added:
                passages = chunk_document(doc, self.settings.chunk)
                texts = [index_text(p, self.settings.index_context) for p in passages]
                batches = []
                for first in range(0, len(texts), ENCODE_BATCH):
                    job.progress("encoding", first, len(texts))
                    batches.append(encoder.encode_passages(texts[first:first + ENCODE_BATCH]))
                vectors = np.concatenate(batches) if batches else np.zeros((0, encoder.dim), dtype=np.float32)
                job.status("writing", f"writing {entry['source']} to the index", progress=None)
                self._on_current_build(lambda b: b.add_document(doc, passages, texts, vectors,
                                                                encode=encoder.encode_passages, library_entry=entry))
                done.append(entry["source"])
            for source in deleted:
                job.status("deleting", f"removing {source} from the index")
                self._on_current_build(lambda b: b.delete_document(source))
            self._collect_garbage(job.keep())
        except BackendUnavailable as err:
            if done:  # say what this change did before it stopped
                raise BackendUnavailable(f"{err} (added before that: {', '.join(done)})") from err
            raise
        finally:
            self.serving.refresh()

    def _collect_garbage(self, keep: set[str]) -> None:
        """Milvus holds the library; originals here are only needed by documents it lists and by
        jobs still waiting (a failed upload's original would otherwise stay for good)."""
        keep = keep | {e["sha256"] for e in self.committed()}
        try:
            self.library.collect_garbage(keep, older_than_s=GC_GRACE_SECONDS)
        except OSError as err:
            log.warning("library: garbage collection skipped: %s", err)

    def _on_current_build(self, write) -> None:
        """A rebuild (another replica's `index ensure`) that became current during the write was
        made without it: load that build and write again."""
        try:
            write(self.serving.backend())
        except BuildReplaced:
            log.warning("library: the index was rebuilt during a write; writing again to the new build")
            self.serving.reload()
            write(self.serving.backend())
