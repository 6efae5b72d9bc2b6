"""MilvusBackend: the Backend protocol over the collections of one Milvus build."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter

import numpy as np

from index.backends.base import BackendUnavailable, BuildReplaced, DocumentInfo, IndexInfo, Ranked, SentenceEvidence
from index.build.chunk import Passage
from index.build.bm25 import okapi_idf
from index.build.plan import IndexUnavailable, build_config, corpus_fingerprint
from index.build.sentences import Sentence, SentenceSplitter, SentenceTable
from index.text.tokenize import Tokenizer

from .rows import (batches, document_rows, library_entries, newest_heads, passage_rows, read_document,
                   sentence_rows, sentence_sid, term_counts)
from .store import (ENSURE_COMMAND, MAX_TERM_CHARS, PASSAGE_FIELDS, SCHEMA_VERSION, TOKEN_VEC, WRITE_LEASE_SECONDS,
                    Collections, MilvusConfig, MilvusStore, quote, replica_id)
from dataclasses import replace

log = logging.getLogger(__name__)
DELETE_ROUNDS = 4  # deletes of one write's rows before its recovery is left to the next write


class MilvusBackend:
    name = "milvus"
    remote = True

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
            p.table = json.loads(r["table"]) if r.get("table") else None
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
        return SentenceEvidence(table, {}, [replace(h, passage_id=j) for j, h in enumerate(hits)])

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
                self._idf[t] = (max(float(okapi_idf(df, n)), floor) if df > 0 else None) if n else None

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
            splitter = SentenceSplitter(self.tokenizer.userdict, lambda source, s, e: sentence_sid(source, s, e, gen))
            for first in range(0, len(passages), self.cfg.batch):
                part = slice(first, first + self.cfg.batch)
                sids, sentences = splitter.split(passages[part])
                if sentences:
                    self.store.call("upsert", self.cols.sentences,
                                    sentence_rows(sentences, encode([s.text for s in sentences]), gen))
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
        self._delete_until_gone(f"source == {quote(source)} and gen != {gen}",
                                self.cols.passages, self.cols.documents, self.cols.sentences)

    def _delete_until_gone(self, where: str, *collections: str) -> None:
        """Delete the rows `where` selects and check, reading as written (Strong), that none is left;
        delete again what is. A delete by filter is a query and then a delete of what it found, and a
        server that restarted moments ago may not yet show every row it holds. The caller's write
        record is cleared only after this returns, so rows left here are retried by the next recovery."""
        for attempt in range(DELETE_ROUNDS):
            for collection in collections:
                self.store.call("delete", collection, filter=where)
            self.store.flush(*collections)
            collections = tuple(c for c in collections if self._count(c, where, strong=True))
            if not collections:
                return
            if attempt + 1 < DELETE_ROUNDS:
                time.sleep(0.5 * (attempt + 1))
        raise BackendUnavailable(f"{self.cfg.where()} still holds rows of an interrupted write "
                                 f"({', '.join(collections)}: {where}) after {DELETE_ROUNDS} deletes; "
                                 f"policyqa retries on the next write.")

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
        self._delete_until_gone(f"source == {quote(source)}", self.cols.documents, self.cols.passages,
                                self.cols.sentences)

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
                self._delete_until_gone(f"source == {quote(source)} and gen == {gen}",
                                        self.cols.documents, self.cols.passages, self.cols.sentences)
        self._count_change(source)
        self.store.delete_meta(self._job_key(source))

    def _update_terms(self, plus: Counter, minus: Counter) -> None:
        terms = list(set(plus) | set(minus))
        if not terms:
            return
        for batch in batches(terms, 1000):
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

    def _count(self, collection: str, filter_expr: str = "", strong: bool = False) -> int:
        read = {"consistency_level": "Strong"} if strong else {}
        rows = self.store.call("query", collection, filter=filter_expr, output_fields=["count(*)"], **read)
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
