"""The policyqa HTTP service: query API, document API, health, and the chat page at `/`.

Run: uvicorn service.app:app --host 127.0.0.1 --port 8000
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from index.backends import BackendUnavailable, BuildReplaced
from index.config import Settings
from index.build import EmbedderUnavailable, IndexUnavailable

from .access import AccessGuard, declare_key, trusted_hosts
from .chat_models import CHAT_BODY_BYTES
from .docs_ui import DOCS_CSP, install_docs
from .chat import llm_capacity, router as chat_router
from .errors import error_body, index_problem, install_log_context, request_id as current_request_id, with_request_id
from .engine import EngineHolder
from .jobs import JobRunner
from .library_jobs import LibraryChanges
from .library_api import is_upload, router as library_router, upload_gate
from .routes import router as routes_router
from .models import MAX_QUERY_CHARS

log = logging.getLogger("policyqa")
STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 16 * 1024
# Chat requests carry a conversation; they get a larger body cap than single queries.
BODY_LIMITS = {"/api/chat": CHAT_BODY_BYTES, "/v1/chat/completions": CHAT_BODY_BYTES}
MAX_JSON_DEPTH = 16  # a query body is one flat object; deeper nesting is never legitimate
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# The Swagger UI at /docs is served from local files (service/docs_ui.py); its policy allows nothing external.




def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    holder = EngineHolder(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            await run_in_threadpool(holder.load)
        except (IndexUnavailable, RuntimeError):
            pass  # served as 503 with the reason, until an index is built and reloaded
        holder.watch()  # serve the build another worker makes current
        app.state.jobs.start()  # compete for the job runner lease
        yield
        app.state.jobs.stop()
        holder.stop_watching()

    app = FastAPI(
        title="policyqa",
        version="0.1.0",
        description="Question answering over Chinese policy documents: hybrid BM25 + dense retrieval with exact citations.",
        lifespan=lifespan,
        docs_url=None,  # served from installed assets by install_docs, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings  # the one settings object; routes take it with service.deps.SettingsDep
    app.state.holder = holder
    # Jobs are shared by every worker on this data folder; the one holding the runner lease runs them,
    # and lines the library up with the index (after a stop) when it takes the lease.
    changes = LibraryChanges(settings, holder)
    app.state.library = changes
    app.state.jobs = JobRunner(settings.library_dir / "jobs",
                               lambda jobs, reports: changes.run(jobs, reports, app.state.jobs.pending),
                               on_lead=lambda: changes.line_up(app.state.jobs.pending))
    app.state.log_queries = settings.log_queries == "1"
    _add_middleware(app, settings)
    _add_error_handlers(app)

    app.include_router(routes_router)
    app.include_router(library_router)
    install_docs(app)

    app.include_router(chat_router)
    schema = app.openapi
    app.openapi = lambda: declare_key(schema(), settings)  # /docs shows the key when one is set
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    # Added first = innermost: the limits run inside the logging middleware, so their
    # rejections get the security headers and a log line like every other response.
    # Order, outside in: logging, Host check, CORS (preflights carry no key), API key and
    # LLM spend (before any body is read), body limits.
    app.add_middleware(RequestLimits)
    app.add_middleware(AccessGuard, llm_capacity=llm_capacity, settings=settings)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # off unless configured: the page at / is same-origin and needs no CORS
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-Request-ID", "Authorization"], max_age=600)
    hosts = trusted_hosts(settings)
    if "*" not in hosts:  # POLICYQA_ALLOWED_HOSTS=* turns the check off (a proxy in front checks Host)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)

    @app.middleware("http")
    async def headers_and_logging(request: Request, call_next):
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        current_request_id.set(request_id)  # every log line of this request carries it (service/errors.py)
        t0 = time.perf_counter()
        response = await call_next(request)
        return _finish(request, response, request_id, t0)


class RequestLimits:
    """Pure ASGI middleware guarding request bodies before FastAPI parses them.

    The body is read here whether it comes with a Content-Length or chunked, and the
    16 KiB cap (BODY_LIMITS for chat paths) is enforced on the bytes actually received. Bodies sent to /api/* must
    be JSON (415 otherwise) and may not nest deeper than MAX_JSON_DEPTH (400), so the
    JSON parser never recurses deeply. The checked body is then replayed to the app.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        if is_upload(scope):  # multipart uploads have their own gate and size limit
            await upload_gate(self.app, scope, receive, send)
            return
        if "app" in scope and not route_exists(scope["app"], scope):
            await self.app(scope, receive, send)  # 404 or 405 from the router; the body is never read
            return
        headers = Headers(scope=scope)
        limit = BODY_LIMITS.get(scope["path"], MAX_BODY_BYTES)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _reject(400, "The Content-Length header is not a number.", scope, receive, send)
                return
            if int(length) > limit:
                await _reject(413, f"Request body is too large; the limit is {limit} bytes.", scope, receive, send)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nothing to answer
            body += message.get("body", b"")
            if len(body) > limit:
                await _reject(413, f"Request body is too large; the limit is {limit} bytes.", scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if scope["path"].startswith(("/api/", "/v1/")):
            ctype = headers.get("content-type")
            if (ctype is not None or body) and not _is_json(ctype or ""):
                await _reject(415, "Send the request body as JSON (Content-Type: application/json).", scope, receive, send)
                return
            try:
                bytes(body).decode("utf-8")
            except UnicodeDecodeError:
                await _reject(400, "The request body is not valid JSON (it must be UTF-8 text).", scope, receive, send)
                return
            if json_depth(bytes(body)) > MAX_JSON_DEPTH:
                await _reject(400, f"The JSON body is nested too deeply (the limit is {MAX_JSON_DEPTH} levels).",
                              scope, receive, send)
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reject(status: int, detail: str, scope, receive, send) -> None:
    await JSONResponse(error_body(scope["path"], detail), status)(scope, receive, send)


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";")[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def json_depth(data: bytes) -> int:
    """Deepest nesting of arrays/objects in `data`, ignoring brackets inside strings."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be too deep; the common case costs two byte counts
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _finish(request: Request, response, request_id: str, t0: float):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.path == "/docs":
        response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Request-ID"] = request_id
    record = {"request_id": request_id, "method": request.method, "path": request.url.path,
              "status": response.status_code, "ms": round((time.perf_counter() - t0) * 1000, 2)}
    query_chars = getattr(request.state, "query_chars", None)
    if query_chars is not None:
        record["query_chars"] = query_chars  # the length only: questions may be personal
    query_text = getattr(request.state, "query_text", None)
    if query_text is not None:  # POLICYQA_LOG_QUERIES=1
        record["query"] = query_text
    timings = getattr(request.state, "timings", None)
    if timings:
        record["stages_ms"] = timings
    log.info(json.dumps(record))
    return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(error_body(request.url.path, "The request body is not valid JSON."), 400)
        return JSONResponse(error_body(request.url.path, "; ".join(_plain(e) for e in errors)[:1000]), 422)

    @app.exception_handler(BackendUnavailable)
    async def store_down(request: Request, exc: BackendUnavailable) -> JSONResponse:
        # Milvus went away mid-request or answered too slowly: name it, no stack trace; the next
        # request reconnects by itself.
        # The details (URI, upstream text) go to the log only; the client gets the kind of problem.
        log.warning("index store unavailable on %s: %s", request.url.path, exc)
        if isinstance(exc, BuildReplaced):  # a newer Milvus build is current: serve it from now on
            try:
                await run_in_threadpool(request.app.state.holder.load)
            except (IndexUnavailable, RuntimeError):
                pass
        detail = with_request_id(f"The index is not available: {index_problem(str(exc), True)}.")
        return JSONResponse(error_body(request.url.path, detail), 503, headers={"Retry-After": "5"})

    @app.exception_handler(EmbedderUnavailable)
    async def embedder_down(request: Request, exc: EmbedderUnavailable) -> JSONResponse:
        # The embedding server is down, slow or answering nonsense: say so, no stack trace.
        log.warning("embedding server unavailable on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": f"The question could not be embedded: {exc}. Try again shortly."}, 503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Allow names every method of the path, not just the first route's
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return JSONResponse({"detail": str(exc.detail)}, exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": with_request_id("Internal error; it has been logged.")}, 500)


def allowed_methods(app, scope) -> list[str]:
    """The methods some route of the app answers on this path."""
    return [m for m in HTTP_METHODS if route_exists(app, {**scope, "method": m})]


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def route_exists(app, scope) -> bool:
    """Whether some route answers this method on this path (otherwise the router says 404 or 405)."""
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def _plain(error: dict) -> str:
    """One validation error as a sentence a person understands."""
    field = ".".join(str(x) for x in error.get("loc", ()) if x != "body") or "body"
    kind, msg = error.get("type", ""), error.get("msg", "")
    if kind == "missing":
        return f"{field} is required"
    if field == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
        return 'the request body must be a JSON object, like {"query": "...", "top_k": 5}'
    if kind == "string_unicode":
        return f"{field} is not valid Unicode text (it holds a lone surrogate)"
    if kind == "string_too_long" and field == "query":
        return f"the query is too long; the limit is {MAX_QUERY_CHARS} characters"
    if kind.startswith("value_error"):
        return msg.removeprefix("Value error, ")
    if field == "top_k":
        return "top_k must be a whole number from 1 to 50"
    if field == "mode":
        return "mode must be one of hybrid, bm25, dense"
    if field == "query":
        return "query must be a string"
    return f"{field}: {msg}"


# What uvicorn serves (service.app:app): the environment is read here, once, into the settings the app keeps.
settings = Settings()
logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
install_log_context()  # request ids on every line, credentials scrubbed (service/errors.py)
# sentence-transformers draws a progress bar per encode call when its logger is at INFO;
# a server would write one to stderr for every query.
logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
app = create_app(settings)
