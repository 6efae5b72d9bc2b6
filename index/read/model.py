"""The reader's fitted models: which candidate sentence holds the answer (gradient-boosted trees
over the candidate's features, or the logistic weights they are measured against), whether the
question is answered at all, and whether it is a near miss. All are fitted by `python -m eval
fit-reader` and `fit-answerability`, and stored beside this file (reader.json, sentence_model.txt).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .qualifiers import QUALIFIER_FEATURES

READER_WEIGHTS = Path(__file__).resolve().parent / "reader.json"
SENTENCE_TREES = READER_WEIGHTS.parent / "sentence_trees.txt"
FEATURES = ("dense", "dense_gap", "lexical", "lexical_gap", "bigram", "type_match", "type_missing", "type_near",
            "constraints_sentence", "constraints_passage", "inv_rank", "heading", "log_len", "reason_cue",
            "bigram_gap", "dense_top", "lexical_top", "previous_lexical")
# The answerability model: from the chosen answer and its evidence, is the question answered
# at all? (A near-miss question finds a fine sentence on the right topic whose figure, place or
# key term is not the one asked for.)
ANSWER_FEATURES = ("sentence_logit", "margin", "coverage_answer", "coverage_passage", "missing_idf", "type_missing",
                   "type_near", "names_passage", "dense", "chinese", "no_span")
# The near-miss model reads these and the question's qualifiers held against the answer's passage.
NEAR_MISS_FEATURES = ANSWER_FEATURES + QUALIFIER_FEATURES

class SentenceTrees:
    """The sentence model as gradient-boosted trees (LightGBM): the log-odds that a candidate
    sentence holds the answer, from its FEATURES. Fitted on the training questions' candidates,
    where about 2,400 questions give the trees enough to learn interactions that one linear
    model over 102 dev questions could not."""

    def __init__(self, booster):
        self.booster = booster

    @classmethod
    def load(cls, path: Path = SENTENCE_TREES) -> "SentenceTrees":
        try:
            import lightgbm
        except ImportError as err:
            raise RuntimeError("the reader's sentence model needs lightgbm: pip install -e .") from err
        if not path.exists():
            raise ValueError(f"{path} is missing")
        try:
            return cls(lightgbm.Booster(model_file=str(path)))
        except lightgbm.basic.LightGBMError as err:
            raise ValueError(f"{path} is unreadable: {err}") from err

    def save(self, path: Path = SENTENCE_TREES) -> None:
        tmp = path.with_suffix(".tmp")
        self.booster.save_model(str(tmp))
        tmp.replace(path)

    def logits(self, X: np.ndarray) -> np.ndarray:
        if not len(X):
            return np.zeros(0)
        # one thread: a handful of rows per question, and the service's workers have the cores
        return np.asarray(self.booster.predict(X, raw_score=True, num_threads=1), dtype=np.float64)


@dataclass(frozen=True)
class NearMissModel:
    """The second answerability model: is this a near miss (the question's topic, but one qualifier
    changed: 博士后 for 博士, 2030年 for 2025年)? Fitted on the training questions' near misses against
    their answerable originals (python -m eval fit-answerability); an answer must pass both models."""

    weights: np.ndarray  # over NEAR_MISS_FEATURES
    bias: float
    threshold: float  # probability of being answerable below which a Chinese question gets no answer
    threshold_foreign: float

    def answers(self, features: np.ndarray, chinese: bool) -> bool:
        p = float(_sigmoid(features @ self.weights + self.bias))
        return p >= (self.threshold if chinese else self.threshold_foreign)

    @classmethod
    def from_json(cls, data: dict) -> "NearMissModel":
        return cls(np.array([data["weights"][f] for f in NEAR_MISS_FEATURES], dtype=np.float64), float(data["bias"]),
                   float(data["threshold"]), float(data["threshold_foreign"]))

    def to_dict(self) -> dict:
        return {"features": list(NEAR_MISS_FEATURES), "weights": dict(zip(NEAR_MISS_FEATURES, map(float, self.weights))),
                "bias": self.bias, "threshold": self.threshold, "threshold_foreign": self.threshold_foreign}


@dataclass(frozen=True)
class ReaderModel:
    weights: np.ndarray  # sentence model: does this sentence hold the answer?
    bias: float
    answer_weights: np.ndarray  # answerability model: is the question answered by the chosen sentence(s)?
    answer_bias: float
    threshold: float  # answerability below which a Chinese question gets no answer
    threshold_foreign: float  # the same for other questions
    extend_ratio: float  # a neighbour joins a list/how/why answer at >= this share of the best sentence's probability
    near_miss: NearMissModel | None = None  # None: the answerability model alone decides
    trees: SentenceTrees | None = None  # the sentence model when fitted; None: the logistic weights

    def sentence_logits(self, X: np.ndarray) -> np.ndarray:
        return self.trees.logits(X) if self.trees is not None else X @ self.weights + self.bias

    def confidence(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.sentence_logits(X))

    def answerability(self, features: np.ndarray) -> float:
        return float(_sigmoid(features @ self.answer_weights + self.answer_bias))

    @classmethod
    def load(cls, path: Path = READER_WEIGHTS) -> "ReaderModel":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = np.array([data["weights"][f] for f in FEATURES], dtype=np.float64)
            answer_weights = np.array([data["answer_weights"][f] for f in ANSWER_FEATURES], dtype=np.float64)
            near_miss = NearMissModel.from_json(data["near_miss"]) if "near_miss" in data else None
            trees = SentenceTrees.load(path.parent / data["sentence_trees"]) if data.get("sentence_trees") else None
            return cls(weights, float(data["bias"]), answer_weights, float(data["answer_bias"]), float(data["threshold"]),
                       float(data["threshold_foreign"]), float(data["extend_ratio"]), near_miss, trees)
        except (OSError, ValueError, KeyError) as err:
            raise RuntimeError(f"Reader weights {path} are missing or unreadable ({err}); "
                               f"refit them with: python -m eval fit-reader") from err

    def to_json(self, extra: dict | None = None) -> str:
        body = {"features": list(FEATURES), "weights": dict(zip(FEATURES, map(float, self.weights))), "bias": self.bias,
                "answer_features": list(ANSWER_FEATURES),
                "answer_weights": dict(zip(ANSWER_FEATURES, map(float, self.answer_weights))),
                "answer_bias": self.answer_bias, "threshold": self.threshold, "threshold_foreign": self.threshold_foreign,
                "extend_ratio": self.extend_ratio, **(extra or {})}
        if self.trees is not None:
            body["sentence_trees"] = SENTENCE_TREES.name
        if self.near_miss is not None:
            body["near_miss"] = self.near_miss.to_dict()
        return json.dumps(body, ensure_ascii=False, indent=1)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))

