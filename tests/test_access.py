"""Access and spend (issue 18): the API key on every client route, checked before the body; the
trusted-hosts check; a per-client rate limit and open-answer cap on the LLM routes; and 429 at
once, not a queue, when every LLM slot is taken. A real uvicorn server with the stub LLM (a TEST
DOUBLE, tests/stub_llm.py) behind it; clients on different loopback addresses are different clients.
"""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from service.app import SECURITY_HEADERS
from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.slow

KEY = "access-test-key-7f3e"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
RATE = 5  # questions per minute per client
GUARDED = [("POST", "/api/query"), ("POST", "/api/chat"), ("GET", "/api/documents"), ("GET", "/api/documents/x.txt"),
           ("GET", "/api/jobs/abc"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
           ("POST", "/api/documents"), ("DELETE", "/api/documents/x.txt"), ("POST", "/api/admin/reload")]


@pytest.fixture(scope="module")
def url(settings, stub_llm):
    proc, base = start_server({"POLICYQA_API_KEY": KEY, "POLICYQA_ALLOWED_HOSTS": "policyqa.example",
                               "POLICYQA_RATE_LIMIT": f"{RATE}/minute", "POLICYQA_MAX_STREAMS": "2",
                               "POLICYQA_LLM_BASE_URL": stub_llm.base_url, "POLICYQA_LLM_MODEL": "stub-model",
                               "POLICYQA_LLM_CONCURRENCY": "3", "POLICYQA_LLM_TIMEOUT": "30"})
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    yield base
    stop_server(proc)


@pytest.fixture
def stub(stub_llm):
    yield stub_llm
    stub_llm.mode = "normal"


def client(url: str, address: str = "127.0.0.1", **kw) -> httpx.Client:
    """A client on its own loopback address: the server tells clients apart by address."""
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=address), **kw)


def plain(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "Traceback" not in detail
    assert all(r.headers.get(k) == v for k, v in SECURITY_HEADERS.items())
    return detail


def test_the_key_guards_every_api_route(url):
    with client(url) as c:
        for method, path in GUARDED:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
                r = c.request(method, path, headers=headers)
                assert "Authorization: Bearer" in plain(r, 401), (method, path)
                assert r.headers["WWW-Authenticate"] == "Bearer"
        assert c.get("/v1/models").json()["error"]["code"] == "invalid_api_key"  # OpenAI clients read this
        # with the key
        assert c.post("/api/query", json={"query": GOLDEN, "top_k": 2}, headers=AUTH).status_code == 200
        assert c.get("/v1/models", headers=AUTH).json()["data"][0]["id"] == "policyqa"
        assert c.get("/api/documents", headers=AUTH).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(url):
    with client(url) as c:
        # 1 MB of not-JSON: without the key it is a 401, not 413 or 415: the body was never looked at
        r = c.post("/api/query", content=b"x" * 1_000_000, headers={"content-type": "text/plain"})
        plain(r, 401)
        r = c.post("/api/documents", content=b"x" * 1000, headers={"content-type": "multipart/form-data; boundary=b",
                                                                    "X-Admin-Token": "anything"})
        plain(r, 401)
        assert plain(c.post("/api/query", content=b"x" * 1_000_000, headers={**AUTH, "content-type": "text/plain"}),
                     413)


def test_the_page_static_files_docs_and_health_stay_open(url):
    with client(url) as c:
        assert c.get("/").status_code == 200
        for path in ("/static/app.js", "/static/key.js", "/static/library.js", "/docs", "/api/health"):
            assert c.get(path).status_code == 200, path
        schema = c.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
        assert schema["paths"]["/api/query"]["post"]["security"] == [{"apiKey": []}]
        assert "security" not in schema["paths"]["/api/health"]["get"]


def test_only_trusted_hosts_are_served(url):
    with client(url) as c:
        for host in ("evil.example", "policyqa.example.evil.com", "192.168.1.10"):
            r = c.get("/api/health", headers={"Host": host})
            assert r.status_code == 400 and r.text == "Invalid host header", host
            assert c.get("/", headers={"Host": host}).status_code == 400
        for host in ("localhost", "127.0.0.1:8000", "policyqa.example", "policyqa.example:443", "[::1]:8000"):
            assert c.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_llm_routes_are_rate_limited_per_client(url):
    with client(url, "127.0.0.2") as c, client(url, "127.0.0.3") as other:
        cheap = {"messages": []}  # refused as 422 after the guard: counts, costs no LLM call
        for _ in range(RATE):
            assert c.post("/api/chat", json=cheap, headers=AUTH).status_code == 422
        t0 = time.perf_counter()
        r = c.post("/api/chat", json=cheap, headers=AUTH)
        assert "Too many questions" in plain(r, 429) and time.perf_counter() - t0 < 2
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        v1 = c.post("/v1/chat/completions", json=cheap, headers=AUTH)
        assert v1.status_code == 429 and v1.json()["error"]["code"] == "rate_limit_exceeded"
        # other routes and other clients are not limited
        assert c.post("/api/query", json={"query": GOLDEN, "top_k": 1}, headers=AUTH).status_code == 200
        assert other.post("/api/chat", json=cheap, headers=AUTH).status_code == 422


def _hold_stream(url: str, address: str, clients: list, seen: list) -> None:
    """Open a streamed answer and read it until the main thread closes the client."""
    c = client(url, address)
    clients.append(c)
    try:
        with c.stream("POST", "/api/chat", headers=AUTH,
                      json={"messages": [{"role": "user", "content": GOLDEN}], "stream": True}) as r:
            seen.append(r.status_code)
            for _ in r.iter_lines():
                pass
    except (httpx.HTTPError, RuntimeError, OSError):
        pass  # closed under it: the user went away


def test_open_answers_are_capped_and_busy_llm_slots_answer_429_at_once(url, stub):
    stub.mode = "stall"  # every LLM call hangs: its slot stays taken
    clients, seen, held = [], [], []
    before = len(stub.requests)

    def hold(address: str, count: int) -> None:
        for _ in range(count):
            t = threading.Thread(target=_hold_stream, args=(url, address, clients, seen), daemon=True)
            t.start()
            held.append(t)
        deadline = time.monotonic() + 60
        while len(stub.requests) < before + len(held) and time.monotonic() < deadline:
            time.sleep(0.05)  # until each answer is waiting on the LLM
        assert len(stub.requests) == before + len(held)

    try:
        hold("127.0.0.4", 2)  # this client's cap
        with client(url, "127.0.0.4") as c:
            r = c.post("/api/chat", json={"messages": [{"role": "user", "content": GOLDEN}]}, headers=AUTH)
            assert "already has 2 answers" in plain(r, 429) and r.headers["Retry-After"]
        hold("127.0.0.5", 1)  # the third and last LLM slot
        with client(url, "127.0.0.6") as c:
            t0 = time.perf_counter()
            r = c.post("/api/chat", json={"messages": [{"role": "user", "content": GOLDEN}]}, headers=AUTH)
            assert "try again" in plain(r, 429) and time.perf_counter() - t0 < 2  # no wait in a queue
            assert int(r.headers["Retry-After"]) > 0
            v1 = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": GOLDEN}]}, headers=AUTH)
            assert v1.status_code == 429 and v1.json()["error"]["type"] == "rate_limit_error"
            assert c.post("/api/query", json={"query": GOLDEN, "top_k": 1}, headers=AUTH).status_code == 200
    finally:
        stub.mode = "normal"
        for c in list(clients):
            c.close()  # the users go away: their answers end and give back their slots
        for t in held:
            t.join(timeout=30)
    assert seen == [200, 200, 200]
    with client(url, "127.0.0.6") as c:  # the slots are free again once those answers ended
        deadline = time.monotonic() + 30
        while (r := c.post("/api/chat", json={"messages": [{"role": "user", "content": GOLDEN}]},
                           headers=AUTH)).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert r.status_code == 200 and r.json()["answer"]["llm"] == "stub-model"
