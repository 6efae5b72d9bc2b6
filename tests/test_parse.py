"""Parsers: format sniffed from bytes, text per page, the seeds' cleaning rules, pages carried through."""
from __future__ import annotations

import difflib

import pytest

from doc_fixtures import (browser, docx_bytes, encrypted_pdf, html_page, png_bytes, scan_images, scanned_pdf,
                          text_pdf, zip_bomb_docx)
from index.build.chunk import chunk_document
from index.ingest.clean import normalize_unicode
from index.ingest.parse import ParseError, parse, sniff, to_clean_document
from index.ingest.parse.pages import page_starts


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@pytest.fixture(scope="module")
def chromium_browser():
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def seed_paragraphs(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("001"))
    return [p for p in doc.text.split("\n") if p][:60]


# ------------------------------------------------------------------ sniffing


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.7\n...", "pdf"),
    (b"\x89PNG\r\n\x1a\n....", "png"),
    (b"\xff\xd8\xff\xe0....", "jpeg"),
    (b"<!DOCTYPE html><html><body>x</body></html>", "html"),
    ("第一条 这是文本。".encode(), "text"),
    ("第一条 这是文本。".encode("gb18030"), "text"),
])
def test_sniff_by_content(data, kind):
    assert sniff(data) == kind


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"  \n ", "empty"),
    (b"MZ\x90\x00\x03" + b"\x00" * 100, "executable"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".docx or PDF"),
    (b"\x00\x01\x02binary", "not a supported format"),
])
def test_sniff_refuses_with_a_reason(data, words):
    with pytest.raises(ParseError, match=words):
        sniff(data)


def test_executable_named_pdf_is_refused():
    with pytest.raises(ParseError, match="executable"):
        parse(b"MZ\x90\x00" + b"\x00" * 2000, "report.pdf")


def test_zip_that_is_not_word_is_refused():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(ParseError, match="not a Word"):
        parse(buf.getvalue(), "a.docx")


def test_zip_bomb_docx_is_refused_before_unpacking():
    with pytest.raises(ParseError, match="zip bomb"):
        parse(zip_bomb_docx(300), "bomb.docx")


def test_encrypted_and_broken_pdf():
    with pytest.raises(ParseError, match="encrypted"):
        parse(encrypted_pdf(), "secret.pdf")
    with pytest.raises(ParseError, match="damaged"):
        parse(b"%PDF-1.7\n1 0 obj << /Type /Catalog", "broken.pdf")


# ------------------------------------------------------------------ formats


def test_text_pdf_cleans_to_nearly_the_seed_text(chromium_browser, seed_paragraphs):
    """A PDF printed from a seed's clean text parses and cleans back to nearly the same text."""
    pdf = text_pdf(chromium_browser, seed_paragraphs, page_break_every=20)
    parsed = parse(pdf, "policy.pdf")
    assert parsed.format == "pdf" and parsed.paged and parsed.ocr_pages == 0
    assert len(parsed.pages) >= 3
    doc = to_clean_document("policy.pdf", parsed)
    assert similarity("\n".join(seed_paragraphs), doc.text) > 0.97
    # the forced page breaks: paragraph 0 on page 1, paragraph 20 and 40 start later pages
    for k in (20, 40):
        offset = doc.text.find(seed_paragraphs[k][:15])
        assert offset > 0
        assert doc.page_at(offset) > doc.page_at(doc.text.find(seed_paragraphs[k - 1][-10:]))
    passages = chunk_document(doc)
    pages = [p.page for p in passages]
    assert pages[0] == 1 and pages == sorted(pages) and len(set(pages)) >= len(parsed.pages) - 1
    for p in passages:  # each passage's first characters are on the page it names
        page_text = "".join(normalize_unicode(parsed.pages[p.page - 1]).split())
        assert "".join(p.text.split())[:8] in page_text


def test_scanned_pdf_is_read_by_ocr(chromium_browser, seed_paragraphs):
    paras = seed_paragraphs[:8]
    pdf = scanned_pdf(chromium_browser, paras, pages=2)
    parsed = parse(pdf, "scan.pdf")
    assert parsed.ocr_pages == 2 and len(parsed.pages) == 2
    doc = to_clean_document("scan.pdf", parsed)
    assert similarity("\n".join(paras), doc.text) > 0.9
    assert doc.page_at(doc.text.find(paras[-1][:8])) == 2


def test_image_is_read_by_ocr(chromium_browser, seed_paragraphs):
    image = scan_images(chromium_browser, seed_paragraphs[:3], pages=1)[0]
    parsed = parse(png_bytes(image), "photo.png")
    assert parsed.format == "image" and parsed.paged
    doc = to_clean_document("photo.png", parsed)
    assert similarity("\n".join(seed_paragraphs[:3]), doc.text) > 0.9
    assert chunk_document(doc)[0].page == 1


def test_docx_paragraphs_headings_and_tables():
    data = docx_bytes("关于促进数字经济发展的通知",
                      ["第一条 为了推动数字经济高质量发展，制定本通知。", "第二条 各区应当设立专项资金。"],
                      [["项目", "金额"], ["算力补贴", "300万元"]])
    parsed = parse(data, "notice.docx")
    doc = to_clean_document("notice.docx", parsed)
    assert parsed.format == "docx" and not parsed.paged and doc.page_starts is None
    assert doc.title == "关于促进数字经济发展的通知"
    assert "第一条为了推动数字经济高质量发展,制定本通知。" in doc.text
    assert "算力补贴\t300万元" in doc.text  # a table row stays one line, cells apart
    assert any(h[2] == "关于促进数字经济发展的通知" for h in doc.headings)
    assert all(p.page is None for p in chunk_document(doc))


def test_html_main_text_only_scripts_dropped():
    paras = ["第一条 为了推动数字经济高质量发展，根据有关法律法规，结合本市实际，制定本条例。",
             "第二条 各区应当设立数字经济发展专项资金，每年安排不少于五千万元，用于支持企业上云用数赋智。"]
    parsed = parse(html_page("数字经济促进条例", paras), "page.html")
    doc = to_clean_document("page.html", parsed)
    assert parsed.format == "html" and doc.title == "数字经济促进条例"
    assert "每年安排不少于五千万元" in doc.text
    for junk in ("SCRIPT", "fetch(", "secret", "新闻中心", "版权所有"):
        assert junk not in doc.text


def test_markdown_and_text():
    md = "# 第一章 总则\n\n**第一条** 为了规范[管理](http://x)，制定本办法。\n\n---\n".encode()
    doc = to_clean_document("rules.md", parse(md, "rules.md"))
    assert "第一条为了规范管理,制定本办法。" in doc.text and "#" not in doc.text and "http" not in doc.text
    gb = "第一条 本办法自发布之日起施行。".encode("gb18030")
    assert "本办法自发布之日起施行" in to_clean_document("a.txt", parse(gb, "a.txt")).text


def test_page_starts_survive_noise_and_reflow():
    pages = ["第一条 示范区建设\n要坚持生态优先，\n绿色发展。\n— 1 —", "!\"#$%&'()*+ 第二条 加快推进\n基础设施互联互通。\n— 2 —",
             "", "第三条 本办法自发布之日起施行。"]
    from index.ingest.clean import clean_document

    doc = clean_document("x.pdf", "\n".join(pages))
    starts = page_starts(pages, doc.text)
    assert len(starts) == 4 and starts == sorted(starts) and starts[0] == 0
    assert doc.text[starts[1]:].startswith("第二条")
    assert doc.text[starts[3]:].startswith("第三条")
    assert starts[2] == starts[3]  # the empty page takes no text
