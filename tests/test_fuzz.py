"""Fuzz the API of a real uvicorn server (real index, real model).

1. schemathesis generates requests from the service's own OpenAPI schema (valid and
   invalid ones) and checks: no 5xx, documented status codes, responses match the schema,
   invalid input is rejected.
2. hypothesis drives POST /api/query with hostile text: control characters, NUL, lone
   surrogates (sent as raw "\\ud800" JSON escapes), RTL marks, emoji, mixed scripts and
   100k-character strings.
Example counts are bounded so the file runs in well under a minute on two cores.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_schema_conformance, status_code_conformance,
)

from service.app import MAX_BODY_BYTES, SECURITY_HEADERS
from service.models import MAX_QUERY_CHARS, QueryResponse


@pytest.fixture(scope="module")
def server_url(live_server):
    return live_server  # the session's default server: the fuzzed routes change nothing it serves


@pytest.fixture(scope="module")
def api_schema(server_url):
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json")


@pytest.fixture(scope="module")
def http(server_url):
    with httpx.Client(base_url=server_url, timeout=60) as c:
        yield c


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
OPERATIONS = ["POST /api/query", "GET /api/documents", "GET /api/documents/{source}", "GET /api/health",
              "POST /api/admin/reload", "POST /api/documents", "DELETE /api/documents/{source}", "GET /api/jobs/{job_id}"]


def _operation(api_schema, label: str):
    for result in api_schema.get_all_operations():
        op = result.ok()
        if op.label == label:
            return op
    raise AssertionError(f"{label} is not in the OpenAPI schema")


# schemathesis' own pytest loader (from_fixture) does not work with pytest 9 here, so the
# operations' hypothesis strategies are driven directly: same generation, same checks.
@pytest.mark.parametrize("label,mode", [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    # Invalid data exists only where the schema constrains input (only the query body; any string is a valid path or header).
    (label, GenerationMode.NEGATIVE) for label in ("POST /api/query",)
])
def test_api_matches_its_own_schema(api_schema, label, mode):
    op = _operation(api_schema, label)
    seen: list[int] = []

    @given(case=op.as_strategy(generation_mode=mode))
    @hsettings(max_examples=10 if label == "POST /api/query" else 5, deadline=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    def run(case):
        if mode is GenerationMode.NEGATIVE and _body_bytes(case) > MAX_BODY_BYTES:
            # Over the documented body limit the request is refused (413) before its schema is looked at.
            response = case.call(timeout=60)
            assert response.status_code == 413, response.text[:300]
            seen.append(response.status_code)
            return
        response = case.call_and_validate(checks=CHECKS, timeout=60)
        seen.append(response.status_code)
        assert response.status_code < 500
        assert response.headers.get("x-content-type-options") == ["nosniff"]

    run()
    assert seen  # requests were really made


def _body_bytes(case) -> int:
    body = case.body
    if isinstance(body, (bytes, str)):
        return len(body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"))
    return len(json.dumps(body).encode())  # as sent: ASCII JSON with \u escapes


# ---------------------------------------------------------------- hostile text

PIECES = ["\x00", "\x01", "\x1b[31m", "\x7f", "\u200f", "\u202e", "\u200b", "\ufeff", "\ud800", "\udfff", "\udc00\ud800",
          "🚀", "👨‍👩‍👧", "🇨🇳", "政策", "示范区", "5G", "千兆光纤", "سياسة", "политика", "政策policy", "\u0301",
          " ", "\n", "\t", "\\", '"', "'", "<script>", "%00", "{}", "[]", "\U0010ffff", "\uffff"]

hostile_text = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40),
)
top_k_values = st.one_of(st.integers(-5, 60), st.just("5"), st.text(max_size=5), st.none(), st.floats(allow_nan=True),
                         st.booleans())
mode_values = st.one_of(st.sampled_from(["hybrid", "bm25", "dense"]), st.text(max_size=8))


def send(http, payload: dict) -> httpx.Response:
    # ensure_ascii escapes lone surrogates as \udXXX, exactly what a hostile client sends.
    return http.post("/api/query", content=json.dumps(payload, ensure_ascii=True),
                     headers={"content-type": "application/json"})


def has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def check_response(r: httpx.Response, query: str) -> None:
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text[:300])
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value
    if r.status_code == 200:
        body = QueryResponse.model_validate(r.json())  # the contract
        assert not has_lone_surrogate(query)
        assert 0 < len(body.query) <= MAX_QUERY_CHARS
        assert not any(ord(c) < 32 and c not in "\n\t\r" for c in body.query)  # control chars removed
        for i, p in enumerate(body.passages, 1):
            assert p.rank == i and p.char_start < p.char_end and p.text
    else:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and "Traceback" not in detail


@given(query=hostile_text, top_k=st.integers(1, 10), mode=st.sampled_from(["hybrid", "bm25", "dense"]))
@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_queries_never_break_the_server(http, query, top_k, mode):
    r = send(http, {"query": query, "top_k": top_k, "mode": mode})
    check_response(r, query)
    if has_lone_surrogate(query):
        assert r.status_code == 422 and "Unicode" in r.json()["detail"]
    elif not query.strip():
        assert r.status_code == 422 and "empty" in r.json()["detail"]
    if r.status_code == 200:
        assert len(r.json()["passages"]) <= top_k


@given(query=hostile_text, top_k=top_k_values, mode=mode_values)
@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_hostile_parameters_are_rejected_plainly(http, query, top_k, mode):
    r = send(http, {"query": query, "top_k": top_k, "mode": mode})
    check_response(r, query)
    valid_k = isinstance(top_k, int) and 1 <= top_k <= 50 or top_k == "5"
    if mode not in ("hybrid", "bm25", "dense") or not valid_k:
        assert r.status_code == 422


@pytest.mark.parametrize("piece", ["a", "政", "🚀", "\u200f", "\x00", "\ud800"])
def test_100k_character_strings_are_413(http, piece):
    query = piece * 100_000
    r = send(http, {"query": query})
    assert r.status_code == 413, r.text[:200]
    assert str(MAX_BODY_BYTES) in r.json()["detail"]


@pytest.mark.parametrize("piece", ["a", "政", "\u200f"])
def test_over_the_query_cap_but_under_the_body_cap_is_422(http, piece):
    query = piece * (MAX_QUERY_CHARS + 500)
    assert len(json.dumps({"query": query}, ensure_ascii=False).encode()) < MAX_BODY_BYTES
    r = http.post("/api/query", json={"query": query})
    assert r.status_code == 422 and str(MAX_QUERY_CHARS) in r.json()["detail"]


@given(source=st.text(max_size=40))
@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_document_names_never_break_the_server(http, source):
    # Percent-encode the raw bytes: lone surrogates become invalid UTF-8 (%ED%A0%80) on the wire.
    r = http.get("/api/documents/" + quote(source.encode("utf-8", "surrogatepass"), safe=""))
    assert r.status_code in (200, 404, 405, 307), (r.status_code, r.text[:200])
    assert r.headers.get("X-Frame-Options") == "DENY"
    if r.status_code == 404:
        assert isinstance(r.json()["detail"], str)
