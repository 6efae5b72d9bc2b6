"""Tables in a clean text: their caption, header and rows, every cell with its exact span.

Every format ends up as clean text, and every parser writes a table it recognised as tab-separated
lines (a DOCX table's cells, an HTML `<table>`, a PDF table found by pdfplumber, OCR boxes clustered
into a grid), with its caption on the line before. So a table is recovered from the clean text
alone, and its cells' offsets are the citations' offsets. Two shapes are read:

- tab-separated blocks: two or more consecutive lines with tabs, the first being the header;
- flattened indicator tables (PDF text that lost its layout, as in seed 003): `表N:caption`, a run
  of header words (序号 指标 计量单位 2020年基数 2025年目标), then numbered rows
  `1人才资源总量万人12.21 14.71 2…`. Only rows that read cleanly as number, label, unit and values
  are kept; a table with fewer than three such rows is left as text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.ingest.clean import CJK, CleanDocument

CAPTION = re.compile(r"表\s*[\d一二三四五六七八九十]+\s*[.:：、]?\s*")
_DASHES = re.compile(r"^[-—–:|\s]*$")
_TAGS = re.compile(r"^(?:\s*<[^<>\n]{1,20}>)*\s*(.*?)\s*(?:<[^<>\n]{1,20}>\s*)*$", re.S)
_NUMERIC = re.compile(r"^[-+]?\d[\d,.]*(?:%|‰)?(?:/\d+)?(?:以上|以下|个百分点)?$|^[-—/]$")
LABEL_COLUMN_NAMES = ("序号",)


@dataclass
class Cell:
    text: str
    start: int
    end: int


@dataclass
class TableRow:
    cells: list[Cell | None]  # one per header column; None where the cell is empty or missing
    start: int
    end: int

    def texts(self) -> list[str]:
        return [c.text if c else "" for c in self.cells]


@dataclass
class Table:
    caption: str            # "表2 世界级大湾区指标概况"; "" when the table has none
    header: list[str]
    rows: list[TableRow]
    start: int              # from the caption (or header) to the end of the last row
    end: int
    body_start: int         # where the header row (tab tables) or the first row (flat tables) starts
    page: int | None = None
    kind: str = "tsv"       # tsv | flat
    header_cells: list[Cell | None] = field(default_factory=list)  # tab tables: the header's own spans

    @property
    def label_column(self) -> int:
        """The column that names each row: the first one that is not a running number."""
        for i, name in enumerate(self.header):
            if name not in LABEL_COLUMN_NAMES:
                return i
        return 0

    def row_label(self, row: TableRow) -> str:
        cell = row.cells[self.label_column] if self.label_column < len(row.cells) else None
        return cell.text if cell else ""

    @property
    def is_matrix(self) -> bool:
        """A column per entity (纽约湾区, 旧金山湾区, …) over mostly numeric cells: worth reading by column too."""
        value_columns = [h for i, h in enumerate(self.header) if i != self.label_column]
        if len(value_columns) < 2 or any(_NUMERIC.match(h) or re.search(r"\d{4}", h) for h in value_columns):
            return False
        values = [c.text for r in self.rows for i, c in enumerate(r.cells) if c and i != self.label_column]
        return bool(values) and sum(bool(_NUMERIC.match(v)) for v in values) >= 0.6 * len(values)

    def to_dict(self) -> dict:
        return {"caption": self.caption, "header": self.header, "page": self.page, "kind": self.kind,
                "char_start": self.start, "char_end": self.end,
                "rows": [{"cells": r.texts(), "char_start": r.start, "char_end": r.end,
                          "cell_spans": [[c.start, c.end] if c else None for c in r.cells]} for r in self.rows]}


def find_tables(doc: CleanDocument | str) -> list[Table]:
    """Every table recovered from a clean document (or clean text), in text order."""
    text = doc if isinstance(doc, str) else doc.text
    tables = tab_tables(text)
    taken = [(t.start, t.end) for t in tables]
    tables += [t for t in flat_tables(text) if not any(s < t.end and t.start < e for s, e in taken)]
    tables.sort(key=lambda t: t.start)
    if not isinstance(doc, str):
        for t in tables:
            t.page = doc.page_at(t.body_start)
    return tables


def caption_text(raw: str) -> str:
    """`表2.世界级大湾区指标概况` -> `表2 世界级大湾区指标概况`."""
    m = CAPTION.match(raw)
    if not m:
        return raw.strip()
    number = re.sub(r"\s+", "", raw[: m.end()]).rstrip(".:：、")
    return f"{number} {raw[m.end():].strip()}".strip()


# ---------------------------------------------------------------- tab-separated blocks


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for ln in text.split("\n"):
        out.append((pos, ln))
        pos += len(ln) + 1
    return out


def _split_cells(line: str, offset: int) -> list[Cell | None]:
    cells: list[Cell | None] = []
    pos = 0
    for raw in line.split("\t"):
        m = _TAGS.match(raw)
        inner = m.group(1) if m else raw.strip()
        if inner:
            s = offset + pos + (m.start(1) if m else raw.find(inner))
            cells.append(Cell(inner, s, s + len(inner)))
        else:
            cells.append(None)
        pos += len(raw) + 1
    return cells


def tab_tables(text: str) -> list[Table]:
    lines = _lines(text)
    tables: list[Table] = []
    i = 0
    while i < len(lines):
        if "\t" not in lines[i][1]:
            i += 1
            continue
        j = i
        while j < len(lines) and "\t" in lines[j][1]:
            j += 1
        block = [(pos, ln) for pos, ln in lines[i:j] if not _DASHES.match(ln.replace("\t", ""))]
        table = _tab_table(lines[i - 1] if i > 0 else None, block)
        if table is not None:
            tables.append(table)
        i = j
    return tables


def _tab_table(before: tuple[int, str] | None, block: list[tuple[int, str]]) -> Table | None:
    if len(block) < 2:
        return None
    header_pos, header_line = block[0]
    header_cells = _split_cells(header_line, header_pos)
    width = len(header_cells)
    body = block[1:]
    if _is_group_row(header_cells) and len(body) >= 2:  # a merged group row above the column names
        header_cells = _join_header(header_cells, _split_cells(body[0][1], body[0][0]))
        body = body[1:]
    rows = []
    for pos, ln in body:
        cells = _split_cells(ln, pos)
        if len(cells) > width:  # more cells than the header has columns: not this table's shape
            continue
        cells += [None] * (width - len(cells))
        filled = [c for c in cells if c]
        if filled:
            rows.append(TableRow(cells, filled[0].start, filled[-1].end))
    if not rows or width < 2:
        return None
    caption, start = "", header_pos
    if before is not None and CAPTION.match(before[1].strip()) and len(before[1]) <= 80:
        caption, start = caption_text(before[1]), before[0]
    header = [c.text if c else "" for c in header_cells]
    return Table(caption, header, rows, start, rows[-1].end, header_pos, kind="tsv", header_cells=header_cells)


def _is_group_row(cells: list[Cell | None]) -> bool:
    """A header row with a cell merged across columns (its text repeated side by side)."""
    texts = [c.text if c else "" for c in cells]
    return any(a and a == b for a, b in zip(texts, texts[1:]))


def _join_header(top: list[Cell | None], sub: list[Cell | None]) -> list[Cell | None]:
    """Two header rows as one: `补贴标准` over `首年` names the column `补贴标准/首年`."""
    out: list[Cell | None] = []
    for i, low in enumerate(sub):
        high = top[i] if i < len(top) else None
        if high is None or low is None or high.text == low.text:
            out.append(low or high)
        else:
            out.append(Cell(f"{high.text}/{low.text}", low.start, low.end))
    return out


# ---------------------------------------------------------------- flattened indicator tables

# Units of measure as they stand between an indicator's name and its values.
UNITS = sorted(["万人", "人", "家", "个", "套", "项", "万元", "亿元", "元", "万元/人", "元/人", "人年/万人", "%",
                "‰", "亩", "平方米", "万平方米", "公里", "次", "人次", "所", "户", "件", "名", "座", "吨", "小时",
                "天", "万吨", "千瓦", "兆瓦"], key=len, reverse=True)
_HEADER_WORD = re.compile(r"一级|序号|二级指标|计量单位")
_VALUE_COLUMN = re.compile(r"(?:19|20)\d{2}年[底末]?(?:基数|总量|目标值?|实际值?|完成值?|预期值?)|增长率\s*[(（]%[)）]|年均增长\s*[(（]%[)）]")
_VALUE = re.compile(r"-|\d+(?:\.\d+)?(?:以上|以下|个百分点)?")
_ROW = re.compile(rf"\s?(?P<label>[^\d\n\t]+?)(?P<unit>{'|'.join(re.escape(u) for u in UNITS)})\s?(?=[-\d])")
_FLAT_CAPTION = re.compile(r"表\s*\d+\s*[:：.]")


def flat_tables(text: str) -> list[Table]:
    tables = []
    for m in _FLAT_CAPTION.finditer(text):
        table = _flat_table(text, m.start(), m.end())
        if table is not None:
            tables.append(table)
    return tables


def _flat_table(text: str, cap_start: int, title_start: int) -> Table | None:
    line_end = text.find("\n", title_start)
    line_end = len(text) if line_end < 0 else line_end
    head = _HEADER_WORD.search(text, title_start, min(line_end, title_start + 80))
    if head is None:
        return None
    first = re.compile(rf"(?<![\d.])1(?=[{CJK}]| ?[A-Za-z])").search(text, head.start(), min(line_end, head.start() + 160))
    if first is None:
        return None
    header_run = text[head.start() : first.start()]
    value_columns = [re.sub(r"\s+", "", v.group()) for v in _VALUE_COLUMN.finditer(header_run)]
    if "计量单位" not in header_run or not value_columns:
        return None
    header = ["序号", "指标", "计量单位", *value_columns]
    rows = []
    pos, n = first.start(), 1
    while pos >= 0 and pos < line_end:
        nxt = _next_marker(text, n + 1, pos + len(str(n)), line_end)
        row = _flat_row(text, pos, n, nxt if nxt >= 0 else line_end, len(value_columns))
        if row is not None:
            rows.append(row)
        pos, n = nxt, n + 1
    if len(rows) < 3:
        return None
    caption = caption_text(text[cap_start : head.start()])
    return Table(caption, header, rows, cap_start, rows[-1].end, rows[0].start, kind="flat")


def _next_marker(text: str, n: int, start: int, end: int) -> int:
    m = re.compile(rf"(?<![\d.]){n}(?=[{CJK}]| [A-Za-z])").search(text, start, min(end, start + 200))
    return m.start() if m else -1


def _flat_row(text: str, pos: int, n: int, end: int, n_values: int) -> TableRow | None:
    number = Cell(str(n), pos, pos + len(str(n)))
    m = _ROW.match(text, number.end, end)
    if m is None:
        return None
    label_start = m.start("label") + (len(m.group("label")) - len(m.group("label").lstrip()))
    label = Cell(m.group("label").strip(), label_start, m.end("label"))
    unit = Cell(m.group("unit"), m.start("unit"), m.end("unit"))
    values: list[Cell] = []
    p = m.end()
    while p < end:
        v = _VALUE.match(text, p)
        if v is None or not v.group():
            break
        values.append(Cell(v.group(), v.start(), v.end()))
        p = v.end()
        if p < end and text[p] == " ":
            p += 1
    if not values or len(values) > n_values:
        return None  # values run into each other: the row is not evident, leave it as text
    cells: list[Cell | None] = [number, label, unit, *values]
    cells += [None] * (3 + n_values - len(cells))
    return TableRow(cells, pos, values[-1].end)
