"""Questions generated from the documents' structure, and near misses made from them.

    python -m eval.generate_questions [--seed 7]     writes eval/train/generated/*.jsonl

Two structures give qualifier -> value questions without a person writing them:
- parallel clauses: "本科毕业生每人补贴8000元,硕士研究生每人补贴1.5万元,博士研究生…" — clauses that start
  with different words, go on with the same word and hold an amount: each clause becomes
  "按照《title》,硕士研究生每人补贴多少?" with its own amount as the answer;
- table rows (tab-separated, a header line first): the row's label and a column's header make
  "《title》中,<row label>的<column>是多少?" with the cell as the answer.

Near misses swap the qualifier for one the document never gives: another clause head seen in
the corpus but not in this document, or a column header with another year. Each near miss is
checked against the whole corpus (eval.trainset.answerable_elsewhere) and dropped if some
sentence could answer it. Only the seeds and the invented training documents are read; the
held-out documents never are.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

from index.build.sentences import QUANTITY
from index.read.qualifiers import CLAUSES, NOT_CATEGORY_HEADS
from index.text import tag

from .trainset import TRAIN_DIR, Record, answerable_elsewhere, corpus_texts, invented_paths

OUT = TRAIN_DIR / "generated"
AUTHOR = "eval.generate_questions"
_SENTENCE = re.compile(r"[^。!?！？;；\n]+[。!?！？;；]?")
_YEAR = re.compile(r"(?:19|20)\d{2}")


def parallel_clauses(sentence: str) -> tuple[str, list[tuple[str, str, int, int]]]:
    """The word the clauses share, and (head, clause, amount start, amount end) of clauses that share their second word and hold
    one amount; offsets inside the sentence. Fewer than two such clauses: none."""
    groups: dict[str, list] = {}
    pos = 0
    for clause in CLAUSES.split(sentence):
        start = sentence.find(clause, pos)
        pos = start + len(clause)
        words = [(w, f) for w, f in tag(clause) if w.strip()]
        amounts = list(QUANTITY.finditer(clause))
        if len(words) < 3 or len(amounts) != 1 or words[0][1].startswith(NOT_CATEGORY_HEADS) or len(words[0][0]) < 2:
            continue
        lead = len(clause) - len(clause.lstrip())
        if not clause.lstrip().startswith(words[0][0]):
            continue
        m = amounts[0]
        groups.setdefault(words[1][0], []).append((words[0][0], clause.strip(), start + m.start(), start + m.end(), lead))
    shared, best = max(groups.items(), key=lambda kv: len(kv[1]), default=("", []))
    heads = {g[0] for g in best}
    return shared, ([(h, c, s, e) for h, c, s, e, _ in best] if len(best) >= 2 and len(heads) == len(best) else [])


def table_rows(text: str) -> list[tuple[list[str], list[str], str]]:
    """(header cells, row cells, row line) of tab-separated blocks whose first line is a header."""
    out, block = [], []
    for line in text.split("\n") + [""]:
        if "\t" in line:
            block.append(line)
            continue
        if len(block) >= 2:
            header = block[0].split("\t")
            for row in block[1:]:
                cells = row.split("\t")
                names = [h.strip() for h in header]
                # a label that names the row (not a rank number) and headers that name one column each
                if len(cells) == len(header) and re.search(r"[^\d\s.]", cells[0]) and len(set(names)) == len(names):
                    out.append((header, cells, row))
        block = []
    return out


def generate(texts: dict[str, str], titles: dict[str, str], sources: list[str], rng: random.Random) -> list[dict]:
    records: list[dict] = []
    heads_by_slot: dict[str, set[str]] = {}  # clause heads seen before the same shared word (毕业生: 本科, 硕士…)
    per_doc: dict[str, list] = {}
    for source in sources:
        text = texts[source]
        found = []
        for m in _SENTENCE.finditer(text):
            sentence = m.group().strip()
            shared, clauses = parallel_clauses(sentence)
            for head, clause, a, b in clauses:
                found.append((sentence, head, clause, sentence[a:b], shared))
                heads_by_slot.setdefault(shared, set()).add(head)
        per_doc[source] = (titles[source], found)
    n = 0
    for source in sources:
        title, found = per_doc[source]
        text = texts[source]
        for sentence, head, clause, amount, shared in found:
            if amount not in clause or text.count(sentence) != 1:
                continue
            question = clause.replace(amount, "多少", 1).rstrip("。;；,，") + "?"
            n += 1
            rid = f"g-{source[:3]}-{n:04d}"
            records.append({"id": rid, "question": f"按照《{title}》,{question}", "answer": amount, "evidence": sentence,
                            "source": source, "answer_type": "quantity", "lang": "zh", "provenance": "generated",
                            "author": AUTHOR})
            siblings = [p[1] for p in found if p[0] == sentence]
            absent = sorted(h for h in heads_by_slot[shared] if h not in text)
            if absent:
                other = rng.choice(absent)
                listed = "、".join(siblings)
                records.append({"id": rid + "-n1", "question": f"按照《{title}》,{question.replace(head, other, 1)}",
                                "answer": None, "evidence": None, "source": None, "answer_type": "quantity",
                                "lang": "zh", "of": rid, "slot": "category", "from": head, "to": other,
                                "refusal": f"文件只列出{listed},未提到“{other}”。", "provenance": "perturbed",
                                "author": AUTHOR})
        for header, cells, row in table_rows(text):
            label = cells[0].strip()
            if not label or text.count(row) != 1:
                continue
            for col in range(1, len(header)):
                cell, name = cells[col].strip(), header[col].strip()
                if not cell or not name or not QUANTITY.search(cell + "个") and not re.search(r"\d", cell):
                    continue
                n += 1
                rid = f"g-{source[:3]}-{n:04d}"
                question = f"《{title}》中,{label}的{name}是多少?"
                records.append({"id": rid, "question": question, "answer": cell, "evidence": row, "source": source,
                                "answer_type": "quantity", "lang": "zh", "provenance": "generated", "author": AUTHOR})
                year = _YEAR.search(name)
                if year:
                    years = {y for h in header for y in _YEAR.findall(h)}
                    later = str(max(int(y) for y in years) + 5)
                    other = name.replace(year.group(), later, 1)
                    records.append({"id": rid + "-n1", "question": question.replace(name, other, 1), "answer": None,
                                    "evidence": None, "source": None, "answer_type": "quantity", "lang": "zh",
                                    "of": rid, "slot": "year", "from": name, "to": other,
                                    "refusal": f"表中只有{'、'.join(h for h in header[1:] if h.strip())},没有“{other}”。",
                                    "provenance": "perturbed", "author": AUTHOR})
    return records


def keep_sound(records: list[dict], texts: dict[str, str]) -> list[dict]:
    """Drop near misses that some sentence of the corpus could answer, and those whose original is gone."""
    kept, ids = [], set()
    for r in records:
        if r["answer"] is None:
            rec = Record.parse(r, "generated")
            if r["of"] not in ids or answerable_elsewhere(rec, texts):
                continue
        kept.append(r)
        ids.add(r["id"])
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.generate_questions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    texts = corpus_texts()
    heldout = {p.name for p in invented_paths("heldout")}
    sources = sorted(s for s in texts if s not in heldout)
    from index.config import Settings
    from index.ingest import read_seed

    paths = {p.name: p for p in sorted(Settings().seeds_dir.glob("*.txt")) + invented_paths("train")}
    titles = {s: read_seed(paths[s]).title for s in sources}
    records = keep_sound(generate(texts, titles, sources, rng), texts)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "structure.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{path}: {sum(r['answer'] is not None for r in records)} questions, "
          f"{sum(r['answer'] is None for r in records)} near misses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
