"""The backend seam on the default (local) backend: the `sources` filter in the query API,
health naming the backend, and the encoder's device setting."""
from __future__ import annotations

import logging

import httpx
import pytest

from index.backends.base import Backend
from index.backends.local.backend import LocalBackend
from index.backends.select import selected_backend
from index.build.dense import resolve_device


def test_health_names_the_backend(live_server):
    body = httpx.get(f"{live_server}/api/health", timeout=30).json()
    assert body["status"] == "ok" and body["backend"] == "local"


def test_sources_filter_in_the_query_api(live_server):
    docs = [d["source"] for d in httpx.get(f"{live_server}/api/documents", timeout=30).json()["documents"]]
    assert len(docs) >= 2
    query = {"query": "示范区要加快建设哪些新一代信息基础设施？", "top_k": 5}
    everything = httpx.post(f"{live_server}/api/query", json=query, timeout=60).json()
    best = everything["passages"][0]["source"]
    other = next(d for d in docs if d != best)
    only_other = httpx.post(f"{live_server}/api/query", json={**query, "sources": [other]}, timeout=60)
    assert only_other.status_code == 200
    body = only_other.json()
    assert body["passages"] and {p["source"] for p in body["passages"]} == {other}
    if body["answer"]:
        assert body["answer"]["source"] == other  # the reader only reads what the filter let through
    both = httpx.post(f"{live_server}/api/query", json={**query, "sources": [best, other]}, timeout=60).json()
    assert both["passages"][0]["source"] == best and {p["source"] for p in both["passages"]} <= {best, other}


@pytest.mark.parametrize("sources, words", [
    (["nope.txt"], "nope.txt"),
    ([], "at least 1"),
    ([""], "not a document name"),
    (["x" * 301], "not a document name"),
    ([f"{i}.txt" for i in range(101)], "at most 100"),
    ("000.txt", "valid list"),
])
def test_bad_sources_are_a_plain_422(live_server, sources, words):
    r = httpx.post(f"{live_server}/api/query", json={"query": "人才", "sources": sources}, timeout=60)
    assert r.status_code == 422 and words in r.json()["detail"] and "Traceback" not in r.text


def test_searcher_wraps_a_loaded_index_in_the_local_backend(searcher):
    assert isinstance(searcher.backend, LocalBackend) and isinstance(searcher.backend, Backend)
    assert searcher.backend.name == "local" == selected_backend(searcher.settings)


def test_cuda_request_falls_back_to_cpu_with_one_clear_line(caplog):
    import onnxruntime as ort

    with caplog.at_level(logging.WARNING, logger="index.dense"):
        got = resolve_device("cuda", "onnx")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert got == "cuda"
    else:
        assert got == "cpu"
        assert any("POLICYQA_DEVICE=cuda" in r.message and "CPU" in r.message for r in caplog.records)
    assert resolve_device("cpu", "onnx") == "cpu"
    with pytest.raises(ValueError, match="POLICYQA_DEVICE"):
        resolve_device("tpu", "onnx")
