"""The seam between what the service needs from an index and where the index lives.

`Backend` is everything the query path, the answer layer, the document API, document
uploads and the eval ask of an index. Two implementations:

    LocalBackend   (index/backends/local)   the in-process files of local/store.py: BM25 matrix + FAISS
    MilvusBackend  (index/backends/milvus)  a Milvus server or cluster: BM25 function + dense vectors

Passage ids are opaque integers chosen by the backend (row numbers locally, primary keys in
Milvus); the Searcher only passes them back. Rankings are best first; fusion uses the ranks
only (index/query/fuse.py), never the score scale, because the two backends score BM25 differently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from index.build.chunk import Passage
from index.build.sentences import SentenceTable
from index.ingest.clean import CleanDocument
from index.text.tokenize import Tokenizer

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


@dataclass
class SentenceEvidence:
    """What the reader reads for a question's hits: a table (build.sentences.SentenceTable) holding
    at least the sentences and vectors of these hits' passages, the documents its offsets index into
    (by source), and the hits with `passage_id` pointing into that table. Unpacks as (table, documents, hits)."""

    table: SentenceTable
    documents: dict[str, CleanDocument]
    hits: list

    def __iter__(self):
        return iter((self.table, self.documents, self.hits))


@runtime_checkable
class Backend(Protocol):
    name: str  # "local" or "milvus": shown in health and reports, never branched on outside index/backends
    remote: bool  # its searches are network waits (the query path runs BM25 and dense side by side)
    tokenizer: Tokenizer  # cuts queries exactly as the index's passages were cut
    translation: dict[str, list[str]] | None  # the build's English -> Chinese mapping (None: the glossary alone)

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

    def sentence_evidence(self, hits: list) -> SentenceEvidence:
        """The sentences of these hits' passages for the reader."""

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

    # ---- state
    def info(self) -> IndexInfo:
        ...

    def recover(self) -> None:
        """Finish or roll back writes a crash interrupted (nothing to do where builds are replaced whole)."""

    def health(self) -> None:
        """Raises BackendUnavailable when the store cannot answer now."""

    def close(self) -> None:
        ...


class Serving(Protocol):
    """The service's hold on the index, as a library change needs it."""

    def backend(self) -> Backend:
        """The backend serving now; BackendUnavailable when none is loaded."""

    def reload(self) -> Backend:
        """Load the current build (a new one, or the same after a rebuild elsewhere) and serve it."""

    def refresh(self) -> None:
        """The serving backend changed in place: show its new counts."""


@dataclass
class WriteJob:
    """What a library change brings to a writer: the encoder (encode_passages, dim: the service's
    model, called in small batches), where to report (progress(stage, done, total) and
    status(stage, message, **fields)) and the originals still needed by waiting jobs."""

    encoder: Any
    progress: Callable[[str, int, int], None]
    status: Callable[..., None]
    keep: Callable[[], set[str]] = set


class LibraryWriter(Protocol):
    """The one write path of uploads and deletions, one per backend (index/backends/*/writer.py)."""

    def committed(self) -> list[dict]:
        """The library entries the index holds now."""

    def line_up(self, keep: set[str] = frozenset()) -> None:
        """When a worker starts running jobs: bring the library in line with what the index holds after a
        stop; `keep` are the sha256s of originals that waiting jobs still need."""

    def apply(self, added: list[tuple[dict, CleanDocument]], deleted: list[str], job: WriteJob) -> None:
        """Add (library entry, clean document) pairs and delete documents by source. A document is
        seen by queries as it was or as it is now, never half-written; the service serves the result."""


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
