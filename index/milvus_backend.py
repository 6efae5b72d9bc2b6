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
import math
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .backend import BackendUnavailable, BuildReplaced, DocumentInfo, IndexInfo, Ranked
from .chunk import Passage
from .clean import CleanDocument
from .store import IndexUnavailable
from .tokenize import STOPWORDS, Tokenizer

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
SCHEMA_VERSION = 2  # bump when the collections' fields change: an older build is stale
WRITE_LEASE_SECONDS = 600  # a write record not renewed for this long belongs to a replica that died
# jieba emits punctuation as tokens; Milvus's stop filter drops them with the project's stop words,
# so the server-side analyzer keeps what policyqa's own tokenizer keeps.
PUNCTUATION = list("，。、；：？！“”‘’（）《》【】〔〕…—·「」『』,.;:?!\"'()[]{}<>-_/\\|~`@#$%^&*+=")


# pymilvus pings every 10 s even when idle; a gRPC server with default policy (milvus-lite's) answers
# that with GOAWAY "too_many_pings" during a long encode batch. Every call has its own timeout, so
# a dead server is noticed without idle pings.
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
    def from_env(cls) -> "MilvusConfig":
        uri = os.environ.get("POLICYQA_MILVUS_URI", "").strip()
        if not uri:
            raise IndexUnavailable("POLICYQA_BACKEND=milvus needs POLICYQA_MILVUS_URI (e.g. http://127.0.0.1:19530)")
        return cls(uri=uri, token=os.environ.get("POLICYQA_MILVUS_TOKEN", ""),
                   db_name=os.environ.get("POLICYQA_MILVUS_DB", ""),
                   prefix=os.environ.get("POLICYQA_MILVUS_PREFIX", "policyqa"),
                   timeout=float(os.environ.get("POLICYQA_MILVUS_TIMEOUT", "10")),
                   dense_index=os.environ.get("POLICYQA_MILVUS_DENSE_INDEX", "FLAT").upper(),
                   batch=int(os.environ.get("POLICYQA_BUILD_BATCH", "256")))

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


PASSAGE_FIELDS = ["pid", "chunk_id", "source", "title", "section", "char_start", "char_end", "page", "text"]


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
                                                           grpc_options=GRPC_OPTIONS)
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


# ---------------------------------------------------------------- rows


def passage_rows(passages: list[Passage], texts: list[str], vectors: np.ndarray, gen: int,
                 sentence_ids: list[list[int]]) -> list[dict]:
    return [{
        "pid": passage_pid(p.source, p.chunk_id, gen), "chunk_id": p.chunk_id, "source": p.source, "title": p.title,
        "section": p.section, "char_start": p.char_start, "char_end": p.char_end,
        "page": -1 if getattr(p, "page", None) is None else int(p.page), "gen": gen, "text": p.text,
        "index_text": t, "dense": np.asarray(v, dtype=np.float32).tolist(), "sentence_ids": json.dumps(sids),
    } for p, t, v, sids in zip(passages, texts, vectors, sentence_ids)]


def sentence_sid(source: str, start: int, end: int, gen: int) -> int:
    return int(hashlib.sha1(f"{source}\0{start}\0{end}\0{gen}".encode()).hexdigest()[:15], 16)


class SentenceSplitter:
    """Sentence evidence of passages that arrive in document order (a build streams them so):
    the same split and kinds as index/sentences.build_table; a sentence shared by overlapping
    passages is written once; `prev_text` is the sentence before it in its document."""

    def __init__(self, userdict: list[str]):
        self.userdict = tuple(userdict)
        self._last: tuple[str, list[tuple[int, int, str]]] = ("", [])  # previous passage's source and sentences

    def rows(self, passages: list[Passage], encode, gen: int) -> tuple[list[list[int]], list[dict]]:
        from .question import tag
        from .sentences import kinds_of, split_passage

        per_passage: list[list[int]] = []
        new: dict[int, dict] = {}
        for p in passages:
            last_source, last = self._last
            known = {(s, e) for s, e, _ in last} if last_source == p.source else set()
            spans = [(s, e, p.text[s - p.char_start:e - p.char_start]) for s, e in split_passage(p)]
            sids = []
            for j, (s, e, text) in enumerate(spans):
                sid = sentence_sid(p.source, s, e, gen)
                sids.append(sid)
                if (s, e) in known or sid in new:
                    continue
                before = [t for ps, pe, t in (spans[:j] if j else (last if last_source == p.source else []))
                          if pe <= s]
                new[sid] = {"sid": sid, "source": p.source, "char_start": s, "char_end": e, "gen": gen,
                            "kinds": kinds_of(text, tag(text, self.userdict)), "text": text,
                            "prev_text": before[-1] if before else ""}
            per_passage.append(sids)
            self._last = (p.source, spans)
        rows = list(new.values())
        if rows:
            vectors = encode([r["text"] for r in rows])
            for r, v in zip(rows, vectors):
                r["vec"] = np.asarray(v, dtype=np.float32).tolist()
        return per_passage, rows


def document_rows(doc: CleanDocument, n_passages: int, gen: int, library_entry: dict | None = None) -> list[dict]:
    parts = [doc.text[i : i + PART_CHARS] for i in range(0, len(doc.text), PART_CHARS)] or [""]
    headings = json.dumps([list(h) for h in doc.headings], ensure_ascii=False)
    if len(headings.encode()) > 65_000:  # a pathological heading list; offsets into the text stay right
        headings = "[]"
    pages = json.dumps(doc.page_starts) if doc.page_starts else ""
    if len(pages) > 65_000:  # over ~7,000 pages: passages keep their page numbers, the document loses its map
        pages = ""
    entry = json.dumps(library_entry, ensure_ascii=False) if library_entry else ""
    if len(entry.encode()) > 8_000:
        raise ValueError(f"{doc.source}: its library entry is too large to store")
    return [{
        "key": f"{doc.source}\0{gen}\0{i:06d}", "source": doc.source, "part": i, "parts": len(parts), "gen": gen,
        "title": doc.title, "length": len(doc.text), "passages": n_passages, "headings": headings if i == 0 else "[]",
        "page_starts": pages if i == 0 else "", "library": entry if i == 0 else "", "text": part, "vec": TOKEN_VEC,
    } for i, part in enumerate(parts)]


def read_document(store: "MilvusStore", collection: str, source: str) -> tuple[CleanDocument, dict | None] | None:
    """A document of a build's documents collection, and its library entry (None for a seed)."""
    rows = store.call("query", collection, filter=f"source == {quote(source)}",
                      output_fields=["part", "gen", "title", "headings", "page_starts", "library", "text"],
                      limit=QUERY_LIMIT)
    head = max((r for r in rows if r["part"] == 0), key=lambda r: r["gen"], default=None)
    if head is None:  # (two heads only in the moment between a replacement's commit point and its cleanup)
        return None
    parts = sorted((r for r in rows if r["gen"] == head["gen"]), key=lambda r: r["part"])
    headings = [tuple(h) for h in json.loads(head["headings"] or "[]")]
    doc = CleanDocument(source, head["title"], "".join(r["text"] for r in parts), headings,
                        json.loads(head["page_starts"]) if head.get("page_starts") else None)
    return doc, (json.loads(head["library"]) if head.get("library") else None)


def library_entries(store: "MilvusStore", collection: str) -> list[dict]:
    """The library entries of a build's uploaded documents, by name."""
    rows = newest_heads(store.query_all(collection, 'part == 0 and library != ""', ["source", "gen", "library"]))
    return sorted((json.loads(r["library"]) for r in rows), key=lambda e: e["source"])


def newest_heads(rows: list[dict]) -> list[dict]:
    """One head row per document: the newest generation's (see read_document)."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["source"] not in best or r["gen"] > best[r["source"]]["gen"]:
            best[r["source"]] = r
    return list(best.values())


def term_counts(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter:
    """Passage frequency of every token, as BM25's idf counts it."""
    df: Counter = Counter()
    for t in texts:
        df.update(tok for tok in set(tokenizer.tokenize(t)) if len(tok) <= MAX_TERM_CHARS)
    return df


def okapi_idf(df: int, n: int) -> float:
    return math.log(n - df + 0.5) - math.log(df + 0.5)


def _batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---------------------------------------------------------------- the backend


class MilvusBackend:
    name = "milvus"

    def __init__(self, store: MilvusStore, current: dict, userdict: list[str], owner: str = ""):
        self.store = store
        # Which replica writes: the same machine and data folder after a restart, so its own
        # interrupted writes are recovered at once.
        self.owner = owner or replica_id(None)
        self.cfg = store.cfg
        self.current = current
        self.cols = Collections(self.cfg.prefix, current["build"])
        self.tokenizer = Tokenizer(userdict)
        self.translation: dict[str, list[str]] | None = None
        self._idf: dict[str, float] = {}
        self._idf_lock = threading.Lock()
        self._write_lock = threading.Lock()

    @classmethod
    def open(cls, cfg: MilvusConfig, settings=None, check_stale: bool = True) -> "MilvusBackend":
        store = MilvusStore(cfg)
        try:
            if not store.has(store.meta):
                raise IndexUnavailable(f"No policyqa index in {cfg.where()}. Build it with: {ENSURE_COMMAND}")
            store.load(store.meta)
            current = store.get_meta("current")
            if not current:
                raise IndexUnavailable(f"No policyqa index in {cfg.where()}. Build it with: {ENSURE_COMMAND}")
            if settings is not None and check_stale:
                reasons = stale_reasons(current, settings)
                if reasons:
                    raise IndexUnavailable(f"The index in {cfg.where()} is stale: " + "; ".join(reasons)
                                           + f". Rebuild with: {ENSURE_COMMAND}")
            cols = Collections(cfg.prefix, current["build"])
            store.load(*cols.all())
            backend = cls(store, current, store.get_blob(f"blob:{current['build']}:userdict"), replica_id(settings))
            # English questions reach BM25 through this build's mapping (none: the glossary alone)
            backend.translation = {k: list(v) for k, v in store.get_blob(f"blob:{current['build']}:translation")} or None
            backend.recover()
            return backend
        except BaseException:
            store.close()
            raise

    # ---- retrieval
    def _filter(self, sources: list[str] | None) -> str:
        return "" if sources is None else f"source in [{', '.join(quote(s) for s in sources)}]"

    def bm25_search(self, query_text, tokens, depth, sources=None) -> Ranked:
        if not tokens or sources == []:
            return Ranked.empty()  # the corpus analyser would find nothing either (stop words only)
        res = self.store.call("search", self.cols.passages, data=[query_text], anns_field="sparse", limit=depth,
                              filter=self._filter(sources), output_fields=["source"],
                              search_params={"metric_type": "BM25"})
        # Rank order only: Milvus Lite scores BM25 negative, Milvus positive; neither scale is used.
        hits = res[0] if res else []
        return Ranked(np.array([h["pid"] for h in hits], dtype=np.int64),
                      np.array([abs(float(h["distance"])) for h in hits]))

    def dense_search(self, query_vector, depth, sources=None) -> Ranked:
        if sources == []:
            return Ranked.empty()
        res = self.store.call("search", self.cols.passages, data=[np.asarray(query_vector, dtype=np.float32).tolist()],
                              anns_field="dense", limit=depth, filter=self._filter(sources), output_fields=["source"],
                              search_params={"metric_type": "IP"})
        hits = res[0] if res else []
        return Ranked(np.array([h["pid"] for h in hits], dtype=np.int64),
                      np.array([float(h["distance"]) for h in hits]))

    def _rows(self, ids: np.ndarray, fields: list[str]) -> dict[int, dict]:
        if len(ids) == 0:
            return {}
        rows = self.store.call("get", self.cols.passages, ids=[int(i) for i in ids], output_fields=fields)
        return {int(r["pid"]): r for r in rows}

    def dense_scores(self, query_vector, ids):
        rows = self._rows(ids, ["pid", "dense"])
        q = np.asarray(query_vector, dtype=np.float32)
        return np.array([float(np.asarray(rows[int(i)]["dense"], dtype=np.float32) @ q) if int(i) in rows else 0.0
                         for i in ids])

    def get_passages(self, ids):
        rows = self._rows(ids, PASSAGE_FIELDS)
        out = []
        for i in ids:
            r = rows.get(int(i))
            if r is None:  # deleted between the search and this read
                raise BackendUnavailable(f"passage {int(i)} vanished from {self.cfg.where()} during the query; ask again")
            p = Passage(r["chunk_id"], r["source"], r["title"], r["section"], int(r["char_start"]), int(r["char_end"]),
                        r["text"])
            if "page" in Passage.__dataclass_fields__:
                p.page = None if int(r["page"]) < 0 else int(r["page"])
            out.append(p)
        return out

    def best_sentence_similarity(self, ids, query_vector):
        rows = self._rows(ids, ["pid", "sentence_ids"])
        lists = [json.loads(rows[int(i)]["sentence_ids"]) if int(i) in rows else [] for i in ids]
        wanted = list(dict.fromkeys(sid for l in lists for sid in l))
        if not wanted:
            return np.full(len(ids), -1.0)
        q = np.asarray(query_vector, dtype=np.float32)
        sims = {int(r["sid"]): float(np.asarray(r["vec"], dtype=np.float32) @ q)
                for r in self.store.call("get", self.cols.sentences, ids=wanted, output_fields=["sid", "vec"])}
        return np.array([max((sims[s] for s in l if s in sims), default=-1.0) for l in lists])

    def sentence_evidence(self, hits):
        """A small sentence table of just these hits' passages (the reader reads no others)."""
        from dataclasses import replace

        from .sentences import Sentence, SentenceTable

        rows = self._rows(np.array([h.passage_id for h in hits], dtype=np.int64), ["pid", "sentence_ids"])
        lists = [json.loads(rows[h.passage_id]["sentence_ids"]) if h.passage_id in rows else [] for h in hits]
        wanted = list(dict.fromkeys(sid for ids in lists for sid in ids))
        found = {int(r["sid"]): r for r in self.store.call(
            "get", self.cols.sentences, ids=wanted,
            output_fields=["sid", "source", "char_start", "char_end", "kinds", "text", "prev_text", "vec"])} \
            if wanted else {}
        order = [sid for sid in wanted if sid in found]
        pos = {sid: i for i, sid in enumerate(order)}
        sources = list(dict.fromkeys(found[sid]["source"] for sid in order))
        doc_no = {s: i for i, s in enumerate(sources)}
        recs = [found[sid] for sid in order]
        ids = [pos[sid] for l in lists for sid in l if sid in pos]
        ptr = np.cumsum([0] + [sum(sid in pos for sid in l) for l in lists]).astype(np.int64)
        dim = int(self.current.get("dim", 0))

        class _View(SentenceTable):
            def sentence(self, i, documents=None):
                r = recs[i]
                return Sentence(int(i), r["source"], int(r["char_start"]), int(r["char_end"]), r["text"], int(r["kinds"]))

            def previous(self, i, documents=None):
                return recs[i]["prev_text"]

        table = _View(sources,
                      np.array([(doc_no[r["source"]], r["char_start"], r["char_end"]) for r in recs],
                               dtype=np.int64).reshape(-1, 3),
                      np.array([r["kinds"] for r in recs], dtype=np.uint8),
                      np.array([r["vec"] for r in recs], dtype=np.float32).reshape(len(recs), dim),
                      ptr, np.array(ids, dtype=np.int64))
        return table, {}, [replace(h, passage_id=j) for j, h in enumerate(hits)]

    def _lookup_df(self, tokens: list[str]) -> None:
        wanted = [t for t in dict.fromkeys(tokens) if t not in self._idf]
        if not wanted:
            return
        known = [t for t in wanted if len(t) <= MAX_TERM_CHARS]
        rows = self.store.call("get", self.cols.terms, ids=known, output_fields=["term", "df"]) if known else []
        n, floor = self.current["passages"], self.current["idf_floor"]
        found = {r["term"]: int(r["df"]) for r in rows}
        with self._idf_lock:
            if len(self._idf) > 200_000:
                self._idf.clear()
            for t in wanted:
                df = found.get(t, 0)
                # None marks a term the corpus does not know: it counts against coverage and as the rarest for idf
                self._idf[t] = (max(okapi_idf(df, n), floor) if df > 0 else None) if n else None

    def coverage(self, tokens):
        if not tokens:
            return 0.0
        self._lookup_df(tokens)
        return sum(self._idf.get(t) is not None for t in tokens) / len(tokens)

    def term_idf(self, token):
        if token not in self._idf:
            self._lookup_df([token])
        v = self._idf.get(token)
        return float(v) if v is not None else float(self.current.get("idf_max", 1.0))

    # ---- documents
    def _doc_heads(self, filter_expr: str, limit: int | None = None) -> list[dict]:
        where = f"part == 0 and ({filter_expr})" if filter_expr else "part == 0"
        fields = ["source", "title", "length", "passages", "gen", "parts"]
        if limit is None:
            return newest_heads(self.store.query_all(self.cols.documents, where, fields))
        return newest_heads(self.store.call("query", self.cols.documents, filter=where, output_fields=fields,
                                            limit=limit))

    def document(self, source):
        found = read_document(self.store, self.cols.documents, source)
        return found[0] if found else None

    def library_entries(self):
        return library_entries(self.store, self.cols.documents)

    def list_documents(self):
        return sorted((DocumentInfo(r["source"], r["title"], int(r["length"]), int(r["passages"]))
                       for r in self._doc_heads("")), key=lambda d: d.source)

    def passage_count(self, source):
        rows = self._doc_heads(f"source == {quote(source)}", limit=1)
        return int(rows[0]["passages"]) if rows else 0

    def has_documents(self, sources):
        found = {r["source"] for r in self._doc_heads(f"source in [{', '.join(quote(s) for s in sources)}]")} \
            if sources else set()
        return [s for s in sources if s not in found]

    # ---- writes: a job row in meta makes each one finish or roll back after a crash
    def _job_key(self, source: str) -> str:
        return f"job:{self.cols.tag}:{hashlib.sha1(source.encode()).hexdigest()[:16]}"

    def pending_writes(self) -> list[dict]:
        """Write records of this build: writes in progress somewhere, or cut off by a crash."""
        keys = self.store.meta_keys(f"job:{self.cols.tag}:")
        return [job for job in (self.store.get_meta(k) for k in keys) if job]

    def _start_write(self, record: dict) -> None:
        self.store.put_meta(self._job_key(record["source"]), {**record, "owner": self.owner, "beat": time.time()})

    def _ensure_current(self) -> None:
        """Writes go to the current build only. Checked before a write and again after its commit
        point: a build that became current meanwhile was made without it, so the caller reloads
        and writes again (an add replaces, a delete of nothing removes nothing)."""
        current = self.store.get_meta("current") or {}
        if current.get("build") != self.cols.tag:
            raise BuildReplaced(f"The index in {self.cfg.where()} was rebuilt (build {current.get('build')} is "
                                f"current, this service wrote to {self.cols.tag}); reload and write again.")

    def add_document(self, doc, passages, texts, vectors, encode=None, library_entry=None):
        """Write the new rows under a new generation, then its document head row (the commit
        point), then delete the document's rows of older generations. Interrupted before the head
        row: recover() deletes the new rows; after it: recover() finishes the delete."""
        if not (len(passages) == len(texts) == len(vectors)):
            raise ValueError("passages, texts and vectors must align")
        if encode is None:
            raise ValueError("the Milvus backend stores the reader's sentence evidence: pass encode= "
                             "(e.g. encoder.encode_passages) to embed the document's sentences")
        with self._write_lock:
            self._ensure_current()
            self._recover()
            gen = time.time_ns()
            old = self.store.query_all(self.cols.passages, f"source == {quote(doc.source)}", ["index_text"])
            self._start_write({"op": "add", "source": doc.source, "gen": gen})
            beat = time.monotonic()
            splitter = SentenceSplitter(self.tokenizer.userdict)
            for first in range(0, len(passages), self.cfg.batch):
                part = slice(first, first + self.cfg.batch)
                sids, sentence_rows = splitter.rows(passages[part], encode, gen)
                if sentence_rows:
                    self.store.call("upsert", self.cols.sentences, sentence_rows)
                self.store.call("upsert", self.cols.passages,
                                passage_rows(passages[part], texts[part], vectors[part], gen, sids))
                if time.monotonic() - beat > WRITE_LEASE_SECONDS / 4:  # still alive: other replicas keep off
                    self._start_write({"op": "add", "source": doc.source, "gen": gen})
                    beat = time.monotonic()
            self.store.flush(self.cols.passages, self.cols.sentences)
            rows = document_rows(doc, len(passages), gen, library_entry)
            if len(rows) > 1:
                self.store.call("upsert", self.cols.documents, rows[1:])
            self.store.call("upsert", self.cols.documents, rows[:1])  # the commit point
            self.store.flush(self.cols.documents)
            self._finish_add(doc.source, gen)
            # best effort, see README: the old version's passages out, the new one's in
            self._update_terms(term_counts(self.tokenizer, texts),
                               term_counts(self.tokenizer, [r["index_text"] for r in old]))
            self._count_change(doc.source)
            self.store.delete_meta(self._job_key(doc.source))
            self._ensure_current()

    def _finish_add(self, source: str, gen: int) -> None:
        for c in (self.cols.passages, self.cols.documents, self.cols.sentences):
            self.store.call("delete", c, filter=f"source == {quote(source)} and gen != {gen}")
        self.store.flush(self.cols.passages, self.cols.documents, self.cols.sentences)

    def delete_document(self, source):
        with self._write_lock:
            self._ensure_current()
            self._recover()
            old = self.store.query_all(self.cols.passages, f"source == {quote(source)}", ["index_text"])
            self._start_write({"op": "delete", "source": source})
            self._delete_rows(source)
            self._update_terms(Counter(), term_counts(self.tokenizer, [r["index_text"] for r in old]))
            self._count_change(source)
            self.store.delete_meta(self._job_key(source))
            self._ensure_current()
            return len(old)

    def _delete_rows(self, source: str) -> None:
        # the head row first: from then on the document is gone for readers, whatever remains
        self.store.call("delete", self.cols.documents, filter=f"source == {quote(source)} and part == 0")
        self.store.call("delete", self.cols.documents, filter=f"source == {quote(source)}")
        self.store.call("delete", self.cols.passages, filter=f"source == {quote(source)}")
        self.store.call("delete", self.cols.sentences, filter=f"source == {quote(source)}")
        self.store.flush(self.cols.documents, self.cols.passages, self.cols.sentences)

    def recover(self) -> None:
        """Finish or undo writes that a crash (of policyqa or of Milvus) interrupted: this
        replica's at once, another replica's once its record has not been renewed for
        WRITE_LEASE_SECONDS (it may still be writing)."""
        with self._write_lock:
            self._recover()

    def _recover(self) -> None:
        for job in self.pending_writes():
            if job.get("owner") == self.owner or time.time() - job.get("beat", 0) > WRITE_LEASE_SECONDS:
                self._recover_one(job)

    def _recover_one(self, job: dict) -> None:
        source = job["source"]
        if job["op"] == "delete":
            log.warning("finishing the interrupted delete of %s", source)
            self._delete_rows(source)
        else:
            gen = job["gen"]
            head = self.store.call("query", self.cols.documents,
                                   filter=f"source == {quote(source)} and part == 0 and gen == {gen}",
                                   output_fields=["passages"], limit=1)
            if head:
                log.warning("finishing the interrupted write of %s", source)
                self._finish_add(source, gen)
            else:
                log.warning("rolling back the interrupted write of %s", source)
                self.store.call("delete", self.cols.documents, filter=f"source == {quote(source)} and gen == {gen}")
                self.store.call("delete", self.cols.passages, filter=f"source == {quote(source)} and gen == {gen}")
                self.store.call("delete", self.cols.sentences, filter=f"source == {quote(source)} and gen == {gen}")
                self.store.flush(self.cols.passages, self.cols.documents, self.cols.sentences)
        self._count_change(source)
        self.store.delete_meta(self._job_key(source))

    def _update_terms(self, plus: Counter, minus: Counter) -> None:
        terms = list(set(plus) | set(minus))
        if not terms:
            return
        for batch in _batches(terms, 1000):
            have = {r["term"]: int(r["df"]) for r in self.store.call("get", self.cols.terms, ids=batch,
                                                                     output_fields=["term", "df"])}
            rows = [{"term": t, "df": max(0, have.get(t, 0) + plus.get(t, 0) - minus.get(t, 0)), "vec": TOKEN_VEC}
                    for t in batch]
            self.store.call("upsert", self.cols.terms, rows)
        self.store.flush(self.cols.terms)
        with self._idf_lock:
            self._idf.clear()

    def _count_change(self, source: str) -> None:
        """Keep the "current" row's counts (what health shows, and N for idf) in step."""
        n_docs = self._count(self.cols.documents, "part == 0")
        n_passages = self._count(self.cols.passages)
        current = self.store.get_meta("current") or self.current
        if current.get("build") == self.cols.tag:
            current.update(documents=n_docs, passages=n_passages)
            self.store.put_meta("current", current)
        self.current = {**self.current, "documents": n_docs, "passages": n_passages}

    def _count(self, collection: str, filter_expr: str = "") -> int:
        rows = self.store.call("query", collection, filter=filter_expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    # ---- state
    def info(self):
        c = self.current
        return IndexInfo("milvus", c["build"], int(c["documents"]), int(c["passages"]),
                         str(c.get("config", {}).get("model", "")), self.cfg.uri, c)

    def health(self):
        self.store.call("query", self.store.meta, filter='key == "current"', output_fields=["key"],
                        timeout=min(self.cfg.timeout, 3.0))

    def close(self):
        self.store.close()


def stale_reasons(current: dict, settings) -> list[str]:
    """Same test as the local index (the seeds' hash and the build settings), plus the collections'
    schema. Uploaded documents are not part of it: they live in Milvus itself, not in local files."""
    from .store import build_config, corpus_fingerprint

    reasons = []
    corpus_hash, _ = corpus_fingerprint(settings.seeds_dir)
    if current.get("corpus_hash") != corpus_hash:
        reasons.append(f"the seed files in {settings.seeds_dir} changed since the index was built")
    if current.get("schema") != SCHEMA_VERSION:
        reasons.append(f"the collections' schema is version {SCHEMA_VERSION} now but the index was built with "
                       f"{current.get('schema', 1)}")
    for key, value in build_config(settings).items():
        if current.get("config", {}).get(key) != value:
            reasons.append(f"{key} is {value!r} now but the index was built with {current.get('config', {}).get(key)!r}")
    return reasons
