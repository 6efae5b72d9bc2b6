"""A sentence under its own article: the nearest heading before it (第四条租房补贴。) says what its
figures are for, where the passage around it holds several articles (购房补贴 and 租房补贴)."""
from __future__ import annotations

import numpy as np

from index.query.question import QuestionAnalysis

from .qualifiers import indicator_swap

LOCAL_REACH = 300  # characters between a heading and a sentence of its article, at most


def move_to_indicator(analysis: QuestionAnalysis, evidence, logits: np.ndarray, best: int, k: int = 4) -> int:
    """The sentence to answer with: when the best one (under its own heading) answers for another
    indicator (购房补贴 where 租房补贴 is asked), the likeliest of the next k whose heading or text names
    the asked one; else the best."""
    quantity = analysis.answer_type == "quantity"
    swap = indicator_swap(analysis.question, local(evidence, best)) if quantity else None
    named = [int(i) for i in np.argsort(-logits, kind="stable")[:k]
             if swap and np.isfinite(logits[i]) and swap[0] in local(evidence, int(i))]
    return named[0] if named else best


def local(evidence, i: int) -> str:
    """A sentence with the nearest heading before it in its document (第四条租房补贴。 for its article)."""
    s = evidence.sentences[i]
    heads = [h for h in evidence.sentences
             if h.is_heading and h.source == s.source and 0 <= s.char_start - h.char_end < LOCAL_REACH]
    return (max(heads, key=lambda h: h.char_start).text if heads else "") + s.text
