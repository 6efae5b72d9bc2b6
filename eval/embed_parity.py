"""Parity of an embedding server with the built-in encoder (issue 19): `python -m eval embed-parity`.

The embedding server is the TEST DOUBLE of eval/model_doubles.py (a real HTTP server speaking
`/v1/embeddings`, wrapping the shipped e5-small), configured as e5 wants it (prefixes `query: ` and
`passage: `). A complete local index is built through it into a scratch folder, and the dev split is
scored on it and on the built-in encoder's current index, bm25 / dense / hybrid; hybrid hit@5 must agree
within 0.5 points. Also timed: the build's encoding and a query's encoding, both ways. Writes
eval/reports/embed_parity.md; exits 1 when parity fails. Heavy (a full build): run by `make bench`.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from index.config import Settings

from .qa import load_qa
from .run import in_process, relevant_counter, run_mode, summarize

REPORT = Path(__file__).resolve().parent / "reports" / "embed_parity.md"
MODES = ("bm25", "dense", "hybrid")
TOLERANCE = 0.005  # hit@5, as a fraction: half a point


def _score(settings: Settings, encoder, items, relevant) -> dict[str, dict]:
    from index.backends.local.store import load
    from index.search import Searcher

    from .run import QueryCache

    searcher = Searcher(load(settings), QueryCache(encoder), settings)
    retrieve = in_process(searcher)
    return {mode: summarize(run_mode(retrieve, items, mode, relevant)) for mode in MODES}


def _encode_ms(encoder, questions: list[str]) -> float:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        encoder.encode_query(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    from index.backends.local.store import build
    from index.backends.select import ensure_built
    from index.build.chunk import chunk_corpus
    from index.build.dense import Encoder
    from index.build.embedder import open_encoder
    from index.ingest.seeds import load_corpus

    from .model_doubles import EmbeddingServerDouble

    settings = Settings()
    ensure_built(settings)  # the built-in encoder's index, up to date
    items = load_qa(split="dev")
    relevant = relevant_counter(chunk_corpus(load_corpus(settings.seeds_dir)[0], settings.chunk))
    builtin = Encoder(settings.model_dir)
    questions = [i.question for i in items][:60]

    print("[parity] built-in encoder: scoring the dev split", file=sys.stderr, flush=True)
    base = _score(settings, builtin, items, relevant)
    base_query_ms = _encode_ms(builtin, questions)

    scratch = settings.var_dir / "embed-parity"
    shutil.rmtree(scratch, ignore_errors=True)
    double = EmbeddingServerDouble(builtin).start()
    saved = dict(os.environ)
    try:
        os.environ.update({"POLICYQA_EMBED_BASE_URL": double.base_url, "POLICYQA_EMBED_MODEL": "e5-small-double",
                           "POLICYQA_EMBED_QUERY_PREFIX": "query: ", "POLICYQA_EMBED_PASSAGE_PREFIX": "passage: ",
                           "POLICYQA_VAR_DIR": str(scratch), "POLICYQA_INDEX_DIR": str(scratch / "index"),
                           "POLICYQA_LIBRARY_DIR": str(settings.library_dir), "POLICYQA_SEEDS_DIR": str(settings.seeds_dir)})
        server_settings = Settings()
        print("[parity] building through the embedding server double", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        build(server_settings, progress=True)
        server_build_total = time.perf_counter() - t0
        server_build_s = _encode_stage_seconds(server_settings)
        remote = open_encoder(server_settings)
        print("[parity] embedding server: scoring the dev split", file=sys.stderr, flush=True)
        server = _score(server_settings, remote, items, relevant)
        server_query_ms = _encode_ms(remote, questions)
        requests = len(double.requests)
        sent = [t for body in double.requests for t in body["input"]]
        t0 = time.perf_counter()  # the same texts through the built-in encoder, in the build's batch size
        for i in range(0, len(sent), 32):
            builtin.encode_raw(sent[i:i + 32])
        base_build_s = time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)
        double.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    diff = server["hybrid"]["hit@5"] - base["hybrid"]["hit@5"]
    ok = abs(diff) <= TOLERANCE + 1e-9
    lines = [
        "# Embedding server parity (issue 19)", "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python -m eval embed-parity`. The server is the TEST DOUBLE of "
        "`eval/model_doubles.py` (FastAPI on uvicorn, loopback, wrapping the shipped e5-small) with "
        "`POLICYQA_EMBED_QUERY_PREFIX='query: '` and `POLICYQA_EMBED_PASSAGE_PREFIX='passage: '`; a complete index "
        f"was built through it. Dev split: {base['hybrid']['n']} answerable questions.", "",
        "| mode | built-in hit@5 | server hit@5 | built-in MRR@10 | server MRR@10 |", "|---|---|---|---|---|",
        *[f"| {m} | {base[m]['hit@5']:.3f} | {server[m]['hit@5']:.3f} | {base[m]['mrr@10']:.3f} | {server[m]['mrr@10']:.3f} |"
          for m in MODES], "",
        f"Hybrid hit@5 difference: {diff * 100:+.2f} points (tolerance ±{TOLERANCE * 100:.1f}): **{'pass' if ok else 'FAIL'}**.", "",
        "| | built-in (ONNX in process) | server double (HTTP, loopback) |", "|---|---|---|",
        f"| encoding a full build ({len(sent)} passages and sentences) | {base_build_s:.1f} s | {server_build_s:.1f} s |",
        f"| query encoding p50 ({len(questions)} dev questions) | {base_query_ms:.1f} ms | {server_query_ms:.1f} ms |", "",
        f"The server build took {server_build_total:.1f} s in all and sent {requests} requests. The double runs the same "
        "model on the same CPU, so the difference is the HTTP round trip and JSON; a GPU server changes the encoding "
        "time itself (README, \"Bring your own embedding and rerank servers\").", "",
    ]
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0 if ok else 1


def _encode_stage_seconds(settings: Settings) -> float:
    """The encode stages' time as the current build's manifest recorded it."""
    from index.backends.local.store import current_build, read_manifest

    timings = read_manifest(current_build(settings)).get("timings_s", {})
    return sum(v for k, v in timings.items() if k.startswith("encode"))


if __name__ == "__main__":
    sys.exit(main())
