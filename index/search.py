"""Query path: tokenize, BM25, encode, FAISS, fuse, answer, each stage timed."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import answer as answering
from .backend import Backend, LocalBackend, Ranked, top_positive as _top_positive  # noqa: F401 (eval.bench uses it)
from .config import Settings
from .dense import Encoder
from .fuse import fuse
from .question import analyze
from .translate import to_chinese_terms

Mode = Literal["hybrid", "bm25", "dense"]
MODES = ("hybrid", "bm25", "dense")


@dataclass
class Hit:
    rank: int
    score: float
    bm25: float
    dense: float
    passage: object  # index.chunk.Passage
    passage_id: int = -1  # its row in the index


@dataclass
class QueryContext:
    """What the query stages worked out about a question, passed down to the reader (and
    to anything else that reads evidence for it, such as a citation check)."""

    query: str
    tokens: list[str]  # BM25 tokens (of the Chinese glossary terms for an English question)
    match_text: str  # the question as it can appear in the documents
    qvec: np.ndarray  # the normalised query embedding
    coverage: float  # share of the tokens the corpus knows


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    answer: answering.Answer | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    abstain_reason: str | None = None  # why `answer` is None, in plain words
    confidence: float = 0.0  # the reader's confidence in its best sentence (also when it abstained)
    context: QueryContext | None = None


class _Timer:
    def __init__(self):
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()
        self._start = self._t

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = round((now - self._t) * 1000, 3)
        self._t = now

    def total(self) -> dict[str, float]:
        self.ms["total"] = round((time.perf_counter() - self._start) * 1000, 3)
        return self.ms


class Searcher:
    def __init__(self, index: Backend | object, encoder: Encoder, settings: Settings,
                 reader: answering.ReaderModel | None = None, neural=None):
        """`neural`: the trained reader (index.neural_reader.NeuralReader); None loads it unless
        POLICYQA_READER=features asks for the feature reader alone; False never uses it."""
        # A store.LoadedIndex (or anything shaped like it) is served by the in-process backend.
        self.backend: Backend = index if isinstance(index, Backend) else LocalBackend(index, settings)
        self.encoder = encoder
        self.settings = settings
        self.reader = reader or answering.ReaderModel.load()
        if neural is None and settings.reader == "trained":
            from .neural_reader import NeuralReader

            neural = NeuralReader(settings.model_dir)
        self.neural = neural or None
        self._userdict = tuple(self.backend.tokenizer.userdict)
        # A remote backend's two searches are network waits: they run side by side.
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="retrieve") if self.backend.name != "local" else None

    @property
    def index(self) -> Backend:
        """The backend (kept under its old name: a LocalBackend also shows the loaded files' parts)."""
        return self.backend

    def search(self, query: str, top_k: int = 5, mode: Mode = "hybrid", with_answer: bool = True,
               sources: list[str] | None = None) -> SearchResult:
        """`sources`: only passages of these documents (None: all). Names must be documents of the
        index (backend.validate_sources checks them first at the API)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        backend, fusion = self.backend, self.settings.fusion
        depth = max(fusion.candidates, top_k)
        timer = _Timer()
        # An English question is matched by BM25 through the Chinese terms of its words.
        # the build's own English mapping (index/cedict.py); the glossary alone for builds without one
        translated = to_chinese_terms(query, getattr(backend, "translation", None))
        match_text = " ".join(translated) if translated else query
        tokens = backend.tokenizer.tokenize(match_text)
        timer.lap("tokenize")
        # The encoder matches English to Chinese only loosely; the glossary's Chinese terms help it too.
        encode_text = f"{query} ({' '.join(translated)})" if translated else query
        if self._pool is not None:
            bm25_future = self._pool.submit(_timed, backend.bm25_search, match_text, tokens, depth, sources)
            qvec = self.encoder.encode_query(encode_text)
            timer.lap("encode")
            dense = backend.dense_search(qvec, depth, sources)
            bm25, bm25_ms = bm25_future.result()
        else:
            bm25 = backend.bm25_search(match_text, tokens, depth, sources)
            timer.lap("bm25")
            qvec = self.encoder.encode_query(encode_text)
            timer.lap("encode")
            dense = backend.dense_search(qvec, depth, sources)
        if self.settings.fusion.sentence_dense:
            dense = self._small_to_big(dense, bm25, qvec)
        timer.lap("faiss")
        if self._pool is not None:
            timer.ms["bm25"] = bm25_ms  # ran alongside encode and the dense search
        coverage = backend.coverage(tokens)
        if mode == "bm25":
            ranked = [(int(i), float(s)) for i, s in zip(bm25.ids, bm25.scores)]
        elif mode == "dense":
            ranked = [(int(i), 0.0) for i in dense.ids]
        else:
            ranked = fuse(bm25.ids, dense.ids, coverage, fusion)
        ranked = ranked[:top_k]
        ids = np.array([i for i, _ in ranked], dtype=np.int64)
        dense_scores = backend.dense_scores(qvec, ids) if len(ids) else np.zeros(0)
        bm25_scores = _side_scores(bm25, ids)
        hits = [
            Hit(rank=r + 1, score=float(dense_scores[r]) if mode == "dense" else s, bm25=float(bm25_scores[r]),
                dense=float(dense_scores[r]), passage=p, passage_id=i)
            for r, ((i, s), p) in enumerate(zip(ranked, backend.get_passages(ids)))
        ]
        timer.lap("fuse")
        context = QueryContext(query, tokens, match_text, qvec, coverage)
        # The reader reads (up to PASSAGES_CONSIDERED of) the returned passages, so every
        # sentence it answers with cites a passage the caller has.
        result = SearchResult(query, mode, hits, None, context=context)
        if with_answer:
            verdict = self.answer(context, hits)
            result.answer, result.abstain_reason, result.confidence = verdict.answer, verdict.abstain_reason, verdict.confidence
        timer.lap("answer")
        result.timings_ms = timer.total()
        return result

    def _small_to_big(self, dense: Ranked, bm25: Ranked, qvec: np.ndarray) -> Ranked:
        """The dense side's ranking of its own and BM25's candidates by passage similarity plus
        best-sentence similarity (measured on dev: hit@1 of the dense side 0.60 -> 0.72)."""
        pool = np.unique(np.concatenate([dense.ids, bm25.ids]).astype(np.int64))
        if len(pool) == 0:
            return dense
        score = self.backend.dense_scores(qvec, pool) + self.backend.best_sentence_similarity(pool, qvec)
        order = np.lexsort((pool, -score))
        return Ranked(pool[order], score[order])

    def evidence(self, context: "QueryContext", hits: list[Hit]):
        """The question's analysis and the candidate sentences of its top passages, with features."""
        analysis = analyze(context.query, self._userdict)
        # The backend hands over the sentences of these passages (a local index: its whole table).
        table, documents, hits = self.backend.sentence_evidence(hits)
        return analysis, answering.gather(hits, table, documents, analysis, context.qvec,
                                          context.tokens, context.match_text, self.backend.term_idf)

    def answer(self, context: "QueryContext", hits: list[Hit]) -> answering.Verdict:
        """The reader's answer from the top passages, or None with the reason."""
        analysis, evidence = self.evidence(context, hits)
        return answering.read(analysis, evidence, self.reader, self.neural)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, round((time.perf_counter() - t0) * 1000, 3)


def _side_scores(side: Ranked, ids: np.ndarray) -> np.ndarray:
    """A side's own score of each id, 0 where that side did not rank it (within its depth)."""
    if side.all_scores is not None:
        return side.all_scores[ids] if len(side.all_scores) else np.zeros(len(ids))
    found = dict(zip(side.ids.tolist(), side.scores.tolist()))
    return np.array([found.get(int(i), 0.0) for i in ids], dtype=np.float64)
