"""DOCX with python-docx: paragraphs and tables in document order, headings by style, tables as
tab-separated rows (parse/grid.py).

The archive is checked before python-docx opens it: a ZIP whose members would unpack to
far more than any Word file (a zip bomb) is refused from the sizes in its directory.
"""
from __future__ import annotations

import io
import zipfile

from index.ingest.parse.base import ParsedDocument, ParseError
from index.ingest.parse.grid import grid_lines

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200  # text XML compresses well, but not by more than this


def check_archive(data: bytes) -> None:
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ParseError(f"the Word file is a damaged archive ({err})") from err
    unpacked = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if unpacked > MAX_UNPACKED_BYTES or (unpacked > 10 * 1024 * 1024 and unpacked / packed > MAX_RATIO):
        raise ParseError(f"the Word file would unpack to {unpacked / 1e6:.0f} MB from {len(data) / 1e6:.1f} MB: "
                         "that is a zip bomb, not a document")


def parse_docx(data: bytes) -> ParsedDocument:
    check_archive(data)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as err:
        raise ParseError("Word files need the package python-docx (pip install python-docx==1.2.0)") from err
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Paragraph):
                text = block.text.strip()
                style = (block.style.name if block.style is not None else "") or ""
                if style.startswith(("Heading", "Title")) and text:
                    lines += ["", "", text, "", ""]  # blank lines: a hard break, never joined to the next line
                elif text:
                    lines.append(text)
            elif isinstance(block, Table):
                # One line per row, a cell per grid column: a merged cell repeats its text in every
                # column (and row) it spans, so each row reads whole under the header.
                lines += grid_lines([[cell.text for cell in row.cells] for row in block.rows])
                lines.append("")
        title = (document.core_properties.title or "").strip() or None
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as err:
        raise ParseError(f"the Word file is damaged and cannot be read ({err})") from err
    except Exception as err:  # lxml and python-docx raise their own types on malformed XML
        raise ParseError(f"the Word file is damaged and cannot be read ({type(err).__name__})") from err
    return ParsedDocument("docx", ["\n".join(lines)], title=title)
