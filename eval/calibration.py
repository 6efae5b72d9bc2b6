"""Choose the answer (abstention) threshold from dev-split results."""
from __future__ import annotations

from index.translate import has_chinese as is_chinese  # the service's own split of questions

from .run import QuestionResult


def tradeoff(results: list[QuestionResult], threshold: float) -> tuple[float, float]:
    """(share of answerable questions answered, share of unanswerable abstained) at a cut."""
    ans = [r.top_dense >= threshold for r in results if r.item.answerable]
    una = [r.top_dense < threshold for r in results if not r.item.answerable]
    return (sum(ans) / len(ans) if ans else 1.0, sum(una) / len(una) if una else 1.0)


def choose(results: list[QuestionResult], min_answered: float) -> dict:
    cuts = sorted({round(r.top_dense, 4) for r in results})
    best = {"threshold": 0.0, "answered": 1.0, "abstained": 0.0}
    for cut in cuts:
        answered, abstained = tradeoff(results, cut)
        if answered >= min_answered:
            best = {"threshold": cut, "answered": round(answered, 3), "abstained": round(abstained, 3)}
    return best


def choose_thresholds(results: list[QuestionResult], min_answered: float = 0.95) -> dict:
    """Dense cosines of English questions against Chinese passages sit lower than Chinese
    ones, so each script gets its own cut."""
    zh = [r for r in results if is_chinese(r.item.question)]
    other = [r for r in results if not is_chinese(r.item.question)]
    return {"chinese": choose(zh, min_answered), "other": choose(other, min_answered),
            "n": {"chinese": len(zh), "other": len(other)}}
