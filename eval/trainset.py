"""The reader's training data: written, generated and perturbed questions over the seeds and
over invented documents, each record carrying its provenance.

    python -m eval.trainset check [FILES...]     every rule below, for all files (or the ones named)
    python -m eval.trainset stats                counts by part, provenance, answer type
    python -m eval.trainset clean FILE           a document's clean text (what evidence must match)

Layout (eval/train/):
    seeds/*.jsonl                 questions written over the five seeds
    invented/train/*.txt          invented policy documents the reader may train on
    invented/heldout/*.txt        invented documents it never trains or tunes on (the measure)
    invented/{train,heldout}/questions*.jsonl   questions about them
    generated/*.jsonl             made by `python -m eval.generate_questions` (seeded)

A record is answerable (answer, evidence and source set) or a near miss (all three null). A
near miss made by changing one constraint of an answerable record names it in `of`, with the
slot changed and the value `from` -> `to`; `refusal` is the plain sentence a reader should say.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

TRAIN_DIR = Path(__file__).resolve().parent / "train"
ANSWER_TYPES = ("quantity", "date", "person", "organization", "place", "title", "list", "reason", "method",
                "yesno", "other")
PROVENANCE = ("written", "generated", "perturbed")
SLOTS = ("category", "place", "year", "edition", "programme", "title", "indicator", "ordinal", "period", "other")
PERSONAS = ("researcher", "hr", "resident", "journalist", "official", "student", "enterprise")
# A training question this close to an eval test question (char bigram Jaccard) is a leak.
LEAK_JACCARD = 0.6
# A near miss is suspicious when a sentence holding the swapped-in value also holds this share
# of the question's other content words: it may be answerable after all.
ANSWERABLE_COVERAGE = 0.6


@dataclass
class Record:
    id: str
    question: str
    answer: str | None
    evidence: str | None
    source: str | None
    answer_type: str
    provenance: str
    author: str
    lang: str = "zh"
    persona: str | None = None
    of: str | None = None  # near miss: the answerable record it perturbs
    slot: str | None = None
    from_: str | None = None
    to: str | None = None
    refusal: str | None = None
    extra: dict = field(default_factory=dict)
    file: str = ""

    @property
    def answerable(self) -> bool:
        return self.source is not None

    @classmethod
    def parse(cls, data: dict, file: str) -> "Record":
        known = {"id", "question", "answer", "evidence", "source", "answer_type", "provenance", "author", "lang",
                 "persona", "of", "slot", "from", "to", "refusal"}
        return cls(id=data["id"], question=data["question"], answer=data.get("answer"), evidence=data.get("evidence"),
                   source=data.get("source"), answer_type=data.get("answer_type", "other"),
                   provenance=data["provenance"], author=data["author"], lang=data.get("lang", "zh"),
                   persona=data.get("persona"), of=data.get("of"), slot=data.get("slot"), from_=data.get("from"),
                   to=data.get("to"), refusal=data.get("refusal"),
                   extra={k: v for k, v in data.items() if k not in known}, file=file)


def question_files(root: Path = TRAIN_DIR) -> list[Path]:
    return sorted(root.rglob("*.jsonl"))


def part_of(path: Path, root: Path = TRAIN_DIR) -> str:
    """'seeds', 'invented-train', 'invented-heldout' or 'generated'."""
    rel = path.relative_to(root).parts
    return f"invented-{rel[1]}" if rel[0] == "invented" else rel[0]


def load_records(paths: list[Path] | None = None, root: Path = TRAIN_DIR) -> list[Record]:
    out = []
    for path in paths or question_files(root):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(Record.parse(json.loads(line), str(path.relative_to(root))))
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path.name} line {n}: {err}") from err
    return out


def invented_paths(part: str, root: Path = TRAIN_DIR) -> list[Path]:
    return sorted((root / "invented" / part).glob("*.txt"))


@lru_cache(maxsize=1)
def corpus_texts(root: Path = TRAIN_DIR) -> dict[str, str]:
    """Clean text of every document a record can cite: the seeds and the invented documents,
    cleaned exactly as the index cleans them."""
    from index.config import Settings
    from index.ingest import read_seed, seed_paths

    paths = seed_paths(Settings().seeds_dir) + invented_paths("train", root) + invented_paths("heldout", root)
    return {p.name: read_seed(p).text for p in paths}


_HAN_OR_WORD = re.compile(r"[\w\u3400-\u9fff]")


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\s+|[？?，,。！!“”\"'：:（）()、]", "", text)
    return {text[i:i + 2] for i in range(len(text) - 1)}


def jaccard(a: str, b: str) -> float:
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


@lru_cache(maxsize=1)
def _tokenizer():
    from index.text import Tokenizer

    return Tokenizer()


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。！？；!?;\n])", text) if s.strip()]


def answerable_elsewhere(record: Record, texts: dict[str, str]) -> str | None:
    """A sentence (with its neighbours) anywhere in the corpus that holds the swapped-in value
    and most of the near miss's other content words: the near miss may be answerable there."""
    value = (record.to or "").strip()
    if not value:
        return None
    words = [w for w in dict.fromkeys(_tokenizer().tokenize(record.question.replace(value, " ")))
             if len(w) >= 2 and not w.isdigit()]
    if not words:
        return None
    for source, text in texts.items():
        if value.lower() not in text.lower():
            continue
        sents = _sentences(text)
        for i, s in enumerate(sents):
            if value.lower() not in s.lower():
                continue
            window = "".join(sents[max(0, i - 1):i + 2]).lower()
            share = sum(w in window for w in words) / len(words)
            if share >= ANSWERABLE_COVERAGE:
                return f"{source}: “{s.strip()[:60]}” holds “{value}” and {share:.0%} of the question's words"
    return None


def problems(records: list[Record], texts: dict[str, str], test_questions: list[str] | None = None,
             all_records: list[Record] | None = None) -> list[str]:
    """Every rule a record must keep; empty when the data is sound."""
    out = []
    pool = {r.id: r for r in (all_records or records)}
    ids = Counter(r.id for r in (all_records or records))
    out += [f"duplicate id {i}" for i, n in ids.items() if n > 1 and i in {r.id for r in records}]
    for r in records:
        where = f"{r.file} {r.id}"
        if not r.question.strip():
            out.append(f"{where}: empty question")
        if r.answer_type not in ANSWER_TYPES:
            out.append(f"{where}: answer_type {r.answer_type!r} unknown")
        if r.provenance not in PROVENANCE:
            out.append(f"{where}: provenance {r.provenance!r} unknown")
        if r.lang not in ("zh", "en"):
            out.append(f"{where}: lang must be zh or en")
        if r.persona is not None and r.persona not in PERSONAS:
            out.append(f"{where}: persona {r.persona!r} unknown")
        if r.answerable:
            if r.source not in texts:
                out.append(f"{where}: unknown source {r.source!r}")
            elif not r.answer or not r.evidence or r.answer not in r.evidence:
                out.append(f"{where}: answer is not an exact substring of evidence")
            elif r.evidence not in texts[r.source]:
                out.append(f"{where}: evidence is not an exact substring of {r.source}'s clean text")
            if "heldout" in r.file and r.source and not (TRAIN_DIR / "invented" / "heldout" / r.source).exists():
                out.append(f"{where}: a held-out question must be about a held-out document")
        else:
            if r.answer or r.evidence:
                out.append(f"{where}: a near miss has no answer/evidence/source")
            if r.of is not None:
                if r.of not in pool:
                    out.append(f"{where}: perturbs unknown record {r.of!r}")
                elif not pool[r.of].answerable:
                    out.append(f"{where}: perturbs a record that is not answerable")
                if r.slot not in SLOTS:
                    out.append(f"{where}: slot {r.slot!r} unknown")
                if not r.from_ or not r.to or r.from_ == r.to:
                    out.append(f"{where}: a perturbation needs distinct from/to")
                elif r.to not in r.question:
                    out.append(f"{where}: the question does not contain the swapped-in value {r.to!r}")
                elif r.of in pool and r.from_ not in pool[r.of].question:
                    out.append(f"{where}: the original question does not contain {r.from_!r}")
                else:
                    reason = answerable_elsewhere(r, texts)
                    if reason:
                        out.append(f"{where}: may be answerable: {reason}")
            if not r.refusal:
                out.append(f"{where}: a near miss needs its refusal sentence")
        if test_questions and r.lang == "zh":
            near = max(test_questions, key=lambda q: jaccard(q, r.question))
            if jaccard(near, r.question) >= LEAK_JACCARD:
                out.append(f"{where}: too close to an eval test question ({near})")
    return out


def test_split_questions() -> list[str]:
    from .qa import load_qa

    return [q.question for q in load_qa(split="test")]


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    everything = load_records()
    if cmd == "clean":
        from index.ingest import read_seed

        print(read_seed(Path(argv[1])).text)
        return 0
    if cmd == "stats":
        print(json.dumps(stats(everything), ensure_ascii=False, indent=1))
        return 0
    chosen = load_records([Path(a).resolve() for a in argv[1:]]) if len(argv) > 1 else everything
    found = problems(chosen, corpus_texts(), test_split_questions(), everything)
    for p in found:
        print(p)
    print(f"{len(chosen)} records, {len(found)} problems")
    return 1 if found else 0


def stats(records: list[Record]) -> dict:
    return {
        "records": len(records),
        "by_file": dict(Counter(r.file for r in records)),
        "answerable": sum(r.answerable for r in records),
        "near_misses": sum(not r.answerable for r in records),
        "by_provenance": dict(Counter(r.provenance for r in records)),
        "by_answer_type": dict(Counter(r.answer_type for r in records if r.answerable)),
        "by_slot": dict(Counter(r.slot for r in records if not r.answerable)),
        "english": sum(r.lang == "en" for r in records),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
