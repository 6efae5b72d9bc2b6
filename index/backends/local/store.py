"""Build the index folder and load it back.

Layout under `<index_root>`:
    builds/<build id>/   one complete build: manifest.json and the files it lists
    current -> builds/<build id>   symlink, replaced atomically when a build finishes

A build is written to `builds/.tmp-*` and only renamed and linked once every file is
on disk, so a killed build never replaces the good index. The manifest records what
the build was made from (corpus hash, model, chunking, tokenizer) and a sha256 of
every file, so a stale or corrupted index is detected at load.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.build.bm25 import BM25Index
from index.build.chunk import Passage
from index.build.dense import DenseIndex, Encoder
from index.build.embedder import open_encoder
from index.build.plan import (IndexParts, IndexUnavailable, build_config, corpus_state, make_index, sha256,
                              stale_reasons, stage, versions)
from index.build.sentences import FILES as SENTENCE_FILES, SentenceTable
from index.config import BUILD_COMMAND, Settings
from index.ingest.clean import CleanDocument
from index.ingest.library import Library
from index.ingest.parse.base import ParseLimits
from index.ingest.seeds import SkippedFile, load_corpus
from index.text.tokenize import Tokenizer

log = logging.getLogger(__name__)
KEEP_BUILDS = 2
# Every build holds these; a manifest that does not list one of them is not trusted.
REQUIRED_FILES = ("documents.json", "passages.jsonl", "index_texts.json", "userdict.txt", "bm25_weights.npz",
                  "bm25_vocab.json", "dense.faiss", "dense_vectors.npy") + SENTENCE_FILES


@dataclass
class LoadedIndex:
    folder: Path
    manifest: dict
    documents: dict[str, CleanDocument]
    passages: list[Passage]
    tokenizer: Tokenizer
    bm25: BM25Index
    dense: DenseIndex
    sentences: SentenceTable
    translation: dict[str, list[str]] | None = None  # English phrase -> Chinese words (index/build/cedict.py)


def build(settings: Settings, encoder: Encoder | None = None, progress: bool = True,
          library_entries: list[dict] | None = None, on_progress=None) -> Path:
    """Build a complete index of the seeds and the library and make it current. Returns the
    build folder. `library_entries` overrides the committed library (an upload job builds
    with the library as it will be, and commits it only once this build is current)."""
    timings: dict[str, float] = {}
    root = settings.index_root
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    build_id = _new_build_id(builds)
    tmp = builds / f".tmp-{build_id}"
    t_start = time.perf_counter()
    try:
        tmp.mkdir()
        with stage("read and clean seeds and library", timings):
            corpus_hash, seed_files, entries = corpus_state(settings, library_entries)
            docs, skipped = load_corpus(settings.seeds_dir)
            library_docs, failed = Library(settings.library_dir, ParseLimits.of(settings)).documents(entries)
            taken = {d.source for d in docs}
            docs += [d for d in library_docs if d.source not in taken]
            skipped += [SkippedFile(source, reason) for source, reason in failed]
            if not docs:
                raise IndexUnavailable(f"no usable seed files in {settings.seeds_dir}")
        with stage("load model", timings):
            encoder = encoder or open_encoder(settings)
        parts = make_index(docs, settings, encoder, _previous_vectors(root / "current", encoder), timings, progress,
                           on_progress)
        with stage("write", timings):
            _write(tmp, parts)
            manifest = {
                "build_id": build_id,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "corpus_hash": corpus_hash,
                "seeds": seed_files,
                "library": entries,
                "skipped": [asdict(s) for s in skipped],
                "config": build_config(settings),
                "model_dir": str(settings.model_dir),
                "versions": versions(),
                "counts": {"documents": len(docs), "passages": len(parts.passages), "terms": len(parts.bm25.vocab),
                           "sentences": parts.sentences.size, "dim": int(parts.dense.vectors.shape[1])},
                "timings_s": timings,
                "files": {p.name: sha256(p) for p in sorted(tmp.iterdir())},
            }
            manifest["manifest_sha256"] = manifest_checksum(manifest)
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            _fsync_dir(tmp)
        final = builds / build_id
        os.rename(tmp, final)
        _point_current(root, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(builds, keep=final)
    print(f"[build] index {final.name}: {len(docs)} documents, {len(parts.passages)} passages, "
          f"{time.perf_counter() - t_start:.1f}s in all", file=sys.stderr, flush=True)
    for s in skipped:
        print(f"[build] skipped {s.source}: {s.reason}", file=sys.stderr, flush=True)
    return final


def _new_build_id(builds: Path) -> str:
    """<UTC second>-<pid>, unused: a second build of the same process within one second (two quick
    library jobs) waits for the next second rather than collide with the first."""
    while True:
        build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
        if not (builds / build_id).exists() and not (builds / f".tmp-{build_id}").exists():
            return build_id
        time.sleep(0.05)


def _previous_vectors(previous: Path, encoder: Encoder) -> dict[str, np.ndarray]:
    """Vectors of the current build by index text, when made with the same model: a rebuild
    after adding, replacing or deleting a document only encodes the passages that changed."""
    try:
        manifest = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
        if manifest["config"]["model"] != encoder.model_id:
            return {}
        old_texts = json.loads((previous / "index_texts.json").read_text(encoding="utf-8"))
        old_vectors = np.load(previous / "dense_vectors.npy", mmap_mode="r")
        cache = {t: np.array(old_vectors[i]) for i, t in enumerate(old_texts) if i < len(old_vectors)}
    except (OSError, KeyError, ValueError):
        return {}
    try:  # sentences too (same model, same "passage:" prompt), when the build has them
        docs = json.loads((previous / "documents.json").read_text(encoding="utf-8"))
        offsets = np.load(previous / "sentence_offsets.npy")
        old_vectors = np.load(previous / "sentence_vectors.npy", mmap_mode="r")
        texts = [d["text"] for d in docs]
        for i, (d, start, end) in enumerate(offsets[: len(old_vectors)]):
            cache.setdefault(texts[d][start:end], np.array(old_vectors[i]))
    except (OSError, KeyError, ValueError, IndexError):
        pass
    return cache


def _write(folder: Path, parts: IndexParts) -> None:
    documents = [
        {"source": d.source, "title": d.title, "text": d.text, "headings": d.headings, "page_starts": d.page_starts}
        for d in parts.documents.values()
    ]
    (folder / "documents.json").write_text(json.dumps(documents, ensure_ascii=False), encoding="utf-8")
    with (folder / "passages.jsonl").open("w", encoding="utf-8") as f:
        for p in parts.passages:
            f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    (folder / "index_texts.json").write_text(json.dumps(parts.texts, ensure_ascii=False), encoding="utf-8")
    parts.tokenizer.save(folder / "userdict.txt")
    parts.bm25.save(folder)
    parts.dense.save(folder)
    parts.sentences.save(folder)
    if parts.translation is not None:
        (folder / "translation.json").write_text(json.dumps(parts.translation, ensure_ascii=False), encoding="utf-8")
    for path in folder.iterdir():
        with path.open("rb") as f:
            os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _point_current(root: Path, target: Path) -> None:
    link = root / f".current-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path("builds") / target.name)
    os.replace(link, root / "current")  # atomic on POSIX: readers see old or new, never neither
    _fsync_dir(root)


def _prune(builds: Path, keep: Path) -> None:
    finished = sorted(p for p in builds.iterdir() if not p.name.startswith("."))
    for old in finished[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in builds.glob(".tmp-*"):  # left by a killed build whose process is gone
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- load


def current_build(settings: Settings) -> Path:
    link = settings.index_root / "current"
    if not link.exists():
        raise IndexUnavailable(f"No index found at {link}. Build it with: {BUILD_COMMAND}")
    return link.resolve()


def manifest_checksum(manifest: dict) -> str:
    """sha256 of the manifest's content without its own checksum field (key order and
    whitespace do not matter), so an edited or bit-flipped manifest is detected too."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise IndexUnavailable(f"Index file {path} is missing or corrupted ({err}). Rebuild with: {BUILD_COMMAND}") from err
    # Builds made before the checksum existed have none; they are still checked file by file.
    if "manifest_sha256" in manifest and manifest["manifest_sha256"] != manifest_checksum(manifest):
        raise IndexUnavailable(f"Index file {path} is corrupted (its checksum does not match its content). "
                               f"Rebuild with: {BUILD_COMMAND}")
    return manifest


def verify_files(folder: Path, manifest: dict) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict) or any(name not in files for name in REQUIRED_FILES):
        missing = [n for n in REQUIRED_FILES if not isinstance(files, dict) or n not in files]
        raise IndexUnavailable(f"Index file {folder / 'manifest.json'} does not list {', '.join(missing)}. "
                               f"Rebuild with: {BUILD_COMMAND}")
    for name, sha in files.items():
        path = folder / name
        if not path.exists():
            raise IndexUnavailable(f"Index file {path} is missing. Rebuild with: {BUILD_COMMAND}")
        if sha256(path) != sha:
            raise IndexUnavailable(f"Index file {path} is corrupted (checksum mismatch). Rebuild with: {BUILD_COMMAND}")


def _read_passages(path: Path) -> list[Passage]:
    with path.open(encoding="utf-8") as f:
        return [Passage(**json.loads(line)) for line in f]


def _load_part(folder: Path, name: str, loader):
    try:
        return loader()
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError) as err:
        raise IndexUnavailable(f"Index file {folder / name} could not be loaded ({type(err).__name__}: {str(err)[:200]}). "
                               f"Rebuild with: {BUILD_COMMAND}") from err


def load(settings: Settings, check_stale: bool = True) -> LoadedIndex:
    folder = current_build(settings)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    if check_stale:
        reasons = stale_reasons(manifest, settings)
        if reasons:
            raise IndexUnavailable("The index is stale: " + "; ".join(reasons) + f". Rebuild with: {BUILD_COMMAND}")
    # The checksums above catch damage to any file; these loaders still name the file that
    # fails to parse, should a build ever write a bad file with a matching checksum.
    docs = _load_part(folder, "documents.json", lambda: {
        d["source"]: CleanDocument(d["source"], d["title"], d["text"], [tuple(h) for h in d["headings"]],
                                   d.get("page_starts"))  # builds before pages existed have none
        for d in json.loads((folder / "documents.json").read_text(encoding="utf-8"))
    })
    passages = _load_part(folder, "passages.jsonl", lambda: _read_passages(folder / "passages.jsonl"))
    tokenizer = _load_part(folder, "userdict.txt", lambda: Tokenizer.load(folder / "userdict.txt"))
    bm25 = _load_part(folder, "bm25_weights.npz / bm25_vocab.json", lambda: BM25Index.load(folder))
    dense = _load_part(folder, "dense.faiss / dense_vectors.npy", lambda: DenseIndex.load(folder))
    sentences = _load_part(folder, "sentence_*.npy", lambda: SentenceTable.load(folder, list(docs)))
    unknown = {p.source for p in passages} - set(docs)
    if unknown:
        raise IndexUnavailable(f"Index file {folder / 'passages.jsonl'} cites documents missing from documents.json "
                               f"({', '.join(sorted(unknown)[:3])}). Rebuild with: {BUILD_COMMAND}")
    if not (len(passages) == bm25.size == dense.size):
        raise IndexUnavailable(f"Index in {folder} is inconsistent: {len(passages)} passages, {bm25.size} BM25 rows, "
                          f"{dense.size} vectors. Rebuild with: {BUILD_COMMAND}")
    if len(sentences.ptr) != len(passages) + 1:
        raise IndexUnavailable(f"Index in {folder} is inconsistent: passage_sentence_ptr.npy covers {len(sentences.ptr) - 1} "
                               f"passages, passages.jsonl holds {len(passages)}. Rebuild with: {BUILD_COMMAND}")
    translation = None  # builds made before the mapping existed translate with the glossary alone
    if "translation.json" in manifest.get("files", {}):
        translation = _load_part(folder, "translation.json", lambda: {
            k: list(v) for k, v in json.loads((folder / "translation.json").read_text(encoding="utf-8")).items()})
    return LoadedIndex(folder, manifest, docs, passages, tokenizer, bm25, dense, sentences, translation)
