"""One question through the pipeline: the query stages (index/query) find the passages, the
reader (index/read) answers from them; each stage timed."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from index.backends import Backend, LocalBackend
from index.build import Encoder
from index.config import Settings
from index.query import Hit, Mode, QueryContext, Retriever, Timer, analyze
from index.read import Answer, NeuralReader, ReaderModel, Verdict, gather, prefer_cell, read, read_table

__all__ = ["STAGES", "Searcher", "SearchResult"]
# The stages a search times (SearchResult.timings_ms), in order.
STAGES = ("tokenize", "bm25", "encode", "faiss", "fuse", "answer", "total")


@dataclass
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    answer: Answer | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    abstain_reason: str | None = None  # why `answer` is None, in plain words
    confidence: float = 0.0  # the reader's confidence in its best sentence (also when it abstained)
    context: QueryContext | None = None
    rerank_error: str | None = None  # the rerank server failed: the fused order stands (index/query/rerank.py)


class Searcher:
    def __init__(self, index: Backend | object, encoder: Encoder, settings: Settings,
                 reader: ReaderModel | None = None, neural=None):
        """`neural`: the trained reader (index.read.NeuralReader); None loads it unless
        POLICYQA_READER=features asks for the feature reader alone; False never uses it."""
        # A local LoadedIndex (or anything shaped like it) is served by the in-process backend.
        self.backend: Backend = index if isinstance(index, Backend) else LocalBackend(index, settings)
        self.encoder = encoder
        self.settings = settings
        self.reader = reader or ReaderModel.load()
        self.retriever = Retriever(self.backend, encoder, settings)
        if neural is None and settings.reader == "trained":
            neural = NeuralReader(settings.model_dir)
        self.neural = neural or None
        self._userdict = tuple(self.backend.tokenizer.userdict)

    @property
    def index(self) -> Backend:
        """The backend (kept under its old name: a LocalBackend also shows the loaded files' parts)."""
        return self.backend

    def search(self, query: str, top_k: int = 5, mode: Mode = "hybrid", with_answer: bool = True,
               sources: list[str] | None = None) -> SearchResult:
        """`sources`: only passages of these documents (None: all). Names must be documents of the
        index (backend.validate_sources checks them first at the API)."""
        timer = Timer()
        hits, context = self.retriever.retrieve(query, top_k, mode, sources, timer)
        # The reader reads (up to PASSAGES_CONSIDERED of) the returned passages, so every
        # sentence it answers with cites a passage the caller has.
        result = SearchResult(query, mode, hits, None, context=context, rerank_error=context.rerank_error)
        if with_answer:
            verdict, result.hits = self.answer(context, hits)
            result.answer, result.abstain_reason, result.confidence = verdict.answer, verdict.abstain_reason, verdict.confidence
        timer.lap("answer")
        result.timings_ms = timer.total()
        return result

    def evidence(self, context: QueryContext, hits: list[Hit]):
        """The question's analysis and the candidate sentences of its top passages, with features."""
        analysis = analyze(context.query, self._userdict)
        # The backend hands over the sentences of these passages (a local index: its whole table).
        return analysis, gather(context, self.backend.sentence_evidence(hits), analysis, self.backend.term_idf)

    def answer(self, context: QueryContext, hits: list[Hit], reorder: bool = True) -> tuple[Verdict, list[Hit]]:
        """The reader's answer from the top passages, or None with the reason; and the hits, with the
        passages the reader read ordered by their best sentence (`reader_order`; not with `reorder`
        False, for a caller that has already shown them). A question about a table's figure is answered
        by its cell (index/read/table_cell.py) before the sentence reader reads."""
        by_cell = read_table(context.query, hits)
        if by_cell is not None and by_cell.answer is None:
            return by_cell, hits  # a refusal that names what the table lacks
        analysis, evidence = self.evidence(context, hits)
        verdict = prefer_cell(by_cell, read(analysis, evidence, self.reader, self.neural))
        return renumbered(verdict, reader_order(hits, evidence, self.reader)) if reorder else (verdict, hits)


def reader_order(hits: list[Hit], evidence, reader: ReaderModel) -> list[Hit]:
    """The passages the reader read, ordered by their best sentence's score under its sentence model,
    ahead of the rest in retrieval's order. Its sentence model knows the question better than fusion
    (hit@1 on dev 0.804 -> 0.814; on the training questions whose answer is among the read passages,
    0.888 -> 0.923; eval/reader_rerank.py measures it in the report). A rerank server's
    order is the user's choice and stands, and so does retrieval's when no sentence was read."""
    if not evidence.sentences or evidence.missing or any(h.rerank is not None for h in hits):
        return hits
    best: dict[int, float] = {}
    for rank, logit in zip(evidence.ranks.tolist(), reader.sentence_logits(evidence.X).tolist()):
        best[rank] = max(best.get(rank, float("-inf")), logit)
    read_first = sorted((h for h in hits if h.rank in best), key=lambda h: (-best[h.rank], h.rank))
    return read_first + [h for h in hits if h.rank not in best]


def renumbered(verdict: Verdict, hits: list[Hit]) -> tuple[Verdict, list[Hit]]:
    """The hits ranked 1.. in their new order, and the answer's citations pointing at the new ranks."""
    new = {h.rank: i + 1 for i, h in enumerate(hits)}
    hits = [replace(h, rank=new[h.rank]) for h in hits]
    a = verdict.answer
    if a is not None:
        a = replace(a, passage_rank=new.get(a.passage_rank, a.passage_rank),
                    sentences=[replace(s, passage_rank=new.get(s.passage_rank, s.passage_rank)) for s in a.sentences])
        verdict = replace(verdict, answer=a)
    return verdict, hits
