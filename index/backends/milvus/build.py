"""Build the index into Milvus: `POLICYQA_BACKEND=milvus python -m index ensure`.

Read and clean the seeds (and take the uploaded documents, clean text and library entry, from the
build that is current: the library lives in Milvus), then run the build plan (index/build/plan.py)
with RowWriter: documents and term statistics first, then the encode stage streams the passages from
a work file through the encoder and upserts them and their sentences batch by batch, checkpointing
after each. A killed build resumes where it stopped (same seeds and settings => same work folder
and build tag).
Only when every row is written and flushed does the "current" meta row switch to the new
build; the previous build's collections are then dropped.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from datetime import datetime, timezone

from index.config import Settings
from index.ingest.clean import CleanDocument
from index.build.encode import Checkpoint
from index.ingest.seeds import load_corpus
from index.ingest.library import fingerprint
from index.backends.milvus.store import ENSURE_COMMAND, SCHEMA_VERSION, TOKEN_VEC, Collections, MilvusConfig, MilvusStore
from index.backends.milvus.rows import (batches, document_rows, library_entries, passage_rows, read_document,
                                        sentence_rows, sentence_sid, term_counts)
from index.backends.milvus.backend import stale_reasons
from index.build.bm25 import okapi_idf
from index.build.plan import Batch, IndexUnavailable, Resume, build_config, corpus_fingerprint, run_plan
from index.build.dense import Encoder
from index.build.embedder import open_encoder
from index.build.cedict import build_translation


def _say(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


def up_to_date(store: MilvusStore, settings: Settings) -> tuple[dict | None, list[str]]:
    if not store.has(store.meta):
        return None, [f"no policyqa index in {store.cfg.where()}"]
    store.load(store.meta)
    current = store.get_meta("current")
    if not current:
        return None, [f"no policyqa index in {store.cfg.where()}"]
    missing = [c for c in Collections(store.cfg.prefix, current["build"]).all() if not store.has(c)]
    if missing:
        return current, [f"collections {', '.join(missing)} are missing"]
    return current, stale_reasons(current, settings)


def _library_collection(store: MilvusStore, current: dict | None) -> str | None:
    """The documents collection holding the current build's library (None: no library yet)."""
    if not current or current.get("schema") != SCHEMA_VERSION:
        return None  # no build, or one from before the library lived in Milvus
    documents = Collections(store.cfg.prefix, current["build"]).documents
    if not store.has(documents):
        return None
    store.load(documents)
    return documents


def carried_library(store: MilvusStore, current: dict | None) -> list[tuple[CleanDocument, dict]]:
    """The uploaded documents of the current build, to carry into the next one. Their clean text is
    taken as stored (the originals may be on another replica's disk, or nowhere any more)."""
    documents = _library_collection(store, current)
    if documents is None:
        return []
    found = (read_document(store, documents, e["source"]) for e in library_entries(store, documents))
    return [(doc, entry) for doc, entry in filter(None, found)]


def _library_fingerprint(store: MilvusStore, current: dict | None) -> str:
    documents = _library_collection(store, current)
    return fingerprint(library_entries(store, documents) if documents else [])


def build(settings: Settings, cfg: MilvusConfig, encoder=None, force: bool = False, progress: bool = True) -> str:
    """Build (or resume building) into Milvus unless it is up to date. Returns the build tag."""
    store = MilvusStore(cfg)
    try:
        store.ensure_meta()
        current, reasons = up_to_date(store, settings)
        if current and not reasons and not force:
            print(f"index is up to date in {cfg.where()}: build {current['build']}")
            return current["build"]
        for r in reasons:
            _say(f"building into {cfg.where()}: {r}")
        return _build(store, settings, cfg, encoder, current, progress)
    finally:
        store.close()


class RowWriter:
    """The Milvus backend's part of the build plan (index/build/plan.py): its rows. Documents and term
    counts go in before the encode stage; each batch's sentences before its passages, so a passage row
    is only written once its sentences are there."""

    def __init__(self, store: MilvusStore, cols: Collections, dim: int, library_entry: dict[str, dict], timings: dict):
        self.store, self.cols, self.dim, self.library_entry, self.timings = store, cols, dim, library_entry, timings

    def documents(self, docs, passages, texts, tokenizer) -> None:
        t = time.perf_counter()
        self.userdict = list(tokenizer.userdict)
        self.store.create_build(self.cols, self.dim, self.userdict)
        counts: dict[str, int] = {}
        for p in passages:
            counts[p.source] = counts.get(p.source, 0) + 1
        for doc in docs:
            self.store.call("upsert", self.cols.documents, document_rows(doc, counts.get(doc.source, 0), gen=0,
                                                                         library_entry=self.library_entry.get(doc.source)))
        self.df = term_counts(tokenizer, texts)
        for batch in batches(sorted(self.df), 2000):
            self.store.call("upsert", self.cols.terms, [{"term": term, "df": self.df[term], "vec": TOKEN_VEC}
                                                        for term in batch])
        self.store.flush(self.cols.documents, self.cols.terms)
        self.n_docs, self.n_passages = len(docs), len(passages)
        self.timings["documents and terms"] = round(time.perf_counter() - t, 3)

    def write(self, batch: Batch) -> None:
        rows = sentence_rows(batch.sentences, batch.sentence_vectors, gen=0)
        if rows:
            self.store.call("upsert", self.cols.sentences, rows)
        self.store.call("upsert", self.cols.passages, passage_rows(batch.passages, batch.texts, batch.vectors, gen=0,
                                                                   sentence_ids=batch.sentence_ids))


def _build(store: MilvusStore, settings: Settings, cfg: MilvusConfig, encoder, current: dict | None,
           progress: bool) -> str:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    corpus_hash, seeds = corpus_fingerprint(settings.seeds_dir)
    library = carried_library(store, current)
    library_hash = fingerprint([e for _, e in library])
    config = build_config(settings)
    key = json.dumps({"corpus": corpus_hash, "library": library_hash, "config": config,
                      "schema": SCHEMA_VERSION, "uri": cfg.uri, "db": cfg.db_name, "prefix": cfg.prefix}, sort_keys=True)
    work = settings.var_dir / "milvus-build" / hashlib.sha1(key.encode()).hexdigest()[:16]
    checkpoint = Checkpoint(work / "checkpoint.json")
    tag = checkpoint.load().get("tag")
    if not tag or not store.has(Collections(cfg.prefix, tag).passages) or (current and current["build"] == tag):
        tag = "b" + datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
        shutil.rmtree(work, ignore_errors=True)
        checkpoint.save({"tag": tag})
    cols = Collections(cfg.prefix, tag)

    t = time.perf_counter()
    docs, skipped = load_corpus(settings.seeds_dir)
    if not docs:
        raise IndexUnavailable(f"no usable seed files in {settings.seeds_dir}")
    taken = {d.source for d in docs}
    entry_of = {d.source: e for d, e in library if d.source not in taken}
    docs += [d for d, _ in library if d.source in entry_of]
    del library
    timings["read and clean"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    if encoder is None:
        encoder = open_encoder(settings)
    timings["load model"] = round(time.perf_counter() - t, 3)

    writer = RowWriter(store, cols, encoder.dim, entry_of, timings)
    stats = run_plan(docs, settings, encoder, writer, timings, sentence_id=lambda source, s, e: sentence_sid(source, s, e, 0),
                     resume=Resume(work / "passages.jsonl", checkpoint, cfg.batch, {"tag": tag}), progress=progress)
    timings["encode and write passages"] = round(stats.seconds, 3)
    n_docs, n_passages, df, userdict = writer.n_docs, writer.n_passages, writer.df, writer.userdict
    t = time.perf_counter()
    store.flush(cols.passages, cols.sentences)
    store.load(*cols.all())
    rows = store.call("query", cols.passages, filter="", output_fields=["count(*)"])
    stored = int(rows[0]["count(*)"]) if rows else 0
    if stored != n_passages:
        raise IndexUnavailable(f"{cfg.where()} holds {stored} passages of build {tag}, expected {n_passages}; "
                               f"run {' '.join(sys.argv[:1])} ensure again to resume")
    timings["flush and verify"] = round(time.perf_counter() - t, 3)

    idf = [float(okapi_idf(n, n_passages)) for n in df.values()]
    mean_idf = sum(idf) / len(idf) if idf else 0.0
    store.put_blob(f"blob:{tag}:userdict", userdict)
    # the build's English -> Chinese mapping (CC-CEDICT x this corpus's vocabulary), as the local build keeps it
    translation = build_translation(dict(df), n_passages)
    store.put_blob(f"blob:{tag}:translation", sorted([k, list(v)] for k, v in (translation or {}).items()))
    manifest = {
        "build": tag, "build_id": tag, "schema": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "corpus_hash": corpus_hash, "seeds": seeds, "skipped": [s.source for s in skipped], "config": config,
        "documents": n_docs, "library_documents": len(entry_of), "passages": n_passages, "terms": len(df), "dim": int(encoder.dim),
        # BM25Okapi floors a negative idf at 0.25 x the mean idf; an unknown term counts as the rarest.
        "idf_floor": 0.25 * mean_idf, "idf_max": max(idf, default=1.0), "timings_s": timings,
        "encode": {"passages_per_s": round(stats.per_second, 2), "resumed_at": stats.resumed_at},
    }
    manifest["previous"] = current.get("build") if current and current.get("build") != tag else None
    if _library_fingerprint(store, current) != library_hash:  # a replica wrote to the old build meanwhile
        raise IndexUnavailable(f"documents were uploaded to or deleted from {cfg.where()} while this build ran; "
                               f"run {ENSURE_COMMAND} again to build with them")
    store.put_meta("current", manifest)  # the switch: readers that load from now on see this build
    # Replicas still serving the previous build keep it until they reload (like the local
    # index's two kept builds); anything older goes.
    keep = {tag, manifest["previous"]}
    prefix = f"{cfg.prefix}_"
    for old in {c[len(prefix):].rsplit("_", 1)[0] for c in store.call("list_collections")
                if c.startswith(prefix) and c != store.meta} - keep:
        store.drop_build(Collections(cfg.prefix, old))
        for k in store.meta_keys(f"blob:{old}:"):
            store.delete_meta(k)
    shutil.rmtree(work, ignore_errors=True)
    _say(f"index {tag} in {cfg.where()}: {n_docs} documents, {n_passages} passages, "
         f"{time.perf_counter() - t_start:.1f}s in all ({stats.per_second:.1f} passages/s encoded"
         + (f", resumed at {stats.resumed_at}" if stats.resumed_at else "") + ")")
    return tag


def status(settings: Settings) -> int:
    """`python -m index status` on Milvus: the current build and whether it is stale; 0 when up to date."""
    cfg = MilvusConfig.from_settings(settings)
    store = MilvusStore(cfg)
    try:
        current, reasons = up_to_date(store, settings)
        if current is None:
            print(reasons[0])
            return 1
        keys = ("build", "created", "schema", "documents", "library_documents", "passages", "terms", "config",
                "timings_s", "encode")
        shown = {k: current[k] for k in keys if k in current}
        documents = Collections(cfg.prefix, current["build"]).documents
        if current.get("schema") == SCHEMA_VERSION and store.has(documents):
            store.load(documents)
            shown["library"] = [e["source"] for e in library_entries(store, documents)]
        print(json.dumps({"backend": "milvus", "where": cfg.where(), **shown}, ensure_ascii=False, indent=1))
    finally:
        store.close()
    print("stale: " + "; ".join(reasons) if reasons else "up to date")
    return 1 if reasons else 0
