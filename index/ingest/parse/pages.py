"""Carry page boundaries through the cleaning rules.

The cleaning rules only drop, fold (NFKC) and re-space characters; they never invent
non-space ones. So the clean text's non-space characters are, in order, a subsequence of
the normalised raw pages, and matching them greedily tells, for each clean character,
the raw page it came from. Greedy matching can only land early (on a dropped character
that happens to be equal), so a page start may move a few characters earlier at worst.
"""
from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from index.ingest.clean import normalize_unicode

_WINDOW = 4000  # a clean character is looked for this far ahead at most (bounded cost)


def join_pages(pages: list[str]) -> str:
    return "\n".join(pages)


def page_starts(pages: list[str], clean: str) -> list[int]:
    """Offset in `clean` where each page starts (len(pages) entries, non-decreasing)."""
    norm_pages = [normalize_unicode(p) for p in pages]
    raw = "\n".join(norm_pages)
    # raw offset where page k starts
    bounds = [0] + list(accumulate(len(p) + 1 for p in norm_pages))[:-1]
    starts = [len(clean)] * len(pages)
    ptr = 0
    for i, ch in enumerate(clean):
        if ch.isspace():
            continue
        pos = raw.find(ch, ptr, ptr + _WINDOW)
        if pos < 0:
            continue  # not found nearby: keep the pointer, the next character re-anchors it
        ptr = pos + 1
        page = bisect_right(bounds, pos) - 1
        for k in range(page, -1, -1):  # this page, and any earlier one still unset, start here
            if starts[k] <= i:
                break
            starts[k] = i
    starts[0] = 0
    for k in range(len(starts) - 2, -1, -1):  # pages left without text start where the next one does
        starts[k] = min(starts[k], starts[k + 1])
    return starts


def page_at(starts: list[int], offset: int) -> int:
    """1-based page of a clean-text offset."""
    return max(1, bisect_right(starts, offset))
