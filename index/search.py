"""Query path: tokenize, BM25, encode, FAISS, fuse, answer, each stage timed."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import answer as answering
from .config import Settings
from .dense import Encoder
from .fuse import fuse
from .store import LoadedIndex
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
    def __init__(self, index: LoadedIndex, encoder: Encoder, settings: Settings,
                 reader: answering.ReaderModel | None = None):
        self.index = index
        self.encoder = encoder
        self.settings = settings
        self.reader = reader or answering.ReaderModel.load()
        self._userdict = tuple(index.tokenizer.userdict)

    def search(self, query: str, top_k: int = 5, mode: Mode = "hybrid", with_answer: bool = True) -> SearchResult:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        idx, fusion = self.index, self.settings.fusion
        depth = max(fusion.candidates, top_k)
        timer = _Timer()
        # An English question is matched by BM25 through the Chinese terms of its words.
        translated = to_chinese_terms(query, idx.translation)  # the build's own mapping (glossary if none)
        match_text = " ".join(translated) if translated else query
        tokens = idx.tokenizer.tokenize(match_text)
        timer.lap("tokenize")
        bm25_scores = idx.bm25.scores(tokens)
        bm25_ids = _top_positive(bm25_scores, depth)
        coverage = idx.bm25.coverage(tokens)
        timer.lap("bm25")
        # The encoder matches English to Chinese only loosely; the glossary's Chinese terms help it too.
        qvec = self.encoder.encode_query(f"{query} ({' '.join(translated)})" if translated else query)
        timer.lap("encode")
        dense_ids, _ = idx.dense.search(qvec, depth)
        timer.lap("faiss")
        if mode == "bm25":
            ranked = [(int(i), float(bm25_scores[i])) for i in bm25_ids]
        elif mode == "dense":
            ranked = [(int(i), 0.0) for i in dense_ids]
        else:
            ranked = fuse(bm25_ids, dense_ids, coverage, fusion)
        ranked = ranked[:top_k]
        ids = np.array([i for i, _ in ranked], dtype=np.int64)
        dense_scores = idx.dense.score(qvec, ids) if len(ids) else np.zeros(0)
        hits = [
            Hit(rank=r + 1, score=float(dense_scores[r]) if mode == "dense" else s, bm25=float(bm25_scores[i]),
                dense=float(dense_scores[r]), passage=idx.passages[i], passage_id=i)
            for r, (i, s) in enumerate(ranked)
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

    def evidence(self, context: "QueryContext", hits: list[Hit]):
        """The question's analysis and the candidate sentences of its top passages, with features."""
        analysis = analyze(context.query, self._userdict)
        return analysis, answering.gather(hits, self.index.sentences, self.index.documents, analysis, context.qvec,
                                          context.tokens, context.match_text, self.index.bm25.term_idf)

    def answer(self, context: "QueryContext", hits: list[Hit]) -> answering.Verdict:
        """The reader's answer from the top passages, or None with the reason."""
        analysis, evidence = self.evidence(context, hits)
        return answering.read(analysis, evidence, self.reader)


def _top_positive(scores: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k best scores above zero, best first (ties by id, for stable output)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    return positive[np.lexsort((positive, -scores[positive]))]
