"""Offline retrieval evaluation.

    python -m eval run [--split test|dev|all] [--url http://127.0.0.1:8000] [--no-ablations] [--no-report]
    python -m eval fit-reader     fit the feature reader (weights, confidence thresholds) on the dev split
    python -m eval fit-answerability  fit the answerability model on the training questions (cut on dev)
    python -m eval train-reader   train the reader (e5-small adapters) on eval/train/, select on dev (seeded)
    python -m eval followups      hit@5 of follow-up questions with and without rewriting (eval/reports/followups.md)
    python -m eval table-cells    table questions: cell accuracy per format, near misses, recovery (eval/reports/tables.md)
    python -m eval citations      calibrate the citation check's support threshold (eval/reports/citations.md)
    python -m eval embed-parity   an embedding server (a test double wrapping e5) vs the built-in encoder: dev hit@5
    python -m eval gate           exit non-zero when hybrid test-split hit@5 / MRR@10 fall below eval/thresholds.json

`run` scores bm25, dense and hybrid (plus fusion variants and ablations when in-process),
prints a compact table and writes eval/reports/latest.md with PNG charts.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from index.config import Settings

from .qa import load_qa
from .run import group, in_process, over_http, relevant_counter as _relevant_counter, run_mode, summarize

EVAL_DIR = Path(__file__).resolve().parent
THRESHOLDS = EVAL_DIR / "thresholds.json"
MODES = ("bm25", "dense", "hybrid")


def _fmt(x: float) -> str:
    return f"{x:.3f}" if x == x else "-"


def print_table(rows: dict[str, dict], title: str) -> None:
    cols = ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "answer_contains", "char_f1", "span_typed",
            "abstained_unanswerable", "answered_answerable")
    print(f"\n{title}")
    print(f"{'':28s}" + "".join(f"{c[:12]:>13s}" for c in cols))
    for name, s in rows.items():
        print(f"{name[:28]:28s}" + "".join(f"{_fmt(s.get(c, float('nan'))):>13s}" for c in cols))


def evaluate_modes(retrieve, items, relevant, modes=MODES) -> dict[str, list]:
    return {mode: run_mode(retrieve, items, mode, relevant) for mode in modes}


def cmd_run(args) -> int:
    items = load_qa(split=args.split)
    settings = Settings()
    from index.build.chunk import chunk_corpus
    from index.ingest.seeds import load_corpus

    docs, _ = load_corpus(settings.seeds_dir)
    relevant = _relevant_counter(chunk_corpus(docs, settings.chunk))
    t0 = time.perf_counter()
    if args.url:
        retrieve = over_http(args.url)
        searcher = None
    else:
        searcher = _searcher(settings)
        retrieve = in_process(searcher)
    results = evaluate_modes(retrieve, items, relevant)
    overall = {mode: summarize(r) for mode, r in results.items()}
    print_table(overall, f"split={args.split}  ({len([i for i in items if i.answerable])} answerable, "
                         f"{len([i for i in items if not i.answerable])} unanswerable)  source={'HTTP ' + args.url if args.url else 'in-process'}")
    for mode in MODES:
        print_table(group(results[mode], lambda r: r.item.kind), f"{mode} by kind")
    print_table(group(results["hybrid"], lambda r: r.item.source[:3]), "hybrid by document")
    ablations = {}
    if searcher is not None and not args.no_ablations and not searcher.backend.remote:  # ablations rebuild in memory
        from .ablations import run_ablations

        ablations = run_ablations(searcher, settings, docs, items)
        print_table(ablations, "ablations (hybrid unless named)")
    heldout = None
    if searcher is not None and args.split in ("test", "all") and not args.no_heldout:
        from .heldout import run as run_heldout

        heldout = run_heldout(searcher.encoder)[1]
        print_table({"hybrid": heldout}, "held-out invented documents (never trained or tuned on)")
    print(f"\neval took {time.perf_counter() - t0:.1f}s")
    if not args.no_report:
        from .report import write_report

        path = write_report(args, settings, searcher, items, results, overall, ablations, heldout)
        print(f"report: {path}")
    return gate(overall["hybrid"], args.split) if args.split in ("test", "all") else 0


def _searcher(settings: Settings):
    from index.backends.select import open_backend
    from index.build.embedder import open_encoder
    from index.search import Searcher

    from .run import QueryCache

    # POLICYQA_BACKEND picks the index: the local folder (default) or Milvus (POLICYQA_MILVUS_URI);
    # POLICYQA_EMBED_BASE_URL an embedding server in place of the built-in model
    return Searcher(open_backend(settings), QueryCache(open_encoder(settings)), settings)


def gate(hybrid: dict, split: str) -> int:
    """Every metric named in eval/thresholds.json (retrieval, answers, abstention) must reach its floor."""
    limits = {k: v for k, v in json.loads(THRESHOLDS.read_text()).items() if not k.startswith("_")}
    failed = [f"{m} {hybrid[m]:.3f} < {limits[m]}" for m in limits if hybrid[m] < limits[m]]
    if failed:
        print(f"REGRESSION GATE FAILED (hybrid, split={split}): " + "; ".join(failed), file=sys.stderr)
        return 1
    print(f"regression gate passed (hybrid, split={split}): "
          + ", ".join(f"{m} {hybrid[m]:.3f} >= {limits[m]}" for m in limits))
    return 0


def cmd_gate(args) -> int:
    items = load_qa(split="test")
    settings = Settings()
    searcher = _searcher(settings)

    from index.build.chunk import chunk_corpus
    from index.ingest.seeds import load_corpus

    relevant = _relevant_counter(chunk_corpus(load_corpus(settings.seeds_dir)[0], settings.chunk))
    results = run_mode(in_process(searcher), items, "hybrid", relevant)
    return gate(summarize(results), "test")


def cmd_fit_answerability(args) -> int:
    """Fit the answerability model on the training questions, its cut on the dev split."""
    from . import answerability

    answerability.fit()
    return 0


def cmd_fit_reader(args) -> int:
    """Fit the reader's sentence trees on the training questions; its answerability weights, thresholds
    and extension ratio on the dev split."""
    from . import reader_fit
    from .train_reader import gather_examples

    settings = Settings()
    from index.build.embedder import open_encoder
    from index.search import Searcher
    from index.backends.local.store import load

    from .run import QueryCache

    # with POLICYQA_EMBED_BASE_URL set, the reader is fitted to that embedder's similarities
    searcher = Searcher(load(settings), QueryCache(open_encoder(settings)), settings, reader=reader_fit.placeholder())
    training, _ = gather_examples()
    model, info = reader_fit.fit(searcher, load_qa(), training)
    reader_fit.write(model, info)
    print(json.dumps(info, indent=1, ensure_ascii=False))
    print(f"thresholds: chinese {model.threshold:.4f}, other {model.threshold_foreign:.4f}; extend ratio {model.extend_ratio}")
    return 0


def cmd_train_reader(args) -> int:
    from .train_reader import train

    info = train(epochs=args.epochs, seed=args.seed, layers=args.layers, lr=args.lr)
    print(json.dumps({k: info[k] for k in ("dev", "seconds", "data")}, indent=1, ensure_ascii=False))
    return 0


def cmd_heldout(args) -> int:
    from .heldout import run

    results, summary = run()
    print_table({"hybrid": summary}, f"held-out invented documents ({summary['n']} answerable, "
                                     f"{summary['n_unanswerable']} near misses)")
    return 0


def cmd_followups(args) -> int:
    from .multiturn import run

    print(run(_searcher(Settings())))
    return 0


def cmd_citations(args) -> int:
    from .citation_calibration import run

    print(run(_searcher(Settings())))
    return 0


def cmd_embed_parity(args) -> int:
    from .embed_parity import main as parity

    return parity([f"--port={args.port}"] + (["--fresh"] if args.fresh else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--split", choices=["test", "dev", "all"], default="test")
    p.add_argument("--url", help="score a running service through POST /api/query instead of in-process")
    p.add_argument("--no-ablations", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--no-heldout", action="store_true", help="skip the held-out invented documents")
    sub.add_parser("gate")
    sub.add_parser("heldout")
    sub.add_parser("fit-reader")
    sub.add_parser("fit-answerability")
    p = sub.add_parser("train-reader")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--lr", type=float, default=5e-4)
    sub.add_parser("followups")
    sub.add_parser("citations")
    p = sub.add_parser("embed-parity", help="dev-split hit@5 through an embedding server double vs the built-in encoder")
    p.add_argument("--port", type=int, default=8219)
    p.add_argument("--fresh", action="store_true")
    sub.add_parser("table-cells")
    args = parser.parse_args(argv)
    return {"run": cmd_run, "gate": cmd_gate, "fit-reader": cmd_fit_reader, "fit-answerability": cmd_fit_answerability, "train-reader": cmd_train_reader, "heldout": cmd_heldout, "followups": cmd_followups,
            "citations": cmd_citations, "embed-parity": cmd_embed_parity,
            "table-cells": cmd_table_cells}[args.command](args)


def cmd_table_cells(args) -> int:
    from .table_cells import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
