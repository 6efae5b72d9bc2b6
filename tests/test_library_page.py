"""The 文档库 Documents view in a real browser: upload a text PDF and a DOCX with the button,
a scanned PDF and an HTML page by drag-and-drop, watch the progress, ask a question each
one answers, open the citation and see the span and its page; delete one and see its
passages gone. Fixture files are made here (Chromium print-to-PDF, a screenshot for the
scan, python-docx), not stored."""
from __future__ import annotations

import base64
import time

import pytest
from playwright.sync_api import expect

from doc_fixtures import browser, docx_bytes, html_page, scanned_pdf, text_pdf
from screenshot import SIZE, ask
from tests.conftest import stop_server
from tests.library_server import start_library_server
from tests.test_library import CARBON, HEATWAVE, QUANTUM

TOKEN = "library-page-token-5e1d"
NIGHT = ["夜间经济发展若干措施", "一、延长营业时间", "鼓励商圈和步行街夜间营业至二十二时以后，对夜市摊位免收三个月场地租金。",
         "二、完善交通保障", "夜间公交线路延长运营至次日凌晨一时，地铁末班车在周末延后半小时。"]


@pytest.fixture(scope="module")
def env(tmp_path_factory, encoder):
    server = start_library_server(tmp_path_factory.mktemp("library-page"), encoder, TOKEN)
    with browser() as b:
        files = {
            "碳普惠.pdf": text_pdf(b, CARBON, page_break_every=4),  # 二、重点任务 starts page 2
            "quantum.docx": docx_bytes(QUANTUM[0], QUANTUM[1:]),
            "高温扫描.pdf": scanned_pdf(b, HEATWAVE, pages=1),
            "night.html": html_page(NIGHT[0], NIGHT[1:]),
        }
        context = b.new_context(viewport=SIZE, locale="zh-CN")
        page = context.new_page()
        page.on("dialog", lambda d: d.accept())  # the delete confirmation
        page.goto(server["url"])
        yield server, page, files
        context.close()
    stop_server(server["proc"])


def drop_files(page, files: dict[str, bytes]) -> None:
    """Drag-and-drop onto the drop zone, as a file manager does (a DataTransfer holding Files)."""
    payload = [{"name": n, "b64": base64.b64encode(d).decode()} for n, d in files.items()]
    page.evaluate("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name));
        }
        const zone = document.getElementById('library-drop');
        zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", payload)


def wait_uploads(page, names: list[str], timeout: float = 300) -> set[str]:
    """Wait until each file's row is done; returns every status text seen on the way."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {}
        for name in names:
            item = page.locator(f'.lib-upload[data-name="{name}"]').first
            if item.count():
                seen.add(item.locator(".lib-status").inner_text())
                states[name] = item.get_attribute("data-state")
        if all(states.get(n) == "done" for n in names):
            return seen
        assert "failed" not in states.values(), (states, seen)
        time.sleep(0.1)
    raise AssertionError(f"uploads did not finish: {seen}")


def open_first_citation(page, question: str, source: str):
    turn = ask(page, question)
    card = turn.locator(".passages .card").first
    expect(card).to_have_attribute("data-source", source)
    card.locator(".cite").click()
    panel = page.locator("#doc-panel")
    expect(panel).to_be_visible()
    return panel


def test_upload_ask_cite_delete(env):
    server, page, files = env
    page.locator("#library-open").click()
    view = page.locator("#library-view")
    expect(view).to_be_visible()
    expect(view.locator('tr[data-source="100_ocean.txt"]')).to_be_visible()  # the seeds are listed

    # the button: the token is asked for once, then the two files go up
    page.locator("#library-files").set_input_files([
        {"name": n, "mimeType": "application/octet-stream", "buffer": files[n]} for n in ("碳普惠.pdf", "quantum.docx")])
    expect(page.locator("#library-token-row")).to_be_visible()
    page.locator("#library-token").fill(TOKEN)
    page.locator("#library-token-save").click()
    seen = wait_uploads(page, ["碳普惠.pdf", "quantum.docx"])
    # drag-and-drop: no second token prompt
    drop_files(page, {n: files[n] for n in ("高温扫描.pdf", "night.html")})
    expect(page.locator("#library-token-row")).to_be_hidden()
    seen |= wait_uploads(page, ["高温扫描.pdf", "night.html"])
    assert any(s.startswith("完成") for s in seen)
    assert any(s.startswith(("上传", "处理中", "排队")) for s in seen), seen  # progress was shown on the way

    rows = view.locator("#library-rows")
    pdf_row = rows.locator('tr[data-source="碳普惠.pdf"]')
    expect(pdf_row).to_contain_text("PDF")
    expect(pdf_row.locator("td").nth(2)).to_have_text("2")  # pages
    expect(rows.locator('tr[data-source="高温扫描.pdf"] td').nth(2)).to_have_text("1")
    expect(rows.locator('tr[data-source="quantum.docx"]')).to_contain_text("Word")
    expect(rows.locator('tr[data-source="night.html"]')).to_contain_text("HTML")
    page.locator("#library-close").click()
    expect(view).to_be_hidden()

    panel = open_first_citation(page, "共享单车骑行怎样折算碳积分？", "碳普惠.pdf")
    expect(panel.locator("mark.cited")).to_contain_text("共享单车")
    expect(page.locator("#doc-meta")).to_contain_text("第2页")
    panel = open_first_citation(page, "高温津贴每月发多少？", "高温扫描.pdf")
    expect(panel.locator("mark.cited")).to_contain_text("高温津贴")
    expect(page.locator("#doc-meta")).to_contain_text("第1页")
    panel = open_first_citation(page, "新建量子计算云平台最高补助多少？", "quantum.docx")
    expect(panel.locator("mark.cited")).to_contain_text("量子计算云平台")
    expect(page.locator("#doc-meta")).not_to_contain_text("页")  # a Word file has no pages
    panel = open_first_citation(page, "夜间公交运营到几点？", "night.html")
    expect(panel.locator("mark.cited")).to_contain_text("夜间公交")

    # delete the Word file through the view; its passages no longer answer
    page.locator("#doc-close").click()
    page.locator("#library-open").click()
    view.locator('button.lib-delete[data-source="quantum.docx"]').click()
    expect(page.locator("#library-message")).to_contain_text("已删除", timeout=180_000)
    expect(rows.locator('tr[data-source="quantum.docx"]')).to_have_count(0)
    page.locator("#library-close").click()
    turn = ask(page, "新建量子计算云平台最高补助多少？")
    sources = turn.locator(".passages .card").evaluate_all("cards => cards.map(c => c.dataset.source)")
    assert "quantum.docx" not in sources
