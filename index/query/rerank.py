"""A rerank server, optional: the fused top-N passages re-ordered by a cross-encoder someone already serves.

Configured by POLICYQA_RERANK_BASE_URL (+ _MODEL, _API_KEY, _TOP_N = 20, _TIMEOUT = 10 s). The protocol
is the one Xinference, vLLM, Jina, Cohere and TEI's Jina-compatible route share:
`POST {base}/rerank` with `{"model", "query", "documents": [str], "top_n"}`, answered by
`{"results": [{"index", "relevance_score"}]}`. The call is made once, not retried (a retry doubles a
waiting user's time); on a timeout, an error or an answer that does not fit, the fused order stands
and the error is returned in plain words for the response's `rerank_error`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from index.config import Settings


class RerankError(Exception):
    """The rerank server gave no usable order; the message says why in plain words."""


@dataclass(frozen=True)
class RerankConfig:
    base_url: str
    model: str
    api_key: str = ""
    top_n: int = 20
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, e: Settings) -> "RerankConfig | None":
        """None when no rerank server is configured."""
        base_url = e.rerank_base_url.strip().rstrip("/")
        if not base_url:
            return None
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise RuntimeError(f"POLICYQA_RERANK_BASE_URL={base_url!r} is not an http(s) URL")
        return cls(base_url, e.rerank_model.strip(), e.rerank_api_key,
                   int(_positive("POLICYQA_RERANK_TOP_N", e.rerank_top_n, 20)),
                   _positive("POLICYQA_RERANK_TIMEOUT", e.rerank_timeout, 10.0))

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]

    def describe(self) -> dict:
        return {"host": self.host, "model": self.model, "top_n": self.top_n}


def _positive(name: str, raw: str, default: float) -> float:
    raw = raw.strip()
    try:
        value = float(raw) if raw else default
    except ValueError as err:
        raise RuntimeError(f"{name}={raw!r} is not a number") from err
    if value <= 0:
        raise RuntimeError(f"{name} must be positive, not {raw!r}")
    return value


class Reranker:
    """One shared HTTP client (keep-alive) for the process; `scores` is thread-safe."""

    def __init__(self, cfg: RerankConfig):
        self.cfg = cfg
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._client = httpx.Client(timeout=cfg.timeout_s, headers=headers)

    def scores(self, query: str, documents: list[str]) -> list[float | None]:
        """The server's relevance score of each document (None for one it left out), in document order."""
        where = f"the rerank server at {self.cfg.host}"
        body = {"model": self.cfg.model, "query": query, "documents": documents, "top_n": len(documents)}
        try:
            response = self._client.post(f"{self.cfg.base_url}/rerank", json=body)
        except httpx.TimeoutException as err:
            raise RerankError(f"{where} did not answer within {self.cfg.timeout_s:g} s") from err
        except httpx.HTTPError as err:
            raise RerankError(f"{where} cannot be reached ({type(err).__name__})") from err
        if response.status_code != 200:
            raise RerankError(f"{where} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            results = response.json()["results"]
            out: list[float | None] = [None] * len(documents)
            for r in results:
                index, score = r["index"], float(r["relevance_score"])
                if not isinstance(index, int) or not 0 <= index < len(documents) or out[index] is not None:
                    raise RerankError(f"{where} answered with index {index!r}, not one of the {len(documents)} passages "
                                      "sent (or one named twice)")
                if not math.isfinite(score):
                    raise RerankError(f"{where} gave passage {index} a score that is not a number")
                out[index] = score
        except RerankError:
            raise
        except (ValueError, KeyError, TypeError) as err:
            missing = f" (it lacks {err})" if isinstance(err, KeyError) else ""
            raise RerankError(f'{where} answered with something other than {{"results": [{{"index", '
                              f'"relevance_score"}}]}}{missing}') from err
        return out

    def order(self, query: str, documents: list[str]) -> list[tuple[int, float | None]]:
        """(position, score) of every document, best first: scored ones by score, then the rest as they came."""
        scores = self.scores(query, documents)
        scored = sorted((i for i, s in enumerate(scores) if s is not None), key=lambda i: -scores[i])
        return [(i, scores[i]) for i in scored] + [(i, None) for i, s in enumerate(scores) if s is None]
