"""Decide a file's format from its first bytes (magic numbers), never from its name."""
from __future__ import annotations

import io
import re
import zipfile

from index.ingest.parse.base import ParseError, UnsupportedFormat

_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)


def sniff(data: bytes) -> str:
    """One of pdf, png, jpeg, docx, html, text; ParseError for anything else."""
    if not data.strip():
        raise ParseError("the file is empty")
    head = data[:1024]
    if b"%PDF-" in head:  # the header may follow a little junk, as PDF readers allow
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if data.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"#!")):
        raise UnsupportedFormat("the file is a program (executable), not a document")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedFormat("the file is an old binary Office document (.doc/.xls); save it as .docx or PDF and upload that")
    if _HTML.search(data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")):
        return "html"
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFormat("the file is binary and not a supported format (PDF, PNG, JPEG, DOCX, HTML, Markdown or text)")
    return "text"


def _zip_kind(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ParseError(f"the file is a damaged ZIP/Word archive ({err})") from err
    if "word/document.xml" in names:
        return "docx"
    raise UnsupportedFormat("the file is a ZIP archive but not a Word (.docx) document")
