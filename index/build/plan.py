"""The build plan: what goes into a build (chunk -> tokenize -> BM25 -> English mapping -> encode -> sentences)
and what a build was made from (the corpus and config fingerprints that tell a stale build).
Each backend writes the plan's output its own way (index/backends/local/store.py, index/backends/milvus/build.py)."""
from __future__ import annotations

import hashlib
import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from index.build.bm25 import BM25Index
from index.build.cedict import build_translation
from index.build.chunk import Passage, chunk_corpus, table_text
from index.build.dense import DenseIndex, Encoder, model_fingerprint
from index.build.sentences import SentenceTable, build_table
from index.config import Settings
from index.ingest import seeds as ingest
from index.ingest.clean import CleanDocument
from index.ingest.library import Library, fingerprint as library_fingerprint
from index.ingest.seeds import seed_paths
from index.text.names import tag
from index.text.tokenize import Tokenizer, build_userdict

log = logging.getLogger(__name__)
FORMAT_VERSION = 3  # 2: sentence evidence; 3: table row and column passages
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
    return {
        "format": FORMAT_VERSION,
        "model": model_fingerprint(settings.model_dir),
        "chunk": asdict(settings.chunk),
        "userdict": settings.use_userdict,
        "index_context": settings.index_context,
        "translation": TRANSLATION_VERSION,
    }


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


def make_index(docs: list[CleanDocument], settings: Settings, encoder: Encoder,
               vector_cache: dict[str, np.ndarray] | None = None, timings: dict | None = None,
               progress: bool = False, on_progress=None) -> IndexParts:
    """Chunk, tokenize and embed `docs`. Vectors found in `vector_cache` (index text ->
    vector, same model) are reused, and new ones are added to it. `on_progress(stage, done,
    total)` hears how the encoding goes (the upload jobs report it)."""
    timings = {} if timings is None else timings
    cache = {} if vector_cache is None else vector_cache
    with stage("chunk", timings):
        passages = chunk_corpus(docs, settings.chunk)
        texts = [index_text(p, settings.index_context) for p in passages]
    with stage("tokenize (jieba)", timings):
        userdict = build_userdict([d.text for d in docs]) if settings.use_userdict else []
        tokenizer = Tokenizer(userdict)
        tokens = [tokenizer.tokenize(t) for t in texts]
    with stage("bm25", timings):
        bm25 = BM25Index.build(tokens)
    with stage("English mapping (CC-CEDICT x vocabulary)", timings):
        doc_freq = np.diff(bm25.weights.tocsc().indptr)
        translation = build_translation({t: int(doc_freq[i]) for t, i in bm25.vocab.items()}, bm25.size)
    missing = [t for t in dict.fromkeys(texts) if t not in cache]
    with stage(f"encode {len(missing)} of {len(texts)} passages", timings):
        encode_into(cache, missing, encoder, progress, on_progress, "encoding passages")
        vectors = np.stack([np.asarray(cache[t], dtype=np.float32) for t in texts])
    with stage("faiss", timings):
        dense = DenseIndex.build(vectors)
    with stage("split and type sentences", timings):
        userdict = tuple(tokenizer.userdict)
        documents = {d.source: d for d in docs}
        sentences, sentence_texts = build_table(passages, documents, lambda t: tag(t, userdict))
    missing = [t for t in dict.fromkeys(sentence_texts) if t not in cache]
    with stage(f"encode {len(missing)} of {len(sentence_texts)} sentences", timings):
        encode_into(cache, missing, encoder, progress, on_progress, "encoding sentences")
        sentences.vectors = (np.stack([np.asarray(cache[t], dtype=np.float32) for t in sentence_texts])
                             if sentence_texts else np.zeros((0, vectors.shape[1]), dtype=np.float32))
    return IndexParts(documents, passages, texts, tokenizer, bm25, dense, sentences, translation)


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
