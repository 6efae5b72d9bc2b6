"""Command line: build the index, check it, ask a question.

    python -m index build             build a new index now
    python -m index ensure            build only if missing or stale (what `make run` calls)
    python -m index ask "问题" [--mode hybrid|bm25|dense] [-k 5]
    python -m index status
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from index.backends import BackendUnavailable, ensure_built, open_backend, print_status
from index.build import EmbedderUnavailable, IndexUnavailable, open_encoder
from index.config import Settings
from index.search import Searcher


def cmd_build(args, settings: Settings) -> int:
    ensure_built(settings, force=args.force)
    return 0


def cmd_status(args, settings: Settings) -> int:
    return print_status(settings)


def cmd_ask(args, settings: Settings) -> int:
    searcher = Searcher(open_backend(settings), open_encoder(settings), settings)
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
    except (IndexUnavailable, BackendUnavailable, EmbedderUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
