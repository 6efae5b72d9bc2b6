"""The seam between what the service needs from an index and where the index lives.

`Backend` is everything the query path, the answer layer, the document API, document
uploads and the eval ask of an index. Two implementations:

    LocalBackend   (here)                  the in-process files of index/store.py: BM25 matrix + FAISS
    MilvusBackend  (index/milvus_backend)  a Milvus server or cluster: BM25 function + dense vectors

Passage ids are opaque integers chosen by the backend (row numbers locally, primary keys in
Milvus); the Searcher only passes them back. Rankings are best first; fusion uses the ranks
only (index/fuse.py), never the score scale, because the two backends score BM25 differently.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .chunk import Passage
from .clean import CleanDocument
from .tokenize import Tokenizer

BACKENDS = ("local", "milvus")


class BackendUnavailable(RuntimeError):
    """The index store cannot be reached (or answers too slowly) right now; the message names
    where it lives. The service answers 503 with the message and keeps trying."""


class BuildReplaced(BackendUnavailable):
    """The build this backend reads is no longer the current one (a newer build replaced it).
    Reload the backend; a write is redone on the new build."""


class BadFilter(ValueError):
    """A query's `sources` filter names something that is not a document of the index."""


@dataclass
class Ranked:
    """One side's ranking: passage ids best first, with that side's own scores (any scale)."""

    ids: np.ndarray
    scores: np.ndarray
    # Every passage's score when the side computes them all anyway (local BM25), so a hit that
    # ranked below the side's depth still shows its own score; else only ranked ids have one.
    all_scores: np.ndarray | None = None

    @classmethod
    def empty(cls) -> "Ranked":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0))


@dataclass
class DocumentInfo:
    source: str
    title: str
    length: int
    passages: int


@dataclass
class IndexInfo:
    """What /api/health and the eval report show about the index serving."""

    backend: str
    build_id: str
    documents: int
    passages: int
    model: str
    location: str = ""  # the folder or the Milvus URI
    manifest: dict = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    name: str  # "local" or "milvus"
    tokenizer: Tokenizer  # cuts queries exactly as the index's passages were cut

    # ---- retrieval
    def bm25_search(self, query_text: str, tokens: list[str], depth: int, sources: list[str] | None = None) -> Ranked:
        """Passages matching the query's words, best BM25 first. `query_text` is what a server-side
        analyzer cuts (Milvus); `tokens` are the same text cut by `tokenizer` (local)."""

    def dense_search(self, query_vector: np.ndarray, depth: int, sources: list[str] | None = None) -> Ranked:
        """Passages nearest the query vector (cosine), best first."""

    def coverage(self, tokens: list[str]) -> float:
        """Share of the query tokens the corpus knows (fusion trusts BM25 that far)."""

    def term_idf(self, token: str) -> float:
        """BM25 idf of a token (the answer layer weighs query words by it)."""

    def dense_scores(self, query_vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Cosine of the query to each of these passages (also those outside the dense top)."""

    def get_passages(self, ids: np.ndarray) -> list[Passage]:
        ...

    def best_sentence_similarity(self, ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """Per passage, the highest cosine of one of its sentences to the query (-1: none)."""

    def sentence_evidence(self, hits: list) -> tuple:
        """(sentence table, documents, hits) for the reader: a table (index.sentences.SentenceTable
        API) holding at least the sentences and vectors of these hits' passages, the documents its
        offsets index into, and the hits with `passage_id` pointing into that table."""

    # ---- documents
    def document(self, source: str) -> CleanDocument | None:
        """The clean text that passage offsets index into, with title and headings."""

    def list_documents(self) -> list[DocumentInfo]:
        ...

    def passage_count(self, source: str) -> int:
        ...

    def has_documents(self, sources: list[str]) -> list[str]:
        """The names among `sources` that are not documents of the index."""

    def library_entries(self) -> list[dict]:
        """The uploaded documents the index holds, as library entries (source, sha256, size,
        format, pages, added); the seed documents are not among them."""

    def add_document(self, doc: CleanDocument, passages: list[Passage], texts: list[str], vectors: np.ndarray,
                     encode=None, library_entry: dict | None = None) -> None:
        """Store a document and its passages (index texts and vectors aligned with `passages`),
        replacing any document of the same name. All of it is visible, or none of it. `encode`
        embeds its sentences (the reader's evidence); `library_entry` marks an upload."""

    def delete_document(self, source: str) -> int:
        """Remove a document and every passage (and sentence) of it; returns the passages removed."""

    # ---- state
    def info(self) -> IndexInfo:
        ...

    def health(self) -> None:
        """Raises BackendUnavailable when the store cannot answer now."""

    def close(self) -> None:
        ...


def selected_backend() -> str:
    name = os.environ.get("POLICYQA_BACKEND", "local").strip().lower() or "local"
    if name not in BACKENDS:
        raise ValueError(f"POLICYQA_BACKEND={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def open_backend(settings) -> "Backend":
    """The backend POLICYQA_BACKEND names: the local index folder (default) or Milvus."""
    if selected_backend() == "milvus":
        from .milvus_backend import MilvusBackend, MilvusConfig

        return MilvusBackend.open(MilvusConfig.from_env(), settings)
    from .store import load

    return LocalBackend(load(settings), settings)


def validate_sources(sources: list[str] | None, backend: Backend) -> list[str] | None:
    """None means every document; an unknown name is the caller's mistake (BadFilter, a 4xx)."""
    if sources is None:
        return None
    wanted = list(dict.fromkeys(sources))
    unknown = backend.has_documents(wanted)
    if unknown:
        shown = ", ".join(repr(s[:100]) for s in unknown[:5])
        raise BadFilter(f"sources names no document of the index: {shown}. GET /api/documents lists them.")
    return wanted


# ---------------------------------------------------------------- the in-process files


def top_positive(scores: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray:
    """Ids of the k best scores above zero, best first (ties by id, for stable output);
    only ids in `among` when given."""
    if among is not None:
        positive = among[scores[among] > 0]
    else:
        positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    return positive[np.lexsort((positive, -scores[positive]))]


class LocalBackend:
    """The index folder of index/store.py, loaded in this process (BM25 matrix, FAISS).

    Wraps anything shaped like store.LoadedIndex (eval.bench's synthetic index too); its
    other attributes (bm25, dense, passages, manifest, ...) stay reachable for the tools
    and tests that inspect a local index directly."""

    name = "local"

    def __init__(self, index, settings=None):
        self.index = index
        self.settings = settings
        self.tokenizer = index.tokenizer
        self._by_source: dict[str, np.ndarray] | None = None
        self._counts: dict[str, int] | None = None

    def __getattr__(self, name):  # bm25, dense, passages, documents, manifest, folder
        if name == "index":
            raise AttributeError(name)
        return getattr(self.index, name)

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
        return self.index.sentences, self.index.documents, hits

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

    def add_document(self, doc, passages, texts, vectors, encode=None, library_entry=None):
        raise NotImplementedError("the local index is rebuilt as a whole: upload through the library "
                                  "(POST /api/documents) or add to the seeds folder and run `python -m index build`")

    def delete_document(self, source):
        raise NotImplementedError("the local index is rebuilt as a whole: delete through the library "
                                  "(DELETE /api/documents/{source}) or remove it from the seeds folder and rebuild")

    def info(self):
        m = getattr(self.index, "manifest", {}) or {}
        return IndexInfo("local", str(m.get("build_id", "")), len(getattr(self.index, "documents", {}) or {}),
                         len(self.index.passages), str(m.get("config", {}).get("model", "")),
                         str(getattr(self.index, "folder", "")), m)

    def health(self):
        return None

    def close(self):
        return None
