"""Who may call the API, and how much of the (often paid) LLM one client may use.

`AccessGuard` is pure ASGI middleware that runs before any body is read:

- POLICYQA_API_KEY set: every API route (`/api/*` but `/api/health`, and `/v1/*`) needs
  `Authorization: Bearer <key>`; 401 otherwise. The page, `/static`, `/docs` and
  `/openapi.json` stay open.
- The LLM-calling routes (POST /api/chat, POST /v1/chat/completions) then get, per client
  (its IP address):
  - a rate limit (POLICYQA_RATE_LIMIT, e.g. `10/minute;100/hour`, off when unset), counted in
    a moving window by the `limits` package;
  - a cap on requests open at once (POLICYQA_MAX_STREAMS; a streamed answer counts until it ends);
  and, across clients, one LLM slot per request while an LLM is configured: when all
  POLICYQA_LLM_CONCURRENCY slots are taken the answer is 429 at once, never a wait in a queue.
Each refusal is a 429 with `Retry-After` and a plain sentence.

`trusted_hosts()` is the Host-header allow list for Starlette's TrustedHostMiddleware: loopback
names plus POLICYQA_ALLOWED_HOSTS, so a DNS-rebinding page cannot reach a local server.
"""
from __future__ import annotations

import hmac
import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from index.config import Settings

from .errors import error_body

log = logging.getLogger("policyqa")
LLM_ROUTES = {"/api/chat", "/v1/chat/completions"}
OPEN_PATHS = {"/api/health"}
LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]  # as Starlette parses the Host header
BUSY_RETRY_S = 5  # when every LLM slot is taken: answers take seconds, so ask again soon


def trusted_hosts(settings: Settings) -> list[str]:
    extra = [h.strip() for h in settings.allowed_hosts.split(",") if h.strip()]
    return LOCAL_HOSTS + extra


def guarded(path: str) -> bool:
    """Whether a path is an API route a client calls (and so needs the key when one is set)."""
    return (path.startswith("/api/") and path not in OPEN_PATHS) or path == "/v1" or path.startswith("/v1/")


def key_accepted(authorization: str | None, expected: str) -> bool:
    given = authorization or ""
    token = given[7:].strip() if given[:7].lower() == "bearer " else ""
    return hmac.compare_digest(token.encode(), expected.encode())


def rate_limits(raw: str) -> list[RateLimitItem]:
    """POLICYQA_RATE_LIMIT in the `limits` notation; a bad value stops the start with a plain message."""
    if not raw.strip():
        return []
    try:
        return parse_many(raw)
    except ValueError as err:
        raise RuntimeError(f"POLICYQA_RATE_LIMIT={raw!r} is not a rate like '10/minute' or '10/minute;100/hour'") from err


def max_streams(raw: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or int(raw) < 1:
        raise RuntimeError(f"POLICYQA_MAX_STREAMS={raw!r} must be a whole number of at least 1")
    return int(raw)


class AccessGuard:
    def __init__(self, app, llm_capacity, settings: Settings):
        """`llm_capacity(app)` gives the number of LLM slots, or None when no LLM is configured."""
        self.app = app
        self.llm_capacity = llm_capacity
        self.settings = settings
        self.limits = rate_limits(settings.rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.max_streams = max_streams(settings.max_streams)
        self.open: dict[str, int] = {}  # client -> LLM-route requests open now
        self.llm_busy = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        expected = self.settings.api_key
        if expected and not key_accepted(Headers(scope=scope).get("authorization"), expected):
            await self._refuse(scope, receive, send, 401, "This API needs a key: send the header "
                               "'Authorization: Bearer <key>' with the key the operator set (POLICYQA_API_KEY).",
                               {"WWW-Authenticate": "Bearer"})
            return
        if scope["method"] != "POST" or scope["path"] not in LLM_ROUTES:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if (wait := self._rate_wait(client)) is not None:
            await self._refuse(scope, receive, send, 429, f"Too many questions from this client; try again in "
                               f"{wait} s (the limit is {self.settings.rate_limit.strip()}).", {"Retry-After": str(wait)})
            return
        if self.open.get(client, 0) >= self.max_streams:
            await self._refuse(scope, receive, send, 429, f"This client already has {self.max_streams} answers in "
                               "progress; wait for one to finish.", {"Retry-After": str(BUSY_RETRY_S)})
            return
        capacity = self.llm_capacity(scope["app"])
        if capacity is not None and self.llm_busy >= capacity:
            log.warning("all %d LLM slots busy: 429", capacity)
            await self._refuse(scope, receive, send, 429, "The service is answering as many questions as it can "
                               f"right now; try again in {BUSY_RETRY_S} s.", {"Retry-After": str(BUSY_RETRY_S)})
            return
        self.open[client] = self.open.get(client, 0) + 1
        self.llm_busy += capacity is not None
        try:
            await self.app(scope, receive, send)  # returns when the (streamed) answer has ended
        finally:
            self.llm_busy -= capacity is not None
            self.open[client] -= 1
            if not self.open[client]:
                del self.open[client]

    def _rate_wait(self, client: str) -> int | None:
        """Seconds until `client` may ask again, or None (and the request is counted)."""
        if not self.limits:
            return None
        full = [item for item in self.limits if not self.limiter.test(item, client)]
        if full:
            reset = max(self.limiter.get_window_stats(item, client).reset_time for item in full)
            return max(1, math.ceil(reset - time.time()))
        for item in self.limits:
            self.limiter.hit(item, client)
        return None

    @staticmethod
    async def _refuse(scope, receive, send, status: int, detail: str, headers: dict) -> None:
        kind, code = ("invalid_request_error", "invalid_api_key") if status == 401 else ("rate_limit_error", "rate_limit_exceeded")
        await JSONResponse(error_body(scope["path"], detail, kind, code), status, headers=headers)(scope, receive, send)


def declare_key(schema: dict, settings: Settings) -> dict:
    """The OpenAPI schema saying which operations need the key, when one is set (so /docs shows
    an Authorize button and clients generated from the schema send it)."""
    if not settings.api_key:
        return schema
    schema = {**schema, "paths": {path: ({method: {**op, "security": [{"apiKey": []}]} for method, op in ops.items()}
                                         if guarded(path) else ops) for path, ops in schema["paths"].items()}}
    components = dict(schema.get("components", {}))
    components["securitySchemes"] = {"apiKey": {"type": "http", "scheme": "bearer",
                                                "description": "The key set in POLICYQA_API_KEY."}}
    schema["components"] = components
    return schema
