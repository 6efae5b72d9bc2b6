"""Tables in a PDF's text layer, found by pdfplumber (MIT) from ruling lines and word positions.

A page with tables is re-read in bands: the text layer above, between and below the tables as
pypdfium2 gives it, and each table as tab-separated rows (parse/grid.py) where its cells stood, so
the caption line just above a table stays right before it."""
from __future__ import annotations

import io
import logging

from index.ingest.parse.grid import grid_lines

log = logging.getLogger(__name__)


def tables_by_page(data: bytes, pages: list[int]) -> dict[int, list[tuple[tuple[float, float], list[list[str | None]]]]]:
    """{page index: [((top, bottom), rows), ...]} for the given pages that hold tables (top-down order)."""
    try:
        import pdfplumber
    except ImportError:  # the text layer is still read; tables come out as positioned text
        log.warning("pdfplumber is not installed: PDF tables are read as plain text")
        return {}
    found = {}
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for i in pages:
                tables = []
                for t in sorted(pdf.pages[i].find_tables(), key=lambda t: t.bbox[1]):
                    rows = _fill_merged(t.extract())
                    if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                        tables.append(((t.bbox[1], t.bbox[3]), rows))
                if tables:
                    found[i] = tables
    except Exception as err:  # pdfminer raises its own types on odd files; the plain text layer still serves
        log.warning("PDF table detection failed (%s): tables are read as plain text", type(err).__name__)
        return {}
    return found


def _fill_merged(rows: list[list[str | None]]) -> list[list[str | None]]:
    """pdfplumber gives None for the grid positions a merged cell covers: the cell's text goes there too
    (left neighbour in the header row, the cell above in the body), so every row reads whole."""
    out: list[list[str | None]] = []
    for r, row in enumerate(rows):
        filled = list(row)
        for c, cell in enumerate(filled):
            if cell is None:
                if r == 0 and c > 0:
                    filled[c] = filled[c - 1]
                elif r > 0 and c < len(out[-1]):
                    filled[c] = out[-1][c]
        out.append(filled)
    return out


def page_text_with_tables(textpage, width: float, height: float, tables) -> str:
    """The page's text with each table's region replaced by its rows (pdfplumber measures from the
    top of the page, pdfium from the bottom)."""
    parts, above = [], 0.0
    for (top, bottom), rows in tables:
        parts.append(textpage.get_text_bounded(0, height - top, width, height - above))
        parts.append("\n" + "\n".join(grid_lines(rows)) + "\n")
        above = bottom
    parts.append(textpage.get_text_bounded(0, 0, width, height - above))
    return "\n".join(p.replace("\r\n", "\n").replace("\r", "\n") for p in parts)
