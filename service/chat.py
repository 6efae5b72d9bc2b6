"""Chat: POST /api/chat (JSON or Server-Sent Events) and the OpenAI-compatible /v1 API.

One turn = rewrite a follow-up into a standalone question, retrieve (in the threadpool, so an
LLM wait never holds a worker thread and retrieval never blocks the event loop), then answer:
- the retrieval layer abstains (evidence too weak)  -> the plain "not in the documents" reply, no LLM call;
- no LLM configured                                 -> the extractive answer;
- an LLM configured                                 -> its streamed answer, every sentence checked
  against the passage it cites (index/generate/citations.py); if the LLM fails in any way, the
  extractive answer with `llm_error` saying why.
Both endpoints are built on one event sequence (`turn_events`): passages, delta*, answer, done.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from index.build import EmbedderUnavailable
from index.generate.citations import SupportScorer, check
from index.generate.followup import rewrite_conversation
from index.text.english import has_chinese

from .chat_models import (
    HISTORY_USED, MAX_MESSAGE_CHARS, MAX_MESSAGES, ROLES, ChatAnswer, ChatRequest, ChatResponse, ChatSentence,
    EvidenceOut, OpenAIChatRequest, SpanOut,
)
from index.generate.llm import LLM, LLMConfig, LLMError, public_url
from .deps import current_engine
from .errors import openai_error, with_request_id
from .links import LinkFilter
from .models import CONTROL_CHARS, MAX_QUERY_CHARS, SURROGATES, ErrorOut, OpenAIErrorOut, passage_out

log = logging.getLogger("policyqa")
router = APIRouter()
NOT_COVERED_ZH = "文件中没有找到这个问题的答案。"
NOT_COVERED_EN = "The documents do not cover this question."
MODEL_ID = "policyqa"
REWRITE_TIMEOUT_S = 15.0


@dataclass
class Turn:
    question: str
    history: list[dict]  # earlier user/assistant messages, oldest first (system ones dropped)
    top_k: int
    mode: str


def parse_messages(messages) -> tuple[str, list[dict]]:
    """(question, history) from a message list, or a 422 naming what is wrong."""
    if not messages:
        raise HTTPException(422, "messages is empty; send at least one message with role \"user\"")
    if len(messages) > MAX_MESSAGES:
        raise HTTPException(422, f"the conversation has {len(messages)} messages; the limit is {MAX_MESSAGES}. "
                                 "Start a new conversation or send only the recent messages.")
    clean = []
    for i, m in enumerate(messages):
        if m.role not in ROLES:
            raise HTTPException(422, f"message {i + 1} has role {m.role[:40]!r}; use \"user\", \"assistant\" or \"system\"")
        # as for /api/query: control characters carry no meaning, lone surrogates cannot be encoded
        text = CONTROL_CHARS.sub(" ", SURROGATES.sub("\ufffd", _text_of(m.content)))
        if len(text) > MAX_MESSAGE_CHARS:
            raise HTTPException(422, f"message {i + 1} is {len(text)} characters long; the limit is {MAX_MESSAGE_CHARS}")
        if m.role != "system":
            clean.append({"role": m.role, "content": text})
    if not clean or clean[-1]["role"] != "user":
        raise HTTPException(422, "the last message must be the user's question (role \"user\")")
    question = clean[-1]["content"].strip()
    if not question:
        raise HTTPException(422, "the question (the last message) is empty; type a question")  # same words as /api/query
    if len(question) > MAX_QUERY_CHARS:
        raise HTTPException(422, f"the question is {len(question)} characters long; the limit is {MAX_QUERY_CHARS}")
    return question, clean[:-1][-HISTORY_USED:]


def _text_of(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


def get_llm(app) -> LLM | None:
    """The configured LLM client (created on first use, inside the server's event loop)."""
    if not hasattr(app.state, "llm"):
        config = LLMConfig.from_settings(app.state.settings)
        app.state.llm = LLM(config) if config else None
        if config:
            log.info("LLM configured: %s at %s", config.model, public_url(config.base_url))
    return app.state.llm


def llm_capacity(app) -> int | None:
    """How many chat turns may use the LLM at once (service/access.py); None without an LLM."""
    try:
        llm = get_llm(app)
    except RuntimeError:  # a bad LLM setting: the turn itself reports it (500, logged)
        return None
    return llm.config.max_concurrent if llm is not None else None


async def rewrite(llm: LLM | None, turn: Turn, idf=None) -> tuple[str, str | None]:
    """(standalone question, why the LLM's rewrite was not used or None)."""
    users = [m["content"] for m in turn.history if m["role"] == "user"] + [turn.question]
    if len(users) == 1:
        return turn.question, None
    if llm is not None:
        try:
            with anyio.fail_after(REWRITE_TIMEOUT_S):
                text = await llm.complete(llm.rewrite_messages(turn.question, turn.history), max_tokens=120)
            line = text.strip().splitlines()[0].strip().strip("\"'“”「」") if text.strip() else ""
            if line and len(line) <= MAX_QUERY_CHARS:
                return line, None
            error = "the LLM's rewritten question was empty or too long"
        except TimeoutError:
            error = f"the LLM did not rewrite the question within {REWRITE_TIMEOUT_S:g} s"
        except LLMError as err:
            error = str(err)
        return await run_in_threadpool(rewrite_conversation, users, idf), f"{error}; the question was rewritten by rule"
    return await run_in_threadpool(rewrite_conversation, users, idf), None


def not_covered(question: str, rewritten: str, reason: str | None) -> ChatAnswer:
    text = NOT_COVERED_ZH if has_chinese(question) else NOT_COVERED_EN
    if reason:
        text = f"{text}（{reason}）" if has_chinese(question) else f"{text} ({reason})"
    return ChatAnswer(text=text, sentences=[], llm=None, rewritten_query=rewritten, abstain_reason=reason or text)


def extractive(result, rewritten: str, llm_error: str | None = None) -> ChatAnswer:
    """The retrieval layer's own answer in the chat shape: each sentence cites its passage."""
    a = result.answer
    rows = getattr(a, "sentences", None) or [a]
    sentences = [ChatSentence(text=s.text, citations=[s.passage_rank], supported=True, source=s.source,
                              char_start=s.char_start, char_end=s.char_end,
                              evidence=[EvidenceOut(n=s.passage_rank, source=s.source, char_start=s.char_start,
                                                    char_end=s.char_end, score=1.0)])
                 for s in rows]
    span = getattr(a, "span", None)
    return ChatAnswer(text="".join(f"{s.text}[{s.citations[0]}]" for s in sentences), sentences=sentences, llm=None,
                      rewritten_query=rewritten, abstain_reason=None, llm_error=llm_error,
                      span=SpanOut(text=span.text, char_start=span.char_start, char_end=span.char_end) if span else None,
                      table=getattr(a, "table", None))


def support_scorer(eng) -> SupportScorer:
    """One scorer per loaded index: it caches the tokenized sentences of passages, which
    recur across questions (a reload brings a new engine and so a fresh cache)."""
    scorer = getattr(eng, "support_scorer", None)
    if scorer is None:
        scorer = eng.support_scorer = SupportScorer(eng.backend.tokenizer, eng.backend.term_idf)  # any backend
    return scorer


def checked_answer(text: str, hits, scorer: SupportScorer, model: str, rewritten: str) -> ChatAnswer:
    sentences = [ChatSentence(text=s.text, citations=s.citations, supported=s.supported, source=s.source,
                              char_start=s.char_start, char_end=s.char_end, problem=s.problem,
                              evidence=[EvidenceOut(**vars(e)) for e in s.evidence])
                 for s in check(text, [h.passage for h in hits], scorer)]
    return ChatAnswer(text=text.strip(), sentences=sentences, llm=model, rewritten_query=rewritten, abstain_reason=None)


async def turn_events(request: Request, turn: Turn) -> AsyncIterator[tuple[str, dict]]:
    """The events of one chat turn: passages, delta (LLM only), answer, done."""
    eng = current_engine(request)  # 503 before anything is streamed when no index is loaded
    t0 = time.perf_counter()
    llm = get_llm(request.app)
    rewritten, rewrite_error = await rewrite(llm, turn, eng.backend.term_idf)
    t_rewrite = time.perf_counter()
    # Passages go out as soon as they are ranked; the reader (answer or abstention) runs after.
    result = await run_in_threadpool(eng.searcher.search, rewritten, turn.top_k, turn.mode, False)
    t_ranked = time.perf_counter()
    request.state.timings = result.timings_ms
    yield "passages", {"rewritten_query": rewritten, "passages": [passage_out(h).model_dump() for h in result.hits],
                       "rerank_error": result.rerank_error}
    t_read = time.perf_counter()
    # the passages are out already, in retrieval's order: the answer cites them as they were sent
    verdict, _ = await run_in_threadpool(eng.searcher.answer, result.context, result.hits, False)
    result.answer, result.abstain_reason = verdict.answer, verdict.abstain_reason
    t_search = time.perf_counter()
    llm_ms = check_ms = 0.0
    reason = result.abstain_reason
    if result.answer is None or reason:
        answer = not_covered(turn.question, rewritten, reason)
    elif llm is None:
        answer = extractive(result, rewritten)
    else:
        parts: list[str] = []
        t_llm = time.perf_counter()
        try:
            messages = llm.answer_messages(turn.question, turn.history, [h.passage for h in result.hits])
            async for text in llm.stream(messages):
                parts.append(text)
                yield "delta", {"text": text}
            llm_ms = (time.perf_counter() - t_llm) * 1000
            t_check = time.perf_counter()
            answer = await run_in_threadpool(checked_answer, "".join(parts), result.hits, support_scorer(eng), llm.model, rewritten)
            check_ms = (time.perf_counter() - t_check) * 1000
            if not answer.sentences:
                answer = extractive(result, rewritten, "the LLM's answer had no sentences")
        except LLMError as err:
            llm_ms = (time.perf_counter() - t_llm) * 1000
            log.warning("LLM failed, answering extractively: %s", err)
            answer = extractive(result, rewritten, str(err))
    answer.rewrite_error = rewrite_error
    yield "answer", answer.model_dump()
    total = (time.perf_counter() - t0) * 1000
    search_ms = (t_ranked - t_rewrite + t_search - t_read) * 1000  # ranking + reading
    rewrite_ms = (t_rewrite - t0) * 1000
    yield "done", {"timings_ms": {
        "rewrite": round(rewrite_ms, 3), "retrieval": round(search_ms, 3), "reader": round((t_search - t_read) * 1000, 3),
        "llm": round(llm_ms, 3),
        "citation_check": round(check_ms, 3),
        "total": round(total, 3),
        # what the chat path itself adds beyond retrieval and the LLM's own time
        "overhead": round(total - search_ms - llm_ms - (rewrite_ms if llm is not None and turn.history else 0.0), 3)}}


class EventStream(StreamingResponse):
    """A streaming response that stops the moment the client goes away.

    Starlette only notices a disconnect when a write fails (ASGI 2.4), which never happens
    while we wait for a silent LLM; here a listener cancels the stream (and with it the
    upstream LLM request) as soon as the server reports the disconnect."""

    async def __call__(self, scope, receive, send) -> None:
        async with anyio.create_task_group() as group:
            async def stream() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(event: str | None, data) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"{head}data: {body}\n\n".encode()


async def _guarded(events: AsyncIterator[tuple[str, dict]]) -> AsyncIterator[tuple[str, dict]]:
    """An unexpected failure after streaming began becomes an `error` event, never a broken stream."""
    try:
        async for item in events:
            yield item
    except HTTPException as err:
        yield "error", {"detail": str(err.detail), "status": err.status_code}
    except EmbedderUnavailable as err:
        yield "error", {"detail": f"The question could not be embedded: {err}. Try again shortly.", "status": 503}
    except Exception:  # noqa: BLE001
        log.exception("chat turn failed")
        yield "error", {"detail": with_request_id("Internal error while answering; it has been logged.")}


def sse_schema(events: list[str] | None) -> dict:
    """One Server-Sent Event as OpenAPI 3.1 describes a text/event-stream item: its name and JSON data."""
    properties = {"data": {"type": "string", "description": "JSON (or [DONE] at the end of a /v1 stream)"}}
    if events:
        properties["event"] = {"type": "string", "enum": events}
    return {"type": "object", "properties": properties, "required": ["data"]}


@router.post("/api/chat", response_model=ChatResponse,
             responses={200: {"content": {"text/event-stream": {"schema": sse_schema(
                                  ["passages", "delta", "answer", "error", "done"])}},
                              "description": "JSON, or Server-Sent Events with \"stream\": true"},
                        **{s: {"model": ErrorOut} for s in (400, 401, 413, 415, 422, 429, 503)}})
async def chat(req: ChatRequest, request: Request):
    """Answer the last user message, with the conversation before it for follow-ups.

    With `"stream": true` the reply is Server-Sent Events: `passages` (right after retrieval),
    `delta` (answer text as the LLM writes it), `answer` (the checked answer), `error`, `done`."""
    question, history = parse_messages(req.messages)
    request.state.query_chars = len(question)
    turn = Turn(question, history, req.top_k, req.mode)
    if req.stream:
        current_engine(request)  # a missing index is a 503 before the stream starts

        async def body():
            async for event, data in _guarded(turn_events(request, turn)):
                yield sse(event, data)
        return EventStream(body(), media_type="text/event-stream", headers=SSE_HEADERS)
    out: dict = {}
    async for event, data in turn_events(request, turn):
        out[event] = data
    return ChatResponse(answer=out["answer"], passages=out["passages"]["passages"],
                        rewritten_query=out["passages"]["rewritten_query"], timings_ms=out["done"]["timings_ms"],
                        rerank_error=out["passages"]["rerank_error"])


# ---------------------------------------------------------------- OpenAI-compatible API


V1_ERRORS = {s: {"model": OpenAIErrorOut} for s in (400, 401, 413, 415, 422, 429, 503)}
V1_STREAM = {200: {"content": {"text/event-stream": {"schema": sse_schema(None)}},
                   "description": "A chat.completion, or chat.completion.chunk events with \"stream\": true"}}


@router.get("/v1/models", responses={401: {"model": OpenAIErrorOut}})
async def models():
    """The one model this service offers, as OpenAI's model list."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "policyqa"}]}


def source_list(answer: dict, passages: list[dict]) -> str:
    """The short list of cited sources that ends the content: [n] title · section."""
    cited = sorted({n for s in answer["sentences"] for n in s["citations"] if 1 <= n <= len(passages)})
    if not cited:
        return ""
    lines = [f"[{n}] {passages[n - 1]['title']}" + (f" · {passages[n - 1]['section']}" if passages[n - 1]["section"] else "")
             for n in cited]
    return "\n\n来源 Sources:\n" + "\n".join(lines)


def documents_of(passages: list[dict]) -> str:
    """The text the model was given: a link target found in it comes from the documents."""
    return "\n".join(p["text"] for p in passages)


def _extra(answer: dict, passages: list[dict]) -> dict:
    return {"answer": answer, "passages": passages}


@router.post("/v1/chat/completions", responses={**V1_STREAM, **V1_ERRORS})
async def chat_completions(req: OpenAIChatRequest, request: Request):
    """OpenAI chat completions: the answer with [n] markers, then the cited sources; the
    structured citations and passages in the extra field `policyqa`. Markdown images and links
    whose target is not in the passages are dropped from the content (service/links.py)."""
    try:
        question, history = parse_messages(req.messages)
        current_engine(request)  # a missing index is a 503 before anything is streamed
    except HTTPException as err:  # OpenAI clients read the message from {"error": {"message"}}
        return JSONResponse(openai_error(str(err.detail)), status_code=err.status_code, headers=err.headers)
    request.state.query_chars = len(question)
    turn = Turn(question, history, req.top_k, req.mode)
    model = req.model or MODEL_ID
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if not req.stream:
        out: dict = {}
        async for event, data in turn_events(request, turn):
            out[event] = data
        answer, passages = out["answer"], out["passages"]["passages"]
        answer["text"] = LinkFilter(documents_of(passages)).clean(answer["text"])
        return {"id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer["text"] + source_list(answer, passages)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "policyqa": _extra(answer, passages)}

    def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
        return sse(None, {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    async def body():
        yield chunk({"role": "assistant", "content": ""})
        streamed = False
        passages: list[dict] = []
        links = LinkFilter("")
        async for event, data in _guarded(turn_events(request, turn)):
            if event == "passages":
                passages = data["passages"]
                links = LinkFilter(documents_of(passages))
            elif event == "delta":
                streamed = True
                if text := links.feed(data["text"]):
                    yield chunk({"content": text})
            elif event == "answer":
                data["text"] = links.clean(data["text"])
                if not streamed:
                    text = data["text"]
                elif data.get("llm_error"):  # the LLM broke off: say so, then give the extractive answer
                    text = links.finish() + f"\n\n(LLM error: {data['llm_error']}; extractive answer:)\n{data['text']}"
                else:
                    text = links.finish()
                text += source_list(data, passages)
                if text:
                    yield chunk({"content": text})
                yield chunk({}, "stop", policyqa=_extra(data, passages))
            elif event == "error":
                yield chunk({"content": f"\n\n(error: {data['detail']})"})
                yield chunk({}, "stop")
        yield sse(None, "[DONE]")
    return EventStream(body(), media_type="text/event-stream", headers=SSE_HEADERS)
