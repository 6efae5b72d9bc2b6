"""The encoder seam: who turns passages, sentences and queries into vectors.

`open_encoder(settings)` gives the built-in model (`dense.Encoder`) or, when POLICYQA_EMBED_BASE_URL
is set, an OpenAI-compatible `/v1/embeddings` server (`RemoteEncoder`: Xinference, TEI, vLLM, Ollama,
a hosted API). Both answer `encode_passages`, `encode_query`, `dim`, `model_id` and `describe()`, so
the build plan, both backends and the query path never know which one they hold. `embedder_id`
names the embedder in a build's config: a build made by another embedder is stale and rebuilt
whole, never mixed with the new one's vectors.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from index.build.dense import Encoder, model_fingerprint
from index.config import Settings

log = logging.getLogger(__name__)
BUILD_TIMEOUT_S = 120.0  # one batch of a build may take this long on a busy server ...
BUILD_RETRIES = 6  # ... and is retried this often, with exponential backoff (0.5 s doubling to 8 s)


class EmbedderUnavailable(RuntimeError):
    """The embedding server cannot give vectors now (down, slow, erring, or answering nonsense);
    the message says which, in plain words. The service answers 503 with it."""


@dataclass(frozen=True)
class EmbedConfig:
    base_url: str
    model: str
    api_key: str = ""
    query_prefix: str = ""
    passage_prefix: str = ""
    timeout_s: float = 10.0  # a query's wait for its vector
    batch: int = 32  # texts per request of a build

    @classmethod
    def from_settings(cls, e: Settings) -> "EmbedConfig | None":
        """None when no embedding server is configured (the built-in model encodes)."""
        base_url = e.embed_base_url.strip().rstrip("/")
        if not base_url:
            return None
        if not e.embed_model.strip():
            raise RuntimeError("POLICYQA_EMBED_BASE_URL is set but POLICYQA_EMBED_MODEL is not: name the model "
                               "the embedding server serves (e.g. bge-m3)")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise RuntimeError(f"POLICYQA_EMBED_BASE_URL={base_url!r} is not an http(s) URL")
        return cls(base_url, e.embed_model.strip(), e.embed_api_key, e.embed_query_prefix, e.embed_passage_prefix,
                   _positive("POLICYQA_EMBED_TIMEOUT", e.embed_timeout, 10.0),
                   int(_positive("POLICYQA_EMBED_BATCH", e.embed_batch, 32)))

    @property
    def host(self) -> str:
        """The URL's host and port, without any user:password part."""
        return urlsplit(self.base_url).netloc.rsplit("@", 1)[-1]

    def record(self) -> dict:
        """What a build records about the embedder (its dimension sits beside it, in counts.dim)."""
        return {"kind": "server", "host": self.host, "model": self.model,
                "query_prefix": self.query_prefix, "passage_prefix": self.passage_prefix}


def _positive(name: str, raw: str, default: float) -> float:
    raw = raw.strip()
    try:
        value = float(raw) if raw else default
    except ValueError as err:
        raise RuntimeError(f"{name}={raw!r} is not a number") from err
    if value <= 0:
        raise RuntimeError(f"{name} must be positive, not {raw!r}")
    return value


def embedder_id(settings: Settings) -> str:
    """The embedder as a build's config names it: the built-in model's fingerprint (as before), or
    the server's host, model and prefixes. A change of any of them makes the build stale."""
    cfg = EmbedConfig.from_settings(settings)
    if cfg is None:
        return model_fingerprint(settings.model_dir)
    return f"server:{cfg.host}/{cfg.model}|query:{cfg.query_prefix!r}|passage:{cfg.passage_prefix!r}"


def embedder_record(settings: Settings) -> dict | None:
    """The server's record for the build config; None for the built-in model (builds keep their old config)."""
    cfg = EmbedConfig.from_settings(settings)
    return cfg.record() if cfg else None


def open_encoder(settings: Settings, device: str | None = None, backend: str | None = None,
                 threads: int | None = None):
    """The embedder the settings ask for: the server when POLICYQA_EMBED_BASE_URL is set, else the built-in
    model (`threads`: its intra-op threads)."""
    cfg = EmbedConfig.from_settings(settings)
    if cfg is None:
        return Encoder.of(settings, threads) if device is None and backend is None else \
            Encoder(settings.model_dir, device=device, backend=backend, threads=threads)
    return RemoteEncoder(cfg, embedder_id(settings), settings.var_dir / "embed-cache")


class VectorJournal:
    """Every vector a build got from the server, by sha256 of the text sent, in one SQLite file per
    embedder. A build that was stopped (or whose server failed) resumes without asking again for
    what it already has; a rebuild after an upload reuses the rest. Safe to delete."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)")
        self._db.commit()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()

    def get(self, texts: list[str], dim: int | None) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        keys = {self.key(t): t for t in texts}
        items = list(keys)
        with self._lock:
            for i in range(0, len(items), 500):
                chunk = items[i:i + 500]
                rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(chunk))})",
                                        chunk).fetchall()
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if dim is None or len(vec) == dim:
                        found[keys[bytes(key)]] = vec
        return found

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                                 [(self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors)])
            self._db.commit()


class RemoteEncoder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` server, through the official `openai` SDK
    (the project's LLM client too). Prefixes are added here (e5 wants `query: ` / `passage: `; bge-m3
    none); vectors are L2-normalised, as the dense side's inner product expects. The dimension is the
    first answer's; any later answer of another dimension is refused, so vectors are never mixed.

    Builds send `batch` texts a request, retried with backoff on timeouts, 429 and 5xx (the SDK's
    retry), journal every answer (resume) and print progress. A query is one request, not retried
    (a retry doubles a waiting user's time), bounded by POLICYQA_EMBED_TIMEOUT."""

    backend = "server"
    device = "remote"

    def __init__(self, cfg: EmbedConfig, model_id: str, cache_dir: Path | None = None):
        from openai import OpenAI

        self.cfg = cfg
        self.model_id = model_id
        self._dim: int | None = None
        key = cfg.api_key or "none"  # the SDK insists on a key; local servers ignore it
        self._query_client = OpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_s, max_retries=0)
        self._build_client = OpenAI(base_url=cfg.base_url, api_key=key, timeout=max(BUILD_TIMEOUT_S, cfg.timeout_s),
                                    max_retries=BUILD_RETRIES)
        name = hashlib.sha1(model_id.encode()).hexdigest()[:16]
        self.journal = VectorJournal(cache_dir / f"{name}.sqlite") if cache_dir is not None else None

    @property
    def dim(self) -> int:
        if self._dim is None:  # a Milvus build creates its collections before it encodes anything
            self._embed(self._build_client, [self.cfg.passage_prefix + "维度 dimension"])
        return self._dim

    def describe(self) -> dict:
        return {**self.cfg.record(), "dim": self._dim}

    def encode_query(self, text: str) -> np.ndarray:
        return self._embed(self._query_client, [self.cfg.query_prefix + text])[0]

    def encode_passages(self, texts: list[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """`batch_size` is the built-in model's knob; the server gets POLICYQA_EMBED_BATCH texts a request."""
        sent = [self.cfg.passage_prefix + t for t in texts]
        have = self.journal.get(sent, self._dim) if self.journal else {}
        missing = list(dict.fromkeys(t for t in sent if t not in have))
        t0, step = time.perf_counter(), self.cfg.batch
        for i in range(0, len(missing), step):
            batch = missing[i:i + step]
            vectors = self._embed(self._build_client, batch)
            have.update(zip(batch, vectors))
            if self.journal:
                self.journal.put(batch, vectors)
            if progress and len(missing) > step:
                done = min(i + step, len(missing))
                rate = done / max(time.perf_counter() - t0, 1e-9)
                print(f"[build] embedded {done}/{len(missing)} texts on {self.cfg.host} ({rate:.1f}/s; "
                      f"{len(sent) - len(missing)} from the journal)", file=sys.stderr, flush=True)
        if not sent:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        return np.stack([have[t] for t in sent]).astype(np.float32, copy=False)

    def _embed(self, client, inputs: list[str]) -> np.ndarray:
        import openai

        where = f"the embedding server at {self.cfg.host}"
        try:
            response = client.embeddings.create(model=self.cfg.model, input=inputs, encoding_format="float")
        except openai.APITimeoutError as err:
            raise EmbedderUnavailable(f"{where} did not answer within {client.timeout:g} s") from err
        except openai.APIConnectionError as err:
            raise EmbedderUnavailable(f"{where} cannot be reached ({_cause(err)})") from err
        except openai.APIStatusError as err:
            raise EmbedderUnavailable(f"{where} answered HTTP {err.status_code}: {_detail(err)}") from err
        except openai.OpenAIError as err:  # e.g. a body that is not JSON
            raise EmbedderUnavailable(f"{where} sent an answer that is not an embeddings response ({err})") from err
        return self._vectors(response, len(inputs), where)

    def _vectors(self, response, n: int, where: str) -> np.ndarray:
        try:
            rows = sorted(response.data, key=lambda d: d.index)
            vectors = np.array([row.embedding for row in rows], dtype=np.float32)
        except (AttributeError, TypeError, ValueError) as err:
            raise EmbedderUnavailable(f"{where} sent an answer that is not an embeddings response "
                                      f"(each item needs an index and a list of numbers)") from err
        if len(rows) != n or sorted(row.index for row in rows) != list(range(n)):
            raise EmbedderUnavailable(f"{where} sent {len(rows)} vectors for {n} texts")
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderUnavailable(f"{where} sent vectors of differing or zero length")
        if self._dim is None:
            self._dim = int(vectors.shape[1])
            log.info("embedding server %s, model %s: %d dimensions", self.cfg.host, self.cfg.model, self._dim)
        elif vectors.shape[1] != self._dim:
            raise EmbedderUnavailable(f"{where} sent {vectors.shape[1]}-dimensional vectors, but its first answer "
                                      f"had {self._dim}: the model behind it changed; rebuild the index")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if not np.all(np.isfinite(vectors)) or np.any(norms == 0):
            raise EmbedderUnavailable(f"{where} sent a vector that is zero or not a number")
        return vectors / norms


def _cause(err: Exception) -> str:
    cause = err.__cause__ or err
    return f"{type(cause).__name__}: {cause}"[:200]


def _detail(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        body = body.get("message", body) if isinstance(body, dict) else body
    return str(body or err.message)[:200]
