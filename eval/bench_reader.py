"""What the trained reader costs, measured in one run (interleaved rounds, medians):

- the reader stage (`answer` in the timings) with the trained reader and with the feature reader alone;
- the whole query with the answer, and with `answer: false` (passages only);
- the training time, from the trained reader's own record (index/reader_weights/reader_config.json).

    python -m eval.bench_reader [--rounds 3]        writes a section of eval/reports/bench.md
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from index.config import Settings

from .tables import md_table
from .qa import load_qa

OUT = Path(__file__).resolve().parent / "reports" / "bench.md"
BEGIN, END = "<!-- reader:begin -->", "<!-- reader:end -->"


def measure(rounds: int = 3) -> tuple[list[list], dict]:
    from index.backends.local.store import load
    from index.build import Encoder
    from index.read.neural import CONFIG, WEIGHTS_DIR, NeuralReader
    from index.search import Searcher

    settings = Settings()
    index, encoder = load(settings), Encoder.of(settings)
    trained = Searcher(index, encoder, settings, neural=NeuralReader(settings.model_dir))
    features = Searcher(index, encoder, settings, neural=False)
    questions = [q.question for q in load_qa()]
    variants = {"trained reader": (trained, True), "feature reader only": (features, True),
                "answer: false (passages only)": (trained, False)}
    stage: dict[str, list[float]] = {k: [] for k in variants}
    total: dict[str, list[float]] = {k: [] for k in variants}
    for q in questions[:5]:
        for s, with_answer in variants.values():
            s.search(q, with_answer=with_answer)  # warm-up
    for r in range(rounds):
        names = list(variants)
        names = names[r % len(names):] + names[:r % len(names)]
        for q in questions:
            for name in names:
                s, with_answer = variants[name]
                t = s.search(q, with_answer=with_answer).timings_ms
                stage[name].append(t.get("answer", 0.0))
                total[name].append(t["total"])
    rows = [[name, len(total[name]), statistics.median(stage[name]), _p95(stage[name]), statistics.median(total[name]),
             _p95(total[name])] for name in variants]
    config = json.loads((WEIGHTS_DIR / CONFIG).read_text(encoding="utf-8"))
    return rows, config


def _p95(xs: list[float]) -> float:
    return sorted(xs)[int(0.95 * (len(xs) - 1))]


def section(rows: list[list], config: dict) -> str:
    seconds = config.get("seconds", {})
    return "\n".join([
        BEGIN, "## The trained reader: cost", "",
        md_table(["path", "queries", "reader stage p50 (ms)", "p95", "whole query p50 (ms)", "p95"], rows), "",
        f"Reader: {config.get('layers')} layers, {'int8' if config.get('int8') else 'fp32'} ONNX, "
        f"{config.get('candidates')} candidate sentences per question. Training (`{config.get('command')}`): "
        f"{seconds.get('total', '?')} s on this machine's 2 cores ({seconds.get('collect', '?')} s collecting candidates, "
        f"{seconds.get('train', '?')} s training; {config.get('data', {}).get('pairs', '?')} pairs). "
        "Measured by `python -m eval.bench_reader` (run by `make bench`), all three paths interleaved in one run.",
        END, ""])


def write(text: str, path: Path = OUT) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_reader")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    rows, config = measure(args.rounds)
    text = section(rows, config)
    print(text)
    write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
