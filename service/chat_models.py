"""Request and response models of the chat API (/api/chat) and the OpenAI-compatible API (/v1)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from .models import MAX_QUERY_CHARS, PassageOut, SpanOut, TableRef

# Caps on what a chat request may carry. A longer history is refused with a plain 422 rather
# than trimmed silently (a client that sends 200 messages should know only the recent ones
# could matter); only the last HISTORY_USED messages go into retrieval rewriting and the prompt.
MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 8000
HISTORY_USED = 6
CHAT_BODY_BYTES = 256 * 1024  # the /api/chat and /v1/chat/completions body limit (16 KiB elsewhere)
ROLES = ("user", "assistant", "system")


# The schema states the limits parse_messages (service/chat.py) enforces with plain 422 messages;
# the models themselves stay loose so those messages, not pydantic's, reach the client.
MESSAGES_SCHEMA = {"minItems": 1, "maxItems": MAX_MESSAGES}


class ChatMessage(BaseModel):
    role: str = Field(description="user, assistant or system (system messages are ignored: the prompt is fixed).",
                      json_schema_extra={"enum": list(ROLES)})
    # A string, or (OpenAI style) a list of parts of which the {"type": "text"} ones are read.
    content: str | list[dict[str, Any]] | None = Field(
        description=f"The message text (at most {MAX_MESSAGE_CHARS} characters).")


class ChatRequest(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "messages": [{"role": "user", "content": "青浦区有哪些人才政策？"}, {"role": "assistant", "content": "……"},
                     {"role": "user", "content": "那吴江呢？"}],
        "top_k": 5, "mode": "hybrid", "stream": False}]}}

    messages: list[ChatMessage] = Field(description=f"The conversation, oldest first; the last one is the user's question "
                                                    f"(at most {MAX_MESSAGES} messages of {MAX_MESSAGE_CHARS} characters, "
                                                    f"the question at most {MAX_QUERY_CHARS}).",
                                        json_schema_extra=MESSAGES_SCHEMA)
    top_k: int = Field(5, ge=1, le=50, description="How many passages to retrieve and give the LLM (1-50).")
    mode: Literal["hybrid", "bm25", "dense"] = Field("hybrid", description="Ranking: fused, BM25 only or dense only.")
    stream: StrictBool = Field(False, description="Server-Sent Events: passages, delta, answer, error, done.")


class EvidenceOut(BaseModel):
    n: int
    source: str
    char_start: int
    char_end: int
    score: float


class ChatSentence(BaseModel):
    text: str
    citations: list[int]
    supported: bool
    source: str | None
    char_start: int | None
    char_end: int | None
    problem: str | None = None
    evidence: list[EvidenceOut] = []


class ChatAnswer(BaseModel):
    text: str
    sentences: list[ChatSentence]
    llm: str | None = Field(description="The model that wrote the answer; null for the extractive answer.")
    rewritten_query: str
    abstain_reason: str | None
    llm_error: str | None = Field(None, description="Why the configured LLM's answer is not used, in plain words.")
    rewrite_error: str | None = None
    span: SpanOut | None = None
    table: TableRef | None = Field(None, description="An answer read from a table cell: the table, the row, the "
                                   "column and the unit (the extractive answer only).")


class ChatResponse(BaseModel):
    answer: ChatAnswer
    passages: list[PassageOut]
    rewritten_query: str
    timings_ms: dict[str, float]
    rerank_error: str | None = None  # the rerank server failed: the passages keep the fused order


class OpenAIChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(json_schema_extra=MESSAGES_SCHEMA)
    stream: StrictBool = False
    top_k: int = Field(5, ge=1, le=50)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    # temperature, max_tokens, ... are accepted and ignored: the answer comes from the documents.
