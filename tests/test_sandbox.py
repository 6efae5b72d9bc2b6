"""Parsing in a sandbox (issue 18): every file goes through a real child process under memory and time
limits. A crafted huge-page PDF, a DOCX of millions of empty paragraphs (made here, compactly), and a
parse child killed mid-file: each ends as a plain reason, and the next file parses as usual."""
from __future__ import annotations

import io
import os
import signal
import threading
import time
import zipfile

import psutil
import pytest

from doc_fixtures import huge_page_pdf

from index.ingest.parse import ParseError, ParseLimits, parse_isolated
from index.ingest.parse.docx import check_archive
from index.ingest.parse.pdf import render_scale

TEXT = "第一条 为规范屋顶绿化补贴发放，制定本办法。第二条 补贴标准为每平方米三十元。".encode("utf-8")


def empty_paragraphs_docx(paragraphs: int, compression: int) -> bytes:
    """A Word file whose body is `paragraphs` empty paragraphs, written without building the XML in memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxml'
                   'formats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                    b'wordprocessingml/2006/main"><w:body>')
            for _ in range(paragraphs // 100_000):
                f.write(b"<w:p/>" * 100_000)
            f.write(b"</w:body></w:document>")
    return out.getvalue()


def test_huge_page_is_rendered_within_the_pixel_cap():
    scale = render_scale(14_400, 14_400)
    assert (14_400 * scale) ** 2 <= ParseLimits().max_render_pixels * 1.001 and scale < 150 / 72
    assert render_scale(595, 842) == pytest.approx(150 / 72)  # an A4 page keeps its resolution
    parsed = parse_isolated(huge_page_pdf(), "huge.pdf")  # default limits: it fits, and OCR finds nothing
    assert parsed.ocr_pages == 1 and parsed.pages == [""]


def test_huge_page_without_the_cap_breaks_the_memory_limit_plainly():
    uncapped = ParseLimits(memory_mb=1024, timeout_s=120, max_render_pixels=2_000_000_000)  # the child gets these
    with pytest.raises(ParseError, match=r"needed more than 1024 MB of memory.*POLICYQA_PARSE_MEMORY_MB"):
        parse_isolated(huge_page_pdf(), "huge.pdf", limits=uncapped)


def test_millions_of_empty_paragraphs():
    packed = empty_paragraphs_docx(3_000_000, zipfile.ZIP_DEFLATED)  # 18 MB of XML in ~30 KB
    assert len(packed) < 100_000
    with pytest.raises(ParseError, match="zip bomb"):
        check_archive(packed)  # refused at upload, before anything unpacks it
    with pytest.raises(ParseError, match="zip bomb"):
        parse_isolated(packed, "empty.docx")
    stored = empty_paragraphs_docx(3_000_000, zipfile.ZIP_STORED)  # no compression: no ratio to catch
    with pytest.raises(ParseError, match=r"18 MB of XML, over the limit of 10 MB \(POLICYQA_DOCX_MAX_XML_MB\)"):
        check_archive(stored)
    # Under the XML limit (6 MB) but a million elements: python-docx needs minutes; the time limit stops it.
    slow = empty_paragraphs_docx(1_000_000, zipfile.ZIP_STORED)
    check_archive(slow)
    t0 = time.monotonic()
    with pytest.raises(ParseError, match=r"longer than 3 s.*POLICYQA_PARSE_TIMEOUT"):
        parse_isolated(slow, "slow.docx", limits=ParseLimits(memory_mb=3072, timeout_s=3))
    assert time.monotonic() - t0 < 15
    assert _parse_children() == []  # the child was killed, not left running


def _parse_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "index.ingest.parse.sandbox" in " ".join(p.cmdline())]


def test_parse_child_killed_mid_file_fails_plainly_and_the_next_file_parses():
    slow = empty_paragraphs_docx(1_000_000, zipfile.ZIP_STORED)
    outcome: dict = {}

    def run() -> None:
        try:
            parse_isolated(slow, "slow.docx", limits=ParseLimits(memory_mb=3072, timeout_s=120))
        except ParseError as err:
            outcome["error"] = str(err)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not _parse_children():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # well into the file
    for child in _parse_children():
        os.kill(child.pid, signal.SIGKILL)
    thread.join(30)
    assert "the parser stopped while reading the file (killed by SIGKILL)" in outcome["error"]
    parsed = parse_isolated(TEXT, "next.txt")  # the caller goes on as before
    assert "屋顶绿化补贴" in parsed.pages[0]
