"""LocalBackend: the index folder of index/backends/local/store.py, loaded in this process."""
from __future__ import annotations

import numpy as np

from pathlib import Path

from index.backends.base import DocumentInfo, IndexInfo, Ranked, SentenceEvidence, top_positive
from index.build import BM25Index, DenseIndex, Passage, SentenceTable
from index.ingest import CleanDocument


class LocalBackend:
    """The index folder of local/store.py, loaded in this process (BM25 matrix, FAISS).

    Wraps anything shaped like store.LoadedIndex (eval.bench's synthetic index too); its parts
    (bm25, dense, passages, documents, sentences, manifest, folder) stay reachable for the tools
    and tests that inspect a local index directly."""

    name = "local"
    remote = False

    def __init__(self, index, settings=None):
        self.index = index
        self.settings = settings
        self.tokenizer = index.tokenizer
        self._by_source: dict[str, np.ndarray] | None = None
        self._counts: dict[str, int] | None = None

    # ---- the loaded index's parts
    @property
    def bm25(self) -> BM25Index:
        return self.index.bm25

    @property
    def dense(self) -> DenseIndex:
        return self.index.dense

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    @property
    def documents(self) -> dict[str, CleanDocument]:
        return self.index.documents

    @property
    def sentences(self) -> SentenceTable:
        return self.index.sentences

    @property
    def manifest(self) -> dict:
        return self.index.manifest

    @property
    def folder(self) -> Path:
        return self.index.folder

    @property
    def translation(self) -> dict[str, list[str]] | None:
        return getattr(self.index, "translation", None)  # builds made before the mapping have none

    def _source_rows(self, sources: list[str]) -> np.ndarray:
        if self._by_source is None:
            rows: dict[str, list[int]] = {}
            for i, p in enumerate(self.index.passages):
                rows.setdefault(p.source, []).append(i)
            self._by_source = {s: np.array(r, dtype=np.int64) for s, r in rows.items()}
        parts = [self._by_source.get(s, np.zeros(0, dtype=np.int64)) for s in sources]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def bm25_search(self, query_text, tokens, depth, sources=None) -> Ranked:
        scores = self.index.bm25.scores(tokens)
        ids = top_positive(scores, depth, self._source_rows(sources) if sources is not None else None)
        return Ranked(ids, scores[ids], scores)

    def dense_search(self, query_vector, depth, sources=None) -> Ranked:
        dense = self.index.dense
        if sources is None:
            ids, scores = dense.search(query_vector, depth)
            return Ranked(ids.astype(np.int64), scores)
        # A filtered query scores the chosen documents' passages exactly: a handful of documents
        # is a small slice, and an ANN index would need its own filtered search.
        rows = self._source_rows(sources)
        if len(rows) == 0:
            return Ranked.empty()
        scores = np.asarray(dense.vectors[rows] @ query_vector, dtype=np.float64)
        order = np.lexsort((rows, -scores))[:depth]
        return Ranked(rows[order], scores[order])

    def coverage(self, tokens):
        return self.index.bm25.coverage(tokens)

    def term_idf(self, token):
        return self.index.bm25.term_idf(token)

    def dense_scores(self, query_vector, ids):
        return self.index.dense.score(query_vector, ids) if len(ids) else np.zeros(0)

    def get_passages(self, ids):
        return [self.index.passages[int(i)] for i in ids]

    def best_sentence_similarity(self, ids, query_vector):
        return self.index.sentences.best_similarity(ids, query_vector)

    def sentence_evidence(self, hits):
        return SentenceEvidence(self.index.sentences, self.index.documents, hits)

    def document(self, source):
        return self.index.documents.get(source)

    def passage_counts(self) -> dict[str, int]:
        if self._counts is None:
            counts: dict[str, int] = {}
            for p in self.index.passages:
                counts[p.source] = counts.get(p.source, 0) + 1
            self._counts = counts
        return self._counts

    def passage_count(self, source):
        return self.passage_counts().get(source, 0)

    def list_documents(self):
        counts = self.passage_counts()
        return [DocumentInfo(d.source, d.title, len(d.text), counts.get(d.source, 0))
                for d in self.index.documents.values()]

    def has_documents(self, sources):
        return [s for s in sources if s not in self.index.documents]

    def library_entries(self):
        return list((getattr(self.index, "manifest", {}) or {}).get("library") or [])

    def info(self):
        m = getattr(self.index, "manifest", {}) or {}
        return IndexInfo("local", str(m.get("build_id", "")), len(getattr(self.index, "documents", {}) or {}),
                         len(self.index.passages), str(m.get("config", {}).get("model", "")),
                         str(getattr(self.index, "folder", "")), m)

    def recover(self):
        return None  # a build is made current whole: nothing is ever half-written

    def health(self):
        return None

    def close(self):
        return None
