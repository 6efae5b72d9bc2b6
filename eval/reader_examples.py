"""Candidate sentences for the trained reader, labelled: the questions of the training data (and
of the eval dev split, for model selection) run through the real query path, so the reader
learns on exactly the candidates it will see.

Each question is searched in an index of the seeds plus the invented documents of its part
(`.var/reader-train/<part>/`, built once like the main index). Every sentence of its top
passages is labelled: positive when it overlaps the record's evidence and holds its answer (the
answer's characters inside it are kept for the span head). The candidates the trained reader
reads are the ones the feature reader (index/answer.py) shortlists, as in the service.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from index.config import REPO_ROOT, Settings

from .trainset import Record, invented_paths

SPAN_MAX_CHARS = 40  # longer answers (lists, explanations) train the answer head only
_SPACE = re.compile(r"\s+")


@dataclass
class Candidate:
    sentence: str
    title: str
    section: str
    label: int
    span: tuple[int, int] | None  # the answer inside the sentence (characters)
    feature_logit: float
    index: int = -1  # in the example's evidence
    reader_logit: float | None = None  # set when the trained reader has read it (dev)
    reader_span: tuple[int, int] | None = None


@dataclass
class Example:
    """One question with every candidate sentence of its top passages, labelled. The evidence
    is kept whole, so the shortlist can be redrawn by another feature model."""

    id: str
    question: str
    answerable: bool
    lang: str
    answer: str | None
    group: str  # the answerable record a near miss perturbs, so both fall on one side of a split
    analysis: object = None  # index.question.QuestionAnalysis
    evidence: object = None  # index.answer.Evidence (None: refused before any model reads)
    labels: np.ndarray | None = None  # per evidence sentence
    spans: list = field(default_factory=list)  # per evidence sentence: the answer's characters, or None
    candidates: list[Candidate] = field(default_factory=list)  # the shortlist, set by shortlist_candidates

    @property
    def refused_early(self) -> bool:
        return self.evidence is None


def _norm(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def corpus_settings(part: str) -> Settings:
    """Settings of an index over the seeds plus the invented documents of `part` ('train',
    'heldout') or the seeds alone ('seeds')."""
    base = Settings()
    root = REPO_ROOT / ".var" / "reader-train" / part
    seeds = root / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in sorted(base.seeds_dir.glob("*.txt"))}
    if part != "seeds":
        wanted.update({p.name: p for p in invented_paths(part)})
    for old in seeds.iterdir():
        if old.name not in wanted:
            old.unlink()
    for name, path in wanted.items():
        link = seeds / name
        if not link.exists():
            link.symlink_to(path.resolve())
    return Settings(seeds_dir=seeds, var_dir=root)


def open_searcher(part: str, encoder=None, trained: bool = False):
    """A Searcher over the part's index (built or rebuilt when stale); with the trained reader
    when `trained`, else the feature reader alone (which shortlists the candidates)."""
    import os

    from index.backends.local.store import build, load
    from index.build import Encoder, IndexUnavailable
    from index.search import Searcher

    if part == "seeds":
        settings = Settings()
    else:
        settings = corpus_settings(part)
        os.environ.pop("POLICYQA_INDEX_DIR", None)
    encoder = encoder or Encoder.of(settings)
    try:
        index = load(settings)
    except IndexUnavailable:
        build(settings, encoder=encoder, progress=False)
        index = load(settings)
    return Searcher(index, encoder, settings, neural=None if trained else False)


def evidence_ranges(text: str, evidence: str) -> list[tuple[int, int]]:
    out, i = [], text.find(evidence)
    while i >= 0:
        out.append((i, i + len(evidence)))
        i = text.find(evidence, i + 1)
    return out


def label(sentence, doc_text: str, source: str | None, answer: str | None, evidence: str | None):
    """(label, span inside the sentence) of one candidate sentence for one question."""
    if source is None or sentence.source != source or not answer:
        return 0, None
    s, a = _norm(sentence.text), _norm(answer)
    holds = a in s or (len(s) >= 6 and s in a)
    ranges = evidence_ranges(doc_text, evidence) if evidence else []
    if ranges and not any(sentence.char_start < e and b < sentence.char_end for b, e in ranges):
        return 0, None  # the same words elsewhere (a decoy sentence repeating the figure) do not count
    if not holds:
        return 0, None
    span = None
    if len(answer) <= SPAN_MAX_CHARS:
        for b, _ in ranges or [(sentence.char_start, sentence.char_end)]:
            pos = doc_text.find(answer, b)
            if pos >= 0 and sentence.char_start <= pos and pos + len(answer) <= sentence.char_end:
                span = (pos - sentence.char_start, pos - sentence.char_start + len(answer))
                break
    return 1, span


def collect(searcher, questions: list[tuple]) -> list[Example]:
    """questions: (id, question, answer, evidence, source, lang, group). Every candidate sentence
    the service would read from, labelled."""
    out = []
    for qid, question, answer, evidence, source, lang, group in questions:
        r = searcher.search(question, top_k=5, mode="hybrid", with_answer=False)
        analysis, ev = searcher.evidence(r.context, r.hits)
        example = Example(qid, question, source is not None, lang, answer, group or qid, analysis)
        if not ev.missing and ev.sentences:
            documents = searcher.backend.sentence_evidence(r.hits).documents
            found = [label(s, documents[s.source].text, source, answer, evidence) for s in ev.sentences]
            example.evidence = ev
            example.labels = np.array([y for y, _ in found], dtype=np.int64)
            example.spans = [span for _, span in found]
        out.append(example)
    return out


def shortlist_candidates(examples: list[Example], model, depth: int, keep_positives: bool) -> None:
    """Each example's candidates: the `depth` sentences `model` (a feature reader) ranks best, as
    the service shortlists them; with `keep_positives`, any positive it missed too (for training)."""
    from index.read.answer import shortlist

    for e in examples:
        e.candidates = []
        if e.refused_early:
            continue
        order, logits = shortlist(e.analysis, e.evidence, model, len(e.evidence.sentences))
        for n, i in enumerate(order):
            if n >= depth and not (keep_positives and e.labels[i]):
                continue
            e.candidates.append(Candidate(e.evidence.sentences[i].text, *e.evidence.headers[i], int(e.labels[i]),
                                          e.spans[i], float(logits[i]), i))


def fit_shortlist(examples: list[Example], base, c: float = 1.0):
    """The feature reader's sentence model refitted on the training questions' candidates (the
    eval dev split alone fitted it before: 102 questions): it decides what the trained reader reads."""
    from dataclasses import replace

    from sklearn.linear_model import LogisticRegression

    rows = [e for e in examples if not e.refused_early and len(e.labels)]
    X = np.vstack([e.evidence.X for e in rows])
    y = np.concatenate([e.labels for e in rows])
    clf = LogisticRegression(C=c, max_iter=5000).fit(X, y)
    return replace(base, weights=clf.coef_[0].astype(np.float64), bias=float(clf.intercept_[0]))


def from_records(records: list[Record]) -> list[tuple]:
    return [(r.id, r.question, r.answer, r.evidence, r.source, r.lang, r.of or r.id) for r in records]


def from_qa(items) -> list[tuple]:
    from index.text import has_chinese

    return [(q.id, q.question, q.answer, q.evidence, q.source, "zh" if has_chinese(q.question) else "en", q.id)
            for q in items]


def positives_found(examples: list[Example], model, depth: int) -> float:
    """Share of answerable questions whose answer sentence is among the `depth` sentences `model` shortlists."""
    from index.read.answer import shortlist

    found = [not e.refused_early and any(e.labels[i] for i in shortlist(e.analysis, e.evidence, model, depth)[0])
             for e in examples if e.answerable]
    return float(np.mean(found)) if found else float("nan")

