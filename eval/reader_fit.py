"""Fit the reader on the dev split: logistic-regression weights over the candidate-sentence
features, the confidence thresholds (per script) and the list/how/why extension ratio.

    python -m eval fit-reader          writes index/reader.json

Only dev questions are used; the test split is for reporting.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from index.read.answer import ANSWER_FEATURES, FEATURES, READER_WEIGHTS, ReaderModel, candidate_answer, read
from index.query.question import QuestionAnalysis
from index.text.english import has_chinese

from .metrics import char_f1, mean, norm
from .qa import QAItem

MIN_ANSWERED = 0.95  # share of answerable dev questions that must still get an answer
EXTEND_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass
class Example:
    item: QAItem
    analysis: QuestionAnalysis
    evidence: object  # index.read.answer.Evidence
    labels: np.ndarray  # 1 where the sentence holds (part of) the gold answer


def holds_answer(sentence_text: str, source: str, item: QAItem) -> bool:
    """A sentence holds the answer when it contains the gold span, or is one of the
    sentences of a multi-sentence gold span."""
    if not item.answerable or source != item.source:
        return False
    s, a = norm(sentence_text), norm(item.answer)
    return a in s or (len(s) >= 6 and s in a)


def collect(searcher, items: list[QAItem]) -> list[Example]:
    out = []
    for item in items:
        r = searcher.search(item.question, top_k=10, mode="hybrid", with_answer=False)
        analysis, ev = searcher.evidence(r.context, r.hits)
        labels = np.array([holds_answer(s.text, s.source, item) for s in ev.sentences], dtype=np.int64)
        out.append(Example(item, analysis, ev, labels))
    return out


def fit_weights(examples: list[Example], c: float = 1.0) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    X = np.vstack([e.evidence.X for e in examples if len(e.labels)])
    y = np.concatenate([e.labels for e in examples if len(e.labels)])
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def best_confidence(model: ReaderModel, e: Example) -> float:
    """The confidence the reader answers with (0 when a constraint already rules it out)."""
    return read(e.analysis, e.evidence, model).confidence


def choose_threshold(model: ReaderModel, examples: list[Example], min_answered: float = MIN_ANSWERED) -> float:
    """The highest cut that still answers `min_answered` of the answerable questions."""
    answerable = sorted(best_confidence(model, e) for e in examples if e.item.answerable)
    if not answerable:
        return 0.0
    allowed = int(np.floor(len(answerable) * (1 - min_answered) + 1e-9))  # questions we may leave unanswered
    return float(answerable[allowed]) - 1e-6 if allowed < len(answerable) else 0.0


def score_answers(model: ReaderModel, examples: list[Example]) -> dict[str, float]:
    contains, f1s = [], []
    for e in examples:
        if not e.item.answerable:
            continue
        verdict = read(e.analysis, e.evidence, model)
        text = verdict.answer.text if verdict.answer else ""
        contains.append(bool(text) and norm(e.item.answer) in norm(text))
        f1s.append(char_f1(text, e.item.answer))
    return {"answer_contains": mean(contains), "char_f1": mean(f1s)}


def fit_answerability(model: ReaderModel, examples: list[Example], c: float = 1.0) -> tuple[np.ndarray, float]:
    """Question level: from the chosen answer's features, is the question answerable at all?"""
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for e in examples:
        if e.evidence.missing or not len(e.labels):
            continue  # refused or unanswerable before the model is asked
        rows.append(candidate_answer(e.analysis, e.evidence, model)[2])
        labels.append(int(e.item.answerable))
    clf = LogisticRegression(C=c, max_iter=5000).fit(np.array(rows), np.array(labels))
    return clf.coef_[0], float(clf.intercept_[0])


def fit(searcher, items: list[QAItem]) -> tuple[ReaderModel, dict]:
    dev = [q for q in items if q.split == "dev"]
    examples = collect(searcher, dev)
    weights, bias = fit_weights(examples)
    no_answerability = (np.zeros(len(ANSWER_FEATURES)), 0.0)
    # A list or an explanation is answered whole: the ratio that lets list/how/why answers
    # contain their gold span most often wins; among equals the highest (the shortest answers).
    multi = [e for e in examples if e.analysis.answer_type in ("list", "reason", "method")]
    ratio = max(EXTEND_GRID, key=lambda r: (score_answers(ReaderModel(weights, bias, *no_answerability, 0.0, 0.0, r),
                                                          multi)["answer_contains"], r))
    answer_weights, answer_bias = fit_answerability(ReaderModel(weights, bias, *no_answerability, 0.0, 0.0, ratio), examples)
    unthresholded = ReaderModel(weights, bias, answer_weights, answer_bias, 0.0, 0.0, ratio)
    zh = [e for e in examples if has_chinese(e.item.question)]
    other = [e for e in examples if not has_chinese(e.item.question)]
    model = ReaderModel(weights, bias, answer_weights, answer_bias, choose_threshold(unthresholded, zh),
                        choose_threshold(unthresholded, other), ratio)
    una = [e for e in examples if not e.item.answerable]
    abstained = mean(read(e.analysis, e.evidence, model).answer is None for e in una)
    answered = mean(read(e.analysis, e.evidence, model).answer is not None for e in examples if e.item.answerable)
    info = {
        "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dev": {"questions": len(examples), "answerable": sum(e.item.answerable for e in examples),
                "candidates": int(sum(len(e.labels) for e in examples)),
                "positives": int(sum(e.labels.sum() for e in examples)),
                **{k: round(v, 4) for k, v in score_answers(model, examples).items()},
                "answered_answerable": round(answered, 4), "abstained_unanswerable": round(abstained, 4)},
    }
    return model, info


def write(model: ReaderModel, info: dict) -> None:
    """reader.json, keeping the near-miss model (python -m eval fit-answerability fits it) as it was."""
    from dataclasses import replace

    if model.near_miss is None and READER_WEIGHTS.exists():
        model = replace(model, near_miss=ReaderModel.load().near_miss)
    READER_WEIGHTS.write_text(model.to_json({"fit": info, "_note": "python -m eval fit-reader (dev split only)"}) + "\n",
                              encoding="utf-8")


def placeholder() -> ReaderModel:
    """A reader with no weights: every candidate scores 0.5, nothing is refused; used to collect features."""
    return ReaderModel(np.zeros(len(FEATURES)), 0.0, np.zeros(len(ANSWER_FEATURES)), 0.0, 0.0, 0.0, 1.01)
