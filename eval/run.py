"""Run the QA set through a retriever (in-process or over HTTP) and score every question."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from index.build import cells_as_read, with_unit
from index.search import STAGES

from .metrics import answer_contains, char_f1, is_hit, is_typed, mean, percentile, retrieval_scores, span_holds
from .qa import QAItem

DEPTH = 10


@dataclass
class Retrieved:
    passages: list[tuple[str, str]]  # (source, text), best first
    answer: str | None
    span: str | None  # the typed answer inside it, when the question has a type
    confidence: float  # the reader's, also when it abstained
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever(Protocol):
    def __call__(self, question: str, mode: str, top_k: int) -> Retrieved: ...


class QueryCache:
    """Wraps an encoder so each question is embedded once although every mode asks it."""

    def __init__(self, encoder):
        self._encoder = encoder
        self._vectors: dict[str, object] = {}

    def encode_query(self, text: str):
        if text not in self._vectors:
            self._vectors[text] = self._encoder.encode_query(text)
        return self._vectors[text]

    def __getattr__(self, name):
        return getattr(self._encoder, name)


def as_read(text: str, table: dict | None) -> str:
    """A passage as a reader takes it: a table passage with its figures and their units (a row holds 3.3
    under 计量单位 %: it states 3.3%), so a row is scored as the figures it states."""
    return f"{text} {' '.join(cells_as_read(table))}" if table else text


def span_as_read(span: str | None, table: dict | None) -> str | None:
    """A cell answer's bold figure with its column's unit (the page shows the row under its header)."""
    return with_unit(span, (table or {}).get("unit") or "") if span else span


def in_process(searcher) -> Retriever:
    def retrieve(question: str, mode: str, top_k: int) -> Retrieved:
        r = searcher.search(question, top_k=top_k, mode=mode)
        a = r.answer
        table = getattr(a, "table", None)
        span = span_as_read(a.span.text, table) if a and a.span else None
        return Retrieved([(h.passage.source, as_read(h.passage.text, h.passage.table)) for h in r.hits],
                         (f"{a.text} {span}" if table else a.text) if a else None, span, r.confidence, r.timings_ms)
    return retrieve


def over_http(base_url: str, timeout: float = 60.0) -> Retriever:
    """Score a running service through POST /api/query, as a client would."""
    import httpx

    client = httpx.Client(base_url=base_url, timeout=timeout)

    def retrieve(question: str, mode: str, top_k: int) -> Retrieved:
        t0 = time.perf_counter()
        resp = client.post("/api/query", json={"query": question, "top_k": top_k, "mode": mode})
        resp.raise_for_status()
        body = resp.json()
        timings = dict(body.get("timings_ms", {}))
        timings["http_total"] = (time.perf_counter() - t0) * 1000
        answer = body["answer"]
        table = (answer or {}).get("table")
        span = span_as_read((answer.get("span") or {}).get("text"), table) if answer else None
        return Retrieved([(p["source"], as_read(p["text"], p.get("table"))) for p in body["passages"]],
                         (f"{answer['text']} {span}" if table else answer["text"]) if answer else None, span,
                         answer["score"] if answer else 0.0, timings)
    return retrieve


def relevant_counter(passages):
    """How many passages of the corpus answer each question (the ideal for nDCG)."""
    def count(item: QAItem) -> int:
        return sum(is_hit(p.source, as_read(p.text, p.table), item) for p in passages if p.source == item.source)
    return count


@dataclass
class QuestionResult:
    item: QAItem
    mode: str
    scores: dict[str, float]  # hit@k, mrr@10, ndcg@10 (answerable only)
    answered: bool
    answer_ok: bool  # the answer contains the gold span
    typed: bool  # the question asks for an amount, count, date, person or organisation
    span_ok: bool  # the bold span holds the gold answer and is at most 4 characters longer
    f1: float  # character F1 of the answer's shortest form (its span, else its text) against the gold span
    confidence: float
    first_passage: str
    timings_ms: dict[str, float]


def run_mode(retrieve: Retriever, items: list[QAItem], mode: str, relevant: Callable[[QAItem], int]) -> list[QuestionResult]:
    results = []
    for item in items:
        r = retrieve(item.question, mode, DEPTH)
        hits = [is_hit(src, text, item) for src, text in r.passages]
        scores = retrieval_scores(hits, relevant(item)) if item.answerable else {}
        results.append(QuestionResult(item, mode, scores, r.answer is not None, answer_contains(r.answer, item),
                                      is_typed(item.question), span_holds(r.span, item),
                                      char_f1(r.span or r.answer, item.answer) if item.answerable else 0.0,
                                      r.confidence, r.passages[0][1][:80] if r.passages else "", r.timings_ms))
    return results


METRICS = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")


def summarize(results: list[QuestionResult]) -> dict[str, float]:
    answerable = [r for r in results if r.item.answerable]
    unanswerable = [r for r in results if not r.item.answerable]
    out = {m: mean(r.scores[m] for r in answerable) for m in METRICS}
    out["n"] = len(answerable)
    out["answer_contains"] = mean(r.answer_ok for r in answerable)
    out["char_f1"] = mean(r.f1 for r in answerable)
    out["span_typed"] = mean(r.span_ok for r in answerable if r.typed)
    out["n_typed"] = sum(r.typed for r in answerable)
    out["answered_answerable"] = mean(r.answered for r in answerable)
    out["abstained_unanswerable"] = mean(not r.answered for r in unanswerable)
    out["n_unanswerable"] = len(unanswerable)
    # Abstention as a detector of unanswerable questions: precision = abstentions that were
    # right to abstain, recall = unanswerable questions abstained.
    abstained = [r for r in results if not r.answered]
    out["abstain_precision"] = mean(not r.item.answerable for r in abstained)
    out["abstain_recall"] = out["abstained_unanswerable"]
    return out


def group(results: list[QuestionResult], key: Callable[[QuestionResult], str]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        if r.item.answerable:
            groups.setdefault(key(r), []).append(r)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def latency(results: list[QuestionResult]) -> dict[str, dict[str, float]]:
    out = {}
    for stage in STAGES + ("http_total",):
        values = [r.timings_ms[stage] for r in results if stage in r.timings_ms]
        if values:
            out[stage] = {"median": percentile(values, 0.5), "p95": percentile(values, 0.95)}
    return out
