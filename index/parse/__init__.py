"""Turn an uploaded file into text per page, then into one clean document.

The format is decided from the bytes (`sniff`), never from the file name. Each format has
its own small module; every one of them returns text per page, which then goes through
the same cleaning rules as the seeds (index/clean.py), so a PDF and a text dump of the
same policy end up as nearly the same clean text. Page starts are carried through the
cleaning (`pages.page_starts`) so a passage knows the page its characters came from.
"""
from __future__ import annotations

from .base import ParsedDocument, ParseError, Progress, UnsupportedFormat
from .sniff import sniff

__all__ = ["ParsedDocument", "ParseError", "UnsupportedFormat", "Progress", "sniff", "parse", "to_clean_document"]


def parse(data: bytes, name: str = "", progress: Progress | None = None) -> ParsedDocument:
    """Parse `data` by its sniffed format; ParseError (with a plain reason) when it cannot be used."""
    kind = sniff(data)
    if kind == "pdf":
        from .pdf import parse_pdf

        return parse_pdf(data, progress)
    if kind in ("png", "jpeg"):
        from .image import parse_image

        return parse_image(data, kind, progress)
    if kind == "docx":
        from .docx import parse_docx

        return parse_docx(data)
    if kind == "html":
        from .html import parse_html

        return parse_html(data)
    from .text import parse_text

    return parse_text(data, markdown=name.lower().endswith((".md", ".markdown")))


def to_clean_document(source: str, parsed: ParsedDocument):
    """Clean the parsed pages with the seeds' rules; keep where each page starts in the clean text."""
    from ..clean import clean_document
    from .pages import join_pages, page_starts

    doc = clean_document(source, join_pages(parsed.pages))
    if parsed.title:
        doc.title = parsed.title
    if parsed.paged:
        doc.page_starts = page_starts(parsed.pages, doc.text)
    if not doc.text.strip():
        raise ParseError("no text was found in the file" + (" (OCR found none either)" if parsed.ocr_pages else ""))
    return doc
