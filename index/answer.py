"""Extractive answer: the sentence or clause of the top passages that best answers the query."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chunk import sentence_spans
from .clean import heading_level

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
            # a bare heading (`九、加快…建设。`) names a topic; it never answers a question
            if len(text) >= 6 and not (heading_level(text) is not None and len(text) <= 30):
                lead = len(p.text[s:e]) - len(p.text[s:e].lstrip())
                out.append(Candidate(hit.rank, p.source, p.char_start + s + lead, p.char_start + s + lead + len(text), text))
    return out


def lexical_overlap(query_tokens: list[str], sentence_tokens: set[str], idf) -> float:
    """Share of the query's idf mass that the sentence contains."""
    if not query_tokens:
        return 0.0
    total = sum(idf(t) for t in set(query_tokens))
    return sum(idf(t) for t in set(query_tokens) if t in sentence_tokens) / total if total else 0.0


def bigram_overlap(query: str, sentence: str) -> float:
    """Share of the query's character bigrams found in the sentence: catches words jieba cut differently."""
    grams = {query[i : i + 2] for i in range(len(query) - 1)} - {"  "}
    return sum(g in sentence for g in grams) / len(grams) if grams else 0.0


def pick(query: str, query_tokens, query_vector, cands: list[Candidate], tokenizer, encoder, idf,
         coverage: float) -> tuple[Candidate, float] | None:
    """When the corpus knows the query's words, score sentences lexically (idf-weighted token
    overlap plus character bigrams; no model call, so it costs well under a millisecond).
    Otherwise (an English question) embed the sentences of the top passages and take the
    one closest to the query. A small penalty per passage rank prefers the top passage."""
    if not cands:
        return None
    rank_penalty = 0.02 * np.array([c.rank - 1 for c in cands])
    if coverage >= 0.5:
        score = np.array([
            lexical_overlap(query_tokens, set(tokenizer.tokenize(c.text)), idf) + 0.5 * bigram_overlap(query, c.text)
            for c in cands
        ]) - rank_penalty
    else:
        cands = [c for c in cands if c.rank <= 2]
        score = encoder.encode_passages([c.text for c in cands]) @ query_vector - rank_penalty[: len(cands)]
    best = int(np.argmax(score))
    return cands[best], float(score[best])
