"""The precomputed sparse BM25 must score exactly like rank-bm25's BM25Okapi."""
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from index.build.bm25 import BM25Index
from index.build.chunk import chunk_corpus
from index.text.tokenize import Tokenizer, build_userdict


@pytest.fixture(scope="module")
def corpus_tokens(loaded_corpus):
    tok = Tokenizer(build_userdict([d.text for d in loaded_corpus]))
    return tok, [tok.tokenize(p.text) for p in chunk_corpus(loaded_corpus)]


def test_same_scores_as_rank_bm25_on_the_real_corpus(corpus_tokens):
    tok, tokens = corpus_tokens
    ours, ref = BM25Index.build(tokens), BM25Okapi(tokens)
    for q in ["示范区要加快建设哪些新一代信息基础设施？", "人才 人才 同城化", "建设用地指标周转期最长不超过几年", "IPv6", "unknownword 不存在的词"]:
        qt = tok.tokenize(q)
        np.testing.assert_allclose(ours.scores(qt), ref.get_scores(qt), atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_same_scores_as_rank_bm25_on_random_corpora(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(rng.randint(5, 300))]
    docs = [[rng.choice(vocab) for _ in range(rng.randint(1, 60))] for _ in range(rng.randint(1, 200))]
    ours, ref = BM25Index.build(docs, k1=rng.uniform(0.5, 2), b=rng.uniform(0, 1)), None
    ref = BM25Okapi(docs, k1=ours.params["k1"], b=ours.params["b"])
    for _ in range(10):
        q = [rng.choice(vocab + ["oov"]) for _ in range(rng.randint(1, 8))]
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), atol=1e-6)


def test_save_and_load_round_trip(tmp_path, corpus_tokens):
    tok, tokens = corpus_tokens
    index = BM25Index.build(tokens)
    index.save(tmp_path)
    back = BM25Index.load(tmp_path)
    qt = tok.tokenize("人才绿卡")
    np.testing.assert_array_equal(index.scores(qt), back.scores(qt))


def test_coverage_is_zero_for_english_and_high_for_chinese(corpus_tokens):
    tok, tokens = corpus_tokens
    index = BM25Index.build(tokens)
    assert index.coverage(tok.tokenize("How long may land quotas be carried over?")) < 0.3
    assert index.coverage(tok.tokenize("建设用地指标周转期最长不超过几年")) == 1.0
