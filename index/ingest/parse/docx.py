"""DOCX with python-docx: paragraphs and tables in document order, headings by style, tables as
tab-separated rows (parse/grid.py).

The archive is checked before python-docx opens it (check_archive, also at upload): a ZIP whose parts
would unpack to far more than any Word file (a zip bomb), or whose XML is too large to parse in bounded
time and memory, is refused from the sizes in its directory. lxml parses without `huge_tree`.
"""
from __future__ import annotations

import io
import zipfile

from index.ingest.parse.base import ParsedDocument, ParseError, ParseLimits
from index.ingest.parse.grid import grid_lines

MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # the whole archive
MAX_MEMBER_BYTES = 50 * 1024 * 1024  # one part (an embedded picture at most)
# One XML part: python-docx builds an object per element, so XML costs far more memory and time than its
# bytes (a million empty paragraphs, 6 MB of XML, took 155 s); a long Word policy is 1-5 MB.
MAX_RATIO = 100  # per part over RATIO_FROM_BYTES: real Word XML compresses 5-20 times, a bomb hundreds
RATIO_FROM_BYTES = 1024 * 1024
BOMB = "that is a zip bomb, not a document"


def check_archive(data: bytes, limits: ParseLimits = ParseLimits()) -> None:
    """Refuse from the archive's directory, before a byte is unpacked: the whole, each part, each XML
    part, and each part's compression ratio. (A part cannot unpack to more than its directory entry says:
    zipfile stops there and the CRC check fails.)"""
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ParseError(f"the Word file is a damaged archive ({err})") from err
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED_BYTES:
        raise ParseError(f"the Word file would unpack to {unpacked / 1e6:.0f} MB from {len(data) / 1e6:.1f} MB: {BOMB}")
    for i in infos:
        mb = i.file_size / 1e6
        if i.file_size > RATIO_FROM_BYTES and i.file_size / max(1, i.compress_size) > MAX_RATIO:
            raise ParseError(f"the part {i.filename[:80]} of the Word file would unpack to {mb:.0f} MB from "
                             f"{i.compress_size / 1e3:.0f} KB, over {MAX_RATIO} times: {BOMB}")
        if i.filename.lower().endswith((".xml", ".rels")) and i.file_size > limits.docx_max_xml_bytes:
            raise ParseError(f"the part {i.filename[:80]} of the Word file holds {mb:.0f} MB of XML, over the limit of "
                             f"{limits.docx_max_xml_bytes / 1e6:.0f} MB (POLICYQA_DOCX_MAX_XML_MB)")
        if i.file_size > MAX_MEMBER_BYTES:
            raise ParseError(f"the part {i.filename[:80]} of the Word file would unpack to {mb:.0f} MB, over the "
                             f"limit of {MAX_MEMBER_BYTES / 1e6:.0f} MB per part")


def parse_docx(data: bytes, limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    check_archive(data, limits)
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
