"""Fit the answerability model (is the question answered at all?) on the training questions:
the answerable ones against their near misses (one qualifier changed), about 4,000 questions
instead of the 154 of the dev split. The cut is chosen on the dev split, per script, so that
MIN_ANSWERED of its answerable questions are still answered. Never the test split, never the
held-out invented documents.

    python -m eval fit-answerability     updates the answer weights and thresholds in index/read/reader.json

Run it after `fit-reader` (which fits the sentence weights on dev, and an answerability model there).
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from index.read.answer import ANSWER_FEATURES, READER_WEIGHTS, ReaderModel, candidate_answer

from .reader_examples import Example
from .reader_fit import MIN_ANSWERED

C = 1.0  # the regularisation that held best on dev among 0.1 and 1 (the sentence model's too)


def sentence_model(path=READER_WEIGHTS) -> ReaderModel:
    """The reader's sentence model as fitted, with no answerability yet (its features may have changed)."""
    from index.read.answer import FEATURES

    data = json.loads(path.read_text(encoding="utf-8"))
    weights = np.array([data["weights"][f] for f in FEATURES], dtype=np.float64)
    return ReaderModel(weights, float(data["bias"]), np.zeros(len(ANSWER_FEATURES)), 0.0, 0.0, 0.0,
                       float(data["extend_ratio"]))


def features(model: ReaderModel, examples: list[Example]) -> tuple[np.ndarray, np.ndarray, list[Example]]:
    """ANSWER_FEATURES and answerable labels of the examples that reach the model."""
    kept = [e for e in examples if not e.refused_early and len(e.labels)]
    X = np.array([candidate_answer(e.analysis, e.evidence, model)[2] for e in kept]).reshape(-1, len(ANSWER_FEATURES))
    return X, np.array([int(e.answerable) for e in kept]), kept


def threshold(probs: np.ndarray, answerable: np.ndarray, n_answerable: int, min_answered: float = MIN_ANSWERED) -> float:
    """The highest cut that still answers `min_answered` of all `n_answerable` questions (those
    refused before the model count as unanswered)."""
    scores = np.sort(probs[answerable == 1])
    allowed = int(np.floor(n_answerable * (1 - min_answered) + 1e-9)) - (n_answerable - len(scores))
    return float(scores[max(allowed, 0)]) - 1e-6 if len(scores) else 0.0


def rates(probs: np.ndarray, kept: list[Example], examples: list[Example], cut: float) -> dict[str, float]:
    answered = {e.id for e, p in zip(kept, probs) if p >= cut}
    ans = [e for e in examples if e.answerable]
    una = [e for e in examples if not e.answerable]
    return {"answered_answerable": round(float(np.mean([e.id in answered for e in ans])), 4) if ans else float("nan"),
            "refused_unanswerable": round(float(np.mean([e.id not in answered for e in una])), 4) if una else float("nan")}


def fit(log=print) -> dict:
    from sklearn.linear_model import LogisticRegression

    from .train_reader import gather_examples

    train, dev = gather_examples(log)
    model = sentence_model()
    X, y, kept_train = features(model, train)
    clf = LogisticRegression(C=C, max_iter=10000).fit(X, y)
    fitted = replace(model, answer_weights=clf.coef_[0].astype(np.float64), answer_bias=float(clf.intercept_[0]))
    cuts, info = {}, {}
    for script, zh in (("zh", True), ("foreign", False)):
        part = [e for e in dev if (e.lang == "zh") == zh]
        Xd, yd, kept = features(model, part)
        probs = np.array([fitted.answerability(x) for x in Xd])
        cuts[script] = threshold(probs, yd, sum(e.answerable for e in part))
        info[f"dev_{script}"] = {"questions": len(part), **rates(probs, kept, part, cuts[script])}
    fitted = replace(fitted, threshold=cuts["zh"], threshold_foreign=cuts["foreign"])
    train_probs = np.array([fitted.answerability(x) for x in X])
    info["train"] = {"questions": len(train), "fit_rows": int(len(y)),
                     **rates(train_probs, kept_train, train, fitted.threshold)}
    write(fitted, info)
    log(f"[fit-answerability] {json.dumps(info, ensure_ascii=False)}")
    return info


def write(model: ReaderModel, info: dict, path=READER_WEIGHTS) -> None:
    """Replace the answer weights and thresholds in reader.json, keeping the rest as fitted."""
    data = json.loads(path.read_text(encoding="utf-8"))
    body = json.loads(model.to_json())
    for key in ("answer_features", "answer_weights", "answer_bias", "threshold", "threshold_foreign"):
        data[key] = body[key]
    data["answerability"] = {"fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "note": "python -m eval fit-answerability (training questions; cut on dev)", **info}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
