"""The build plan, one for every backend: what goes into a build (chunk -> tokenize -> encode passages ->
sentences -> encode sentences -> write) and what a build was made from (the corpus and config fingerprints
that tell a stale build). A backend supplies only a BuildWriter, how the rows are written, and commits
the build its own way (index/backends/local/store.py, index/backends/milvus/build.py)."""
from __future__ import annotations

import hashlib
import logging
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np

from index.build.bm25 import BM25Index
from index.build.cedict import build_translation
from index.build.chunk import Passage, chunk_corpus, table_text
from index.build.dense import DenseIndex, Encoder, model_fingerprint
from index.build.embedder import embedder_id, embedder_record
from index.build.encode import Checkpoint, EncodeStats, encode_stream, read_records, write_records
from index.build.sentences import NewSentence, SentenceSplitter, SentenceTable, TableBuilder
from index.config import Settings
from index.ingest import seeds as ingest
from index.ingest.clean import CleanDocument
from index.ingest.library import Library, fingerprint as library_fingerprint
from index.ingest.seeds import seed_paths
from index.text.tokenize import Tokenizer, build_userdict

log = logging.getLogger(__name__)
FORMAT_VERSION = 10  # 2: sentence evidence; 3: table row and column passages; 4: sentence kinds from the longest-unit amount pattern;
# 5: an article that runs on into its provision is no heading, a month alone is a date; 6: a score in digits (100分) is an amount;
# 7: foreign currencies (亿美元), 栋 and 米, and a count in 万 or 亿 without its unit (人口1.53亿) are amounts;
# 8: fractions (1/4) and counts of 多万 (400多万) are amounts; 9: a holiday's time (春节前后) is a date;
# 10: a figure that reads as year.month (2087.2万人) is no date when a unit follows it
TRANSLATION_VERSION = "cc-cedict+glossary-3"  # builds hold their English mapping (translation.json)


class IndexUnavailable(RuntimeError):
    """The index is missing, stale or damaged; the message says which file and what to run."""


# ---------------------------------------------------------------- fingerprints


def corpus_fingerprint(seeds_dir: Path) -> tuple[str, list[dict]]:
    files = []
    digest = hashlib.sha256()
    for path in seed_paths(seeds_dir):
        try:
            size = path.stat().st_size
            # A file over the limit is skipped by the build, so it is never read whole here either.
            sha = sha256(path) if size <= ingest.MAX_FILE_BYTES else f"over-limit:{size}:{path.stat().st_mtime_ns}"
        except OSError as err:
            size, sha = -1, f"unreadable:{err.errno}"
        files.append({"name": path.name, "bytes": size, "sha256": sha})
        digest.update(f"{path.name}\0{sha}\n".encode())
    return digest.hexdigest(), files


def corpus_state(settings: Settings, library_entries: list[dict] | None = None) -> tuple[str, list[dict], list[dict]]:
    """(corpus hash, seed files, library entries): the seeds plus the uploaded documents.
    Without uploads the hash is the seeds' alone, so builds made before the library existed stay valid."""
    seeds_hash, seed_files = corpus_fingerprint(settings.seeds_dir)
    entries = Library(settings.library_dir).entries() if library_entries is None else library_entries
    if not entries:
        return seeds_hash, seed_files, []
    combined = hashlib.sha256(f"{seeds_hash}\0{library_fingerprint(entries)}".encode()).hexdigest()
    return combined, seed_files, entries


def build_config(settings: Settings) -> dict:
    """Everything that changes what a build contains; a mismatch means rebuild."""
    config = {
        "format": FORMAT_VERSION,
        "model": embedder_id(settings),
        "chunk": asdict(settings.chunk),
        "userdict": settings.userdict,
        "index_context": settings.index_context,
        "translation": TRANSLATION_VERSION,
    }
    embedder = embedder_record(settings)  # an embedding server: host, model, prefixes (the built-in model: none)
    if embedder is not None:
        config["embedder"] = embedder
    return config


def stale_reasons(manifest: dict, settings: Settings) -> list[str]:
    reasons = []
    try:
        corpus_hash, _, _ = corpus_state(settings)
    except ValueError as err:  # an unreadable library.json
        return [str(err)]
    if manifest.get("corpus_hash") != corpus_hash:
        reasons.append(f"the seed files in {settings.seeds_dir} or the document library in {settings.library_dir} "
                       "changed since the index was built")
    wanted = build_config(settings)
    for key, value in wanted.items():
        if manifest.get("config", {}).get(key) != value:
            reasons.append(f"{key} is {value!r} now but the index was built with {manifest.get('config', {}).get(key)!r}")
    return reasons


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for pkg in ("jieba", "rank-bm25", "faiss-cpu", "sentence-transformers", "torch", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# ---------------------------------------------------------------- build


def index_text(p: Passage, with_context: bool) -> str:
    """What is indexed for a passage: its text (a table's row or column under its header), led by
    title and section for context."""
    text = table_text(p.table) if p.table else p.text
    if not with_context:
        return text
    head = " ".join(x for x in (p.title, p.section) if x)
    return f"{head}\n{text}"


@contextmanager
def stage(name: str, timings: dict):
    t0 = time.perf_counter()
    print(f"[build] {name} ...", file=sys.stderr, flush=True)
    yield
    timings[name] = round(time.perf_counter() - t0, 3)
    print(f"[build] {name} done in {timings[name]:.2f}s", file=sys.stderr, flush=True)


@dataclass
class IndexParts:
    """Everything an index holds, in memory; `build` writes it, eval ablations use it directly."""

    documents: dict[str, CleanDocument]  # by source, in corpus order
    passages: list[Passage]
    texts: list[str]
    tokenizer: Tokenizer
    bm25: BM25Index
    dense: DenseIndex
    sentences: SentenceTable
    translation: dict[str, list[str]] | None = None


@dataclass
class Batch:
    """One step of the encode stage: passages with their vectors, and the sentences they bring."""

    first: int  # the position of the first passage in the build
    passages: list[Passage]
    texts: list[str]  # index texts (index_text)
    vectors: np.ndarray
    sentence_ids: list[list[int]]  # each passage's sentences, in order
    sentences: list[NewSentence]  # the sentences no earlier passage held
    sentence_vectors: np.ndarray


class BuildWriter(Protocol):
    """What a backend gives the build plan: how a build's rows are written (the plan decides what they hold)."""

    def documents(self, docs: list[CleanDocument], passages: list[Passage], texts: list[str],
                  tokenizer: Tokenizer) -> None:
        """Before the encode stage: the documents and the term statistics."""

    def write(self, batch: Batch) -> None:
        """One encoded batch, in passage order. A resumed build may hand over a batch written before."""


@dataclass
class Resume:
    """A build that survives being killed: the passages go through a work file and each written batch is
    checkpointed (index/build/encode.py), so a rerun with the same work folder resumes after the last one."""

    records: Path
    checkpoint: Checkpoint
    batch: int
    state: dict  # kept in the checkpoint beside the progress


def run_plan(docs: list[CleanDocument], settings: Settings, encoder: Encoder, writer: BuildWriter, timings: dict,
             sentence_id=None, vector_cache: dict[str, np.ndarray] | None = None, resume: Resume | None = None,
             progress: bool = False, on_progress=None) -> EncodeStats:
    """The build plan, one for every backend: chunk -> tokenize -> (the writer's documents and terms) ->
    encode passages -> split and type sentences -> encode sentences -> write. Without `resume` it runs
    as one batch in memory, reusing the vectors in `vector_cache` (index text -> vector, same model)
    and adding the new ones; `on_progress(stage, done, total)` hears how the encoding goes. With `resume`,
    `docs` is emptied once the writer has them: the encode stage holds no corpus in memory.
    `sentence_id(source, start, end)` names sentences (None: numbered as met)."""
    with stage("chunk", timings):
        passages = chunk_corpus(docs, settings.chunk)
        texts = [index_text(p, settings.index_context) for p in passages]
    with stage("tokenize (jieba)", timings):
        tokenizer = Tokenizer(build_userdict([d.text for d in docs]) if settings.userdict else [])
    writer.documents(docs, passages, texts, tokenizer)
    splitter = SentenceSplitter(tokenizer.userdict, sentence_id)

    def encode(items: list[str], label: str) -> np.ndarray:
        if resume is not None:  # streamed: each batch encoded as it comes, nothing kept
            return encoder.encode_passages(items)
        cache = {} if vector_cache is None else vector_cache
        missing = [t for t in dict.fromkeys(items) if t not in cache]
        with stage(f"encode {len(missing)} of {len(items)} {label}", timings):
            encode_into(cache, missing, encoder, progress, on_progress, f"encoding {label}")
            return np.stack([np.asarray(cache[t], dtype=np.float32) for t in items])

    def sink(first: int, batch: list[Passage], batch_texts: list[str], vectors: np.ndarray) -> None:
        with stage("split and type sentences", timings) if resume is None else nullcontext():
            sentence_ids, new = splitter.split(batch)
        sentence_vectors = (encode([s.text for s in new], "sentences") if new
                            else np.zeros((0, vectors.shape[1]), dtype=np.float32))
        writer.write(Batch(first, batch, batch_texts, vectors, sentence_ids, new, sentence_vectors))

    if resume is None:
        t0 = time.perf_counter()
        if passages:
            sink(0, passages, texts, encode(texts, "passages"))
        return EncodeStats(len(passages), 0, len(passages), time.perf_counter() - t0)
    total = len(passages)
    saved = resume.checkpoint.load()
    if not resume.records.exists() or saved.get("records") != total:
        write_records(resume.records, zip(passages, texts))
        resume.checkpoint.save({**resume.checkpoint.load(), **resume.state, "records": total})
    del passages, texts  # the encode stage streams from the work file
    docs.clear()
    done = int(saved.get("done", 0)) if saved.get("total") == total else 0
    if done:  # the sentences before the first resumed passage's are in the passage before it
        splitter.split([next(read_records(resume.records, skip=done - 1))[0]])
    return encode_stream(resume.records, total, lambda items: encode(items, "passages"), sink, resume.checkpoint,
                         batch=resume.batch, state={**resume.state, "records": total}, progress=progress)


class PartsWriter:
    """The plan's output gathered in memory as IndexParts: the local backend writes them to its folder
    (index/backends/local/store.py), the eval's ablations search them as they are."""

    def __init__(self, timings: dict):
        self.timings = timings
        self.vectors: list[np.ndarray] = []

    def documents(self, docs, passages, texts, tokenizer) -> None:
        self.docs, self.passages, self.texts, self.tokenizer = docs, passages, texts, tokenizer
        with stage("bm25", self.timings):
            self.bm25 = BM25Index.build([tokenizer.tokenize(t) for t in texts])
        with stage("English mapping (CC-CEDICT x vocabulary)", self.timings):
            doc_freq = np.diff(self.bm25.weights.tocsc().indptr)
            self.translation = build_translation({t: int(doc_freq[i]) for t, i in self.bm25.vocab.items()},
                                                 self.bm25.size)
        self.sentences = TableBuilder([d.source for d in docs], 0)

    def write(self, batch: Batch) -> None:
        self.vectors.append(np.asarray(batch.vectors, dtype=np.float32))
        self.sentences.dim = batch.vectors.shape[1]
        self.sentences.add(batch.sentence_ids, batch.sentences, batch.sentence_vectors)

    def parts(self) -> IndexParts:
        with stage("faiss", self.timings):
            dense = DenseIndex.build(np.concatenate(self.vectors))
        return IndexParts({d.source: d for d in self.docs}, self.passages, self.texts, self.tokenizer, self.bm25,
                          dense, self.sentences.table(), self.translation)


def make_index(docs: list[CleanDocument], settings: Settings, encoder: Encoder,
               vector_cache: dict[str, np.ndarray] | None = None, timings: dict | None = None,
               progress: bool = False, on_progress=None) -> IndexParts:
    """The build plan in memory: chunk, tokenize and embed `docs` into IndexParts (see run_plan)."""
    timings = {} if timings is None else timings
    writer = PartsWriter(timings)
    run_plan(docs, settings, encoder, writer, timings, vector_cache={} if vector_cache is None else vector_cache,
             progress=progress, on_progress=on_progress)
    return writer.parts()


def encode_into(cache: dict, missing: list[str], encoder: Encoder, progress: bool, on_progress, label: str) -> None:
    """Embed `missing` texts into `cache`; in batches that report progress when someone listens."""
    if not missing:
        return
    if on_progress is None:
        cache.update(zip(missing, encoder.encode_passages(missing, progress=progress)))
        return
    for i in range(0, len(missing), 32):
        on_progress(label, i, len(missing))
        batch = missing[i : i + 32]
        cache.update(zip(batch, encoder.encode_passages(batch)))
    on_progress(label, len(missing), len(missing))
