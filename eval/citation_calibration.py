"""Calibrate index.citations.SUPPORT_THRESHOLD on the QA set's gold evidence.

    python -m eval citations          (writes eval/reports/citations.md)

For every answerable Chinese question a claim is built the way an LLM would state the answer
(the question without its question mark, then the gold answer span). Then:
- supported cases: the claim scored against the passage holding the gold evidence;
- unsupported cases: the claim scored against (a) the top retrieved passages that do not hold
  the evidence (same topic, the hard case) and (b) the gold passage's other sentences alone.
The threshold maximising balanced accuracy on the dev split is chosen; the test split is reported.
"""
from __future__ import annotations

import re
from pathlib import Path

from index.build.chunk import sentence_spans
from index.generate.citations import SupportScorer
from index.text.english import has_chinese

from .metrics import is_hit
from .qa import load_qa

REPORT = Path(__file__).resolve().parent / "reports" / "citations.md"


def claim_of(item) -> str:
    if not has_chinese(item.question):
        # An English answer restates the question's terms; its Chinese answer span would not
        # be in an English answer, so the English question itself stands for the claim.
        return item.question.strip()
    question = re.sub(r"[?？吗呢]+\s*$", "", item.question.strip())
    return f"{question}：{item.answer}。"


class _Sentence:
    """A single sentence posing as a passage (the 'other sentence of the same passage' case)."""

    def __init__(self, passage, start: int, end: int):
        self.source, self.char_start, self.char_end = passage.source, passage.char_start + start, passage.char_start + end
        self.text = passage.text[start:end]


def scores(searcher, items) -> tuple[list[float], list[float]]:
    idx = searcher.index
    scorer = SupportScorer(idx.tokenizer, idx.term_idf)
    pos, neg = [], []
    for item in items:
        claim = claim_of(item)
        gold = [p for p in idx.passages if p.source == item.source and is_hit(p.source, p.text, item)]
        if not gold:
            continue
        pos.append(max(scorer.best(claim, p)[0] for p in gold))
        # other sentences of a gold passage: those not overlapping the answer span
        p = gold[0]
        at = p.text.find(item.answer)
        for s, e in sentence_spans(p.text, 400):
            if at >= 0 and s < at + len(item.answer) and at < e:
                continue
            if p.text[s:e].strip():
                neg.append(scorer.best(claim, _Sentence(p, s, e))[0])
        for hit in searcher.search(item.question, top_k=5, with_answer=False).hits:
            if not is_hit(hit.passage.source, hit.passage.text, item):
                neg.append(scorer.best(claim, hit.passage)[0])
    return pos, neg


def rates(pos: list[float], neg: list[float], t: float) -> tuple[float, float]:
    return (sum(s >= t for s in pos) / len(pos), sum(s < t for s in neg) / len(neg))


def choose(pos: list[float], neg: list[float]) -> float:
    cuts = [round(0.05 * i, 2) for i in range(1, 20)]
    return max(cuts, key=lambda t: (sum(rates(pos, neg, t)), -t))


def run(searcher) -> str:
    text = "# Citation check calibration\n\n" + run_script(searcher, True) + "\n" + run_script(searcher, False)
    REPORT.write_text(text, encoding="utf-8")
    return text


def run_script(searcher, chinese: bool) -> str:
    items = {split: [q for q in load_qa(split=split) if q.answerable and has_chinese(q.question) == chinese]
             for split in ("dev", "test")}
    dev_pos, dev_neg = scores(searcher, items["dev"])
    threshold = choose(dev_pos, dev_neg)
    test_pos, test_neg = scores(searcher, items["test"])
    lines = [f"## {'Chinese' if chinese else 'English (non-Chinese)'} answers", "",
             "`python -m eval citations`. Claim = " + ("question (without its question mark) + gold answer span" if chinese
                                                       else "the English question") + "; supported = "
             "scored against the passage holding the gold evidence; not supported = scored against retrieved top-5 "
             "passages without the evidence and against the gold passage's other sentences alone. "
             "Score = mean of idf-weighted token overlap and character-bigram overlap with the best sentence.", "",
             f"Chosen threshold (max balanced accuracy on dev): **{threshold}**"
             + ("" if chinese else " (SUPPORT_THRESHOLD_FOREIGN; claim = the English question, compared through the "
                                   "glossary's Chinese terms of its words)"), "",
             "| split | supported cases | passing | unsupported cases | failing | balanced accuracy |", "|---|---|---|---|---|---|"]
    for split, (pos, neg) in {"dev": (dev_pos, dev_neg), "test": (test_pos, test_neg)}.items():
        tpr, tnr = rates(pos, neg, threshold)
        lines.append(f"| {split} | {len(pos)} | {tpr:.3f} | {len(neg)} | {tnr:.3f} | {(tpr + tnr) / 2:.3f} |")
    lines += ["", "Sweep on dev:", "", "| threshold | supported passing | unsupported failing |", "|---|---|---|"]
    for t in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
        tpr, tnr = rates(dev_pos, dev_neg, t)
        lines.append(f"| {t} | {tpr:.3f} | {tnr:.3f} |")
    return "\n".join(lines) + "\n"
