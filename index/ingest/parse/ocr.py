"""OCR of page images with rapidocr-onnxruntime (PP-OCRv4 Chinese models shipped in its wheel).

Reading order: top to bottom; when a page is set in columns (a vertical gap runs between
text blocks), each column is read top to bottom before the next, and lines that span the
columns (titles) break the page into bands read in turn. The lines of a table (boxes that line up
in columns over three or more lines) come out as tab-separated cells, as every parser writes tables.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from index.ingest.parse.base import ParseLimits
from index.ingest.parse.base import ParseError
from index.ingest.parse.grid import EMPTY

_lock = threading.Lock()  # one OCR at a time: the engine is not meant to be shared across threads


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@lru_cache(maxsize=1)
def _engine(threads: int):
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as err:  # a clear message, never a silent weaker fallback
        raise ParseError(f"OCR is not available ({err}): it needs rapidocr-onnxruntime==1.4.4 and, for OpenCV, the "
                         "system libraries libgl1 and libglib2.0-0 (make ocr-deps)") from err
    # One text line per recognition call: a batch pads every line to the widest one in it, which
    # made recognition three times slower on CPU (5.4 -> 1.4 s a page at 150 dpi, the same text).
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, rec_batch_num=1)


def ocr_image(image: np.ndarray, threads: int = ParseLimits.ocr_threads) -> str:
    """Text of one page image (BGR or grey numpy array), lines in reading order; `threads`: the OCR's
    onnxruntime threads (POLICYQA_OCR_THREADS, taken by the first OCR of the process)."""
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    with _lock:
        # No angle classifier: it turns some upright lines (ones with 《》) upside down, and then
        # they are lost; scanned policy pages are upright.
        result, _ = _engine(threads)(np.ascontiguousarray(image), use_cls=False)
    boxes = []
    for points, text, _score in result or []:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if text.strip():
            boxes.append(Box(min(xs), min(ys), max(xs), max(ys), text.strip()))
    return "\n".join(reading_order(boxes, image.shape[1]))


def reading_order(boxes: list[Box], page_width: float) -> list[str]:
    if not boxes:
        return []
    gap = _column_gap(boxes, page_width)
    if gap is None:
        return _lines(boxes)
    lines: list[str] = []
    band: list[Box] = []
    for box in sorted(boxes, key=lambda b: b.y0):
        if box.x0 < gap < box.x1:  # spans the gutter: a title across the columns
            lines += _band(band, gap)
            band = []
            lines += _lines([box])
        else:
            band.append(box)
    return lines + _band(band, gap)


def _band(boxes: list[Box], gap: float) -> list[str]:
    left = [b for b in boxes if b.x1 <= gap]
    right = [b for b in boxes if b.x0 >= gap]
    return _lines(left) + _lines(right)


def _column_gap(boxes: list[Box], width: float) -> float | None:
    """x of a vertical gutter in the middle of the page that most text lines stay clear of."""
    if len(boxes) < 6:
        return None
    cover = np.zeros(int(width) + 1, dtype=np.int32)
    for b in boxes:
        cover[max(0, int(b.x0)) : int(b.x1) + 1] += 1
    lo, hi = int(width * 0.3), int(width * 0.7)
    middle = cover[lo:hi]
    if middle.size == 0:
        return None
    x = int(np.argmin(middle)) + lo
    crossing = cover[x]
    left = sum(1 for b in boxes if b.x1 <= x)
    right = sum(1 for b in boxes if b.x0 >= x)
    # a real gutter: text on both sides, and only a few lines (titles) cross it
    if left >= 3 and right >= 3 and crossing <= 0.15 * len(boxes):
        return float(x)
    return None


def _lines(boxes: list[Box]) -> list[str]:
    """Group boxes into lines by vertical overlap, each line read left to right."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        if rows:
            last = rows[-1]
            ref = sum(b.cy for b in last) / len(last)
            h = max(min(b.height for b in last), 1.0)
            if abs(box.cy - ref) < 0.5 * min(h, box.height):
                last.append(box)
                continue
        rows.append([box])
    out = []
    tables = _table_runs(rows)
    for k, row in enumerate(rows):
        if k in tables:
            out.append(tables[k])
            continue
        out.append(_join([b.text for b in sorted(row, key=lambda b: b.x0)]))
    return out


def _join(parts: list[str]) -> str:
    line = parts[0]
    for part in parts[1:]:
        sep = " " if line[-1:].isascii() and line[-1:].isalnum() and part[:1].isascii() and part[:1].isalnum() else ""
        line += sep + part
    return line


def _table_runs(rows: list[list[Box]]) -> dict[int, str]:
    """Rows of a table: three or more consecutive lines of two or more boxes each, whose boxes fall into
    the same columns (left edges clustered across the run). Each becomes a tab-separated line (the
    way every parser writes a table, parse/grid.py)."""
    out: dict[int, str] = {}
    k = 0
    while k < len(rows):
        j = k
        while j < len(rows) and len(rows[j]) >= 2:
            j += 1
        if j - k >= 3:
            out.update(_grid(rows, k, j))
        k = j + 1
    return out


def _grid(rows: list[list[Box]], k: int, j: int) -> dict[int, str]:
    run = rows[k:j]
    height = float(np.median([b.height for r in run for b in r]))
    edges = sorted(b.x0 for r in run for b in r)
    columns = [[edges[0]]]
    for x in edges[1:]:  # a new column where left edges jump by more than two character heights
        if x - columns[-1][-1] > 2 * height:
            columns.append([x])
        else:
            columns[-1].append(x)
    if len(columns) < 2:
        return {}
    starts = [c[0] for c in columns]
    out = {}
    for i, row in enumerate(run):
        cells: list[list[str]] = [[] for _ in starts]
        for b in sorted(row, key=lambda b: b.x0):
            col = max(c for c, x in enumerate(starts) if x <= b.x0 + 0.5 * height)
            cells[col].append(b.text)
        out[k + i] = "\t".join(_join(c) if c else EMPTY for c in cells)
    return out
