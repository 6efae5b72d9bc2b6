"""Candidate sentences for the trained reader, labelled: the questions of the training data (and
of the eval dev split, for model selection) run through the real query path, so the reader
learns on exactly the candidates it will see.

Each question is searched in an index of the seeds plus the invented documents of its part
(`.var/reader-train/<part>/`, built once like the main index). Its candidates are the sentences
of the top passages, ordered by the feature reader (index/answer.py), the best `depth` kept; a
sentence is positive when it overlaps the record's evidence and holds its answer, and the
answer's characters inside it are kept for the span head.
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
    source: str
    char_start: int
    label: int
    span: tuple[int, int] | None  # the answer inside the sentence (characters)
    feature_logit: float
    passage_rank: int


@dataclass
class Example:
    id: str
    question: str
    answerable: bool
    lang: str
    answer_type: str  # from the question analysis
    answer: str | None
    candidates: list[Candidate] = field(default_factory=list)
    refused_early: bool = False  # a constraint the documents never mention: refused before the model
    group: str = ""  # the answerable record a near miss perturbs, so both fall on one side of a split


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

    from index.dense import Encoder
    from index.search import Searcher
    from index.store import IndexUnavailable, build, load

    if part == "seeds":
        settings = Settings()
    else:
        settings = corpus_settings(part)
        os.environ.pop("POLICYQA_INDEX_DIR", None)
    encoder = encoder or Encoder(settings.model_dir)
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


def collect(searcher, questions: list[tuple], depth: int) -> list[Example]:
    """questions: (id, question, answer, evidence, source, lang, group). Candidates as the
    service would shortlist them, plus any positive the shortlist missed (so the model sees it)."""
    from index.answer import shortlist

    out = []
    for qid, question, answer, evidence, source, lang, group in questions:
        r = searcher.search(question, top_k=5, mode="hybrid", with_answer=False)
        analysis, ev = searcher.evidence(r.context, r.hits)
        example = Example(qid, question, source is not None, lang, analysis.answer_type, answer, group=group or qid)
        if ev.missing or not ev.sentences:
            example.refused_early = True
            out.append(example)
            continue
        order, logits = shortlist(analysis, ev, searcher.reader, len(ev.sentences))
        documents = searcher.backend.sentence_evidence(r.hits)[1]
        for rank_in_list, i in enumerate(order):
            s = ev.sentences[i]
            y, span = label(s, documents[s.source].text, source, answer, evidence)
            if rank_in_list >= depth and not y:
                continue
            hit = next(h for h in r.hits if h.rank == int(ev.ranks[i]))
            example.candidates.append(Candidate(s.text, hit.passage.title, hit.passage.section, s.source, s.char_start,
                                                y, span, float(logits[i]), int(ev.ranks[i])))
        out.append(example)
    return out


def from_records(records: list[Record]) -> list[tuple]:
    return [(r.id, r.question, r.answer, r.evidence, r.source, r.lang, r.of or r.id) for r in records]


def from_qa(items) -> list[tuple]:
    from index.translate import has_chinese

    return [(q.id, q.question, q.answer, q.evidence, q.source, "zh" if has_chinese(q.question) else "en", q.id)
            for q in items]


def positives_found(examples: list[Example], depth: int) -> float:
    """Share of answerable questions whose answer sentence is among the first `depth` candidates."""
    answerable = [e for e in examples if e.answerable]
    found = [any(c.label for c in sorted(e.candidates, key=lambda c: -c.feature_logit)[:depth]) for e in answerable]
    return float(np.mean(found)) if found else float("nan")

