"""Test documents made on the spot from known text (no binary blobs of unknown origin):
text PDFs by Chromium's print-to-PDF, scans by screenshotting rendered text, DOCX with
python-docx, HTML pages by hand. Needs /usr/bin/chromium and fonts-wqy-zenhei."""
from __future__ import annotations

import html
import io
from contextlib import contextmanager

from tests.screenshot import launch

FONT = "'WenQuanYi Zen Hei', 'Noto Sans CJK SC', sans-serif"


def page_html(paragraphs: list[str], title: str = "", font_px: int = 16, page_break_every: int = 0) -> str:
    body = []
    for i, p in enumerate(paragraphs):
        brk = ' style="break-before: page"' if page_break_every and i and i % page_break_every == 0 else ""
        body.append(f"<p{brk}>{html.escape(p)}</p>")
    head = f"<title>{html.escape(title)}</title>" if title else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{head}<style>body{{font-family:{FONT};"
            f"font-size:{font_px}px;line-height:1.6;margin:0}} p{{margin:0 0 .6em}}</style></head>"
            f"<body>{''.join(body)}</body></html>")


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


def text_pdf(b, paragraphs: list[str], page_break_every: int = 0) -> bytes:
    """A PDF with a real text layer, printed by Chromium."""
    page = b.new_page()
    try:
        page.set_content(page_html(paragraphs, page_break_every=page_break_every))
        return page.pdf(format="A4", margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"})
    finally:
        page.close()


def scan_images(b, paragraphs: list[str], pages: int = 1, dpi: int = 200) -> list:
    """PIL images of the text as rendered on A4-sized pages at `dpi` (pixels only, no text layer)."""
    from PIL import Image

    scale = dpi / 96
    per = max(1, -(-len(paragraphs) // pages))
    images = []
    for k in range(pages):
        chunk = paragraphs[k * per : (k + 1) * per]
        page = b.new_page(viewport={"width": 794, "height": 1123}, device_scale_factor=scale)
        try:
            page.set_content(page_html(chunk).replace("margin:0}", "margin:0;padding:60px 75px;background:#fff}"))
            png = page.screenshot(full_page=False)
        finally:
            page.close()
        images.append(Image.open(io.BytesIO(png)).convert("RGB"))
    return images


def scanned_pdf(b, paragraphs: list[str], pages: int = 1, dpi: int = 200) -> bytes:
    """A PDF of page images only, as a scanner makes (Pillow writes the PDF)."""
    images = scan_images(b, paragraphs, pages, dpi)
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def png_bytes(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def docx_bytes(title: str, paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def html_page(title: str, paragraphs: list[str]) -> bytes:
    """A web page with navigation, a footer and scripts around the article."""
    article = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<script>document.title='SCRIPT-RAN'; fetch('http://example.invalid/steal')</script></head><body>"
            f"<nav><a href='/'>首页</a> | <a href='/news'>新闻中心</a> | <a href='/about'>关于我们</a></nav>"
            f"<article><h1>{html.escape(title)}</h1>{article}</article>"
            f"<script>var secret = 'SCRIPT-TEXT-MUST-NOT-APPEAR';</script>"
            f"<footer>版权所有 联系我们 网站地图</footer></body></html>").encode("utf-8")


def encrypted_pdf() -> bytes:
    """A minimal PDF with a Standard security handler whose user password is not empty."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<" % (len(objs) + 1) + b"ab" * 16 + b"> <"
            + b"ab" * 16 + b">] >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return bytes(out)


def huge_page_pdf(points: float = 14_400) -> bytes:
    """One text-less page with a 14,400 pt MediaBox: 30,000 x 30,000 pixels if rendered at 150 dpi."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(points, points)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def zip_bomb_docx(unpacked_mb: int = 300) -> bytes:
    """A ZIP named like a Word file (it has word/document.xml) whose member unpacks to `unpacked_mb` MB of zeros."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                f.write(block)
    return out.getvalue()


def table_page_html(before: list[str], caption: str, header: list[str], rows: list[list[str]],
                    after: list[str] = ()) -> str:
    """A page with a bordered table between paragraphs (the caption a paragraph of its own, as in a policy)."""
    cells = lambda tag, row: "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)  # noqa: E731
    table = (f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>"
             + "".join(f"<tr>{cells('td', r)}</tr>" for r in rows) + "</tbody></table>")
    body = page_html([*before, caption]).split("<body>")[1].split("</body>")[0]
    tail = "".join(f"<p>{html.escape(p)}</p>" for p in after)
    return page_html([]).replace("<body></body>", f"<body>{body}{table}{tail}</body>").replace(
        "</style>", "table{border-collapse:collapse;margin:0 0 .6em}td,th{border:1px solid #000;padding:4px 8px}</style>")


def table_pdf(b, before: list[str], caption: str, header: list[str], rows: list[list[str]], after: list[str] = ()) -> bytes:
    """A Chromium-printed PDF of a bordered table (ruling lines and a text layer, as an exported policy has)."""
    page = b.new_page()
    try:
        page.set_content(table_page_html(before, caption, header, rows, after))
        return page.pdf(format="A4", margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"})
    finally:
        page.close()


def table_scan(b, before: list[str], caption: str, header: list[str], rows: list[list[str]], after: list[str] = (),
               dpi: int = 200):
    """A PIL screenshot of the same bordered table page (pixels only, for OCR)."""
    from PIL import Image

    page = b.new_page(viewport={"width": 794, "height": 1123}, device_scale_factor=dpi / 96)
    try:
        page.set_content(table_page_html(before, caption, header, rows, after).replace(
            "margin:0}", "margin:0;padding:60px 75px;background:#fff}"))
        png = page.screenshot(full_page=False)
    finally:
        page.close()
    return Image.open(io.BytesIO(png)).convert("RGB")


def table_docx(title: str, before: list[str], caption: str, header: list[str], rows: list[list[str]],
               merge_header: tuple[int, int] | None = None) -> bytes:
    """A Word file with a table; `merge_header=(a, b)` adds a group row above the header whose cells a..b are merged."""
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for p in before:
        d.add_paragraph(p)
    d.add_paragraph(caption)
    top = 1 if merge_header else 0
    t = d.add_table(rows=len(rows) + 1 + top, cols=len(header))
    if merge_header:
        a, b_ = merge_header
        for c in range(len(header)):
            t.cell(0, c).text = header[c] if not a <= c <= b_ else ""
        merged = t.cell(0, a).merge(t.cell(0, b_))
        merged.text = "补贴标准"
    for c, name in enumerate(header):
        t.cell(top, c).text = name
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            t.cell(r + 1 + top, c).text = cell
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()
