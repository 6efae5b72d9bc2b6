"""Retrieval metrics over ranked passages: hit@k, MRR@10, nDCG@10, answer and abstention."""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from difflib import SequenceMatcher

from .qa import QAItem

_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """Compare texts the way a reader would: NFKC, no whitespace (line breaks differ by cleaning)."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def is_hit(source: str, text: str, item: QAItem) -> bool:
    """A passage answers when it comes from the right document and contains the answer span,
    or most (>= half) of the evidence span."""
    if not item.answerable or source != item.source:
        return False
    passage = norm(text)
    if norm(item.answer) in passage:
        return True
    evidence = norm(item.evidence)
    match = SequenceMatcher(None, evidence, passage, autojunk=False).find_longest_match(0, len(evidence), 0, len(passage))
    return match.size >= len(evidence) / 2


def first_hit_rank(hits: list[bool]) -> int | None:
    return next((i + 1 for i, h in enumerate(hits) if h), None)


def ndcg(hits: list[bool], n_relevant: int, k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits[:k]) if h)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(max(n_relevant, 1), k)))
    return dcg / ideal


def retrieval_scores(hits: list[bool], n_relevant: int) -> dict[str, float]:
    rank = first_hit_rank(hits[:10])
    return {
        "hit@1": float(rank == 1),
        "hit@5": float(rank is not None and rank <= 5),
        "hit@10": float(rank is not None),
        "mrr@10": 1 / rank if rank else 0.0,
        "ndcg@10": ndcg(hits, n_relevant),
    }


def answer_contains(answer_text: str | None, item: QAItem) -> bool:
    return bool(answer_text) and item.answerable and norm(item.answer) in norm(answer_text)


# Typed questions, as the question analysis (rules over question words, not the reader) types them.
TYPED_FOR_SPAN = frozenset({"quantity", "date", "person", "organization"})
SPAN_SLACK = 4


def is_typed(question: str) -> bool:
    from index.query import analyze

    return analyze(question).answer_type in TYPED_FOR_SPAN


def span_holds(span: str | None, item: QAItem) -> bool:
    """The bold span holds the gold answer and is at most SPAN_SLACK characters longer."""
    if not span or not item.answerable:
        return False
    s, a = norm(span), norm(item.answer)
    return a in s and len(s) <= len(a) + SPAN_SLACK


def char_f1(prediction: str | None, gold: str | None) -> float:
    """SQuAD-style F1 by characters (NFKC, whitespace folded): the harmonic mean of the share of
    the prediction's characters found in the gold span and the share of the gold span found."""
    pred, ref = Counter(norm(prediction or "")), Counter(norm(gold or ""))
    common = sum((pred & ref).values())
    if not common:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def percentile(values, q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    i = (len(values) - 1) * q
    lo, hi = math.floor(i), math.ceil(i)
    return values[lo] + (values[hi] - values[lo]) * (i - lo)
