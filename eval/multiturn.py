"""Follow-up questions (eval/followups/*.jsonl): a previous question, a follow-up that needs it,
and the follow-up's gold answer and evidence (exact spans of the clean text).

    python -m eval followups      hit@5 of the follow-up as asked, rewritten by rule, and the
                                  standalone question it stands for (writes eval/reports/followups.md)

Kept apart from eval/qa/ (single questions) because the schema differs: `history` holds the
earlier user questions, oldest first; `base` names the single-question item it was made from.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import is_hit

FOLLOWUP_DIR = Path(__file__).resolve().parent / "followups"
REPORT = Path(__file__).resolve().parent / "reports" / "followups.md"
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class FollowupItem:
    id: str
    history: list[str] = field(hash=False)
    question: str
    answer: str
    evidence: str
    source: str
    split: str
    base: str | None = None

    answerable = True  # is_hit() reads it: every follow-up here has an answer
    kind = "followup"


def load_followups(folder: Path = FOLLOWUP_DIR, split: str | None = None) -> list[FollowupItem]:
    items = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    items.append(FollowupItem(**json.loads(line)))
                except (ValueError, TypeError) as err:
                    raise ValueError(f"{path.name} line {n}: {err}") from err
    return [q for q in items if split in (None, "all", q.split)]


def problems(items: list[FollowupItem], texts: dict[str, str]) -> list[str]:
    out = [f"duplicate id {i}" for i, n in Counter(q.id for q in items).items() if n > 1]
    for q in items:
        if q.split not in SPLITS:
            out.append(f"{q.id}: split {q.split!r} unknown")
        if not q.question.strip() or not q.history or not all(h.strip() for h in q.history):
            out.append(f"{q.id}: empty question or history")
        if q.source not in texts:
            out.append(f"{q.id}: unknown source {q.source!r}")
        elif not q.answer or q.answer not in q.evidence:
            out.append(f"{q.id}: answer is not inside evidence")
        elif q.evidence not in texts[q.source]:
            out.append(f"{q.id}: evidence is no longer an exact span of {q.source}'s clean text")
    return out


def hit_at(searcher, question: str, item: FollowupItem, k: int = 5) -> bool:
    hits = searcher.search(question, top_k=k, with_answer=False).hits
    return any(is_hit(h.passage.source, h.passage.text, item) for h in hits)


def evaluate(searcher, items: list[FollowupItem], base_questions: dict[str, str]) -> dict[str, dict[str, float]]:
    from index.generate.followup import rewrite_conversation

    rows: dict[str, dict[str, float]] = {}
    for split in ("dev", "test", "all"):
        chosen = [q for q in items if split in ("all", q.split)]
        if not chosen:
            continue
        asked = [hit_at(searcher, q.question, q) for q in chosen]
        rewritten = [hit_at(searcher, rewrite_conversation(q.history + [q.question], searcher.index.term_idf), q) for q in chosen]
        concat = [hit_at(searcher, " ".join(q.history + [q.question]), q) for q in chosen]
        standalone = [hit_at(searcher, base_questions[q.base], q) for q in chosen if q.base in base_questions]
        rows[split] = {"n": len(chosen), "as asked": sum(asked) / len(chosen), "rewritten (rule)": sum(rewritten) / len(chosen),
                       "history + question": sum(concat) / len(chosen),
                       "standalone original": sum(standalone) / len(standalone) if standalone else float("nan")}
    return rows


def report(rows: dict[str, dict[str, float]], examples: list[tuple[str, str, str]]) -> str:
    cols = ("as asked", "rewritten (rule)", "history + question", "standalone original")
    lines = ["# Follow-up questions: hybrid hit@5", "",
             "`python -m eval followups`. Each case: a previous question, a follow-up that leans on it, and the "
             "follow-up's gold evidence. *as asked*: the follow-up alone (no rewriting); *rewritten (rule)*: "
             "index/generate/followup.py's rule, what the service does without an LLM; *history + question*: the previous "
             "question and the follow-up simply concatenated (a naive baseline); *standalone original*: the "
             "single question of the QA set the case was made from (the ceiling). The LLM rewrite is not "
             "measured here: no LLM runs on this machine.", "",
             "| split | n | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for split, r in rows.items():
        lines.append(f"| {split} | {r['n']:.0f} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    lines += ["", "Rewrites (first cases):", "", "| previous | follow-up | rewritten |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in examples]
    return "\n".join(lines) + "\n"


def run(searcher) -> str:
    from index.generate.followup import rewrite_conversation

    from .qa import load_qa

    items = load_followups()
    base = {q.id: q.question for q in load_qa()}
    rows = evaluate(searcher, items, base)
    examples = [(q.history[-1], q.question, rewrite_conversation(q.history + [q.question], searcher.index.term_idf))
                for q in items[:12]]
    text = report(rows, examples)
    REPORT.write_text(text, encoding="utf-8")
    return text
