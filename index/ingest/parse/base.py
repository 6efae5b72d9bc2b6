"""What every parser returns, and the error they raise."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from index.config import Settings

# progress(stage, done, total), e.g. ("OCR page", 3, 10)
Progress = Callable[[str, int, int], None]


class ParseError(ValueError):
    """A file that cannot be used as a document, with a reason a person understands."""

    status = 422  # the HTTP status an upload of such a file gets


class UnsupportedFormat(ParseError):
    """The bytes are not a format we read (whatever the file name says)."""

    status = 415


_DEFAULT = {name: field.default for name, field in Settings.model_fields.items()}


@dataclass(frozen=True)
class ParseLimits:
    """What parsing one file may cost: POLICYQA_MAX_PDF_PAGES, POLICYQA_OCR_DPI, POLICYQA_OCR_THREADS, and
    the sandbox's POLICYQA_PARSE_MEMORY_MB, POLICYQA_PARSE_TIMEOUT, POLICYQA_MAX_RENDER_MPX and
    POLICYQA_DOCX_MAX_XML_MB (the defaults are the settings' defaults)."""

    max_pdf_pages: int = int(_DEFAULT["max_pdf_pages"])
    ocr_dpi: int = int(_DEFAULT["ocr_dpi"])
    ocr_threads: int = int(_DEFAULT["ocr_threads"])
    memory_mb: int = int(_DEFAULT["parse_memory_mb"])  # address space of the parsing child, in MiB
    timeout_s: float = float(_DEFAULT["parse_timeout"])  # the whole document, from start to parsed pages
    max_render_pixels: int = int(float(_DEFAULT["max_render_mpx"]) * 1_000_000)  # a page rendered for OCR
    docx_max_xml_bytes: int = int(float(_DEFAULT["docx_max_xml_mb"]) * 1024 * 1024)  # one XML part of a Word file

    @classmethod
    def of(cls, settings: Settings) -> "ParseLimits":
        return cls(int(settings.max_pdf_pages), int(settings.ocr_dpi), int(settings.ocr_threads),
                   int(settings.parse_memory_mb), float(settings.parse_timeout),
                   int(float(settings.max_render_mpx) * 1_000_000), int(float(settings.docx_max_xml_mb) * 1024 * 1024))


@dataclass
class ParsedDocument:
    format: str              # pdf, image, docx, html, markdown, text
    pages: list[str]         # text per page; one entry for formats without pages
    paged: bool = False      # True when the pages are real pages (PDF, image) worth citing
    title: str | None = None  # when the format carries one (HTML <title>, DOCX core properties)
    ocr_pages: int = 0       # pages whose text came from OCR

    def to_dict(self) -> dict:
        return {"format": self.format, "pages": self.pages, "paged": self.paged, "title": self.title,
                "ocr_pages": self.ocr_pages}

    @classmethod
    def from_dict(cls, d: dict) -> "ParsedDocument":
        return cls(d["format"], list(d["pages"]), bool(d.get("paged")), d.get("title"), int(d.get("ocr_pages", 0)))


def report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
