"""The HTTP API against the real index and model: contract, bad input, headers, logs.

Most tests use FastAPI's TestClient on the real app (its lifespan loads the real
index); the chunked-body, header and concurrency checks go through a real uvicorn
server (the `server` fixture), because only a real HTTP server sends chunked bodies and runs
requests concurrently.
"""
from __future__ import annotations

import json
import logging
import re
import statistics
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from index.config import BUILD_COMMAND, Settings
from service.app import MAX_BODY_BYTES, MAX_JSON_DEPTH, SECURITY_HEADERS, create_app, json_depth
from service.models import MAX_QUERY_CHARS
from tests.conftest import start_server, stop_server

GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
GOLDEN_SOURCE = "001_bac9d13cc5f2f8b2.txt"


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        yield c


@pytest.fixture(scope="module")
def server(settings):
    """A real uvicorn server; its stderr is drained into a list (an undrained pipe fills
    up after ~64 KiB of log lines and then blocks the server)."""
    proc, url = start_server()
    lines: list[str] = []

    def drain():
        for line in proc.stderr:
            lines.append(line.decode("utf-8", errors="replace"))

    threading.Thread(target=drain, daemon=True).start()
    yield url, lines
    stop_server(proc)


def post_raw(client, body: bytes | str, content_type: str | None = "application/json", path: str = "/api/query"):
    headers = {"content-type": content_type} if content_type else {}
    return client.post(path, content=body, headers=headers)


def assert_plain_error(response, status: int) -> str:
    """A rejection: the expected 4xx, a JSON body with one plain `detail` string, no traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    for leak in ("Traceback", 'File "', "pydantic", "RecursionError", "errors.pydantic.dev"):
        assert leak not in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    return body["detail"]


# ---------------------------------------------------------------- contract and golden query


def test_query_contract_fields_and_types(client):
    r = client.post("/api/query", json={"query": GOLDEN, "top_k": 5, "mode": "hybrid"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "mode", "answer", "abstain_reason", "passages", "timings_ms", "rerank_error"}
    assert body["abstain_reason"] is None and body["rerank_error"] is None  # no rerank server configured
    assert body["query"] == GOLDEN and body["mode"] == "hybrid"
    assert isinstance(body["passages"], list) and len(body["passages"]) == 5
    types = {"rank": int, "score": float, "text": str, "source": str, "title": str, "section": str,
             "char_start": int, "char_end": int, "chunk_id": str, "scores": dict,
             "page": (int, type(None)), "table": (dict, type(None))}
    for i, p in enumerate(body["passages"]):
        assert set(p) == set(types)
        for key, kind in types.items():
            assert isinstance(p[key], kind), (key, p[key])
        assert p["rank"] == i + 1
        assert set(p["scores"]) == {"bm25", "dense", "rerank"} and p["scores"]["rerank"] is None
        assert isinstance(p["scores"]["bm25"], float) and isinstance(p["scores"]["dense"], float)
        assert 0 <= p["char_start"] < p["char_end"]
    answer = body["answer"]
    assert answer is not None
    assert set(answer) == {"text", "passage_rank", "source", "char_start", "char_end", "score", "sentences", "span",
                           "answer_type", "table"}
    assert answer["table"] is None  # not a table's cell
    assert isinstance(answer["text"], str) and isinstance(answer["score"], float) and 0 <= answer["score"] <= 1
    assert answer["answer_type"] == "list"  # 哪些 asks for a list
    assert answer["sentences"] and "".join(s["text"] for s in answer["sentences"]) == answer["text"]
    first = answer["sentences"][0]
    assert (first["source"], first["char_start"], first["char_end"]) == (answer["source"], answer["char_start"], answer["char_end"])
    assert answer["span"] is None  # a list question has no single typed span
    assert all(isinstance(answer[k], int) for k in ("passage_rank", "char_start", "char_end"))
    assert isinstance(body["timings_ms"], dict)
    for stage in ("tokenize", "bm25", "encode", "faiss", "fuse", "answer", "total"):
        assert isinstance(body["timings_ms"][stage], float)


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_golden_query_cites_exact_spans(client, mode):
    r = client.post("/api/query", json={"query": GOLDEN, "top_k": 5, "mode": mode})
    assert r.status_code == 200
    body = r.json()
    top3 = body["passages"][:3]
    good = [p for p in top3 if p["source"] == GOLDEN_SOURCE and "5G" in p["text"] and "千兆光纤" in p["text"]]
    assert good, [(p["source"], p["text"][:60]) for p in top3]
    docs = {}
    for p in body["passages"]:
        if p["source"] not in docs:
            d = client.get(f"/api/documents/{p['source']}")
            assert d.status_code == 200
            docs[p["source"]] = d.json()["text"]
        assert docs[p["source"]][p["char_start"]:p["char_end"]] == p["text"]
    answer = body["answer"]
    if mode == "hybrid":
        assert answer is not None
    if answer is not None:
        for sentence in answer["sentences"]:  # every sentence cites a returned passage, exactly
            text = docs.get(sentence["source"]) or client.get(f"/api/documents/{sentence['source']}").json()["text"]
            assert text[sentence["char_start"]:sentence["char_end"]] == sentence["text"]
            cited = body["passages"][sentence["passage_rank"] - 1]
            assert cited["source"] == sentence["source"]
            assert cited["char_start"] <= sentence["char_start"] < sentence["char_end"] <= cited["char_end"]


def test_documents_list_and_one(client):
    r = client.get("/api/documents")
    assert r.status_code == 200
    docs = r.json()["documents"]
    assert GOLDEN_SOURCE in {d["source"] for d in docs}
    one = client.get(f"/api/documents/{GOLDEN_SOURCE}").json()
    assert one["length"] == len(one["text"]) and one["passages"] > 0
    for h in one["headings"]:
        assert one["text"][h["char_start"]:].startswith(h["text"][:1])


def test_unknown_document_is_404(client):
    detail = assert_plain_error(client.get("/api/documents/no_such_file.txt"), 404)
    assert "no_such_file.txt" in detail and "/api/documents" in detail
    assert_plain_error(client.get("/api/documents/..%2F..%2Fetc%2Fpasswd"), 404)
    assert_plain_error(client.get("/api/nothing-here"), 404)


def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["index_loaded"] and body["passages"] > 0 and body["build_id"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("query", ["", "   ", "\n\t  ", "\x00\x01\x7f"])
def test_empty_or_blank_query_is_422(client, query):
    detail = assert_plain_error(client.post("/api/query", json={"query": query}), 422)
    assert "empty" in detail


def test_missing_query_is_422(client):
    assert "query is required" in assert_plain_error(client.post("/api/query", json={"top_k": 3}), 422)
    assert "required" in assert_plain_error(post_raw(client, b""), 422)


@pytest.mark.parametrize("value", [None, 123, ["a"], {"q": "a"}, True])
def test_query_of_wrong_type_is_422(client, value):
    assert "query must be a string" in assert_plain_error(client.post("/api/query", json={"query": value}), 422)


def test_query_length_cap(client):
    ok = client.post("/api/query", json={"query": "政" * MAX_QUERY_CHARS, "top_k": 1})
    assert ok.status_code == 200
    detail = assert_plain_error(client.post("/api/query", json={"query": "政" * (MAX_QUERY_CHARS + 1)}), 422)
    assert str(MAX_QUERY_CHARS) in detail


@pytest.mark.parametrize("top_k", [0, -1, 51, 10**30, "abc", 2.5, None, [5]])
def test_top_k_out_of_bounds_is_422(client, top_k):
    detail = assert_plain_error(client.post("/api/query", json={"query": GOLDEN, "top_k": top_k}), 422)
    assert "top_k must be a whole number from 1 to 50" in detail


@pytest.mark.parametrize("top_k", [1, 50])
def test_top_k_bounds_are_inclusive(client, top_k):
    r = client.post("/api/query", json={"query": GOLDEN, "top_k": top_k, "mode": "bm25"})
    assert r.status_code == 200 and len(r.json()["passages"]) == top_k


@pytest.mark.parametrize("mode", ["HYBRID", "semantic", "", 1])
def test_unknown_mode_is_422(client, mode):
    detail = assert_plain_error(client.post("/api/query", json={"query": GOLDEN, "mode": mode}), 422)
    assert "mode must be one of hybrid, bm25, dense" in detail


@pytest.mark.parametrize("body", [b"{", b'{"query": }', b"{'query': 'x'}", b'{"query": "a",}', b"\xff\xfe\x00",
                                  b'{"query": "unterminated'])
def test_malformed_json_is_400(client, body):
    assert "not valid JSON" in assert_plain_error(post_raw(client, body), 400)


@pytest.mark.parametrize("body", [b"[]", b'"just a string"', b"42", b"null", b"NaN"])
def test_json_that_is_not_an_object_is_422(client, body):
    assert "must be a JSON object" in assert_plain_error(post_raw(client, body), 422)


def test_body_size_cap_with_content_length(client):
    body = json.dumps({"query": "x" * (MAX_BODY_BYTES + 10)})
    detail = assert_plain_error(post_raw(client, body), 413)
    assert str(MAX_BODY_BYTES) in detail


def test_body_size_cap_on_streamed_body(client):
    """No Content-Length (the body is streamed in chunks): the cap holds on the bytes read."""
    sent = []

    def chunks():
        for _ in range(40):
            sent.append(1)
            yield b"x" * 1024

    r = client.post("/api/query", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_plain_error(r, 413)


def test_streamed_body_under_the_cap_is_accepted(client):
    def chunks():
        data = json.dumps({"query": GOLDEN, "top_k": 2}).encode()
        for i in range(0, len(data), 7):
            yield data[i:i + 7]

    r = client.post("/api/query", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(r.json()["passages"]) == 2


def test_bad_content_length_is_400(server):
    # httpx refuses to send a malformed Content-Length, so write the request by hand.
    import socket
    host, port = server[0].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    assert 400 <= status < 500
    assert b"Traceback" not in data


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                   "application/xml", "text/json"])
def test_non_json_content_type_is_415(client, ctype):
    detail = assert_plain_error(post_raw(client, json.dumps({"query": GOLDEN}), ctype), 415)
    assert "application/json" in detail


def test_missing_content_type_with_a_body_is_415(client):
    assert_plain_error(post_raw(client, json.dumps({"query": GOLDEN}), None), 415)


def test_json_content_type_variants_are_accepted(client):
    for ctype in ("application/json; charset=utf-8", "Application/JSON", "application/problem+json"):
        r = post_raw(client, json.dumps({"query": GOLDEN, "top_k": 1, "mode": "bm25"}), ctype)
        assert r.status_code == 200, ctype


def test_deeply_nested_json_is_rejected(client):
    deep = b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert "nested too deeply" in assert_plain_error(post_raw(client, deep), 400)
    deep_objects = b'{"a":' * 2500 + b"1" + b"}" * 2500  # 15 KB, under the size cap
    assert_plain_error(post_raw(client, deep_objects), 400)
    # Brackets inside strings are text, not nesting.
    r = client.post("/api/query", json={"query": "[" * 500 + "政策" + "{" * 500, "top_k": 1, "mode": "bm25"})
    assert r.status_code == 200
    shallow = b'{"query": ' + b"[" * 5 + b"]" * 5 + b"}"
    assert "query must be a string" in assert_plain_error(post_raw(client, shallow), 422)


def test_json_depth_counter():
    assert json_depth(b'{"a": [1, {"b": [2]}]}') == 0  # few brackets: the fast path
    many = b'{"a": "' + b"[" * 100 + b'"}'
    assert json_depth(many) == 1
    escaped = b'{"a": "\\"' + b"[" * 100 + b'"}'
    assert json_depth(escaped) == 1
    assert json_depth(b"[" * (MAX_JSON_DEPTH + 5)) == MAX_JSON_DEPTH + 5


def test_lone_surrogate_and_odd_characters(client):
    detail = assert_plain_error(post_raw(client, '{"query": "\\ud800 政策"}'), 422)
    assert "Unicode" in detail
    for q in ("政策\x00支持", "\u202e政策\u200f支持", "🚀 5G 千兆光纤 🇨🇳", "政策 policy سياسة политика"):
        r = client.post("/api/query", json={"query": q, "top_k": 2})
        assert r.status_code == 200, q
        assert "\x00" not in r.json()["query"]


def test_method_not_allowed_is_plain(client):
    assert_plain_error(client.get("/api/query"), 405)
    assert_plain_error(client.put("/api/documents", json={}), 405)
    # a body the route would refuse is not even looked at: the method is wrong first (was 415)
    r = client.put("/api/documents", content=b"--b--\r\n", headers={"content-type": "multipart/form-data; boundary=b"})
    assert_plain_error(r, 405)
    # Allow names every method of the path, not only the first route's
    assert {m.strip() for m in client.options("/api/documents/x.txt").headers["allow"].split(",")} >= {"GET", "DELETE"}
    assert {m.strip() for m in client.request("OPTIONS", "/api/documents").headers["allow"].split(",")} >= {"GET", "POST"}


def test_the_schema_states_what_the_server_refuses(client):
    """Where the server refuses a value, the schema says so (issue 18: schemathesis found these)."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ChatRequest", "OpenAIChatRequest"):
        assert schema[name]["properties"]["messages"]["minItems"] == 1
        stream = schema[name]["properties"]["stream"]
        assert stream["type"] == "boolean"
        body = {"messages": [{"role": "user", "content": GOLDEN}], "stream": 0}
        path = "/api/chat" if name == "ChatRequest" else "/v1/chat/completions"
        r = client.post(path, json=body)
        assert r.status_code == 422 and "stream" in r.json()["detail"]  # 0 is not a boolean here either
    item = schema["QueryRequest"]["properties"]["sources"]["anyOf"][0]["items"]
    assert item["minLength"] == 1 and not re.search(item["pattern"], "") and not re.search(item["pattern"], "  ")
    assert_plain_error(client.post("/api/query", json={"query": GOLDEN, "sources": [""]}), 422)
    v1 = client.post("/v1/chat/completions", json={"messages": "x"})
    assert v1.status_code == 422 and set(v1.json()) == {"error", "detail"}  # the shape /v1 declares
    assert v1.json()["error"]["message"] == v1.json()["detail"]


def test_index_missing_is_503_naming_the_build_command(tmp_path):
    settings = Settings(seeds_dir=tmp_path / "seeds", var_dir=tmp_path / "var")
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        detail = assert_plain_error(c.post("/api/query", json={"query": GOLDEN}), 503)
        assert BUILD_COMMAND in detail
        assert BUILD_COMMAND in assert_plain_error(c.get("/api/documents"), 503)
        health = c.get("/api/health")
        assert health.status_code == 503
        assert health.json()["index_loaded"] is False and BUILD_COMMAND in health.json()["detail"]
        assert detail.count("Build it with") == 1


# ---------------------------------------------------------------- admin


def test_reload_needs_the_token(settings):
    # The token is a setting the app is made with (read once at start): each app here gets its own settings.
    unset = TestClient(create_app(settings.replace(admin_token="")), base_url="http://localhost")  # no lifespan: a 403 needs no index
    assert_plain_error(unset.post("/api/admin/reload", headers={"X-Admin-Token": ""}), 403)  # disabled when unset
    with TestClient(create_app(settings.replace(admin_token="s3cret-token")), base_url="http://localhost") as client:
        assert_plain_error(client.post("/api/admin/reload"), 403)
        assert_plain_error(client.post("/api/admin/reload", headers={"X-Admin-Token": "wrong"}), 403)
        r = client.post("/api/admin/reload", headers={"X-Admin-Token": "s3cret-token"})
        assert r.status_code == 200 and r.json()["index_loaded"]


# ---------------------------------------------------------------- headers, CORS, request ids


def test_security_headers_on_every_kind_of_response(client):
    responses = [
        client.get("/"),
        client.get("/api/health"),
        client.get("/api/documents/missing.txt"),  # 404
        client.post("/api/query", json={"query": ""}),  # 422
        post_raw(client, "x" * (MAX_BODY_BYTES + 1)),  # 413
        post_raw(client, "{}", "text/plain"),  # 415
        post_raw(client, "{"),  # 400
        client.get("/openapi.json"),
    ]
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 400, 404, 413, 415, 422]
    for r in responses:
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (r.request.url, name)
        assert r.headers.get("x-request-id")


def test_live_server_headers_and_chunked_cap(server):
    """Through real uvicorn: a chunked body over the cap gets 413 with the security headers."""
    def chunks():
        for _ in range(64):
            yield b"y" * 1024

    with httpx.Client(base_url=server[0], timeout=30) as c:
        r = c.post("/api/query", content=chunks(), headers={"content-type": "application/json"})
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert_plain_error(r, 413)
        assert_plain_error(c.get("/api/documents/none.txt"), 404)
        assert_plain_error(c.post("/api/query", json={"query": "x", "top_k": 0}), 422)
        assert_plain_error(c.post("/api/query", content=b"a" * (MAX_BODY_BYTES * 2),
                                  headers={"content-type": "application/json"}), 413)
        ok = c.post("/api/query", json={"query": GOLDEN, "top_k": 3})
        assert ok.status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert ok.headers.get(name) == value
        assert "access-control-allow-origin" not in ok.headers


def test_request_id_is_echoed_only_when_safe(client):
    r = client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/api/health", headers={"X-Request-ID": "evil\tvalue {json}"})
    assert r.headers["x-request-id"] != "evil\tvalue {json}" and len(r.headers["x-request-id"]) == 16


def test_cors_off_by_default(client, monkeypatch):
    r = client.get("/api/health", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/query", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(tmp_path):
    app = create_app(Settings(seeds_dir=tmp_path, var_dir=tmp_path,
                              cors_origins="https://allowed.example, https://other.example"))
    c = TestClient(app, base_url="http://localhost")  # no lifespan: CORS does not need the index
    r = c.get("/api/health", headers={"Origin": "https://allowed.example"})
    assert r.headers.get("access-control-allow-origin") == "https://allowed.example"
    assert r.headers.get("x-frame-options") == "DENY"
    r = c.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = c.options("/api/query", headers={"Origin": "https://allowed.example", "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers.get("access-control-allow-origin") == "https://allowed.example"


# ---------------------------------------------------------------- logs


def _log_records(caplog) -> list[dict]:
    out = []
    for rec in caplog.records:
        if rec.name == "policyqa":
            try:
                out.append(json.loads(rec.getMessage()))
            except ValueError:
                pass
    return out


def test_logs_have_request_id_length_and_stages_but_not_the_query(client, caplog):
    secret = "我的身份证号码和家庭住址保密政策咨询"
    with caplog.at_level(logging.INFO, logger="policyqa"):
        r = client.post("/api/query", json={"query": secret}, headers={"X-Request-ID": "log-test-1"})
    assert r.status_code == 200
    assert secret not in caplog.text
    assert json.dumps(secret) not in caplog.text  # not even \u-escaped
    recs = [x for x in _log_records(caplog) if x.get("request_id") == "log-test-1"]
    assert len(recs) == 1
    rec = recs[0]
    assert rec["path"] == "/api/query" and rec["status"] == 200 and rec["query_chars"] == len(secret)
    assert {"tokenize", "bm25", "encode", "faiss", "fuse", "answer", "total"} <= set(rec["stages_ms"])
    assert "query" not in rec


def test_rejected_query_text_is_not_logged(client, caplog):
    secret = "秘密问题内容" * 3
    with caplog.at_level(logging.INFO):
        client.post("/api/query", json={"query": secret, "top_k": 0})
        post_raw(client, json.dumps({"query": secret}), "text/plain")
    assert secret not in caplog.text and json.dumps(secret) not in caplog.text


def test_live_server_stderr_has_no_query_text(server):
    url, lines = server
    secret = "请问我的私人问题会被记录吗"
    r = httpx.post(f"{url}/api/query", json={"query": secret}, headers={"X-Request-ID": "stderr-check"}, timeout=60)
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while not any("stderr-check" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    text = "".join(lines)
    line = next(x for x in lines if "stderr-check" in x)
    record = json.loads(line[line.index("{"):])
    assert record["query_chars"] == len(secret) and record["status"] == 200 and record["stages_ms"]["total"] > 0
    assert secret not in text and json.dumps(secret) not in text
    assert "Batches" not in text  # no per-query progress bar


def test_query_text_logged_only_when_enabled(client, caplog, monkeypatch):
    assert create_app(Settings(log_queries="1")).state.log_queries is True
    assert create_app(Settings(log_queries="0")).state.log_queries is False
    monkeypatch.setattr(client.app.state, "log_queries", True)
    with caplog.at_level(logging.INFO, logger="policyqa"):
        client.post("/api/query", json={"query": "开启日志的问题", "top_k": 1}, headers={"X-Request-ID": "log-test-2"})
    rec = [x for x in _log_records(caplog) if x.get("request_id") == "log-test-2"][0]
    assert rec["query"] == "开启日志的问题"


# ---------------------------------------------------------------- concurrency


def test_health_stays_fast_while_queries_run(server):
    """Queries run in the threadpool, so the event loop keeps answering cheap requests."""
    queries = ["示范区要加快建设哪些新一代信息基础设施？", "人才引进有哪些补贴政策", "What support is given to startups?",
               "数字经济发展的主要目标是什么"]
    stop = threading.Event()
    done, failures = [], []

    def worker(q):
        with httpx.Client(base_url=server[0], timeout=60) as c:
            while not stop.is_set():
                r = c.post("/api/query", json={"query": q, "top_k": 5})
                (done if r.status_code == 200 else failures).append(r.status_code)

    threads = [threading.Thread(target=worker, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    latencies = []
    try:
        with httpx.Client(base_url=server[0], timeout=30) as c:
            time.sleep(0.5)
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                assert c.get("/api/health").status_code == 200
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not failures
    assert len(done) >= 4  # queries really were running
    # Generous bounds for a noisy 2-core box: a blocked loop would make health wait for
    # whole query encodings, i.e. hundreds of ms every time.
    assert statistics.median(latencies) < 0.15, latencies
    assert max(latencies) < 2.0, latencies
