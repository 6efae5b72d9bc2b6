"""Fit the near-miss model (index.read.answer.NearMissModel) on the training questions: the
answerable ones against their near misses (one qualifier changed), about 3,900 questions that
reach the reader, over the answer's features and the question's qualifiers held against the
answer's passage. The feature reader's own answerability model stays as `fit-reader` fitted it on
the dev split; an answer must pass both. The near-miss cut is chosen on the dev split, per script,
as the highest that still answers MIN_ANSWERED of its answerable questions with both models.
Never the test split, never the held-out invented documents.

    python -m eval fit-answerability     writes the near_miss block of index/read/reader.json
"""
from __future__ import annotations

import json
import zlib
from dataclasses import replace
from datetime import datetime, timezone

import numpy as np

from index.read.answer import READER_WEIGHTS, NearMissModel, ReaderModel, candidate_answer, near_miss_features

from .reader_examples import Example
from .reader_fit import fit_trees

C = 1.0  # logistic regression's regularisation (0.1 and 1 held alike on dev)
FOLDS = 5  # out-of-fold sentence trees for the training questions' features
MIN_ANSWERED = 0.93  # the floor: share of answerable dev questions both models must still answer


def features(model: ReaderModel, examples: list[Example]) -> tuple[np.ndarray, np.ndarray, list[Example]]:
    """(NEAR_MISS_FEATURES, answerable labels, the examples) of the examples that reach the reader."""
    kept = [e for e in examples if not e.refused_early and len(e.labels)]
    rows = []
    for e in kept:
        chosen, _, base = candidate_answer(e.analysis, e.evidence, model)
        rows.append(near_miss_features(e.analysis, e.evidence, chosen[0], base))
    return np.array(rows), np.array([int(e.answerable) for e in kept]), kept


def out_of_fold_features(model: ReaderModel, train: list[Example], folds: int = FOLDS) -> tuple[np.ndarray, np.ndarray]:
    """features() of the training questions, each read by sentence trees fitted without its fold:
    the trees were fitted on these questions, and in-sample they look surer than they are on a
    question they have not seen (a near miss and its original share a fold)."""
    if model.trees is None:
        return features(model, train)[:2]
    fold = np.array([zlib.crc32(e.group.encode("utf-8")) % folds for e in train])
    parts = []
    for k in range(folds):
        others = replace(model, trees=fit_trees([e for e, f in zip(train, fold) if f != k]))
        parts.append(features(others, [e for e, f in zip(train, fold) if f == k])[:2])
    return np.vstack([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def joint_cut(near: np.ndarray, passes_first: np.ndarray, answerable: np.ndarray, n_answerable: int,
              min_answered: float = MIN_ANSWERED) -> float:
    """The highest near-miss cut at which `min_answered` of all `n_answerable` questions are still
    answered by both models (`passes_first`: the first model answers; questions refused before the
    reader count as unanswered). The lowest score when even no cut is too strict."""
    candidates = np.sort(near[(answerable == 1) & passes_first])
    for cut in candidates[::-1]:
        answered = np.sum((answerable == 1) & passes_first & (near >= cut))
        if answered >= min_answered * n_answerable - 1e-9:
            return float(cut) - 1e-6
    return float(candidates[0]) - 1e-6 if len(candidates) else 0.0


def fit(log=print) -> dict:
    from sklearn.linear_model import LogisticRegression

    from .train_reader import gather_examples

    train, dev = gather_examples(log)
    model = replace(ReaderModel.load(), near_miss=None)
    X, y = out_of_fold_features(model, train)
    clf = LogisticRegression(C=C, max_iter=10000).fit(X, y)
    weights, bias = clf.coef_[0].astype(np.float64), float(clf.intercept_[0])
    cuts, info = {}, {"train": {"questions": len(train), "fit_rows": int(len(y)), "near_misses": int((y == 0).sum())}}
    for script, zh in (("zh", True), ("foreign", False)):
        part = [e for e in dev if (e.lang == "zh") == zh]
        Xd, yd, kept = features(model, part)
        first = np.array([model.answerability(x[:len(model.answer_weights)]) >= (model.threshold if zh else
                                                                                 model.threshold_foreign) for x in Xd])
        near = 1 / (1 + np.exp(-(Xd @ weights + bias)))
        cuts[script] = joint_cut(near, first, yd, sum(e.answerable for e in part))
        both = first & (near >= cuts[script])
        answered = {e.id for e, ok in zip(kept, both) if ok}
        info[f"dev_{script}"] = {
            "questions": len(part),
            "answered_answerable": round(float(np.mean([e.id in answered for e in part if e.answerable])), 4),
            "refused_unanswerable": round(float(np.mean([e.id not in answered for e in part if not e.answerable])), 4)}
    near_miss = NearMissModel(weights, bias, cuts["zh"], cuts["foreign"])
    write(near_miss, info)
    log(f"[fit-answerability] {json.dumps(info, ensure_ascii=False)}")
    return info


def write(near_miss: NearMissModel, info: dict, path=READER_WEIGHTS) -> None:
    """Replace the near_miss block of reader.json, keeping the rest as fitted."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["near_miss"] = {**near_miss.to_dict(), "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "note": "python -m eval fit-answerability (training questions; cut on dev)", **info}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
