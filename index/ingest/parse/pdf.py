"""PDF: the text layer of each page with pypdfium2, tables found by pdfplumber (pdf_tables.py) as
tab-separated rows; pages without a usable text layer are OCRed."""
from __future__ import annotations

from index.ingest.parse.base import ParsedDocument, ParseError, ParseLimits, Progress, report
from index.ingest.parse.ocr import ocr_image
from index.ingest.parse.pdf_tables import page_text_with_tables, tables_by_page

# A page whose text layer holds fewer characters than this is a scan (or a picture of text).
MIN_TEXT_CHARS = 20


def parse_pdf(data: bytes, progress: Progress | None = None, limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        msg = str(err).lower()
        if "password" in msg or "security" in msg:
            raise ParseError("the PDF is encrypted (password protected); upload an unprotected copy") from err
        raise ParseError(f"the PDF is damaged and cannot be read ({err})") from err
    try:
        n = len(pdf)
        if n == 0:
            raise ParseError("the PDF has no pages")
        if n > limits.max_pdf_pages:
            raise ParseError(f"the PDF has {n} pages, over the limit of {limits.max_pdf_pages}")
        texts: list[str | None] = []
        for i in range(n):
            report(progress, "parsing page", i + 1, n)
            text = _page_text(pdf, i)
            texts.append(text if len("".join(text.split())) >= MIN_TEXT_CHARS else None)
        tables = tables_by_page(data, [i for i, t in enumerate(texts) if t is not None])
        for i, page_tables in tables.items():
            texts[i] = _page_text(pdf, i, page_tables)
        scans = [i for i, t in enumerate(texts) if t is None]
        for done, i in enumerate(scans, 1):
            report(progress, "OCR page", done, len(scans))
            texts[i] = _ocr_page(pdf, i, limits)
        return ParsedDocument("pdf", [t or "" for t in texts], paged=True, ocr_pages=len(scans))
    except pdfium.PdfiumError as err:
        raise ParseError(f"the PDF is damaged and cannot be read ({err})") from err
    finally:
        pdf.close()


def _page_text(pdf, index: int, tables=None) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            if tables:
                return page_text_with_tables(textpage, page.get_width(), page.get_height(), tables)
            return textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n")
        finally:
            textpage.close()
    finally:
        page.close()


def _ocr_page(pdf, index: int, limits: ParseLimits) -> str:
    page = pdf[index]
    try:
        bitmap = page.render(scale=render_scale(*page.get_size(), limits), grayscale=False)
        image = bitmap.to_numpy()  # BGR(A), the channel order OpenCV and rapidocr expect
        return ocr_image(image, limits.ocr_threads)
    finally:
        page.close()


def render_scale(width_pt: float, height_pt: float, limits: ParseLimits = ParseLimits()) -> float:
    """Pixels per point for OCR: the OCR dpi, lowered so the page stays within the pixel cap (a 14,400 pt
    MediaBox at 150 dpi would be 30,000 x 30,000 pixels, 3.6 GB)."""
    scale = limits.ocr_dpi / 72
    pixels = width_pt * scale * height_pt * scale
    if pixels > limits.max_render_pixels:
        scale *= (limits.max_render_pixels / pixels) ** 0.5
    return scale
