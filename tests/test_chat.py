"""POST /api/chat and the OpenAI-compatible /v1 API, over real uvicorn servers.

`live_server` has no LLM (the extractive path); `llm_server` has the stub LLM (tests/stub_llm.py,
a TEST DOUBLE: no real LLM runs here) behind it, with a 4 s read timeout and a bearer key on /v1.
"""
from __future__ import annotations

import json
import threading
import time

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from service.chat_models import CHAT_BODY_BYTES, MAX_MESSAGE_CHARS, MAX_MESSAGES
from tests.conftest import STUB_API_KEY

pytestmark = pytest.mark.slow

GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
LEAKS = ("Traceback", 'File "', "pydantic", "errors.pydantic.dev")
KEY = {"Authorization": f"Bearer {STUB_API_KEY}"}  # llm_server guards its API with the key; live_server has none


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat(url: str, messages: list[dict], **extra) -> httpx.Response:
    return httpx.post(f"{url}/api/chat", json={"messages": messages, **extra}, headers=KEY, timeout=60)


def events(url: str, messages: list[dict], **extra) -> list[tuple[str, dict]]:
    """The Server-Sent Events of one streamed chat turn, in order."""
    out = []
    with httpx.stream("POST", f"{url}/api/chat", json={"messages": messages, "stream": True, **extra}, headers=KEY,
                      timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


def document_text(url: str, source: str) -> str:
    return httpx.get(f"{url}/api/documents/{source}", headers=KEY, timeout=30).json()["text"]


def assert_sentences_point_at_text(url: str, answer: dict) -> None:
    for s in answer["sentences"]:
        if s["supported"]:
            doc = document_text(url, s["source"])
            assert 0 <= s["char_start"] < s["char_end"] <= len(doc)
            assert doc[s["char_start"]:s["char_end"]].strip()


def plain_4xx(r: httpx.Response, status: int = 422) -> str:
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail"}
    for leak in LEAKS:
        assert leak not in r.text
    return r.json()["detail"]


def abstaining_question(url: str) -> str:
    """An unanswerable question of the QA set on which retrieval abstains (answer null)."""
    from eval.qa import load_qa

    for q in load_qa():
        if not q.answerable:
            body = httpx.post(f"{url}/api/query", json={"query": q.question}, headers=KEY, timeout=60).json()
            if body["answer"] is None:
                return q.question
    pytest.fail("no unanswerable question makes retrieval abstain")


# ---------------------------------------------------------------- without an LLM


def test_extractive_chat_answer_shape(live_server):
    r = chat(live_server, user(GOLDEN))
    assert r.status_code == 200
    body = r.json()
    a = body["answer"]
    assert a["llm"] is None and a["llm_error"] is None and a["abstain_reason"] is None
    assert a["rewritten_query"] == GOLDEN == body["rewritten_query"]
    assert a["sentences"] and all(s["supported"] and s["citations"] for s in a["sentences"])
    ranks = {p["rank"] for p in body["passages"]}
    assert all(set(s["citations"]) <= ranks for s in a["sentences"])
    assert "[1]" in a["text"] or any(f"[{n}]" in a["text"] for n in ranks)
    # the extractive answer is the /api/query answer
    q = httpx.post(f"{live_server}/api/query", json={"query": GOLDEN}, timeout=60).json()
    assert a["sentences"][0]["char_start"] == q["answer"]["char_start"]
    assert_sentences_point_at_text(live_server, a)


def test_extractive_stream_sends_the_same_events_without_deltas(live_server):
    evs = events(live_server, user(GOLDEN))
    names = [n for n, _ in evs]
    assert names == ["passages", "answer", "done"]
    assert evs[0][1]["passages"] and evs[0][1]["rewritten_query"] == GOLDEN
    assert evs[1][1]["llm"] is None and evs[1][1]["sentences"]
    assert set(evs[2][1]["timings_ms"]) >= {"retrieval", "total", "overhead"}


def test_abstention_gives_the_plain_not_covered_reply(live_server):
    question = abstaining_question(live_server)
    a = chat(live_server, user(question)).json()["answer"]
    assert a["sentences"] == [] and a["llm"] is None and a["abstain_reason"]
    assert a["text"].startswith("文件中没有找到") or a["text"].startswith("The documents do not cover")


def test_follow_up_is_rewritten_by_rule_without_llm(live_server):
    msgs = [*user("青浦区有哪些人才政策？"), {"role": "assistant", "content": "……"}, *user("那吴江呢？")]
    body = chat(live_server, msgs).json()
    assert body["rewritten_query"] == "吴江有哪些人才政策？" == body["answer"]["rewritten_query"]


def test_query_contract_is_unchanged(live_server):
    body = httpx.post(f"{live_server}/api/query", json={"query": GOLDEN, "top_k": 2}, timeout=60).json()
    assert {"query", "mode", "answer", "passages", "timings_ms"} <= set(body)
    assert len(body["passages"]) == 2


# ---------------------------------------------------------------- bad input: plain 4xx


@pytest.mark.parametrize("body, words", [
    ({"messages": []}, "messages is empty"),
    ({"messages": [{"role": "user", "content": "问题"}] * 200}, f"the limit is {MAX_MESSAGES}"),
    ({"messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}]}, "last message must be the user's"),
    ({"messages": [{"role": "tool", "content": "x"}, {"role": "user", "content": "问题"}]}, "has role 'tool'"),
    ({"messages": [{"role": "user", "content": "   "}]}, "is empty"),
    ({"messages": [{"role": "user", "content": "问" * 2001}]}, "the limit is 2000"),
    ({"messages": [{"role": "user"}]}, "is required"),
    ({"messages": "你好"}, "messages"),
    ({"messages": [{"role": "user", "content": "问题"}], "top_k": 0}, "top_k"),
    ({"messages": [{"role": "user", "content": "问题"}], "mode": "magic"}, "mode"),
])
def test_bad_chat_requests_get_a_plain_422(live_server, body, words):
    detail = plain_4xx(httpx.post(f"{live_server}/api/chat", json=body, timeout=30))
    assert words in detail


def test_a_100_kb_message_is_refused_plainly(live_server):
    msgs = [{"role": "user", "content": "长" * 34000}, {"role": "assistant", "content": "好"}, *user("问题？")]
    assert len(json.dumps({"messages": msgs}, ensure_ascii=False).encode()) > 100_000
    detail = plain_4xx(chat(live_server, msgs))
    assert f"the limit is {MAX_MESSAGE_CHARS}" in detail


def test_chat_body_cap_is_larger_than_the_query_cap_but_still_enforced(live_server):
    # a 20 KB conversation passes /api/chat (256 KiB cap) though /api/query refuses 16 KiB
    msgs = [{"role": "user", "content": "往" * 3000}, {"role": "assistant", "content": "返" * 3000}, *user(GOLDEN)]
    assert chat(live_server, msgs).status_code == 200
    plain_4xx(httpx.post(f"{live_server}/api/query", json={"query": "问" * 7000}, timeout=30), 413)
    huge = json.dumps({"messages": user("问" * (CHAT_BODY_BYTES // 3 + 10))}, ensure_ascii=False)
    r = httpx.post(f"{live_server}/api/chat", content=huge.encode(), headers={"content-type": "application/json"}, timeout=30)
    assert "limit is 262144 bytes" in plain_4xx(r, 413)


def test_non_json_chat_body_is_refused(live_server):
    r = httpx.post(f"{live_server}/api/chat", content=b"messages=hi", headers={"content-type": "text/plain"}, timeout=30)
    plain_4xx(r, 415)


HOSTILE = st.one_of(st.text(max_size=40), st.sampled_from(["\x00", "\ud800", "\u202e", "<script>", "[9]", "\n\n", "data: x\n\n"]))


@given(content=HOSTILE, role=st.sampled_from(["user", "assistant", "system", "User", "", "tool"]), stream=st.booleans())
@hsettings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_hostile_messages_never_cause_a_server_error(live_server, content, role, stream):
    body = json.dumps({"messages": [{"role": role, "content": content}, {"role": "user", "content": content or "问"}],
                       "stream": stream}, ensure_ascii=True)  # ensure_ascii sends lone surrogates as escapes
    r = httpx.post(f"{live_server}/api/chat", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code < 500, r.text[:300]
    if r.status_code >= 400:
        plain_4xx(r, r.status_code)
    elif stream:
        assert "event: done" in r.text and "event: error" not in r.text
    else:
        assert "answer" in r.json()


# ---------------------------------------------------------------- with the stub LLM


@pytest.fixture
def stub(stub_llm):
    stub_llm.mode = "normal"
    yield stub_llm
    stub_llm.mode = "normal"


def test_llm_answer_is_streamed_then_checked(llm_server, stub):
    evs = events(llm_server, user(GOLDEN))
    names = [n for n, _ in evs]
    assert names[0] == "passages" and names[-2:] == ["answer", "done"] and names.count("delta") >= 3
    answer = evs[-2][1]
    assert answer["text"] == "".join(d["text"] for n, d in evs if n == "delta").strip()
    assert answer["llm"] == "stub-model" and answer["llm_error"] is None
    assert len(answer["sentences"]) == 2 and all(s["supported"] for s in answer["sentences"])
    assert [s["citations"] for s in answer["sentences"]] == [[1], [2]]
    passages = evs[0][1]["passages"]
    for s, p in zip(answer["sentences"], passages):
        # the citation resolves to the very sentence of the passage the stub copied
        doc = document_text(llm_server, s["source"])
        assert s["source"] == p["source"] and doc[s["char_start"]:s["char_end"]] == s["text"]
    # the prompt carried the numbered passages and the question
    prompt = json.dumps(stub.requests[-1]["messages"], ensure_ascii=False)
    assert "[1] " in prompt and GOLDEN in prompt and passages[0]["title"] in prompt


def test_unsupported_llm_sentence_is_marked_not_passed_off(llm_server, stub):
    stub.mode = "unsupported"
    a = chat(llm_server, user(GOLDEN)).json()["answer"]
    assert a["llm"] == "stub-model"
    [s] = a["sentences"]
    assert s["supported"] is False and "does not say" in s["problem"]


def test_citing_passage_9_of_5_names_the_problem(llm_server, stub):
    stub.mode = "cite9"
    a = chat(llm_server, user(GOLDEN)).json()["answer"]
    good, bad = a["sentences"]
    assert good["supported"] and not bad["supported"]
    assert bad["problem"] == "cites [9], but only 5 passages were given"


@pytest.mark.parametrize("mode, words", [
    ("error500", "HTTP 500"),
    ("invalid_json", "could not be read"),
    ("close", "closed the connection"),
    ("stall", "did not answer within 4 s"),
])
def test_failing_llm_gives_the_extractive_answer_and_says_why(llm_server, stub, mode, words):
    stub.mode = mode
    r = chat(llm_server, user(GOLDEN))
    assert r.status_code == 200
    a = r.json()["answer"]
    assert a["llm"] is None and words in a["llm_error"]
    assert a["sentences"] and all(s["supported"] for s in a["sentences"])


def test_failing_llm_in_a_stream_still_ends_with_an_answer(llm_server, stub):
    stub.mode = "close"
    evs = events(llm_server, user(GOLDEN))
    assert [n for n, _ in evs][-2:] == ["answer", "done"]
    assert "closed the connection" in evs[-2][1]["llm_error"]


def test_a_stalled_llm_does_not_hold_up_other_requests(llm_server, stub):
    stub.mode = "stall"
    box = {}
    slow = threading.Thread(target=lambda: box.setdefault("r", chat(llm_server, user(GOLDEN))))
    slow.start()
    time.sleep(0.5)  # the chat is now waiting on the stalled LLM
    t0 = time.perf_counter()
    for q in ("在示范区买房能享受户籍待遇吗？", "嘉善县的人才政策有哪些？", GOLDEN):
        assert httpx.post(f"{llm_server}/api/query", json={"query": q}, headers=KEY, timeout=10).status_code == 200
    elapsed = time.perf_counter() - t0
    assert slow.is_alive(), "the stalled chat finished too early to prove anything"
    assert elapsed < 3.0, elapsed
    slow.join()
    assert box["r"].status_code == 200


def test_abstention_makes_no_llm_call(llm_server, stub):
    question = abstaining_question(llm_server)
    before = len(stub.requests)
    a = chat(llm_server, user(question)).json()["answer"]
    assert a["sentences"] == [] and a["abstain_reason"] and a["llm"] is None
    assert len(stub.requests) == before


def test_client_disconnect_cancels_the_llm_request(llm_server, stub):
    stub.mode = "stall"
    ours = len(stub.requests)  # the index our LLM request will get
    with httpx.stream("POST", f"{llm_server}/api/chat", json={"messages": user(GOLDEN), "stream": True}, headers=KEY,
                      timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and "passages" in line:
                deadline = time.monotonic() + 15
                while len(stub.requests) <= ours and time.monotonic() < deadline:
                    time.sleep(0.05)  # retrieval done; wait until the stub holds our LLM request
                assert len(stub.requests) == ours + 1
                r.close()  # the user goes away
                break
    t0 = time.monotonic()
    while ours not in stub.cancelled and time.monotonic() - t0 < 3.5:  # the LLM timeout is 4 s
        time.sleep(0.05)
    assert ours in stub.cancelled, "the upstream LLM request was not cancelled when the client left"
    assert time.monotonic() - t0 < 3.0


def test_follow_up_is_rewritten_by_the_llm(llm_server, stub):
    msgs = [*user("青浦区有哪些人才政策？"), {"role": "assistant", "content": "……"}, *user("那吴江呢？")]
    body = chat(llm_server, msgs).json()
    # the stub rewrites as "<previous question> <question>": proof the LLM's rewrite was used
    assert body["rewritten_query"] == "青浦区有哪些人才政策？ 那吴江呢？"
    assert body["answer"]["rewrite_error"] is None


# ---------------------------------------------------------------- OpenAI-compatible API, official SDK as client


def sdk(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def test_v1_without_llm_non_stream_and_stream(live_server):
    client = sdk(live_server)
    assert [m.id for m in client.models.list()] == ["policyqa"]
    done = client.chat.completions.create(model="policyqa", messages=user(GOLDEN))
    content = done.choices[0].message.content
    assert done.object == "chat.completion" and done.choices[0].finish_reason == "stop"
    assert "[1]" in content and "来源 Sources:" in content
    extra = done.model_extra["policyqa"]
    assert extra["answer"]["llm"] is None and extra["answer"]["sentences"] and len(extra["passages"]) == 5
    chunks = list(client.chat.completions.create(model="policyqa", messages=user(GOLDEN), stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_v1_with_llm_streams_the_llm_answer_and_sources(llm_server, stub):
    client = sdk(llm_server, STUB_API_KEY)
    chunks = list(client.chat.completions.create(model="policyqa", messages=user(GOLDEN), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    extra = chunks[-1].model_extra["policyqa"]
    assert extra["answer"]["llm"] == "stub-model"
    assert text.startswith(extra["answer"]["text"]) and "来源 Sources:\n[1] " in text
    done = client.chat.completions.create(model="policyqa", messages=user(GOLDEN))
    assert done.choices[0].message.content == text


def test_v1_bad_input_and_api_key(llm_server, stub):
    with pytest.raises(openai.AuthenticationError) as err:
        sdk(llm_server, "wrong").chat.completions.create(model="policyqa", messages=user(GOLDEN))
    assert err.value.status_code == 401 and "needs a key" in err.value.message
    with pytest.raises(openai.AuthenticationError):
        sdk(llm_server, "wrong").models.list()
    with pytest.raises(openai.UnprocessableEntityError) as err:
        sdk(llm_server, STUB_API_KEY).chat.completions.create(model="policyqa", messages=[])
    assert "messages is empty" in str(err.value)
    # an OpenAI client's system message and content parts are accepted
    done = sdk(llm_server, STUB_API_KEY).chat.completions.create(model="policyqa", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": [{"type": "text", "text": GOLDEN}]}])
    assert "[1]" in done.choices[0].message.content
