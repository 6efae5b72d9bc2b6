"""The abstention trade-off: how many answerable questions are answered and how many
unanswerable ones abstained, at every cut of the reader's confidence."""
from __future__ import annotations

from index.text.english import has_chinese as is_chinese  # the service's own split of questions

from .run import QuestionResult

__all__ = ["is_chinese", "tradeoff", "curve"]


def tradeoff(results: list[QuestionResult], threshold: float) -> tuple[float, float]:
    """(share of answerable questions answered, share of unanswerable abstained) at a cut."""
    ans = [r.confidence >= threshold for r in results if r.item.answerable]
    una = [r.confidence < threshold for r in results if not r.item.answerable]
    return (sum(ans) / len(ans) if ans else 1.0, sum(una) / len(una) if una else 1.0)


def curve(results: list[QuestionResult]) -> list[tuple[float, float, float]]:
    """(cut, answered, abstained) for every distinct confidence, lowest cut first."""
    cuts = sorted({0.0} | {r.confidence for r in results} | {1.01})
    return [(c, *tradeoff(results, c)) for c in cuts]
