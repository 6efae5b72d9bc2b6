"""Query latency and document writes per backend: `python -m eval.bench_backend` (run by `make bench`).

Times the hybrid query path in process, per stage, over the QA questions on the local index
and, with POLICYQA_BACKEND=milvus, on the Milvus at POLICYQA_MILVUS_URI too: one question at a
time on each backend in turn, so both see the same machine load. On a backend that takes
document writes (Milvus), it also times adding a document (its passage vectors are encoded
beforehand and not counted; its sentences are, as a write encodes them) and deleting it again.
The section is written into eval/reports/bench.md (replacing an earlier one).

Against milvus-lite the figures are functional only: it is a pure-Python stand-in for a server,
not Milvus's speed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from index.backends.local.backend import LocalBackend  # noqa: E402
from index.backends.select import open_backend, selected_backend
from index.build.chunk import chunk_document  # noqa: E402
from index.ingest.clean import CleanDocument  # noqa: E402
from index.config import Settings  # noqa: E402
from index.build.dense import Encoder  # noqa: E402
from index.search import Searcher  # noqa: E402
from index.build.plan import index_text  # noqa: E402
from index.backends.local.store import load

from index.search import STAGES  # noqa: E402

from .bench import OUT, med, pct, qa_items  # noqa: E402
from .bench_encode import write_section  # noqa: E402

BEGIN, END = "<!-- backends:begin -->", "<!-- backends:end -->"
SHOWN = ("tokenize", "encode", "bm25", "faiss", "fuse", "answer")  # "faiss" is the dense side on either backend


def _say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def backends(settings: Settings) -> dict:
    """The local index, and beside it the backend POLICYQA_BACKEND names when that is a remote one."""
    local = LocalBackend(load(settings), settings)
    out = {local.name: local}
    if selected_backend(settings) != local.name:
        chosen = open_backend(settings)
        out[chosen.name] = chosen
    return out


def query_latency(searchers: dict[str, Searcher], questions: list[str]) -> dict[str, dict[str, list[float]]]:
    stages = {name: {s: [] for s in STAGES} for name in searchers}
    for searcher in searchers.values():
        searcher.search(questions[0])  # warm-up: lazy init is not a user's wait
    for q in questions:
        for name, searcher in searchers.items():
            timings = searcher.search(q).timings_ms
            for s in STAGES:
                stages[name][s].append(timings.get(s, 0.0))
    return stages


def write_timing(backend, encoder: Encoder, settings: Settings, repeats: int) -> list[tuple[int, float, float]]:
    """(passages, add seconds, delete seconds) per repeat, for a document made of real seed text."""
    seed = backend.document(backend.list_documents()[0].source)
    text = seed.text[:6000]
    out = []
    for i in range(repeats):
        doc = CleanDocument(f"zz_bench_write_{i}.txt", "基准测试文件", text)
        passages = chunk_document(doc, settings.chunk)
        texts = [index_text(p, settings.index_context) for p in passages]
        vectors = encoder.encode_passages(texts)
        t0 = time.perf_counter()
        backend.add_document(doc, passages, texts, vectors, encode=encoder.encode_passages)
        added = time.perf_counter() - t0
        t0 = time.perf_counter()
        backend.delete_document(doc.source)
        out.append((len(passages), added, time.perf_counter() - t0))
    return out


def markdown(lat: dict, infos: dict, writes: dict, command: str, load_before: float, remote: set[str]) -> str:
    lines = [BEGIN, "## Query latency per backend (hybrid, in process)", "",
             f"`{command}` ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average "
             f"{load_before:.1f} before the run). The same questions, one at a time on each backend in turn; "
             "milliseconds, median unless marked.", "",
             "| backend | where | passages | queries | p50 | p95 | " + " | ".join(f"{s} p50" for s in SHOWN) + " |",
             "|" + "---|" * (6 + len(SHOWN))]
    for name, stages in lat.items():
        info = infos[name]
        total = stages["total"]
        where = info.location if name in remote else f"build {info.build_id}"
        lines.append(f"| {name} | {where} | {info.passages} | {len(total)} | {med(total):.1f} | "
                     f"{pct(total, 95):.1f} | " + " | ".join(f"{med(stages[s]):.2f}" for s in SHOWN) + " |")
    for name, rows in writes.items():
        n = rows[0][0]
        lines += ["", f"Document writes on {name}: a {n}-passage document added in "
                      f"{med([r[1] for r in rows]):.2f} s and deleted in {med([r[2] for r in rows]):.2f} s "
                      f"(median of {len(rows)}; the add includes encoding its sentences)."]
    if remote:
        lines += ["", "- milvus-lite is a pure-Python stand-in for a Milvus server: its figures show that the path "
                      "works end to end, not Milvus's speed. The two searches run side by side on a remote backend, "
                      "so `bm25` there overlaps `encode` and `faiss` (the dense search)."]
    return "\n".join(lines + [END]) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=120)
    ap.add_argument("--writes", type=int, default=3)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    settings = Settings()
    encoder = Encoder.of(settings)
    opened = backends(settings)
    _say(f"query latency on {', '.join(opened)}: {args.queries} questions")
    questions = [it["question"] for it in qa_items()]
    questions = (questions * (args.queries // len(questions) + 1))[:args.queries]
    lat = query_latency({name: Searcher(b, encoder, settings) for name, b in opened.items()}, questions)
    writes = {}
    for name, backend in opened.items():
        if backend.remote:  # the local index changes by whole builds: eval/bench_upload.py times those
            _say(f"document writes on {name}")
            writes[name] = write_timing(backend, encoder, settings, args.writes)
    remote = {n for n, b in opened.items() if b.remote}
    section = markdown(lat, {n: b.info() for n, b in opened.items()}, writes,
                       "python -m eval.bench_backend" + (f"  (POLICYQA_BACKEND={selected_backend(settings)})"
                                                        if remote else ""), load_before, remote)
    for b in opened.values():
        b.close()
    print(section)
    write_section(section, OUT, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
