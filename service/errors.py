"""What a client is told when something fails, and what the log is told.

Clients get a short sentence in plain words: no URLs, file paths, credentials or exception
text. The details go to the log, with any `user:password@` stripped from URLs, and every log
line written while a request is served carries its request id (the `X-Request-ID` the client
got back), so an operator can find the details of what a user reports.
"""
from __future__ import annotations

import contextvars
import logging
import re

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# scheme://user:password@host -> scheme://***@host (also a bare token before @)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# key=..., token: ..., Bearer ... as they appear in exception text
_SECRET_PARAMS = re.compile(r"(?i)\b(api[_-]?key|token|password|secret|authorization)(\s*[=:]\s*|\s+bearer\s+)([^\s&,;'\"]+)")


def scrub(text: str) -> str:
    """Text for the log: credentials in URLs and key=value secrets replaced by ***."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    return _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


class RequestContext(logging.Filter):
    """Adds the request id to every record and scrubs credentials from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_context() -> None:
    """Every handler of the root logger gets the filter, so library loggers are covered too."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RequestContext) for f in handler.filters):
            handler.addFilter(RequestContext())


def with_request_id(sentence: str) -> str:
    """A failure message that tells the user how the operator can find the details."""
    rid = request_id.get()
    return f"{sentence} (request id {rid})" if rid != "-" else sentence


def openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """An error body OpenAI clients read (`error.message`) that also has our plain `detail`."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}, "detail": message}


def error_body(path: str, detail: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """The JSON of an error answer: {"detail"}, and on /v1 OpenAI's shape as well."""
    return openai_error(detail, kind, code) if path.startswith("/v1/") else {"detail": detail}


def index_problem(raw: str | None, unreachable: bool) -> str:
    """Why no index is served, in words a client may see: the kind of problem, never the paths or URIs."""
    raw = (raw or "").lower()
    if unreachable:
        return "the index store is not reachable right now; the service retries by itself"
    if not raw:
        return "the index is not loaded yet"
    if "stale" in raw:
        return "the index is stale (built from other documents or settings)"
    if "no index" in raw or "no policyqa index" in raw or "no usable seed" in raw:
        return "no index has been built"
    if any(w in raw for w in ("corrupt", "missing", "could not be loaded", "does not list")):
        return "the index files are damaged or incomplete"
    if "pymilvus" in raw or "milvus_uri" in raw:
        return "the index store is not configured"
    return "the index could not be loaded"
