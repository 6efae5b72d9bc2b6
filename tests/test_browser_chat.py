"""The chat page's conversation features in real Chromium: streaming, stop, follow-ups,
unsupported sentences, and a citation click landing on the supporting sentence.

The LLM tests run against `llm_server`, whose LLM is the stub (tests/stub_llm.py, a TEST DOUBLE).
"""
from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from screenshot import ask
from tests.conftest import STUB_API_KEY
from test_browser import Page, chromium, parse_sse  # noqa: F401  (chromium is a fixture)

pytestmark = pytest.mark.browser

GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
KEY = {"Authorization": f"Bearer {STUB_API_KEY}"}


@pytest.fixture
def stub(stub_llm):
    stub_llm.mode, stub_llm.token_delay = "normal", 0.01
    yield stub_llm
    stub_llm.mode, stub_llm.token_delay = "normal", 0.01


@pytest.fixture
def pages(chromium):  # noqa: F811
    made: list[Page] = []

    def make(url: str, api_key: str | None = STUB_API_KEY) -> Page:
        p = Page(chromium, url, api_key=api_key)
        made.append(p)
        return p

    yield make
    for p in made:
        p.context.close()


def test_llm_answer_streams_in_then_shows_checked_sentences(pages, llm_server, stub):
    stub.token_delay = 0.12  # about 30 pieces: several seconds of visible streaming
    page = pages(llm_server).page
    page.locator("#question").fill(GOLDEN)
    page.locator("#question").press("Enter")
    streaming = page.locator(".answer-text.streaming")
    # part of the answer is on screen while the rest is still being written
    expect(streaming).to_contain_text("[1]", timeout=60_000)
    partial = streaming.inner_text()
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator(".answered-by")).to_contain_text("stub-model", timeout=60_000)
    final = page.locator(".answer-text")
    assert len(final.inner_text()) > len(partial) > 0
    expect(final.locator(".sentence")).to_have_count(2)
    expect(final.locator(".sentence.unsupported")).to_have_count(0)
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()


def test_stop_button_ends_the_answer_and_the_upstream_call(pages, llm_server, stub):
    stub.mode = "stall"
    page = pages(llm_server).page
    ours = len(stub.requests)
    page.locator("#question").fill(GOLDEN)
    page.locator("#question").press("Enter")
    expect(page.locator(".card").first).to_be_visible(timeout=60_000)  # passages shown, the LLM is silent
    for _ in range(100):
        if len(stub.requests) > ours:
            break
        page.wait_for_timeout(100)
    page.locator("#stop").click()
    expect(page.locator(".stopped-note")).to_be_visible()
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_hidden()
    for _ in range(40):  # the stub sees the request go away well before the 4 s LLM timeout
        if ours in stub.cancelled:
            break
        page.wait_for_timeout(50)
    assert ours in stub.cancelled


def test_follow_up_question_is_rewritten_and_shown(pages, live_server):
    p = pages(live_server)
    page = p.page
    ask(page, "青浦区有哪些人才政策？")
    page.locator(".answered-by").first.wait_for(timeout=60_000)
    with page.expect_response(lambda r: r.url.endswith("/api/chat")) as info:
        turn = ask(page, "那吴江呢？")
    events = parse_sse(info.value.text())
    assert events["passages"]["rewritten_query"] == "吴江有哪些人才政策？"
    expect(turn.locator(".rewritten")).to_contain_text("吴江有哪些人才政策？")
    # the follow-up carried the conversation
    sent = p.queries[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "青浦区有哪些人才政策？" and sent[-1]["content"] == "那吴江呢？"
    # a new chat forgets it
    page.locator("#new-chat").click()
    ask(page, "那吴江呢？")
    assert p.queries[-1]["messages"] == [{"role": "user", "content": "那吴江呢？"}]


def test_citation_click_lands_on_the_supporting_sentence(pages, llm_server, stub):
    page = pages(llm_server).page
    with page.expect_response(lambda r: r.url.endswith("/api/chat")) as info:
        ask(page, GOLDEN)
    page.locator(".answered-by").wait_for(timeout=60_000)
    answer = parse_sse(info.value.text())["answer"]
    second = answer["sentences"][1]
    assert second["supported"] and second["citations"] == [2]
    page.locator(".answer-text .sentence").nth(1).locator(".cite").click()
    panel = page.locator("#doc-panel")
    expect(panel).to_be_visible()
    doc = httpx.get(f"{llm_server}/api/documents/{second['source']}", headers=KEY, timeout=30).json()
    landed = panel.locator("mark.cited-answer")
    expect(landed).to_have_count(1)
    assert landed.text_content() == doc["text"][second["char_start"]:second["char_end"]] == second["text"]
    expect(landed).to_be_in_viewport()


def test_unsupported_sentence_is_marked(pages, llm_server, stub):
    stub.mode = "unsupported"
    page = pages(llm_server).page
    ask(page, GOLDEN)
    bad = page.locator(".answer-text .sentence.unsupported")
    expect(bad).to_have_count(1, timeout=60_000)
    expect(bad.locator(".unsupported-tag")).to_contain_text("does not say")


def test_failed_llm_shows_the_extractive_answer_and_why(pages, llm_server, stub):
    stub.mode = "error500"
    page = pages(llm_server).page
    ask(page, GOLDEN)
    expect(page.locator(".answered-by")).to_contain_text("Extractive answer", timeout=60_000)
    expect(page.locator(".llm-error")).to_contain_text("HTTP 500")


def test_typed_answer_span_is_bold_and_abstention_shows_its_reason(pages, live_server):
    """Rendering of the reader's fields (issue 9): answer.span in bold, abstain_reason shown.
    The stream is served by the test (page.route) so the exact fields are known."""
    from test_browser import sse_body

    passage = {"rank": 1, "score": 1.0, "text": "示范区执委会大楼一年里共召开各类会议1079场。", "source": "s.txt", "title": "标题",
               "section": "", "char_start": 0, "char_end": 23, "chunk_id": "x", "scores": {"bm25": 1.0, "dense": 1.0}}
    sentence = {"text": passage["text"], "citations": [1], "supported": True, "source": "s.txt", "char_start": 0,
                "char_end": 23, "problem": None, "evidence": [{"n": 1, "source": "s.txt", "char_start": 0, "char_end": 23, "score": 1.0}]}
    answered = sse_body([("passages", {"rewritten_query": "开了多少场会？", "passages": [passage]}),
                         ("answer", {"text": passage["text"] + "[1]", "sentences": [sentence], "llm": None,
                                     "rewritten_query": "开了多少场会？", "abstain_reason": None, "llm_error": None,
                                     "span": {"text": "1079场", "char_start": 18, "char_end": 23}}),
                         ("done", {"timings_ms": {"total": 1.0}})])
    reason = "文件中未找到\"海南\"的相关内容"
    abstained = sse_body([("passages", {"rewritten_query": "海南的人才政策？", "passages": [passage]}),
                          ("answer", {"text": "文件中没有找到这个问题的答案。", "sentences": [], "llm": None,
                                      "rewritten_query": "海南的人才政策？", "abstain_reason": reason, "llm_error": None}),
                          ("done", {"timings_ms": {"total": 1.0}})])
    bodies = [answered, abstained]
    page = pages(live_server).page
    page.route("**/api/chat", lambda r: r.fulfill(body=bodies.pop(0), content_type="text/event-stream"))
    first = ask(page, "开了多少场会？")
    expect(first.locator(".answer-text strong.answer-span")).to_have_text("1079场")
    assert first.locator(".answer-span").evaluate("e => getComputedStyle(e).fontWeight") in ("700", "bold")
    second = ask(page, "海南的人才政策？")
    expect(second.locator(".answer-text.not-found")).to_contain_text("Not found in the documents")
    expect(second.locator(".abstain-reason")).to_contain_text(reason)


def test_the_page_asks_for_the_api_key_once(pages, llm_server, stub):
    """llm_server sets POLICYQA_API_KEY: the first question brings up the key form; once the key is
    saved every call (chat, documents, the library) carries it and the form never comes back."""
    p = pages(llm_server, api_key=None)
    page = p.page
    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/api/" in r.url else None)
    page.locator("#question").fill(GOLDEN)
    page.locator("#question").press("Enter")
    form = page.locator("#api-key-form")
    expect(form).to_be_visible(timeout=30_000)
    expect(form).to_contain_text("API key")
    page.locator("#api-key").fill(STUB_API_KEY)
    page.locator("#api-key-save").click()
    expect(form).to_have_count(0)
    expect(page.locator(".answered-by")).to_contain_text("stub-model", timeout=60_000)
    ask(page, "在示范区买房能享受户籍待遇吗？")
    page.locator("#library-open").click()
    expect(page.locator("#library-rows tr").first).to_be_visible(timeout=30_000)
    expect(page.locator("#api-key-form")).to_have_count(0)
    assert sent[0] is None and len(sent) >= 4  # the first try had no key; then chat, chat, documents
    assert all(h == f"Bearer {STUB_API_KEY}" for h in sent[1:]), sent
