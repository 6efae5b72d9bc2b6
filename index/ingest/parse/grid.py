"""A table a parser recognised, written the one way every format shares: one line per row, cells
joined by tabs (index/ingest/tables.py reads them back from the clean text, cell spans and all)."""
from __future__ import annotations

import re

EMPTY = "-"  # an empty cell: the cleaning rules fold runs of tabs, so a cell is never left blank
_PIPE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_PIPE_RULE = re.compile(r"^[\s|:\-]+$")


def cell_text(text: str | None) -> str:
    """A cell's words on one line (wrapped lines joined; the cleaning drops spaces between ideographs)."""
    return " ".join((text or "").replace("\t", " ").split())


def grid_lines(rows: list[list[str | None]]) -> list[str]:
    """Tab-separated lines of a grid; rows are padded to the widest, empty cells marked, blank rows dropped."""
    width = max((len(r) for r in rows), default=0)
    out = []
    for row in rows:
        cells = [cell_text(c) for c in row] + [""] * (width - len(row))
        if any(cells):
            out.append("\t".join(c or EMPTY for c in cells))
    return out


def pipe_tables(text: str) -> str:
    """Markdown pipe tables (`| a | b |`, as trafilatura writes HTML tables) to tab-separated lines."""
    out: list[str] = []
    block: list[list[str]] = []
    for line in text.split("\n"):
        m = _PIPE_ROW.match(line)
        if m:
            if not _PIPE_RULE.match(line):
                block.append([c.strip() for c in m.group(1).split("|")])
            continue
        if block:
            out += grid_lines(block)
            block = []
        out.append(line)
    if block:
        out += grid_lines(block)
    return "\n".join(out)
