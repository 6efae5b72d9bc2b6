"""The encode stage of a large build: streamed, checkpointed, written out batch by batch.

Passages are read lazily from a JSON-lines file, encoded `batch` at a time, and each batch
is handed to a sink (Milvus rows, or a memory-mapped vector file) before the checkpoint
records it. Memory holds one batch, whatever the number of passages; a killed build
resumes after the last recorded batch (the sinks write by stable keys or positions, so
a batch written twice is harmless).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from index.build.chunk import Passage

log = logging.getLogger(__name__)


class Checkpoint:
    """A small JSON state file replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def write_records(path: Path, records: Iterator[tuple[Passage, str]]) -> int:
    """Passages with their index texts, one JSON line each (written whole, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for p, text in records:
            f.write(json.dumps({"p": p.to_dict(), "t": text}, ensure_ascii=False) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def read_records(path: Path, skip: int = 0) -> Iterator[tuple[Passage, str]]:
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            rec = json.loads(line)
            yield Passage(**rec["p"]), rec["t"]


@dataclass
class EncodeStats:
    total: int
    resumed_at: int
    encoded: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


Sink = Callable[[int, list[Passage], list[str], np.ndarray], None]  # (first position, passages, texts, vectors)


def encode_stream(records_path: Path, total: int, encode: Callable[[list[str]], np.ndarray], sink: Sink,
                  checkpoint: Checkpoint, batch: int = 256, state: dict | None = None,
                  progress: bool = True) -> EncodeStats:
    """Encode every record not yet done; `state` is extra checkpoint content kept alongside."""
    saved = checkpoint.load()
    done = int(saved.get("done", 0)) if saved.get("total") == total else 0
    if done:
        print(f"[build] resuming the encode stage at passage {done} of {total}", file=sys.stderr, flush=True)
    start, t0 = done, time.perf_counter()
    passages: list[Passage] = []
    texts: list[str] = []

    def flush() -> None:
        nonlocal done
        vectors = encode(texts)
        sink(done, passages, texts, vectors)
        done += len(passages)
        checkpoint.save({**(state or {}), "total": total, "done": done})
        passages.clear()
        texts.clear()
        if progress:
            rate = (done - start) / max(time.perf_counter() - t0, 1e-9)
            print(f"[build] encoded {done}/{total} passages ({rate:.1f}/s)", file=sys.stderr, flush=True)

    for p, text in read_records(records_path, skip=done):
        passages.append(p)
        texts.append(text)
        if len(passages) >= batch:
            flush()
    if passages:
        flush()
    return EncodeStats(total, start, done - start, time.perf_counter() - t0)


class VectorFileSink:
    """Vectors into a preallocated float32 file, row = passage position (the local index's
    dense_vectors layout), written with pwrite and fsynced per batch, so the checkpoint never
    runs ahead of the file. Not memory-mapped: mapped pages written would stay in this
    process's RSS and grow it with the corpus."""

    def __init__(self, path: Path, total: int, dim: int):
        self.path, self.total, self.dim = path, total, dim
        size = total * dim * 4
        fresh = not (path.exists() and path.stat().st_size == size)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fresh:
            os.ftruncate(self.fd, size)

    def __call__(self, first: int, passages, texts, vectors: np.ndarray) -> None:
        data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
        os.pwrite(self.fd, data, first * self.dim * 4)
        os.fsync(self.fd)

    def row(self, i: int) -> np.ndarray:
        return np.frombuffer(os.pread(self.fd, self.dim * 4, i * self.dim * 4), dtype=np.float32)

    def close(self) -> None:
        os.close(self.fd)
