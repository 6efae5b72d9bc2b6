"""The Milvus backend: passages, documents and term statistics in a Milvus server or cluster.

Needs the optional extra `milvus` (pymilvus; tests run against a `milvus-lite` server):
    pip install -e ".[milvus]"

Layout (prefix `policyqa` by default, POLICYQA_MILVUS_PREFIX). One build is a set of
collections named by a build tag; the fixed meta collection names the current one:

    <prefix>_meta                 key -> JSON value: "current" (build tag, fingerprint, counts),
                                  "job:<tag>" (a document write in progress), "blob:<tag>:userdict:<i>"
    <prefix>_<tag>_passages       one row per passage: scalar fields (source, title, section,
                                  char_start, char_end, page, chunk_id, gen), the passage text, the
                                  index text (analysed by jieba, search mode, corpus user dictionary,
                                  project stop words) with a BM25 Function into `sparse`, and `dense`
    <prefix>_<tag>_documents      a document's clean text in parts of PART_CHARS; the head row (part 0)
                                  also holds title, headings, page starts and, for an uploaded
                                  document, its library entry (name, sha256, format, pages, added):
                                  the library lives in Milvus, so every replica lists the same one
    <prefix>_<tag>_terms          term -> passage frequency (df), for fusion coverage and answer idf
    <prefix>_<tag>_sentences      sentence evidence for the reader: offsets, text, the sentence before
                                  it, content kinds, vector; a passage row lists its sentence ids

A row holds a passage's BM25 input and its vector together, so the two sides can never
disagree about which passages exist. Switching builds is one upsert of the "current" row,
after every row of the new build is written and flushed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass

from index.config import Settings
from index.backends.base import BackendUnavailable, BuildReplaced
from index.build.plan import IndexUnavailable
from index.text.tokenize import STOPWORDS

log = logging.getLogger(__name__)
# pymilvus logs a stack trace for every failed call while the server is away; policyqa reports
# each failure once, as BackendUnavailable naming the URI.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

INSTALL_HINT = 'the Milvus backend needs pymilvus: pip install -e ".[milvus]"'
ENSURE_COMMAND = "POLICYQA_BACKEND=milvus python -m index ensure"
PART_CHARS = 12_000  # document text per row: under Milvus's 65,535-byte VARCHAR even at 4 bytes a character
MAX_TERM_CHARS = 60
TOKEN_VEC = [1.0, 0.0]  # Milvus requires a vector field in every collection; meta/doc/term rows carry this one
QUERY_LIMIT = 16_384  # Milvus's cap on one query's offset + limit
SCHEMA_VERSION = 3  # 3: passages' table (JSON); bump when the collections' fields change: an older build is stale
WRITE_LEASE_SECONDS = 600  # a write record not renewed for this long belongs to a replica that died
# jieba emits punctuation as tokens; Milvus's stop filter drops them with the project's stop words,
# so the server-side analyzer keeps what policyqa's own tokenizer keeps.
PUNCTUATION = list("，。、；：？！“”‘’（）《》【】〔〕…—·「」『』,.;:?!\"'()[]{}<>-_/\\|~`@#$%^&*+=")


# pymilvus pings every 10 s even when idle; a gRPC server with default policy (milvus-lite's) answers
# that with GOAWAY "too_many_pings" during a long encode batch. Every call has its own timeout, so
# a dead server is noticed without idle pings. The connection is our own (dedicated): pymilvus shares
# one per address otherwise, and a shared one keeps the options of whoever opened it first.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 300_000, "grpc.keepalive_permit_without_calls": False}


@dataclass(frozen=True)
class MilvusConfig:
    uri: str
    token: str = ""
    db_name: str = ""
    prefix: str = "policyqa"
    timeout: float = 10.0  # seconds per call: a slower answer counts as unavailable (503)
    dense_index: str = "FLAT"  # exact, like the local engine up to 200k; HNSW on a large cluster
    batch: int = 256  # passages encoded and written per batch

    @classmethod
    def from_settings(cls, e: Settings) -> "MilvusConfig":
        uri = e.milvus_uri.strip()
        if not uri:
            raise IndexUnavailable("POLICYQA_BACKEND=milvus needs POLICYQA_MILVUS_URI (e.g. http://127.0.0.1:19530)")
        return cls(uri=uri, token=e.milvus_token, db_name=e.milvus_db, prefix=e.milvus_prefix,
                   timeout=float(e.milvus_timeout), dense_index=e.milvus_dense_index.upper(),
                   batch=int(e.build_batch))

    def where(self) -> str:
        return f"Milvus at {self.uri}" + (f" (database {self.db_name})" if self.db_name else "")


def _pymilvus():
    try:
        import pymilvus
    except ImportError as err:
        raise IndexUnavailable(INSTALL_HINT) from err
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pymilvus"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def replica_id(settings) -> str:
    """This machine and data folder: a restarted replica is the same replica."""
    where = f"{socket.gethostname()}\0{getattr(settings, 'var_dir', '')}"
    return hashlib.sha1(where.encode()).hexdigest()[:16]


def passage_pid(source: str, chunk_id: str, gen: int) -> int:
    """A stable 63-bit primary key: writing the same passage twice overwrites, so a resumed build
    or a retried write never duplicates a row. The generation is part of it: a replacement never
    overwrites the rows of the version it replaces, so an interrupted one rolls back cleanly."""
    return int(hashlib.sha1(f"{source}\0{chunk_id}\0{gen}".encode()).hexdigest()[:15], 16)


def analyzer_params(userdict: list[str]) -> dict:
    """jieba in search mode with the corpus user dictionary, lower-cased, stop words out (the
    documented Milvus shape: `dict` lists "_default_" plus the custom words)."""
    return {
        "tokenizer": {"type": "jieba", "dict": ["_default_", *userdict], "mode": "search", "hmm": True},
        "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS) + PUNCTUATION}],
    }


class Collections:
    def __init__(self, prefix: str, tag: str):
        self.tag = tag
        self.passages = f"{prefix}_{tag}_passages"
        self.documents = f"{prefix}_{tag}_documents"
        self.terms = f"{prefix}_{tag}_terms"
        self.sentences = f"{prefix}_{tag}_sentences"

    def all(self) -> tuple[str, ...]:
        return (self.passages, self.documents, self.terms, self.sentences)


PASSAGE_FIELDS = ["pid", "chunk_id", "source", "title", "section", "char_start", "char_end", "page", "text", "table"]


class MilvusStore:
    """The connection and every call, each with a timeout; failures become BackendUnavailable
    naming the URI. A collection found unloaded (a restarted server reopens them so) is loaded
    and the call retried once."""

    def __init__(self, cfg: MilvusConfig):
        self.cfg = cfg
        self.meta = f"{cfg.prefix}_meta"
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    pm = _pymilvus()
                    deadline = time.monotonic() + self.cfg.timeout
                    while True:
                        try:
                            self._client = pm.MilvusClient(uri=self.cfg.uri, token=self.cfg.token,
                                                           db_name=self.cfg.db_name, timeout=self.cfg.timeout,
                                                           grpc_options=GRPC_OPTIONS, dedicated=True)
                            break
                        except Exception as err:  # noqa: BLE001 - pymilvus raises several kinds on connect
                            if time.monotonic() + 0.5 >= deadline:  # a busy server gets a few tries
                                raise self._unavailable(err) from err
                            time.sleep(0.5)
        return self._client

    def _unavailable(self, err: Exception) -> BackendUnavailable:
        reason = str(getattr(err, "message", "") or err).splitlines()[0][:200] if str(err) else type(err).__name__
        return BackendUnavailable(f"The index store ({self.cfg.where()}) is not answering: {reason}. "
                                  f"policyqa retries by itself; check that Milvus is running.")

    def call(self, method: str, *args, **kwargs):
        kwargs.setdefault("timeout", self.cfg.timeout)
        for attempt in (0, 1):
            try:
                return getattr(self.client, method)(*args, **kwargs)
            except BackendUnavailable:
                raise
            except Exception as err:  # noqa: BLE001
                text = str(err).lower()
                collection = kwargs.get("collection_name") or (args[0] if args else None)
                # A restarted server reopens collections released ("call load() before search"; code 101).
                if attempt == 0 and collection and (getattr(err, "code", None) == 101 or "load" in text
                                                    and ("released" in text or "not loaded" in text)):
                    self._load(collection)
                    continue
                if attempt == 0 and self._is_disconnect(text):
                    self._reset()  # a fresh channel after the server came back
                    continue
                if getattr(err, "code", None) == 100 or "collection not found" in text or "does not exist" in text:
                    raise BuildReplaced(f"The index build this service was serving is gone from {self.cfg.where()} "
                                        f"(a newer build replaced it); reloading.") from err
                if isinstance(err, _pymilvus().MilvusException) and not self._is_disconnect(text):
                    raise
                raise self._unavailable(err) from err

    @staticmethod
    def _is_disconnect(text: str) -> bool:
        return any(s in text for s in ("unavailable", "deadline", "connection", "connect", "timeout", "timed out",
                                       "socket", "closed", "fail to connect", "channel"))

    def _reset(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead channel may fail; it is dropped either way
                pass

    def _load(self, collection: str) -> None:
        try:
            self.client.load_collection(collection, timeout=max(self.cfg.timeout, 60))
        except Exception as err:  # noqa: BLE001
            raise self._unavailable(err) from err

    def query_all(self, collection: str, filter: str, output_fields: list[str], batch: int = 1000) -> list[dict]:
        """Every matching row: one query stops at QUERY_LIMIT rows, an iterator pages past it."""
        iterator = self.call("query_iterator", collection, batch_size=batch, filter=filter, output_fields=output_fields)
        rows: list[dict] = []
        try:
            while True:
                try:
                    page = iterator.next()
                except Exception as err:  # noqa: BLE001 - the server went away between pages
                    raise self._unavailable(err) from err
                if not page:
                    return rows
                rows.extend(page)
        finally:
            try:
                iterator.close()
            except Exception:  # noqa: BLE001 - closing after a failure may fail too
                pass

    def has(self, collection: str) -> bool:
        return bool(self.call("has_collection", collection))

    def load(self, *collections: str) -> None:
        for c in collections:
            self.call("load_collection", c, timeout=max(self.cfg.timeout, 120))

    def flush(self, *collections: str) -> None:
        for c in collections:
            self.call("flush", c, timeout=max(self.cfg.timeout, 120))

    def close(self) -> None:
        self._reset()

    # ---- meta rows
    def ensure_meta(self) -> None:
        if self.has(self.meta):
            self.load(self.meta)
            return
        pm = _pymilvus()
        schema = pm.MilvusClient.create_schema(auto_id=False)
        schema.add_field("key", pm.DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("value", pm.DataType.VARCHAR, max_length=65535)
        schema.add_field("vec", pm.DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
        self.call("create_collection", self.meta, schema=schema, index_params=index)
        self.load(self.meta)

    def get_meta(self, key: str):
        rows = self.call("query", self.meta, filter=f"key == {quote(key)}", output_fields=["key", "value"])
        return json.loads(rows[0]["value"]) if rows else None

    def meta_keys(self, prefix: str) -> list[str]:
        rows = self.call("query", self.meta, filter=f"key like {quote(prefix + '%')}", output_fields=["key"],
                         limit=QUERY_LIMIT)
        return [r["key"] for r in rows]

    def put_meta(self, key: str, value) -> None:
        self.call("upsert", self.meta, [{"key": key, "value": json.dumps(value, ensure_ascii=False), "vec": TOKEN_VEC}])
        self.flush(self.meta)

    def delete_meta(self, *keys: str) -> None:
        if keys:
            self.call("delete", self.meta, filter=f"key in [{', '.join(quote(k) for k in keys)}]")
            self.flush(self.meta)

    def put_blob(self, key: str, items: list) -> None:
        """A list too big for one VARCHAR, in rows of at most ~16k characters."""
        chunks, current, size = [], [], 0
        for item in items:
            n = len(json.dumps(item, ensure_ascii=False)) + 2
            if current and size + n > 16_000:
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        chunks.append(current)
        rows = [{"key": f"{key}:{i:05d}", "value": json.dumps(c, ensure_ascii=False), "vec": TOKEN_VEC}
                for i, c in enumerate(chunks)]
        self.call("upsert", self.meta, rows)
        self.flush(self.meta)

    def get_blob(self, key: str) -> list:
        rows = self.call("query", self.meta, filter=f"key like {quote(key + ':%')}", output_fields=["key", "value"],
                         limit=QUERY_LIMIT)
        out: list = []
        for r in sorted(rows, key=lambda r: r["key"]):
            out.extend(json.loads(r["value"]))
        return out

    # ---- a build's collections
    def create_build(self, cols: Collections, dim: int, userdict: list[str]) -> None:
        pm = _pymilvus()
        DT = pm.DataType
        client = self.client
        if not self.has(cols.passages):
            s = pm.MilvusClient.create_schema(auto_id=False)
            s.add_field("pid", DT.INT64, is_primary=True)
            s.add_field("chunk_id", DT.VARCHAR, max_length=128)
            s.add_field("source", DT.VARCHAR, max_length=1024)
            s.add_field("title", DT.VARCHAR, max_length=4096)
            s.add_field("section", DT.VARCHAR, max_length=4096)
            s.add_field("char_start", DT.INT64)
            s.add_field("char_end", DT.INT64)
            s.add_field("page", DT.INT64)  # -1: no page (a text file)
            s.add_field("gen", DT.INT64)  # which write put the row there (see add_document)
            s.add_field("text", DT.VARCHAR, max_length=65535)
            s.add_field("table", DT.VARCHAR, max_length=65535)  # JSON of a table passage's `table`; "" otherwise
            s.add_field("sentence_ids", DT.VARCHAR, max_length=65535)  # JSON list of sentence sids, in order
            s.add_field("index_text", DT.VARCHAR, max_length=65535, enable_analyzer=True,
                        analyzer_params=analyzer_params(userdict))
            s.add_field("sparse", DT.SPARSE_FLOAT_VECTOR)
            s.add_field("dense", DT.FLOAT_VECTOR, dim=dim)
            s.add_function(pm.Function(name="index_text_bm25", function_type=pm.FunctionType.BM25,
                                       input_field_names=["index_text"], output_field_names=["sparse"]))
            idx = client.prepare_index_params()
            idx.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                          params={"bm25_k1": 1.5, "bm25_b": 0.75})
            dense_params = {"M": 32, "efConstruction": 200} if self.cfg.dense_index.startswith("HNSW") else {}
            idx.add_index(field_name="dense", index_type=self.cfg.dense_index, metric_type="IP", params=dense_params)
            idx.add_index(field_name="source", index_type="INVERTED")
            self.call("create_collection", cols.passages, schema=s, index_params=idx)
        if not self.has(cols.documents):
            s = pm.MilvusClient.create_schema(auto_id=False)
            s.add_field("key", DT.VARCHAR, is_primary=True, max_length=2048)
            s.add_field("source", DT.VARCHAR, max_length=1024)
            s.add_field("part", DT.INT64)
            s.add_field("parts", DT.INT64)
            s.add_field("gen", DT.INT64)
            s.add_field("title", DT.VARCHAR, max_length=4096)
            s.add_field("length", DT.INT64)
            s.add_field("passages", DT.INT64)
            s.add_field("headings", DT.VARCHAR, max_length=65535)
            s.add_field("page_starts", DT.VARCHAR, max_length=65535)  # JSON list, "" without pages
            s.add_field("library", DT.VARCHAR, max_length=8192)  # JSON library entry, "" for a seed document
            s.add_field("text", DT.VARCHAR, max_length=65535)
            s.add_field("vec", DT.FLOAT_VECTOR, dim=2)
            idx = client.prepare_index_params()
            idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
            idx.add_index(field_name="source", index_type="INVERTED")
            self.call("create_collection", cols.documents, schema=s, index_params=idx)
        if not self.has(cols.sentences):
            s = pm.MilvusClient.create_schema(auto_id=False)
            s.add_field("sid", DT.INT64, is_primary=True)
            s.add_field("source", DT.VARCHAR, max_length=1024)
            s.add_field("char_start", DT.INT64)
            s.add_field("char_end", DT.INT64)
            s.add_field("kinds", DT.INT64)
            s.add_field("gen", DT.INT64)
            s.add_field("text", DT.VARCHAR, max_length=65535)
            s.add_field("prev_text", DT.VARCHAR, max_length=65535)
            s.add_field("vec", DT.FLOAT_VECTOR, dim=dim)
            idx = client.prepare_index_params()
            idx.add_index(field_name="vec", index_type="FLAT", metric_type="IP")
            idx.add_index(field_name="source", index_type="INVERTED")
            self.call("create_collection", cols.sentences, schema=s, index_params=idx)
        if not self.has(cols.terms):
            s = pm.MilvusClient.create_schema(auto_id=False)
            s.add_field("term", DT.VARCHAR, is_primary=True, max_length=512)
            s.add_field("df", DT.INT64)
            s.add_field("vec", DT.FLOAT_VECTOR, dim=2)
            idx = client.prepare_index_params()
            idx.add_index(field_name="vec", index_type="FLAT", metric_type="L2")
            self.call("create_collection", cols.terms, schema=s, index_params=idx)
        self.load(*cols.all())

    def drop_build(self, cols: Collections) -> None:
        for c in cols.all():
            if self.has(c):
                self.call("drop_collection", c)
