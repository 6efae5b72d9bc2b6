"""Request and response models of the HTTP API (the contract other tools depend on)."""
from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from index.query import Hit

MAX_QUERY_CHARS = 2000
QUERY_PATTERN = r"[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
MAX_SOURCES = 100
MAX_SOURCE_CHARS = 300
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SURROGATES = re.compile(r"[\ud800-\udfff]")
# What clean_sources accepts, for the schema: no control characters or lone surrogates, and at
# least one character that is not whitespace (str.isspace).
_NAME_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
SOURCE_PATTERN = (rf"^{_NAME_CHAR}*[^\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
                  rf"{_NAME_CHAR}*$")


class QueryRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"query": "示范区要加快建设哪些新一代信息基础设施？", "top_k": 5, "mode": "hybrid"}]})

    # The schema says what clean_query accepts: at least one character that is neither
    # whitespace (str.isspace) nor a control character, as they are stripped before the check.
    query: str = Field(max_length=MAX_QUERY_CHARS, description="The question, in Chinese or English (1-2000 characters).",
                       json_schema_extra={"minLength": 1, "pattern": QUERY_PATTERN})
    top_k: int = Field(5, ge=1, le=50, description="How many passages to return (1-50).")
    mode: Literal["hybrid", "bm25", "dense"] = Field("hybrid", description="Ranking: fused, BM25 only or dense only.")
    sources: list[Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": MAX_SOURCE_CHARS,
                                                          "pattern": SOURCE_PATTERN})]] | None = Field(
                                      None, min_length=1, max_length=MAX_SOURCES,
                                      description="Only search these documents (names as GET /api/documents lists them); "
                                                  "omit to search all.")
    answer: StrictBool = Field(True, description="Run the reader: an extractive answer or a refusal. false returns "
                                           "passages only (faster); `answer` and `abstain_reason` are then null.")

    @field_validator("sources")
    @classmethod
    def clean_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for name in value:
            if not name.strip() or len(name) > MAX_SOURCE_CHARS or CONTROL_CHARS.search(name) or SURROGATES.search(name):
                raise ValueError(f"sources holds {name[:60]!r}, which is not a document name; GET /api/documents lists them")
        return value

    @field_validator("query")
    @classmethod
    def clean_query(cls, value: str) -> str:
        # Lone surrogates cannot be encoded in a response; control characters carry no meaning.
        value = CONTROL_CHARS.sub(" ", SURROGATES.sub("\ufffd", value)).strip()
        if not value:
            raise ValueError("the query is empty; type a question")
        if len(value) > MAX_QUERY_CHARS:
            raise ValueError(f"the query is {len(value)} characters long; the limit is {MAX_QUERY_CHARS}")
        return value


class PassageScores(BaseModel):
    bm25: float
    dense: float
    rerank: float | None = Field(None, description="The rerank server's relevance score; null without one "
                                 "(or when it failed: see rerank_error).")


class TableRef(BaseModel):
    """Where a passage or an answer sits in a table."""
    caption: str = Field(description="The table's caption (表2 世界级大湾区指标概况); empty when it has none.")
    header: list[str] = Field(description="The column names.")
    row: list[str] | None = Field(None, description="The row's cells, one per column (null for a column passage).")
    column: str | None = Field(None, description="A column passage's column, or the column an answer's cell is in; "
                               "null for a row passage.")
    spans: list[list[int] | None] | None = Field(None, description="A row's cells' [char_start, char_end] in the clean text.")
    cells: list[list[str | int]] | None = Field(None, description="A column passage's [row label, value, char_start, "
                                                "char_end] per row.")
    unit: str | None = Field(None, description="An answer cell's unit, from the table (计量单位 column or header).")


class PassageOut(BaseModel):
    rank: int
    score: float
    text: str
    source: str
    title: str
    section: str
    char_start: int
    char_end: int
    chunk_id: str
    scores: PassageScores
    page: int | None = Field(None, description="Page of the original (PDF, image) the passage starts on; null without pages.")
    table: TableRef | None = Field(None, description="For a passage that is a table's row (or a matrix table's column): "
                                   "the table's caption, header, the row's cells or the column; null otherwise.")


class AnswerSentenceOut(BaseModel):
    text: str
    source: str
    char_start: int = Field(description="Offset into the document's clean text (GET /api/documents/{source}).")
    char_end: int
    passage_rank: int = Field(description="Rank of the returned passage holding this sentence.")


class SpanOut(BaseModel):
    text: str = Field(description="The exact answer (amount, date, name, title) inside the first sentence.")
    char_start: int
    char_end: int


class AnswerOut(BaseModel):
    text: str = Field(description="The answer: one sentence, or up to three for list and how/why questions. "
                      "Always Chinese evidence, also for English questions.")
    passage_rank: int
    source: str
    char_start: int = Field(description="Offsets of the first sentence.")
    char_end: int
    score: float = Field(description="The reader's confidence, 0-1.")
    sentences: list[AnswerSentenceOut] = Field(description="Every sentence of `text`, each with its own citation.")
    span: SpanOut | None = Field(description="For typed questions (how much, when, who, which body, where, which "
                                 "document): the exact answer inside the first sentence; null otherwise.")
    answer_type: str = Field(description="The answer type the question asks for: quantity, date, person, organization, "
                             "place, title, list, reason, method, yesno or other.")
    table: TableRef | None = Field(None, description="An answer read from a table cell: the table, the row, the "
                                   "column and the unit; `span` is the cell.")


class QueryResponse(BaseModel):
    query: str
    mode: str
    answer: AnswerOut | None
    abstain_reason: str | None = Field(description="Why `answer` is null, in plain words (e.g. 文件中未找到“海南”的相关内容); "
                                       "null when there is an answer. Passages are returned either way.")
    passages: list[PassageOut]
    timings_ms: dict[str, float]
    rerank_error: str | None = Field(None, description="The rerank server failed (down, slow, a bad answer), so the "
                                     "passages keep the fused order; null when it answered or none is configured.")


class DocumentSummary(BaseModel):
    source: str
    title: str
    length: int
    passages: int
    # library metadata (issue 11); the seeds are "seed" documents
    format: str = "text"
    pages: int | None = None
    size: int | None = None
    added: str | None = None
    status: Literal["ready", "processing"] = "ready"
    origin: Literal["seed", "library"] = "seed"


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class Heading(BaseModel):
    char_start: int
    level: int
    text: str


class DocumentOut(BaseModel):
    source: str
    title: str
    text: str
    length: int
    passages: int
    headings: list[Heading]
    page_starts: list[int] | None = Field(None, description="Offset in `text` where each original page starts (PDF, image).")
    tables: list[dict] = Field(default_factory=list, description="Tables recovered from `text`: caption, header, page, "
                               "char_start/char_end, and rows with their cells, char_start/char_end and cell_spans.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    backend: Literal["local", "milvus"] = "local"
    index_loaded: bool
    build_id: str | None = None
    documents: int = 0
    passages: int = 0
    model: str | None = None
    embedder: dict | None = Field(None, description="What embeds queries: the built-in model, or the embedding "
                                  "server's host, model, dimension and prefixes.")
    reranker: dict | None = Field(None, description="The rerank server (host, model, top_n); null without one.")
    detail: str | None = None
    # which worker answered: with WORKERS > 1 several processes share the port, each with its own build loaded
    worker: int = Field(default_factory=os.getpid)


class ErrorOut(BaseModel):
    detail: str


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    """An error of the /v1 API: OpenAI's shape (`error.message`), and `detail` as elsewhere."""
    error: OpenAIError
    detail: str


def passage_out(hit: Hit) -> PassageOut:
    """A search hit as the query and chat APIs return it."""
    p = hit.passage
    return PassageOut(rank=hit.rank, score=round(hit.score, 6), text=p.text, source=p.source, title=p.title,
                      section=p.section, char_start=p.char_start, char_end=p.char_end, chunk_id=p.chunk_id,
                      scores=PassageScores(bm25=round(hit.bm25, 6), dense=round(hit.dense, 6),
                                           rerank=None if hit.rerank is None else round(hit.rerank, 6)), page=p.page,
                      table=TableRef(**p.table) if getattr(p, "table", None) else None)
