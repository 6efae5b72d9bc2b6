"""Sentence-aware chunking of a clean document into passages with exact offsets; and, for every
table (index/ingest/tables.py), one passage per row (and per column of a matrix table), indexed as the
row rendered under its header (`table_text`) but cited at the row's own span.

Invariant: `document.text[p.char_start:p.char_end] == p.text` for every passage.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from index.config import ChunkParams
from index.ingest.clean import CleanDocument
from index.ingest.tables import Table, find_tables

# A sentence runs to 。！？!?；; (plus closing quotes/brackets), or to a line end.
_SENTENCE = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;]+[”’」』)）]*)?|[。！？!?；;]+")
_CLAUSE_END = re.compile(r"[，,、：:]")


@dataclass
class Passage:
    chunk_id: str
    source: str
    title: str
    section: str
    char_start: int
    char_end: int
    text: str
    page: int | None = None  # first page its characters came from (PDFs, images); None without pages
    # passages of a table: {"caption", "header", "row": the row's cells and "spans": their [start, end]
    # (a row passage), or "column": the column's name and "cells": [[row label, value, start, end], ...]
    # (a column passage of a matrix table)}
    table: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def sentence_spans(text: str, max_chars: int, piece_chars: int | None = None) -> list[tuple[int, int]]:
    """Sentences as (start, end). One longer than max_chars is cut into pieces of at most
    piece_chars (default max_chars), at a clause end where there is one."""
    piece_chars = piece_chars or max_chars
    spans: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        start, end = m.start(), m.end()
        while text[start:end].strip() == "" and start < end:
            start += 1
        if start >= end:
            continue
        spans.extend(_split_long(text, start, end, piece_chars) if end - start > max_chars else [(start, end)])
    return spans


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window) if m.end() >= max_chars // 2]
        cut = start + (cuts[-1] if cuts else max_chars)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def chunk_document(doc: CleanDocument, params: ChunkParams = ChunkParams()) -> list[Passage]:
    text = doc.text
    heading_starts = {start for start, _, _ in doc.headings}
    # Sentences longer than max - min are cut, so that a short heading still fits before one.
    spans = _split_at(sentence_spans(text, params.max_chars - params.min_chars, params.target_chars), heading_starts)
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for span in spans:
        size = current[-1][1] - current[0][0] if current else 0
        at_heading = span[0] in heading_starts and size >= params.min_chars
        too_big = current and span[1] - current[0][0] > params.max_chars
        full = current and size >= params.min_chars and span[1] - current[0][0] > params.target_chars
        if current and (at_heading or too_big or full):
            groups.append(current)
            current = [] if at_heading else _overlap(current, span, params)
        current.append(span)
    if current:
        groups.append(current)
    groups = _merge_short_tail(groups, params)
    return [_make_passage(doc, g[0][0], g[-1][1]) for g in groups] + table_passages(doc)


def table_passages(doc: CleanDocument) -> list[Passage]:
    """A passage per table row, at the row's span; a matrix table (a column per entity) also gets one
    per column, at the span of the table's body."""
    out = []
    for table in find_tables(doc):
        meta = {"caption": table.caption, "header": table.header}
        for row in table.rows:
            spans = [[c.start, c.end] if c else None for c in row.cells]
            out.append(_make_passage(doc, row.start, row.end, {**meta, "row": row.texts(), "spans": spans, "column": None}))
        if table.is_matrix:
            label = table.label_column
            for c, name in enumerate(table.header):
                if c != label and name:
                    cells = [[table.row_label(r), r.cells[c].text, r.cells[c].start, r.cells[c].end] if r.cells[c]
                             else [table.row_label(r), "", -1, -1] for r in table.rows]
                    out.append(_make_passage(doc, table.body_start, table.end,
                                             {**meta, "row": None, "column": name, "cells": cells}))
    return out


def table_text(table: dict) -> str:
    """A table passage as it is indexed and read: `表2 … | 指标: 全社会R&D经费支出占GDP比重 | 计量单位: % | …`
    for a row, `表2 … | 纽约湾区 | 面积(万平方公里): 2.15 | …` for a column."""
    parts = [table["caption"]] if table.get("caption") else []
    if table.get("row") is not None:
        parts += [f"{h}: {v}" for h, v in zip(table["header"], table["row"]) if v and h not in _NUMBER_COLUMNS]
    else:
        parts += [table["column"]] + [f"{cell[0]}: {cell[1]}" for cell in table.get("cells", []) if cell[1]]
    return " | ".join(parts)


_NUMBER_COLUMNS = ("序号",)
_UNIT_COLUMNS = ("计量单位", "单位")
_FIGURE = re.compile(r"([-+]?\d+(?:\.\d+)?)(以上|以下|左右|以内|及以上)?")
_TRAILING_UNIT = re.compile(r"[(（]([^()（）]{1,8})[)）]\s*$")


def cell_unit(header: list[str], cells: list[str], column: int, label: str = "") -> str:
    """The unit of a cell: its column's own (增长率(%), 月补贴(元)), else the row's 计量单位 cell, else the
    row label's (面积(万平方公里) in a matrix table)."""
    own = _TRAILING_UNIT.search(header[column]) if column < len(header) else None
    if own:
        return own.group(1)
    for i, name in enumerate(header):
        if name in _UNIT_COLUMNS and i < len(cells) and cells[i]:
            return cells[i]
    in_label = _TRAILING_UNIT.search(label)
    return in_label.group(1) if in_label else ""


def with_unit(value: str, unit: str) -> str:
    """A figure with its unit where it belongs (3.3 -> 3.3%, 7以上 -> 7%以上); a cell that states its own
    unit (1.3个百分点) is left as it is."""
    m = _FIGURE.fullmatch(value)
    return f"{m.group(1)}{unit}{m.group(2) or ''}" if m and unit else value


def cells_as_read(table: dict) -> list[str]:
    """A table passage's figures as a reader takes them, each with its unit (3.3 in a row whose 计量单位 is %
    reads 3.3%)."""
    header = table["header"]
    read = with_unit
    if table.get("row") is not None:
        row = table["row"]
        label = next((v for h, v in zip(header, row) if h not in _NUMBER_COLUMNS), "")
        return [read(v, cell_unit(header, row, i, label)) for i, v in enumerate(row)
                if v and i < len(header) and header[i] not in _NUMBER_COLUMNS + _UNIT_COLUMNS and v != label]
    column = header.index(table["column"]) if table.get("column") in header else len(header)
    return [read(cell[1], cell_unit(header, [], column, cell[0])) for cell in table.get("cells", []) if cell[1]]


def _split_at(spans: list[tuple[int, int]], cuts: set[int]) -> list[tuple[int, int]]:
    """A heading inside a sentence span (`…部门)九、加快…`) starts a span of its own."""
    out = []
    for start, end in spans:
        for cut in sorted(c for c in cuts if start < c < end):
            out.append((start, cut))
            start = cut
        out.append((start, end))
    return out


def _overlap(previous: list[tuple[int, int]], nxt: tuple[int, int], params: ChunkParams) -> list[tuple[int, int]]:
    """Carry the last sentence(s) of the previous chunk, if short, for context."""
    carried: list[tuple[int, int]] = []
    for span in reversed(previous[1:]):
        if nxt[1] - span[0] > params.max_chars or sum(e - s for s, e in carried) + span[1] - span[0] > params.overlap_chars:
            break
        carried.insert(0, span)
    return carried


def _merge_short_tail(groups: list[list[tuple[int, int]]], params: ChunkParams) -> list[list[tuple[int, int]]]:
    if len(groups) >= 2:
        tail, prev = groups[-1], groups[-2]
        if tail[-1][1] - tail[0][0] < params.min_chars and tail[-1][1] - prev[0][0] <= params.max_chars:
            merged = prev + [s for s in tail if s[0] >= prev[-1][1]]
            groups = groups[:-2] + [merged]
    return groups


def _make_passage(doc: CleanDocument, start: int, end: int, table: dict | None = None) -> Passage:
    text = doc.text[start:end]
    key = f"{doc.source}\0{start}\0{text}" + (f"\0{table.get('column')}" if table else "")
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Passage(
        chunk_id=f"{doc.source.split('_')[0]}-{digest}",
        source=doc.source,
        title=doc.title,
        section=doc.section_at(start),
        char_start=start,
        char_end=end,
        text=text,
        page=doc.page_at(start),
        table=table,
    )


def chunk_corpus(docs: list[CleanDocument], params: ChunkParams = ChunkParams()) -> list[Passage]:
    return [p for doc in docs for p in chunk_document(doc, params)]
