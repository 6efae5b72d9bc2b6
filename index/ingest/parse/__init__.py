"""Turn an uploaded file into text per page, then into one clean document.

The format is decided from the bytes (`sniff`), never from the file name. Each format has
its own small module; every one of them returns text per page, which then goes through
the same cleaning rules as the seeds (index/ingest/clean.py), so a PDF and a text dump of the
same policy end up as nearly the same clean text. Page starts are carried through the
cleaning (`pages.page_starts`) so a passage knows the page its characters came from.
"""
from __future__ import annotations

from index.ingest.parse.base import ParsedDocument, ParseError, ParseLimits, Progress, UnsupportedFormat
from index.ingest.parse.sniff import sniff
from index.ingest.parse.pdf import parse_pdf
from index.ingest.parse.image import parse_image
from index.ingest.parse.docx import parse_docx
from index.ingest.parse.html import parse_html
from index.ingest.parse.text import parse_text
from index.ingest.clean import clean_document
from index.ingest.parse.pages import join_pages, page_starts

__all__ = ["ParsedDocument", "ParseError", "UnsupportedFormat", "Progress", "sniff", "parse", "to_clean_document",
           "ParseLimits", "parse_isolated"]


def parse(data: bytes, name: str = "", progress: Progress | None = None,
          limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    """Parse `data` by its sniffed format; ParseError (with a plain reason) when it cannot be used."""
    kind = sniff(data)
    if kind == "pdf":
        return parse_pdf(data, progress, limits)
    if kind in ("png", "jpeg"):
        return parse_image(data, kind, progress, limits)
    if kind == "docx":
        return parse_docx(data, limits)
    if kind == "html":
        return parse_html(data)
    return parse_text(data, markdown=name.lower().endswith((".md", ".markdown")))


def to_clean_document(source: str, parsed: ParsedDocument):
    """Clean the parsed pages with the seeds' rules; keep where each page starts in the clean text."""
    doc = clean_document(source, join_pages(parsed.pages))
    if parsed.title:
        doc.title = parsed.title
    if parsed.paged:
        doc.page_starts = page_starts(parsed.pages, doc.text)
    if not doc.text.strip():
        raise ParseError("no text was found in the file" + (" (OCR found none either)" if parsed.ocr_pages else ""))
    return doc


from index.ingest.parse.sandbox import parse_isolated  # noqa: E402  (it runs `parse` above)
