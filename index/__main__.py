"""Command line: build the index, check it, ask a question.

    python -m index build             build a new index now
    python -m index ensure            build only if missing or stale (what `make run` calls)
    python -m index ask "问题" [--mode hybrid|bm25|dense] [-k 5]
    python -m index status
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

from index.backends.base import BackendUnavailable
from index.backends.select import open_backend, selected_backend
from index.config import Settings
from index.build.plan import IndexUnavailable, stale_reasons
from index.backends.local.store import build, current_build, load, read_manifest
from index.backends.milvus.store import MilvusConfig
from index.backends.milvus.build import build as build_milvus
from index.backends.milvus.store import SCHEMA_VERSION, Collections, MilvusConfig, MilvusStore
from index.backends.milvus.rows import library_entries
from index.backends.milvus.build import up_to_date
from index.build.dense import Encoder
from index.search import Searcher


def _up_to_date(settings: Settings) -> list[str]:
    """Reasons to rebuild; empty when the current index matches the seeds and settings."""
    try:
        return stale_reasons(read_manifest(current_build(settings)), settings)
    except IndexUnavailable as err:
        return [str(err)]


def cmd_build(args, settings: Settings) -> int:
    if selected_backend() == "milvus":  # POLICYQA_BACKEND=milvus: build into the Milvus at POLICYQA_MILVUS_URI
        build_milvus(settings, MilvusConfig.from_env(), force=args.force)
        return 0
    reasons = _up_to_date(settings)
    if not args.force and not reasons:
        print(f"index is up to date: {current_build(settings)}")
        return 0
    for r in reasons:
        print(f"rebuilding: {r}", file=sys.stderr)
    build(settings)
    return 0


def cmd_status(args, settings: Settings) -> int:
    if selected_backend() == "milvus":
        return _milvus_status(settings)
    try:
        folder = current_build(settings)
    except IndexUnavailable as err:
        print(err)
        return 1
    manifest = read_manifest(folder)
    print(json.dumps({k: manifest[k] for k in ("build_id", "created", "counts", "config", "timings_s")}, ensure_ascii=False, indent=1))
    reasons = stale_reasons(manifest, settings)
    print("stale: " + "; ".join(reasons) if reasons else "up to date")
    return 1 if reasons else 0


def _milvus_status(settings: Settings) -> int:
    cfg = MilvusConfig.from_env()
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


def cmd_ask(args, settings: Settings) -> int:
    searcher = Searcher(open_backend(settings), Encoder(settings.model_dir), settings)
    result = searcher.search(args.question, top_k=args.k, mode=args.mode)
    if result.answer:
        a = result.answer
        print(f"\n答案 / Answer: {a.text}\n  [{a.passage_rank}] {a.source} chars {a.char_start}-{a.char_end}\n")
    else:
        print("\n答案 / Answer: not found in the documents (evidence too weak)\n")
    for h in result.hits:
        p = h.passage
        print(f"[{h.rank}] score {h.score:.4f} (bm25 {h.bm25:.2f}, dense {h.dense:.3f})  {p.source} "
              f"chars {p.char_start}-{p.char_end}\n    {p.title} / {p.section}")
        print(textwrap.indent(textwrap.fill(p.text.replace("\n", " "), 60), "    "))
    print("\ntimings (ms): " + ", ".join(f"{k} {v}" for k, v in result.timings_ms.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build a new index now")
    sub.add_parser("ensure", help="build only if the index is missing or stale")
    sub.add_parser("status", help="show the current index and whether it is stale")
    p = sub.add_parser("ask", help="ask a question and print cited passages")
    p.add_argument("question")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    p.add_argument("-k", type=int, default=5)
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        if args.command in ("build", "ensure"):
            args.force = args.command == "build"
            return cmd_build(args, settings)
        if args.command == "status":
            return cmd_status(args, settings)
        return cmd_ask(args, settings)
    except (IndexUnavailable, BackendUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
