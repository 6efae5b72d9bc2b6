"""PDF: the text layer of each page with pypdfium2; pages without a usable one are OCRed."""
from __future__ import annotations


from index.config import env
from index.ingest.parse.base import ParsedDocument, ParseError, Progress, report
from index.ingest.parse.ocr import ocr_image

MAX_PAGES = int(env().max_pdf_pages)
# A page whose text layer holds fewer characters than this is a scan (or a picture of text).
MIN_TEXT_CHARS = 20
OCR_DPI = int(env().ocr_dpi)
# A page is rendered for OCR at OCR_DPI unless that makes more pixels than this; then at the scale that
# fits (a 14,400 pt MediaBox at 150 dpi would be 30,000 x 30,000 pixels, 3.6 GB).
MAX_RENDER_PIXELS = int(float(env().max_render_mpx) * 1_000_000)


def parse_pdf(data: bytes, progress: Progress | None = None) -> ParsedDocument:
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
        if n > MAX_PAGES:
            raise ParseError(f"the PDF has {n} pages, over the limit of {MAX_PAGES}")
        texts: list[str | None] = []
        for i in range(n):
            report(progress, "parsing page", i + 1, n)
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
            finally:
                page.close()
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            texts.append(text if len("".join(text.split())) >= MIN_TEXT_CHARS else None)
        scans = [i for i, t in enumerate(texts) if t is None]
        for done, i in enumerate(scans, 1):
            report(progress, "OCR page", done, len(scans))
            texts[i] = _ocr_page(pdf, i)
        return ParsedDocument("pdf", [t or "" for t in texts], paged=True, ocr_pages=len(scans))
    except pdfium.PdfiumError as err:
        raise ParseError(f"the PDF is damaged and cannot be read ({err})") from err
    finally:
        pdf.close()


def _ocr_page(pdf, index: int) -> str:
    page = pdf[index]
    try:
        bitmap = page.render(scale=render_scale(*page.get_size()), grayscale=False)
        image = bitmap.to_numpy()  # BGR(A), the channel order OpenCV and rapidocr expect
        return ocr_image(image)
    finally:
        page.close()


def render_scale(width_pt: float, height_pt: float) -> float:
    """Pixels per point for OCR: OCR_DPI, lowered so the page stays within MAX_RENDER_PIXELS."""
    scale = OCR_DPI / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > MAX_RENDER_PIXELS:
        scale *= (MAX_RENDER_PIXELS / pixels) ** 0.5
    return scale
