"""Bring your own embedding and rerank servers (issue 19), against TEST DOUBLES: real HTTP servers
speaking the embeddings and rerank protocols, wrapping the shipped e5-small (eval/model_doubles.py).

The dev-split parity of retrieval (hit@5 within 0.5 points) is heavy and lives in
`python -m eval embed-parity`; here the vectors themselves are checked on a few texts."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time

import httpx
import numpy as np
import pytest

from eval.model_doubles import EmbeddingServerDouble, RerankServerDouble
from index.build import embedder as embedder_module
from index.build.embedder import EmbedderUnavailable, open_encoder
from index.config import REPO_ROOT, Settings

TINY_SEED = REPO_ROOT / "seeds" / "004_add29a2c5c193579.txt"  # the smallest seed: a build takes seconds
TEXTS = ["示范区要加快建设哪些新一代信息基础设施？", "人才公寓租金补贴", "Which talents get housing subsidies?",
         "江苏吴江:“12条举措”助力先行启动区建设"]


@pytest.fixture(scope="module")
def embed_double(encoder):
    double = EmbeddingServerDouble(encoder).start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def rerank_double(encoder):
    double = RerankServerDouble(encoder).start()
    yield double
    double.stop()


@pytest.fixture
def server_env(monkeypatch, embed_double, tmp_path):
    """The embedding double configured as e5 wants it; a fresh var folder (vector journal) per test."""
    embed_double.reset()
    monkeypatch.setenv("POLICYQA_EMBED_BASE_URL", embed_double.base_url)
    monkeypatch.setenv("POLICYQA_EMBED_MODEL", "e5-small-double")
    monkeypatch.setenv("POLICYQA_EMBED_QUERY_PREFIX", "query: ")
    monkeypatch.setenv("POLICYQA_EMBED_PASSAGE_PREFIX", "passage: ")
    monkeypatch.setenv("POLICYQA_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setattr(embedder_module, "BUILD_RETRIES", 1)  # one retry (0.5-1 s) keeps failure tests fast
    return embed_double


def sent_texts(double) -> list[str]:
    return [t for body in double.requests for t in ([body["input"]] if isinstance(body["input"], str) else body["input"])]


# ---------------------------------------------------------------- the embedding client


def test_server_vectors_match_the_builtin_encoder(server_env, encoder):
    remote = open_encoder(Settings())
    assert type(remote).__name__ == "RemoteEncoder"
    passages = remote.encode_passages(TEXTS)
    assert remote.dim == encoder.dim == passages.shape[1]  # read from the first answer
    assert np.min(np.sum(passages * encoder.encode_passages(TEXTS), axis=1)) > 0.9999
    for text in TEXTS[:2]:
        # the double serves the model's fp32 vectors (the built-in path encodes questions in int8)
        assert float(remote.encode_query(text) @ encoder.encode_raw(["query: " + text])[0]) > 0.9999
    assert all(t.startswith("passage: ") or t.startswith("query: ") for t in sent_texts(server_env))
    assert remote.describe() == {"kind": "server", "host": server_env.base_url.split("/")[2], "model": "e5-small-double",
                                 "query_prefix": "query: ", "passage_prefix": "passage: ", "dim": encoder.dim}


def test_builds_send_batches_retry_and_resume_from_the_journal(server_env, monkeypatch):
    monkeypatch.setenv("POLICYQA_EMBED_BATCH", "3")
    texts = [f"第{i}条 人才政策 {i}" for i in range(10)]
    server_env.fail_first = 1  # a 503 first: retried with backoff, then answered
    remote = open_encoder(Settings())
    first = remote.encode_passages(texts[:6])
    assert [len(b["input"]) for b in server_env.requests] == [3, 3, 3]  # the retried batch, then the next
    server_env.reset()
    server_env.fail_after = 1  # the server dies after one more batch: the build stops with the reason
    with pytest.raises(EmbedderUnavailable, match="HTTP 500"):
        open_encoder(Settings()).encode_passages(texts)
    server_env.reset()
    again = open_encoder(Settings()).encode_passages(texts)  # a new process: resumes from the journal
    assert sent_texts(server_env) == [f"passage: {t}" for t in texts[9:]]
    assert np.allclose(again[:6], first, atol=1e-6)


def test_wrong_dimension_is_refused(server_env):
    remote = open_encoder(Settings())
    remote.encode_passages(TEXTS[:1])
    server_env.mode = "wrong_dim"
    with pytest.raises(EmbedderUnavailable, match="383-dimensional vectors, but its first answer had 384"):
        remote.encode_passages(TEXTS[1:2])
    with pytest.raises(EmbedderUnavailable, match="383-dimensional"):
        remote.encode_query("人才")


def test_a_server_of_another_dimension_than_the_index_is_refused_at_load(server_env):
    from index.backends.base import IndexInfo
    from index.build.plan import IndexUnavailable
    from service.engine import Engine, _check_dimension

    server_env.mode = "wrong_dim"  # the model behind the name was swapped: 383 dimensions now
    remote = open_encoder(Settings())
    remote.encode_query("预热 warm-up")
    engine = Engine(backend=None, searcher=None, info=IndexInfo("local", "b1", 1, 1, "m", manifest={"counts": {"dim": 384}}))
    with pytest.raises(IndexUnavailable, match="returns 383-dimensional vectors but the index holds 384-dimensional"):
        _check_dimension(engine, remote)
    server_env.mode = "normal"
    _check_dimension(engine, open_encoder(Settings()))  # not answered yet: nothing to compare, no error


def test_missing_vectors_are_refused(server_env):
    server_env.mode = "short"
    with pytest.raises(EmbedderUnavailable, match="sent 3 vectors for 4 texts"):
        open_encoder(Settings()).encode_passages(TEXTS)


def test_query_http_500_and_timeout_fail_fast_in_plain_words(server_env, monkeypatch):
    monkeypatch.setenv("POLICYQA_EMBED_TIMEOUT", "0.5")
    remote = open_encoder(Settings())
    server_env.mode = "error500"
    with pytest.raises(EmbedderUnavailable, match=r"answered HTTP 500: double: internal failure"):
        remote.encode_query("人才")
    assert len(server_env.requests) == 1  # a query is not retried: a retry doubles a waiting user's time
    server_env.mode, server_env.stall_s = "stall", 3.0
    t0 = time.perf_counter()
    with pytest.raises(EmbedderUnavailable, match=r"did not answer within 0.5 s"):
        remote.encode_query("人才")
    assert time.perf_counter() - t0 < 2.0


def test_settings_need_a_model_and_an_http_url(monkeypatch):
    monkeypatch.setenv("POLICYQA_EMBED_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("POLICYQA_EMBED_MODEL", raising=False)
    with pytest.raises(RuntimeError, match="POLICYQA_EMBED_MODEL is not"):
        open_encoder(Settings())
    monkeypatch.setenv("POLICYQA_EMBED_MODEL", "bge-m3")
    monkeypatch.setenv("POLICYQA_EMBED_BASE_URL", "127.0.0.1:9997/v1")
    with pytest.raises(RuntimeError, match="not an http"):
        open_encoder(Settings())


# ---------------------------------------------------------------- builds: the embedder in the manifest


@pytest.fixture
def tiny_corpus(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(TINY_SEED, seeds)
    monkeypatch.setenv("POLICYQA_SEEDS_DIR", str(seeds))
    monkeypatch.setenv("POLICYQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("POLICYQA_LIBRARY_DIR", str(tmp_path / "library"))
    return tmp_path


def test_build_records_the_embedder_and_a_change_rebuilds_whole(tiny_corpus, server_env, monkeypatch, encoder):
    from index.backends.local.store import current_build, load, read_manifest
    from index.backends.select import ensure_built
    from index.build.plan import stale_reasons

    ensure_built(Settings())
    manifest = read_manifest(current_build(Settings()))
    assert manifest["config"]["embedder"] == {"kind": "server", "host": server_env.base_url.split("/")[2],
                                              "model": "e5-small-double", "query_prefix": "query: ",
                                              "passage_prefix": "passage: "}
    assert manifest["counts"]["dim"] == 384
    first_texts = set(sent_texts(server_env))
    assert len(first_texts) >= manifest["counts"]["passages"] + manifest["counts"]["sentences"] - 5  # passages + sentences
    assert stale_reasons(manifest, Settings()) == []

    # Another model behind the same server: stale, and the rebuild re-embeds everything with it.
    monkeypatch.setenv("POLICYQA_EMBED_MODEL", "e5-small-double-v2")
    reasons = stale_reasons(manifest, Settings())
    assert any("e5-small-double-v2" in r for r in reasons)
    server_env.requests.clear()
    ensure_built(Settings())
    rebuilt = read_manifest(current_build(Settings()))
    assert rebuilt["build_id"] != manifest["build_id"] and rebuilt["config"]["embedder"]["model"] == "e5-small-double-v2"
    assert set(sent_texts(server_env)) == first_texts  # nothing reused from the other embedder's build

    # A prefix change is a change of embedder too; so is going back to the built-in model.
    monkeypatch.setenv("POLICYQA_EMBED_PASSAGE_PREFIX", "")
    assert any("passage" in r for r in stale_reasons(rebuilt, Settings()))
    for name in ("POLICYQA_EMBED_BASE_URL", "POLICYQA_EMBED_MODEL"):
        monkeypatch.delenv(name)
    assert any("model" in r for r in stale_reasons(rebuilt, Settings()))
    # The server build's vectors are the built-in model's (the double wraps it, the prefixes are e5's).
    index = load(Settings(), check_stale=False)
    texts = json.loads((index.folder / "index_texts.json").read_text(encoding="utf-8"))
    assert np.allclose(index.dense.vectors, encoder.encode_passages(texts), atol=1e-4)


# ---------------------------------------------------------------- the rerank client


@pytest.fixture
def rerank_env(monkeypatch, rerank_double):
    rerank_double.reset()
    monkeypatch.setenv("POLICYQA_RERANK_BASE_URL", rerank_double.base_url)
    monkeypatch.setenv("POLICYQA_RERANK_MODEL", "e5-rerank-double")
    monkeypatch.setenv("POLICYQA_RERANK_TOP_N", "12")
    return rerank_double


QUESTION = "青浦区对高层次人才有哪些住房补贴？"


def _searcher(loaded_index, encoder, settings):
    """A searcher with the rerank settings the environment holds now (settings are read once, when
    built: the test sets the variables, then builds its own)."""
    from index.search import Searcher

    rerank = {k: v for k, v in Settings().model_dump().items() if k.startswith("rerank_")}
    return Searcher(loaded_index, encoder, settings.replace(**rerank), neural=False)


def test_rerank_reorders_the_fused_top_n(rerank_env, loaded_index, encoder, settings, monkeypatch):
    from index.build.plan import index_text

    monkeypatch.delenv("POLICYQA_RERANK_BASE_URL")
    # retrieval's order (the reader orders what it read when it answers; the reranker gets the fused order)
    fused = _searcher(loaded_index, encoder, settings).search(QUESTION, top_k=12, with_answer=False).hits
    monkeypatch.setenv("POLICYQA_RERANK_BASE_URL", rerank_env.base_url)
    result = _searcher(loaded_index, encoder, settings).search(QUESTION, top_k=5)
    body = rerank_env.requests[-1]
    assert body["model"] == "e5-rerank-double" and body["query"] == QUESTION and body["top_n"] == 12
    assert body["documents"] == [index_text(h.passage, settings.index_context) for h in fused]
    scores = rerank_env.scores(QUESTION, body["documents"])
    expected = [fused[i].passage.chunk_id for i in np.argsort(-scores, kind="stable")[:5]]
    assert [h.passage.chunk_id for h in result.hits] == expected
    assert expected != [h.passage.chunk_id for h in fused[:5]]  # the reranker did change the order
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert all(h.rerank is not None and h.score == h.rerank for h in result.hits)
    assert [h.rerank for h in result.hits] == sorted((h.rerank for h in result.hits), reverse=True)
    assert result.rerank_error is None
    if result.answer is not None:  # the reader read the reranked passages
        assert result.answer.source == result.hits[result.answer.passage_rank - 1].passage.source


@pytest.mark.parametrize("mode, message", [("missing_index", "lacks 'index'"), ("error500", "answered HTTP 500"),
                                           ("stall", "did not answer within 0.5 s")])
def test_rerank_failure_keeps_the_fused_order(rerank_env, loaded_index, encoder, settings, monkeypatch, mode, message):
    monkeypatch.delenv("POLICYQA_RERANK_BASE_URL")
    fused = _searcher(loaded_index, encoder, settings).search(QUESTION, top_k=5)
    monkeypatch.setenv("POLICYQA_RERANK_BASE_URL", rerank_env.base_url)
    monkeypatch.setenv("POLICYQA_RERANK_TIMEOUT", "0.5" if mode == "stall" else "30")
    rerank_env.mode, rerank_env.stall_s = mode, 3.0
    t0 = time.perf_counter()
    result = _searcher(loaded_index, encoder, settings).search(QUESTION, top_k=5)
    assert mode != "stall" or time.perf_counter() - t0 < 2.5
    assert message in result.rerank_error and "the rerank server at 127.0.0.1" in result.rerank_error
    assert [h.passage.chunk_id for h in result.hits] == [h.passage.chunk_id for h in fused.hits]
    assert [h.score for h in result.hits] == [h.score for h in fused.hits] and all(h.rerank is None for h in result.hits)


def test_rerank_answers_that_do_not_fit_are_errors(rerank_env):
    from index.query.rerank import RerankConfig, Reranker, RerankError

    reranker = Reranker(RerankConfig.from_settings(Settings()))
    order = reranker.order("人才住房补贴", ["交通一体化", "人才住房补贴政策", "生态环境"])
    assert order[0][0] == 1 and len(order) == 3
    rerank_env.mode = "bad_index"
    with pytest.raises(RerankError, match="index 3, not one of the 3 passages"):
        reranker.order("人才", ["a", "b", "c"])


# ---------------------------------------------------------------- the service: health, 503, scores.rerank


def test_service_with_both_servers(tiny_corpus, server_env, rerank_env, monkeypatch):
    from index.backends.select import ensure_built
    from tests.conftest import start_server, stop_server

    ensure_built(Settings())
    env = {k: v for k, v in os.environ.items() if k.startswith("POLICYQA_")}
    proc, url = start_server({**env, "POLICYQA_EMBED_TIMEOUT": "1", "POLICYQA_READER": "features"})
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    try:
        health = httpx.get(f"{url}/api/health", timeout=10).json()
        assert health["status"] == "ok"
        assert health["embedder"] == {"kind": "server", "host": server_env.base_url.split("/")[2],
                                      "model": "e5-small-double", "query_prefix": "query: ",
                                      "passage_prefix": "passage: ", "dim": 384}
        assert health["reranker"] == {"host": rerank_env.base_url.split("/")[2], "model": "e5-rerank-double", "top_n": 12}
        r = httpx.post(f"{url}/api/query", json={"query": "吴江出台了哪些举措？", "top_k": 3}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rerank_error"] is None and all(p["scores"]["rerank"] is not None for p in body["passages"])
        rerank_env.mode = "error500"
        body = httpx.post(f"{url}/api/query", json={"query": "吴江出台了哪些举措？", "top_k": 3}, timeout=30).json()
        assert "HTTP 500" in body["rerank_error"] and all(p["scores"]["rerank"] is None for p in body["passages"])
        server_env.mode, server_env.stall_s = "stall", 5.0
        r = httpx.post(f"{url}/api/query", json={"query": "吴江有什么新举措？"}, timeout=30)
        assert r.status_code == 503
        assert r.json()["detail"].startswith("The question could not be embedded: the embedding server at 127.0.0.1")
        assert "did not answer within 1 s" in r.json()["detail"] and "Traceback" not in r.text
    finally:
        stop_server(proc)


# ---------------------------------------------------------------- the Milvus backend through the same seam


@pytest.mark.slow
def test_milvus_build_and_queries_use_the_embedding_server(tiny_corpus, server_env, monkeypatch, encoder, tmp_path):
    from index.backends.milvus.backend import MilvusBackend
    from index.backends.milvus.build import build as build_milvus, up_to_date
    from index.backends.milvus.store import MilvusConfig
    from index.search import Searcher
    from tests.conftest import free_port
    from tests.test_milvus import MilvusServer

    server = MilvusServer(tmp_path / "milvus", free_port())
    server.start()
    try:
        settings, cfg = Settings(), MilvusConfig(uri=server.uri, prefix="t_embed", timeout=10)
        build_milvus(settings, cfg, progress=False)  # no encoder given: the seam picks the server
        assert server_env.requests, "the build did not call the embedding server"
        backend = MilvusBackend.open(cfg, settings)
        manifest = backend.info().manifest
        assert manifest["config"]["embedder"]["model"] == "e5-small-double" and manifest["dim"] == 384
        asked = len(server_env.requests)
        hits = Searcher(backend, open_encoder(settings), settings, neural=False).search("吴江出台了哪些举措？", top_k=3).hits
        assert len(server_env.requests) == asked + 1 and hits  # the query was embedded by the server
        q = encoder.encode_raw(["query: 吴江出台了哪些举措？"])[0]  # same vectors as the built-in model's in fp32
        assert abs(hits[0].dense - float(encoder.encode_passages([index_text_of(hits[0].passage)])[0] @ q)) < 1e-3
        monkeypatch.setenv("POLICYQA_EMBED_QUERY_PREFIX", "")
        _, reasons = up_to_date(backend.store, Settings())
        assert any("query" in r for r in reasons)  # another embedder: the Milvus build is stale too
        backend.close()
    finally:
        server.kill()


def index_text_of(passage) -> str:
    from index.build.plan import index_text

    return index_text(passage, Settings().index_context)
