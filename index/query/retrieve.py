"""Retrieval: an analysed question through BM25, the encoder and the dense side, small-to-big and fusion.

Every stage is timed; the Searcher (index/search.py) hands the result to the reader."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from index.backends import Backend, Ranked
from index.build import Encoder, Passage, index_text
from index.config import Settings

from index.text import to_chinese_terms
from .fusion import fuse
from .rerank import RerankConfig, Reranker, RerankError

Mode = Literal["hybrid", "bm25", "dense"]
MODES = ("hybrid", "bm25", "dense")


@dataclass
class Hit:
    rank: int
    score: float
    bm25: float
    dense: float
    passage: Passage
    passage_id: int = -1  # its row in the index
    rerank: float | None = None  # the rerank server's relevance score, when one re-ordered the hits


@dataclass
class QueryContext:
    """What the query stages worked out about a question, passed down to the reader (and
    to anything else that reads evidence for it, such as a citation check)."""

    query: str
    tokens: list[str]  # BM25 tokens (of the Chinese glossary terms for an English question)
    match_text: str  # the question as it can appear in the documents
    qvec: np.ndarray  # the normalised query embedding
    coverage: float  # share of the tokens the corpus knows
    rerank_error: str | None = None  # why the rerank server's order is missing, in plain words


class Timer:
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


class Retriever:
    """The query stages over one backend: tokenize, BM25, encode, dense search, fuse."""

    def __init__(self, backend: Backend, encoder: Encoder, settings: Settings):
        self.backend = backend
        self.encoder = encoder
        self.settings = settings
        # A remote backend's two searches are network waits: they run side by side.
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="retrieve") if backend.remote else None
        rerank = RerankConfig.from_settings(settings)
        self.reranker = Reranker(rerank) if rerank else None

    def retrieve(self, query: str, top_k: int, mode: Mode, sources: list[str] | None,
                 timer: Timer) -> tuple[list[Hit], QueryContext]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        backend, fusion = self.backend, self.settings.fusion
        depth = max(fusion.candidates, top_k)
        # An English question is matched by BM25 through the Chinese terms of its words.
        # the build's own English mapping (index/build/cedict.py); the glossary alone for builds without one
        translated = to_chinese_terms(query, backend.translation)
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
        # A rerank server re-orders the fused top N, so that many are fetched even for a smaller top_k.
        ranked = ranked[:max(top_k, self.reranker.cfg.top_n) if self.reranker else top_k]
        ids = np.array([i for i, _ in ranked], dtype=np.int64)
        dense_scores = backend.dense_scores(qvec, ids) if len(ids) else np.zeros(0)
        bm25_scores = _side_scores(bm25, ids)
        hits = [
            Hit(rank=r + 1, score=float(dense_scores[r]) if mode == "dense" else s, bm25=float(bm25_scores[r]),
                dense=float(dense_scores[r]), passage=p, passage_id=i)
            for r, ((i, s), p) in enumerate(zip(ranked, backend.get_passages(ids)))
        ]
        timer.lap("fuse")
        rerank_error = None
        if self.reranker is not None and hits:
            hits, rerank_error = self._rerank(query, hits)
            timer.lap("rerank")
        return hits[:top_k], QueryContext(query, tokens, match_text, qvec, coverage, rerank_error)

    def _rerank(self, query: str, hits: list[Hit]) -> tuple[list[Hit], str | None]:
        """The top N hits in the rerank server's order (each with its score), the rest after them;
        on any failure the fused order as it was, with the reason."""
        head, tail = hits[:self.reranker.cfg.top_n], hits[self.reranker.cfg.top_n:]
        try:
            order = self.reranker.order(query, [index_text(h.passage, self.settings.index_context) for h in head])
        except RerankError as err:
            return hits, str(err)
        reranked = []
        for i, score in order:
            hit = head[i]
            hit.rerank = score
            if score is not None:  # the score the order follows
                hit.score = score
            reranked.append(hit)
        for rank, hit in enumerate(reranked + tail, start=1):
            hit.rank = rank
        return reranked + tail, None

    def _small_to_big(self, dense: Ranked, bm25: Ranked, qvec: np.ndarray) -> Ranked:
        """The dense side's ranking of its own and BM25's candidates by passage similarity plus
        best-sentence similarity (measured on dev: hit@1 of the dense side 0.60 -> 0.72)."""
        pool = np.unique(np.concatenate([dense.ids, bm25.ids]).astype(np.int64))
        if len(pool) == 0:
            return dense
        score = self.backend.dense_scores(qvec, pool) + self.backend.best_sentence_similarity(pool, qvec)
        order = np.lexsort((pool, -score))
        return Ranked(pool[order], score[order])


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
