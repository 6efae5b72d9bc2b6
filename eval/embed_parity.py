"""Parity of an embedding server with the built-in encoder (issue 19): `python -m eval embed-parity`.

The embedding server is the TEST DOUBLE of eval/model_doubles.py (a real HTTP server speaking
`/v1/embeddings`, wrapping the shipped e5-small), configured as e5 wants it (prefixes `query: ` and
`passage: `). A complete local index is built through it into a scratch folder, and the dev split is
scored on it and on the built-in encoder's current index, bm25 / dense / hybrid; hybrid hit@5 must agree
within 0.5 points. Also timed: the build's encoding and a query's encoding, both ways. Writes
eval/reports/embed_parity.md; exits 1 when parity fails. Heavy (a full build): run by `make bench`.
"""
from __future__ import annotations

import argparse
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
    """Retrieval on the dev split (the trained reader is left out: it does not change the ranking)."""
    from index.backends.local.store import load
    from index.search import Searcher

    from .run import QueryCache

    searcher = Searcher(load(settings), QueryCache(encoder), settings, neural=False)
    retrieve = in_process(searcher)
    return {mode: summarize(run_mode(retrieve, items, mode, relevant)) for mode in MODES}


def _encode_ms(encoder, questions: list[str]) -> float:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        encoder.encode_query(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    from index.backends.local.store import current_build, load, read_manifest
    from index.backends.select import ensure_built
    from index.build.chunk import chunk_corpus
    from index.build.dense import Encoder
    from index.build.embedder import open_encoder
    from index.ingest.seeds import load_corpus

    from .model_doubles import EmbeddingServerDouble

    parser = argparse.ArgumentParser(prog="python -m eval embed-parity")
    parser.add_argument("--port", type=int, default=8219, help="the double's port: it names the embedder, so a "
                        "finished parity build in .var/embed-parity/ is reused by a run on the same port")
    parser.add_argument("--fresh", action="store_true", help="discard the previous parity build and its journal")
    args = parser.parse_args(argv)
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
    if args.fresh:
        shutil.rmtree(scratch, ignore_errors=True)
    double = EmbeddingServerDouble(builtin, port=args.port).start()
    saved = dict(os.environ)
    try:
        os.environ.update({"POLICYQA_EMBED_BASE_URL": double.base_url, "POLICYQA_EMBED_MODEL": "e5-small-double",
                           "POLICYQA_EMBED_QUERY_PREFIX": "query: ", "POLICYQA_EMBED_PASSAGE_PREFIX": "passage: ",
                           "POLICYQA_VAR_DIR": str(scratch), "POLICYQA_INDEX_DIR": str(scratch / "index"),
                           "POLICYQA_LIBRARY_DIR": str(settings.library_dir), "POLICYQA_SEEDS_DIR": str(settings.seeds_dir)})
        server_settings = Settings()
        print("[parity] building through the embedding server double (unless built already)", file=sys.stderr, flush=True)
        ensure_built(server_settings)
        manifest = read_manifest(current_build(server_settings))
        server_build_s = sum(v for k, v in manifest["timings_s"].items() if k.startswith("encode"))
        remote = open_encoder(server_settings)
        print("[parity] embedding server: scoring the dev split", file=sys.stderr, flush=True)
        server = _score(server_settings, remote, items, relevant)
        server_query_ms = _encode_ms(remote, questions)
        index = load(server_settings)
        texts = _index_texts(index)
        texts += [index.sentences.sentence(i, index.documents).text for i in range(index.sentences.size)]
    finally:
        os.environ.clear()
        os.environ.update(saved)
        double.stop()
    t0 = time.perf_counter()  # the same texts through the built-in encoder, in the build's batch size
    for i in range(0, len(texts), 32):
        builtin.encode_passages(texts[i:i + 32])
    base_build_s = time.perf_counter() - t0

    diff = server["hybrid"]["hit@5"] - base["hybrid"]["hit@5"]
    ok = abs(diff) <= TOLERANCE + 1e-9
    lines = [
        "# Embedding server parity (issue 19)", "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `python -m eval embed-parity`. The server is the TEST DOUBLE of "
        "`eval/model_doubles.py` (FastAPI on uvicorn, loopback, wrapping the shipped e5-small) with "
        "`POLICYQA_EMBED_QUERY_PREFIX='query: '` and `POLICYQA_EMBED_PASSAGE_PREFIX='passage: '`; a complete index "
        f"(build {manifest['build_id']}) was built through it. Dev split: {base['hybrid']['n']} answerable questions; "
        "retrieval only (the trained reader does not change the ranking).", "",
        "| mode | built-in hit@5 | server hit@5 | built-in MRR@10 | server MRR@10 |", "|---|---|---|---|---|",
        *[f"| {m} | {base[m]['hit@5']:.3f} | {server[m]['hit@5']:.3f} | {base[m]['mrr@10']:.3f} | {server[m]['mrr@10']:.3f} |"
          for m in MODES], "",
        f"Hybrid hit@5 difference: {diff * 100:+.2f} points (tolerance ±{TOLERANCE * 100:.1f}): **{'pass' if ok else 'FAIL'}**.", "",
        "| | built-in (ONNX in process) | server double (HTTP, loopback) |", "|---|---|---|",
        f"| encoding a full build ({len(texts)} passages and sentences) | {base_build_s:.1f} s (timed now) | "
        f"{server_build_s:.1f} s (timed when build {manifest['build_id']} was made) |",
        f"| query encoding p50 ({len(questions)} dev questions) | {base_query_ms:.1f} ms | {server_query_ms:.1f} ms |", "",
        f"Load average during this run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs. The double runs the same model "
        "on the same CPU, so on an idle machine the difference is the HTTP round trip and JSON; on a shared machine "
        "the two build figures, timed at different moments, mostly measure what else was running. A GPU server "
        "changes the encoding time itself (README, \"Bring your own embedding and rerank servers\").", "",
    ]
    REPORT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0 if ok else 1


def _index_texts(index) -> list[str]:
    import json

    return json.loads((index.folder / "index_texts.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    sys.exit(main())
