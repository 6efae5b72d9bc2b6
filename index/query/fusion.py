"""Reciprocal rank fusion of the BM25 and dense rankings."""
from __future__ import annotations

import numpy as np

from index.config import FusionParams


def rrf(rankings: list[tuple[np.ndarray, float]], k: int) -> dict[int, float]:
    """rankings: (passage ids best first, weight). Score = sum of weight / (k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, pid in enumerate(ids, start=1):
            fused[int(pid)] = fused.get(int(pid), 0.0) + weight / (k + rank)
    return fused


def bm25_weight(params: FusionParams, coverage: float) -> float:
    """Trust BM25 only as far as the corpus knows the query's words: an English question
    cut into English tokens matches nothing useful, and its near-random ranking must
    not push good dense results down."""
    return params.bm25_weight * (coverage if params.coverage_weighting else 1.0)


def fuse(bm25_ids: np.ndarray, dense_ids: np.ndarray, coverage: float, params: FusionParams) -> list[tuple[int, float]]:
    fused = rrf([(bm25_ids, bm25_weight(params, coverage)), (dense_ids, params.dense_weight)], params.k)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
