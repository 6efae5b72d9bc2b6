"""A sentence under its own article: the nearest heading before it (第四条租房补贴。) says what its
figures are for, where the passage around it holds several articles (购房补贴 and 租房补贴)."""
from __future__ import annotations

import re

import numpy as np

from index.query.question import QuestionAnalysis

from .qualifiers import indicator_swap
from .spans import asked_dates, span_candidates

_YEAR = re.compile(r"(?:19|20)\d{2}(?=\s*年)")
LOCAL_REACH = 300  # characters between a heading and a sentence of its article, at most


def move_to_bound(analysis: QuestionAnalysis, evidence, logits: np.ndarray, best: int, k: int = 4) -> int:
    """The sentence to answer with. When the best one answers for another indicator (under its own
    heading, 购房补贴 where 租房补贴 is asked), holds no date as precise as asked (2024年 for 哪天) or is
    about another year (a lede about 2026 where 2025 is asked), the likeliest of the next k that names
    the asked one; else the best."""
    wanted = _bound_to(analysis, evidence, best)
    if wanted is None:
        return best
    named = [int(i) for i in np.argsort(-logits, kind="stable")[:k]
             if np.isfinite(logits[i]) and wanted(int(i))]
    return named[0] if named else best


def _bound_to(analysis: QuestionAnalysis, evidence, best: int):
    """What a sentence must name when the best one conflicts with the question, or None."""
    if analysis.answer_type == "quantity":
        swap = indicator_swap(analysis.question, local(evidence, best))
        if swap:
            return lambda i: swap[0] in local(evidence, i)
    measures = asked_dates(analysis.question) if analysis.answer_type == "date" else []
    if measures and not _fits(evidence.sentences[best].text, analysis, measures):
        return lambda i: _fits(evidence.sentences[i].text, analysis, measures)
    asked = set(analysis.years)
    given = set(_YEAR.findall(evidence.sentences[best].text))
    if asked and given and not asked & given:
        return lambda i: bool(asked & _years_in_force(evidence, i))
    return None


def _fits(text: str, analysis: QuestionAnalysis, measures) -> bool:
    """The sentence holds a date as precise as the question asks (哪天: 3月5日, not 2024年)."""
    return any(fits.search(text[s:e]) for s, e in span_candidates(text, analysis) for fits in measures)


def _years_in_force(evidence, i: int) -> set[str]:
    """The years a sentence is about: its own, else those of the sentence before it in its paragraph
    within reach (会议通报了2025年人才工作情况:…; 人才发展专项资金投入4.6亿元 is about 2025)."""
    s = evidence.sentences[i]
    own = set(_YEAR.findall(s.text))
    if own:
        return own
    before = [b for b in evidence.sentences
              if b.source == s.source and 0 <= s.char_start - b.char_end < LOCAL_REACH and _YEAR.search(b.text)]
    return set(_YEAR.findall(max(before, key=lambda b: b.char_start).text)) if before else set()


def local(evidence, i: int) -> str:
    """A sentence with the nearest heading before it in its document (第四条租房补贴。 for its article)."""
    s = evidence.sentences[i]
    heads = [h for h in evidence.sentences
             if h.is_heading and h.source == s.source and 0 <= s.char_start - h.char_end < LOCAL_REACH]
    return (max(heads, key=lambda h: h.char_start).text if heads else "") + s.text
