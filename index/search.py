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
from .translate import has_chinese, to_chinese_terms

Mode = Literal["hybrid", "bm25", "dense"]
MODES = ("hybrid", "bm25", "dense")


@dataclass
class Hit:
    rank: int
    score: float
    bm25: float
    dense: float
    passage: object  # index.chunk.Passage


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    answer: answering.Answer | None
    timings_ms: dict[str, float] = field(default_factory=dict)


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
    def __init__(self, index: LoadedIndex, encoder: Encoder, settings: Settings):
        self.index = index
        self.encoder = encoder
        self.settings = settings

    def search(self, query: str, top_k: int = 5, mode: Mode = "hybrid", with_answer: bool = True) -> SearchResult:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        idx, fusion = self.index, self.settings.fusion
        depth = max(fusion.candidates, top_k)
        timer = _Timer()
        # An English question is matched by BM25 through the Chinese terms of its words.
        translated = to_chinese_terms(query)
        tokens = idx.tokenizer.tokenize(" ".join(translated) if translated else query)
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
                dense=float(dense_scores[r]), passage=idx.passages[i])
            for r, (i, s) in enumerate(ranked)
        ]
        timer.lap("fuse")
        result = SearchResult(query, mode, hits, None)
        if with_answer and hits:
            result.answer = self.answer(query, tokens, qvec, hits, coverage)
        timer.lap("answer")
        result.timings_ms = timer.total()
        return result

    def answer(self, query: str, tokens, qvec, hits: list[Hit], coverage: float) -> answering.Answer | None:
        """None when the best evidence is too weak: the documents likely don't cover it."""
        threshold = self.settings.answer_threshold if has_chinese(query) else self.settings.answer_threshold_foreign
        if max(h.dense for h in hits) < threshold:
            return None
        picked = answering.pick(query.lower(), tokens, qvec, answering.candidates(hits), self.index.tokenizer, self.encoder,
                                self.index.bm25.term_idf, coverage)
        if picked is None:
            return None
        cand, score = picked
        return answering.Answer(cand.text, cand.rank, cand.source, cand.start, cand.end, round(score, 4))


def _top_positive(scores: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k best scores above zero, best first (ties by id, for stable output)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    return positive[np.lexsort((positive, -scores[positive]))]
