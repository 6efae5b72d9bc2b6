"""The chat page in a real browser (headless Debian chromium) against the real service.

Run: .venv/bin/python -m pytest tests/test_browser.py -q
Needs /usr/bin/chromium and fonts-wqy-zenhei (apt-get install -y chromium fonts-wqy-zenhei).
"""
from __future__ import annotations

import json
import re
import struct

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from screenshot import EXAMPLE, ask, capture, launch

pytestmark = pytest.mark.browser

NOT_FOUND = "未在文档中找到答案 / Not found in the documents"
XSS = '<img src=x onerror="window.__pwned=1">'

# Records CSP violations seen by the page (init scripts are injected by the browser, not by the page).
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || ''));
});
"""


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


class Page:
    """A fresh browser context and page, with console messages and /api/query requests recorded."""

    def __init__(self, browser, base_url: str, width: int = 1280, height: int = 900, api_key: str | None = None):
        self.context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url,
                                           locale="zh-CN", reduced_motion="reduce")
        self.page = self.context.new_page()
        self.page.add_init_script(CSP_PROBE)
        if api_key:  # as if typed into the page's key form earlier in this tab (service/static/key.js)
            self.page.add_init_script(f"sessionStorage.setItem('policyqa-api-key', {json.dumps(api_key)})")
        self.console: list[str] = []
        self.queries: list[dict] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", self._on_request)
        self.page.goto("/")

    def _on_request(self, request) -> None:
        if request.url.endswith("/api/chat"):
            self.queries.append(request.post_data_json or {})

    def csp_errors(self) -> list[str]:
        violations = self.page.evaluate("window.__cspViolations")
        console = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        return violations + console


@pytest.fixture
def ui(chromium, live_server):
    pages: list[Page] = []

    def make(**kw) -> Page:
        p = Page(chromium, live_server, **kw)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.context.close()


def parse_sse(text: str) -> dict:
    """The events of a /api/chat stream as {name: data} (passages, answer, done)."""
    out = {}
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        name = next((ln[7:] for ln in lines if ln.startswith("event: ")), "message")
        data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
        if data and name != "delta":
            out[name] = json.loads(data)
    return out


def sse_body(events: list[tuple[str, dict]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n" for name, data in events)


def ask_and_capture(page, question: str):
    """Ask through the page and return (turn locator, the chat events the page received:
    {"passages": [...], "answer": {...}, "rewritten_query": str})."""
    with page.expect_response(lambda r: r.url.endswith("/api/chat")) as info:
        turn = ask(page, question)
    turn.locator(".answered-by").wait_for(timeout=60_000)
    events = parse_sse(info.value.text())
    return turn, {"passages": events["passages"]["passages"], "answer": events["answer"],
                  "rewritten_query": events["passages"]["rewritten_query"]}


def document_json(live_server: str, source: str) -> dict:
    r = httpx.get(f"{live_server}/api/documents/{source}", timeout=30)
    r.raise_for_status()
    return r.json()


# 1
def test_question_gets_answer_with_citations_and_cards(ui):
    u = ui()
    page = u.page
    expect(page.locator("#welcome")).to_be_visible()
    turn, data = ask_and_capture(page, EXAMPLE)

    expect(turn.locator(".bubble")).to_have_text(EXAMPLE)
    answer = turn.locator(".answer-text")
    expect(answer).to_be_visible()
    assert data["answer"]["sentences"], data
    expect(answer).not_to_have_text(NOT_FOUND)
    expect(answer).to_contain_text(data["answer"]["sentences"][0]["text"])
    expect(turn.locator(".answered-by")).to_contain_text("Extractive answer")  # no LLM behind live_server
    markers = turn.locator(".answer .cite")
    assert markers.count() >= 2  # the answer's own marker and the source list
    assert re.fullmatch(r"\[\d+\]", markers.first.inner_text().strip())

    cards = turn.locator(".passages .card")
    expect(cards).to_have_count(len(data["passages"]))
    assert cards.count() >= 1
    texts = cards.locator(".card-text").all_inner_texts()
    assert any("千兆光纤" in t for t in texts), texts
    first = cards.first
    expect(first.locator(".card-title")).to_have_text(data["passages"][0]["title"])
    expect(first.locator(".card-meta")).to_contain_text(data["passages"][0]["source"])
    assert first.locator("mark.term").count() > 0  # query terms highlighted
    assert u.csp_errors() == []
    expect(page.locator("#welcome")).to_be_hidden()


# 2
def test_citation_opens_document_with_cited_span_in_view(ui, live_server):
    u = ui()
    page = u.page
    doc_requests: list[str] = []
    page.on("request", lambda r: doc_requests.append(r.url) if "/api/documents/" in r.url else None)
    turn, data = ask_and_capture(page, EXAMPLE)
    panel = page.locator("#doc-panel")
    expect(panel).to_be_hidden()

    cite = turn.locator(".answer .cite").first
    rank = int(cite.get_attribute("data-rank"))
    passage = next(p for p in data["passages"] if p["rank"] == rank)
    doc = document_json(live_server, passage["source"])
    cite.click()

    expect(panel).to_be_visible()
    expect(page.locator("#doc-title")).to_have_text(doc["title"])
    mark = panel.locator("mark.cited")
    expect(mark).to_have_count(1)
    expected = doc["text"][passage["char_start"]:passage["char_end"]]
    assert expected.strip()
    assert mark.text_content() == expected
    expect(mark).to_be_in_viewport()
    # The answer sentence is marked inside the cited passage.
    first = data["answer"]["sentences"][0]
    if first["citations"][0] == rank:
        assert panel.locator("mark.cited-answer").text_content() == doc["text"][first["char_start"]:first["char_end"]]

    # Escape closes; focus goes back to the marker.
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(cite).to_be_focused()

    # A card of another rank opens its own span; the close button closes.
    other = next((p for p in data["passages"] if p["rank"] != rank), None)
    if other is not None:
        turn.locator(f'.card[data-rank="{other["rank"]}"] .card-text').click()
        expect(panel).to_be_visible()
        other_doc = document_json(live_server, other["source"])
        expect(page.locator("#doc-title")).to_have_text(other_doc["title"])
        expect(mark).to_have_text(other_doc["text"][other["char_start"]:other["char_end"]], use_inner_text=False)
        expect(mark).to_be_in_viewport()
        page.locator("#doc-close").click()
        expect(panel).to_be_hidden()

    # Documents are fetched once per source.
    cite.click()
    expect(mark).to_have_count(1)
    sources = [url.split("/api/documents/")[1] for url in doc_requests]
    assert len(sources) == len(set(sources)), sources


# 3
def test_empty_question_is_not_sent(ui):
    u = ui()
    page = u.page
    validation = page.locator("#validation")
    expect(validation).to_be_hidden()

    page.locator("#send").click()
    expect(validation).to_be_visible()
    expect(validation).to_contain_text("请输入问题")
    page.locator("#question").fill("   \n  ")
    page.locator("#question").press("Enter")
    expect(validation).to_be_visible()
    # Shift+Enter adds a line instead of sending.
    page.locator("#question").fill("第一行")
    page.locator("#question").press("Shift+Enter")
    page.wait_for_timeout(300)
    assert page.locator("#question").input_value() == "第一行\n"
    assert u.queries == []
    expect(page.locator("#conversation .turn")).to_have_count(0)


def test_server_422_message_is_shown(ui):
    u = ui()
    page = u.page
    # Only control characters: passes the client check, the server rejects it as empty.
    turn = ask(page, "\u0007\u0007")
    assert len(u.queries) == 1
    error = turn.locator(".msg.bot.error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("is empty; type a question")
    expect(error).to_contain_text("422")


def test_loading_state_then_api_error_detail(ui):
    u = ui()
    page = u.page
    held = []
    page.route("**/api/chat", lambda route: held.append(route))
    page.locator("#question").fill("测试问题")
    page.locator("#question").press("Enter")
    loading = page.locator("#conversation .msg.loading")
    expect(loading).to_be_visible()
    expect(loading).to_contain_text("Searching")
    expect(page.locator("#send")).to_be_disabled()
    assert len(held) == 1
    held[0].fulfill(status=503, content_type="application/json",
                    body=json.dumps({"detail": "The index is not available: test outage."}))
    error = page.locator("#conversation .msg.error")
    expect(error).to_contain_text("The index is not available: test outage.")
    expect(loading).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#question")).to_have_value("测试问题")  # kept for a retry


# 4
def test_markup_in_question_is_literal_text(ui):
    u = ui()
    page = u.page
    turn = ask(page, XSS)
    expect(turn.locator(".bubble")).to_have_text(XSS)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#conversation img").count() == 0
    assert page.locator("img").count() == 0


def test_markup_in_api_data_is_literal_text(ui):
    """Passage, title, answer and document text from the API are never parsed as HTML."""
    u = ui()
    page = u.page
    evil = '<img src=x onerror="window.__pwned=2"><script>window.__pwned=3</script>'
    text = f"前文{evil}后文"
    passage = {"rank": 1, "score": 1.0, "text": text, "source": "evil.txt", "title": f"标题{evil}",
               "section": evil, "char_start": 2, "char_end": 2 + len(text), "chunk_id": "x",
               "scores": {"bm25": 1.0, "dense": 1.0}}
    sentence = {"text": evil, "citations": [1], "supported": True, "source": "evil.txt", "char_start": 4,
                "char_end": 4 + len(evil), "problem": None,
                "evidence": [{"n": 1, "source": "evil.txt", "char_start": 4, "char_end": 4 + len(evil), "score": 1.0}]}
    body = sse_body([("passages", {"rewritten_query": evil, "passages": [passage]}),
                     ("answer", {"text": evil, "sentences": [sentence, {**sentence, "supported": False, "problem": evil}],
                                 "llm": evil, "rewritten_query": evil, "abstain_reason": None, "llm_error": evil}),
                     ("done", {"timings_ms": {"total": 1.0}})])
    document = {"source": "evil.txt", "title": f"标题{evil}", "text": "xx" + text + "yy", "length": 4 + len(text),
                "passages": 1, "headings": []}
    page.route("**/api/chat", lambda r: r.fulfill(body=body, content_type="text/event-stream"))
    page.route("**/api/documents/evil.txt", lambda r: r.fulfill(json=document))
    turn = ask(page, "onerror")
    expect(turn.locator(".answer-text")).to_contain_text(evil)
    expect(turn.locator(".card-text")).to_have_text(text)
    turn.locator(".answer .cite").first.click()
    expect(page.locator("#doc-panel mark.cited")).to_have_text(text)
    expect(page.locator("#doc-title")).to_have_text(f"标题{evil}")
    assert page.locator("img, #conversation script, #doc-panel script").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"


# 5
def test_csp_forbids_inline_script_and_page_has_no_violations(ui, live_server):
    r = httpx.get(f"{live_server}/", timeout=30)
    assert r.status_code == 200
    csp = r.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in csp
    # No inline script, style attributes or event handler attributes in the page itself.
    assert "<script>" not in r.text and "<style" not in r.text and "style=" not in r.text
    assert not re.search(r"\son[a-z]+\s*=", r.text)

    u = ui()
    page = u.page
    turn, _ = ask_and_capture(page, EXAMPLE)
    turn.locator(".answer .cite").first.click()
    expect(page.locator("#doc-panel mark.cited")).to_be_visible()
    page.keyboard.press("Escape")
    assert u.csp_errors() == [], u.csp_errors()
    errors = [m for m in u.console if m.startswith(("error", "pageerror"))]
    assert errors == [], errors


# 6
def test_phone_width_no_horizontal_scroll_and_overlay_panel(ui):
    u = ui(width=375, height=812)
    page = u.page
    no_hscroll = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert page.evaluate(no_hscroll)
    turn = ask(page, EXAMPLE + " " + "x" * 120)  # a long unbreakable word must wrap too
    expect(turn.locator(".card").first).to_be_visible()
    assert page.evaluate(no_hscroll)
    # Nothing in the conversation sticks out to the right.
    widest = page.evaluate("() => Math.max(...[...document.querySelectorAll('#conversation *')].map(e => e.getBoundingClientRect().right))")
    assert widest <= 375 + 0.5, widest

    turn.locator(".card .card-text").first.click()
    panel = page.locator("#doc-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("mark.cited")).to_be_in_viewport()
    box = panel.bounding_box()
    assert box is not None
    assert abs(box["x"]) < 1 and abs(box["y"]) < 1, box
    assert abs(box["width"] - 375) < 1 and abs(box["height"] - 812) < 1, box
    assert panel.evaluate("e => getComputedStyle(e).position") == "fixed"
    on_top = page.evaluate("() => document.getElementById('doc-panel').contains(document.elementFromPoint(187, 400))")
    assert on_top
    assert page.evaluate(no_hscroll)
    page.locator("#doc-close").click()
    expect(panel).to_be_hidden()


# 7
def test_mode_and_top_k_are_sent(ui):
    u = ui()
    page = u.page
    page.locator("#mode").select_option("bm25")
    page.locator("#topk").fill("3")
    turn = ask(page, EXAMPLE)
    assert u.queries[-1] == {"messages": [{"role": "user", "content": EXAMPLE}], "top_k": 3, "mode": "bm25", "stream": True}
    expect(turn.locator(".reply-meta")).to_contain_text("BM25")
    assert 1 <= turn.locator(".card").count() <= 3

    page.locator("#mode").select_option("dense")
    ask(page, "What is the maximum turnover period for construction land quotas?")
    assert u.queries[-1]["mode"] == "dense"

    page.locator("#topk").fill("0")
    page.locator("#question").fill("示范区")
    page.locator("#question").press("Enter")
    expect(page.locator("#validation")).to_contain_text("1 到 50")
    assert len(u.queries) == 2


def test_example_question_is_asked_on_click(ui):
    u = ui()
    page = u.page
    page.get_by_role("button", name="在示范区买房能享受户籍待遇吗？").click()
    turn = page.locator("#conversation .turn").first
    turn.locator(".msg.bot:not(.loading)").wait_for(timeout=60_000)
    assert u.queries[0]["messages"][-1]["content"] == "在示范区买房能享受户籍待遇吗？"
    expect(turn.locator(".bubble")).to_have_text("在示范区买房能享受户籍待遇吗？")


def test_screenshot(chromium, live_server, tmp_path):
    out = capture(chromium, live_server, tmp_path / "shot.png")
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1280, 900)


# issue 9: the reader's typed span in bold, one citation per answer sentence, the abstain reason
def test_typed_answer_bolds_its_span_and_abstention_shows_its_reason(ui):
    page = ui().page
    turn, data = ask_and_capture(page, "嘉兴给来嘉工作、首次购房的博士多少购房补助?")
    answer = data["answer"]
    # the 博士 figure of 博士35万元、硕士15万元, with the label that tells it from the 硕士 one
    assert answer["span"] and answer["span"]["text"] == "博士35万元", answer
    expect(turn.locator(".answer-text strong.answer-span")).to_have_text("博士35万元")
    # every answer sentence carries its own citation marker
    assert turn.locator(".answer-text .sentence").count() == len(answer["sentences"])
    for i in range(len(answer["sentences"])):
        expect(turn.locator(".answer-text .sentence").nth(i).locator(".cite").first).to_be_visible()

    turn, data = ask_and_capture(page, "成都对引进的博士给多少安家费？")
    assert data["answer"]["abstain_reason"] == "文件中未找到“成都”的相关内容", data["answer"]
    expect(turn.locator(".abstain-reason")).to_contain_text("文件中未找到“成都”的相关内容")
    expect(turn.locator(".answer-text strong.answer-span")).to_have_count(0)


def test_table_shown_as_table_with_cited_row_highlighted(ui, live_server):
    u = ui()
    page = u.page
    turn, data = ask_and_capture(page, "纽约湾区的面积是多少万平方公里？")
    answer = data["answer"]
    assert answer["span"]["text"] == "2.15", answer
    expect(turn.locator(".answer-text .answer-span")).to_have_text("2.15")
    # the answer shows the row under its header, the asked column marked
    expect(turn.locator("table.answer-table td.answer-cell")).to_have_text("2.15")
    assert turn.locator("table.answer-table th").all_inner_texts()[1] == "纽约湾区"
    rank = answer["sentences"][0]["citations"][0]
    passage = next(p for p in data["passages"] if p["rank"] == rank)
    assert passage["table"]["row"][0] == "面积(万平方公里)", passage

    turn.locator(".answer .cite").first.click()
    panel = page.locator("#doc-panel")
    expect(panel).to_be_visible()
    table = panel.locator("table.doc-table", has_text="纽约湾区")
    expect(table).to_have_count(1)
    expect(table.locator("caption")).to_have_text("表2 世界级大湾区指标概况")
    assert table.locator("th").all_inner_texts() == ["指标", "纽约湾区", "旧金山湾区", "东京湾区", "粤港澳大湾区", "长三角大湾区"]
    row = panel.locator("tr.cited-row")
    expect(row).to_have_count(1)
    assert row.locator("td").all_inner_texts() == ["面积(万平方公里)", "2.15", "1.80", "1.34", "5.65", "21.17"]
    expect(row).to_be_in_viewport()
    # the rest of the document is still text around the table, and nothing was built from markup
    assert "表2.世界级大湾区指标概况" not in panel.locator(".doc-text").inner_text()
    assert "人才" in panel.locator(".doc-text").inner_text()
    assert u.csp_errors() == []
