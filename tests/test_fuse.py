import numpy as np

from index.config import FusionParams
from index.query.fusion import bm25_weight, fuse, rrf


def test_rrf_formula():
    fused = rrf([(np.array([1, 2]), 1.0), (np.array([2, 3]), 2.0)], k=10)
    assert fused[1] == 1 / 11
    assert fused[2] == 1 / 12 + 2 / 11
    assert fused[3] == 2 / 12


def test_agreement_beats_single_side():
    ranked = fuse(np.array([5, 1, 2]), np.array([1, 7, 8]), coverage=1.0, params=FusionParams())
    assert ranked[0][0] == 1


def test_english_query_bm25_noise_cannot_push_dense_results_down():
    params = FusionParams(k=60, bm25_weight=1.0, dense_weight=1.0)
    noise = np.array([9, 8, 7, 6, 5])
    dense = np.array([1, 2, 3, 4, 5])
    assert [i for i, _ in fuse(noise, dense, coverage=0.0, params=params)][:4] == [1, 2, 3, 4]
    assert bm25_weight(params, 0.0) == 0.0
    # with full coverage BM25 does count
    assert [i for i, _ in fuse(noise, dense, coverage=1.0, params=params)][0] == 5


def test_weights_and_k_are_configurable():
    params = FusionParams(k=1, bm25_weight=3.0, dense_weight=1.0)
    assert fuse(np.array([4]), np.array([5]), coverage=1.0, params=params)[0][0] == 4
