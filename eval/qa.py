"""The question/answer set: questions written from the five documents, with exact spans."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

QA_DIR = Path(__file__).resolve().parent / "qa"
# "list": the answer is the measures/items a question asks for, often 2-3 consecutive sentences.
KINDS = ("factual", "paraphrase", "why_how", "list", "english", "unanswerable")
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    answer: str | None  # shortest exact span of the clean text that answers
    evidence: str | None  # a longer exact span containing `answer`
    source: str | None  # seed file name; None when the documents do not answer
    kind: str
    split: str

    @property
    def answerable(self) -> bool:
        return self.source is not None


def load_qa(folder: Path = QA_DIR, split: str | None = None) -> list[QAItem]:
    items = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    items.append(QAItem(**json.loads(line)))
                except (ValueError, TypeError) as err:
                    raise ValueError(f"{path.name} line {n}: {err}") from err
    return [q for q in items if split in (None, "all", q.split)]


def problems(items: list[QAItem], texts: dict[str, str]) -> list[str]:
    """Every way the set can rot: spans that no longer match the clean text, bad labels."""
    out = []
    ids = Counter(q.id for q in items)
    out += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    for q in items:
        if q.kind not in KINDS or q.split not in SPLITS:
            out.append(f"{q.id}: kind {q.kind!r} / split {q.split!r} unknown")
        if not q.question.strip():
            out.append(f"{q.id}: empty question")
        if q.kind == "unanswerable":
            if q.answerable or q.answer or q.evidence:
                out.append(f"{q.id}: unanswerable but has a source/answer/evidence")
            continue
        if q.source not in texts:
            out.append(f"{q.id}: unknown source {q.source!r}")
        elif not q.answer or not q.evidence or q.answer not in q.evidence:
            out.append(f"{q.id}: answer is not inside evidence")
        elif q.evidence not in texts[q.source]:
            out.append(f"{q.id}: evidence is no longer an exact span of {q.source}'s clean text")
    return out
