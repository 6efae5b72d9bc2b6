"""The fast paths return what the straightforward ones do: the vectorised BM25 builder
(BM25Okapi weights to 1e-6), ANN dense search (recall@10 >= 0.98 against exact), and
the onnxruntime encoders (same vectors as SentenceTransformer.encode)."""
import random

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from index.build.bm25 import BM25Index
from index.build.chunk import chunk_corpus
from index.build.dense import DenseIndex, ivf_nlist
from index.text.tokenize import Tokenizer, build_userdict

QUERIES = ["示范区要加快建设哪些新一代信息基础设施？", "人才 人才 同城化", "建设用地指标周转期最长不超过几年", "IPv6",
           "unknownword 不存在的词"]


@pytest.fixture(scope="module")
def real_tokens(loaded_corpus):
    tok = Tokenizer(build_userdict([d.text for d in loaded_corpus]))
    return tok, [tok.tokenize(p.text) for p in chunk_corpus(loaded_corpus)]


def _same_index(a: BM25Index, b: BM25Index) -> None:
    assert a.vocab == b.vocab
    np.testing.assert_allclose(a.idf, b.idf, atol=1e-12)
    assert abs(a.params["avgdl"] - b.params["avgdl"]) < 1e-9
    np.testing.assert_allclose(a.weights.toarray(), b.weights.toarray(), atol=1e-9)


def test_vectorised_bm25_equals_bm25okapi_on_the_real_corpus(real_tokens):
    tok, tokens = real_tokens
    fast, ref = BM25Index.build(tokens), BM25Okapi(tokens)
    _same_index(fast, BM25Index.build_reference(tokens))
    for q in QUERIES:
        qt = tok.tokenize(q)
        np.testing.assert_allclose(fast.scores(qt), ref.get_scores(qt), atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_vectorised_bm25_equals_bm25okapi_on_random_corpora(seed):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(rng.randint(2, 400))]
    # some empty documents, some very common words (negative idf, floored at epsilon * mean idf)
    docs = [[rng.choice(vocab[:3] if rng.random() < 0.3 else vocab) for _ in range(rng.randint(0, 80))]
            for _ in range(rng.randint(1, 300))]
    if not any(docs):
        docs[0] = ["w0"]
    k1, b, eps = rng.uniform(0.5, 2), rng.uniform(0, 1), rng.uniform(0.1, 0.5)
    fast, ref = BM25Index.build(docs, k1=k1, b=b, epsilon=eps), BM25Okapi(docs, k1=k1, b=b, epsilon=eps)
    _same_index(fast, BM25Index.build_reference(docs, k1=k1, b=b, epsilon=eps))
    for _ in range(10):
        q = [rng.choice(vocab + ["oov"]) for _ in range(rng.randint(1, 8))]
        np.testing.assert_allclose(fast.scores(q), ref.get_scores(q), atol=1e-6)


def test_from_token_ids_ignores_unused_ids_and_matches_build():
    terms = ["b", "a", "unused", "c"]
    docs = [[0, 1, 1], [3], [1, 3, 3, 3]]
    ids = np.array([t for d in docs for t in d])
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    fast = BM25Index.from_token_ids(ids, offsets, terms)
    _same_index(fast, BM25Index.build([[terms[t] for t in d] for d in docs]))
    assert "unused" not in fast.vocab


def _unit(n: int, dim: int = 64, seed: int = 0, clusters: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _recall_at_10(ann: DenseIndex, exact: DenseIndex, queries: np.ndarray) -> float:
    hits = [len(set(ann.search(q, 10)[0]) & set(exact.search(q, 10)[0])) / 10 for q in queries]
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def vectors_20k():
    x = _unit(20_000)
    queries = _unit(200, seed=1)
    return x, queries, DenseIndex.build(x)


@pytest.mark.parametrize("ann", ["ivf", "hnsw"])
def test_ann_index_recall_at_10_against_exact(vectors_20k, ann, tmp_path):
    x, queries, exact = vectors_20k
    assert exact.kind == "flat"  # 20k is below the default threshold
    fast = DenseIndex.build(x, ann_above=10_000, ann=ann, ef_search=512)
    assert fast.kind.startswith(ann)
    assert _recall_at_10(fast, exact, queries) >= 0.98
    # saved and loaded back (memory-mapped where FAISS can), it answers the same
    fast.save(tmp_path)
    back = DenseIndex.load(tmp_path)
    assert back.kind == fast.kind
    for q in queries[:20]:
        np.testing.assert_array_equal(back.search(q, 10)[0], fast.search(q, 10)[0])
    np.testing.assert_allclose(back.score(queries[0], np.arange(5)), x[:5] @ queries[0], rtol=1e-5)


def test_build_chooses_by_size():
    x = _unit(600)
    assert DenseIndex.build(x).kind == "flat"
    assert DenseIndex.build(x, ann_above=500).kind.startswith("ivf")
    assert DenseIndex.build(x, ann_above=599).kind.startswith("ivf")
    assert DenseIndex.build(x, ann_above=600).kind == "flat"
    assert ivf_nlist(1_000_000) == 2048 and ivf_nlist(10) == 16


@pytest.fixture(scope="module")
def texts(loaded_corpus):
    return [p.text for p in chunk_corpus(loaded_corpus)][:24]


@pytest.mark.parametrize("backend,min_cos", [("onnx", 0.9999), ("onnx-int8", 0.98)])
def test_onnx_encoders_match_sentence_transformers(settings, encoder, texts, backend, min_cos):
    pytest.importorskip("onnxruntime")
    from index.build.dense import Encoder

    fast = Encoder(settings.model_dir, backend=backend)
    ref = encoder.model.encode(texts, prompt_name="passage", normalize_embeddings=True, convert_to_numpy=True)
    got = fast.encode_passages(texts)
    assert got.shape == ref.shape
    assert np.sum(got * ref, axis=1).min() >= min_cos
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-4)
    q = "示范区人才绿卡有什么待遇？"
    ref_q = encoder.model.encode([q], prompt_name="query", normalize_embeddings=True)[0]
    assert float(fast.encode_query(q) @ ref_q) >= min_cos
    # the best passage for the query is the same as with the reference encoder
    assert int(np.argmax(got @ fast.encode_query(q))) == int(np.argmax(ref @ ref_q))


def test_questions_are_encoded_in_int8_beside_fp32_passages(settings, texts, monkeypatch):
    pytest.importorskip("onnxruntime")
    from index.build.dense import Encoder
    from index.config import Settings

    monkeypatch.delenv("POLICYQA_ENCODER", raising=False)
    monkeypatch.delenv("POLICYQA_QUERY_ENCODER", raising=False)
    default = Encoder.of(Settings())
    assert (default.backend, default.query_backend) == ("onnx", "onnx-int8")
    assert default.describe()["query_encoder"] == "onnx-int8"
    fp32 = Encoder(settings.model_dir, backend="onnx")
    assert fp32.query_backend == "onnx"
    passages = fp32.encode_passages(texts)
    assert np.allclose(default.encode_passages(texts), passages, atol=1e-5)  # passages stay fp32
    for q in ("示范区人才绿卡有什么待遇？", "What does the talent green card give?"):
        ref = fp32.encode_query(q)
        got = default.encode_query(q)
        assert 0.99 <= float(got @ ref) < 0.99999  # int8: close to fp32, not the same computation
        assert int(np.argmax(passages @ got)) == int(np.argmax(passages @ ref))
    monkeypatch.setenv("POLICYQA_QUERY_ENCODER", "onnx")
    assert Encoder.of(Settings()).query_backend == "onnx"
    with pytest.raises(ValueError, match="POLICYQA_QUERY_ENCODER"):
        Encoder(settings.model_dir, backend="onnx", query_backend="int4")
