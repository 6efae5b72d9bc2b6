"""Extractive answer: the sentence or clause of the top passages that best answers the query."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunk import sentence_spans

MAX_SENTENCE = 160  # longer sentences are offered clause by clause
PASSAGES_CONSIDERED = 3


@dataclass
class Answer:
    text: str
    passage_rank: int
    source: str
    char_start: int
    char_end: int
    score: float


@dataclass
class Candidate:
    rank: int
    source: str
    start: int  # offsets into the document's clean text
    end: int
    text: str


def candidates(hits) -> list[Candidate]:
    """Sentences of the top passages, offsets mapped back to the document."""
    out = []
    for hit in hits[:PASSAGES_CONSIDERED]:
        p = hit.passage
        for s, e in sentence_spans(p.text, MAX_SENTENCE, MAX_SENTENCE // 2):
            text = p.text[s:e].strip()
            if len(text) >= 6:
                lead = len(p.text[s:e]) - len(p.text[s:e].lstrip())
                out.append(Candidate(hit.rank, p.source, p.char_start + s + lead, p.char_start + s + lead + len(text), text))
    return out


def lexical_overlap(query_tokens: list[str], sentence_tokens: set[str], idf) -> float:
    """Share of the query's idf mass that the sentence contains."""
    if not query_tokens:
        return 0.0
    total = sum(idf(t) for t in set(query_tokens))
    return sum(idf(t) for t in set(query_tokens) if t in sentence_tokens) / total if total else 0.0


def pick(query_tokens, query_vector, cands: list[Candidate], tokenizer, encoder, idf, coverage: float) -> tuple[Candidate, float] | None:
    """Score = dense similarity to the query, plus lexical overlap weighted by how much of
    the query the corpus vocabulary covers (none for English questions), minus a small
    penalty per passage rank."""
    if not cands:
        return None
    vectors = encoder.encode_passages([c.text for c in cands])
    dense = vectors @ query_vector
    lexical = np.array([lexical_overlap(query_tokens, set(tokenizer.tokenize(c.text)), idf) for c in cands])
    score = dense + 0.3 * coverage * lexical - 0.01 * np.array([c.rank - 1 for c in cands])
    best = int(np.argmax(score))
    return cands[best], float(score[best])
