"""The query API's routes: /api/query, /api/documents (list and text), /api/health, /api/admin/reload,
and the page at `/`. Module-level handlers; the engine comes from the app's EngineHolder."""
from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from index.config import BUILD_COMMAND
from index.backends import BackendUnavailable, BadFilter, validate_sources
from index.build import IndexUnavailable
from index.ingest import find_tables

from .deps import EngineDep, SettingsDep
from .errors import index_problem, with_request_id
from .engine import EngineHolder
from .library_api import document_list
from .models import (AnswerOut, DocumentList, DocumentOut, ErrorOut, Health, Heading, QueryRequest, QueryResponse,
                     passage_out)

STATIC = Path(__file__).resolve().parent / "static"
router = APIRouter()
log = logging.getLogger("policyqa")

errors = {401: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}}
body_errors = {400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 415: {"model": ErrorOut}}


@router.post("/api/query", response_model=QueryResponse, responses={**errors, **body_errors})
def query(req: QueryRequest, eng: EngineDep, request: Request, response: Response) -> QueryResponse:
    """Find the passages that answer `query`, best first, with citations and an extractive answer."""
    # Which index build answered: offsets index into that build's documents (they change on reload).
    response.headers["X-Index-Build"] = eng.info.build_id
    request.state.query_chars = len(req.query)
    if request.app.state.log_queries:
        request.state.query_text = req.query
    try:
        sources = validate_sources(req.sources, eng.backend)
    except BadFilter as err:
        raise HTTPException(422, str(err)) from err
    result = eng.searcher.search(req.query, top_k=req.top_k, mode=req.mode, sources=sources, with_answer=req.answer)
    request.state.timings = result.timings_ms
    passages = [passage_out(h) for h in result.hits]
    answer = AnswerOut.model_validate(asdict(result.answer)) if result.answer else None
    return QueryResponse(query=req.query, mode=req.mode, answer=answer, abstain_reason=result.abstain_reason,
                         passages=passages, timings_ms=result.timings_ms, rerank_error=result.rerank_error)


@router.get("/api/documents", response_model=DocumentList, responses=errors)
def documents(eng: EngineDep, request: Request) -> DocumentList:
    return document_list(eng, request.app.state.jobs)  # with library metadata (service/library_api.py)


@router.get("/api/documents/{source}", response_model=DocumentOut, responses={**errors, 404: {"model": ErrorOut}})
def document(source: str, eng: EngineDep) -> DocumentOut:
    """The clean text that passage and answer offsets index into."""
    doc = eng.backend.document(source)
    if doc is None:
        raise HTTPException(404, f"No document named {source[:200]!r}. GET /api/documents lists them.")
    return DocumentOut(source=doc.source, title=doc.title, text=doc.text, length=len(doc.text),
                       passages=eng.backend.passage_count(source),
                       headings=[Heading(char_start=s, level=lv, text=t) for s, lv, t in doc.headings],
                       page_starts=getattr(doc, "page_starts", None),
                       tables=[t.to_dict() for t in find_tables(doc)])


@router.get("/api/health", response_model=Health)
async def health(request: Request) -> JSONResponse:
    # async: it only reads a reference, so it answers on the event loop without waiting
    # for a threadpool slot; its latency under load shows the loop is not blocked.
    holder: EngineHolder = request.app.state.holder
    eng = holder.engine
    if eng is None and holder.unreachable:
        await run_in_threadpool(holder.retry_if_due)
    elif eng is not None and eng.backend.remote:
        # A remote store can go away under a loaded engine; ask it (briefly) whether it still answers.
        try:
            await run_in_threadpool(eng.backend.health)
        except BackendUnavailable as err:
            log.warning("health: the index store does not answer: %s", err)
            body = Health(status="unavailable", backend=eng.backend.name, index_loaded=True,
                          build_id=eng.info.build_id, detail=index_problem(str(err), True))
            return JSONResponse(body.model_dump(), status_code=503)
    return health_response(holder)


def health_response(holder: EngineHolder) -> JSONResponse:
    eng = holder.engine
    if eng is None:
        # open to anyone: the kind of problem only, never paths or URIs (the log has them)
        reason = index_problem(holder.error, holder.unreachable)
        detail = reason if holder.unreachable else f"{reason}. Build it with: {BUILD_COMMAND}"
        body = Health(status="unavailable", backend=holder.backend_name, index_loaded=False, detail=detail)
        return JSONResponse(body.model_dump(), status_code=503)
    i = eng.info
    reranker = eng.searcher.retriever.reranker
    return JSONResponse(Health(status="ok", backend=i.backend, index_loaded=True, build_id=i.build_id,
                               documents=i.documents, passages=i.passages, model=i.model,
                               embedder=eng.searcher.encoder.describe(),
                               reranker=reranker.cfg.describe() if reranker else None).model_dump())


@router.post("/api/admin/reload", response_model=Health,
          responses={**body_errors, **{s: {"model": ErrorOut} for s in (401, 403, 409, 503)}})
def reload(request: Request, settings: SettingsDep, x_admin_token: Annotated[str | None, Header()] = None) -> JSONResponse:
    """Load the current index build and swap it in; requests in flight finish on the old one.
    Needs the `X-Admin-Token` header to match POLICYQA_ADMIN_TOKEN (disabled when unset)."""
    expected = settings.admin_token
    if not expected or not hmac.compare_digest((x_admin_token or "").encode(), expected.encode()):
        raise HTTPException(403, "Reload needs the X-Admin-Token header matching POLICYQA_ADMIN_TOKEN.")
    holder: EngineHolder = request.app.state.holder
    # One reload at a time: more would only queue up behind it, each holding a thread for seconds.
    if not _reloading.acquire(blocking=False):
        raise HTTPException(409, "A reload is already running; the index it loads is the current one.",
                            headers={"Retry-After": "5"})
    try:
        holder.load()
    except (IndexUnavailable, RuntimeError) as err:
        log.warning("reload failed: %s", err)
        problem = index_problem(str(err), holder.unreachable)
        if "stale" in problem:  # the documents changed after the build (an upload's rebuild may be on its way)
            raise HTTPException(409, with_request_id(f"Reload refused, still serving the previous index: {problem}. "
                                                     "Reload after the index is rebuilt."),
                                headers={"Retry-After": "30"}) from err
        raise HTTPException(503, with_request_id(f"Reload failed, still serving the previous index: {problem}.")) \
            from err
    finally:
        _reloading.release()
    return health_response(holder)


_reloading = threading.Lock()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html")
