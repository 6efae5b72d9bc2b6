"""Citation check of a generated answer: does each sentence's [n] passage really say it?

The answer is split into sentences; each sentence's [n] markers name passages (1-based, in
the order they were given to the LLM). For every cited passage the sentence of that passage
that best supports the answer sentence is found by lexical overlap (idf-weighted jieba tokens
plus character bigrams, the same measures the extractive answer uses); the sentence is
`supported` when that overlap reaches SUPPORT_THRESHOLD. Each citation resolves to its
supporting sentence's offsets in the document's clean text, so a click lands on it.

No web or model dependencies: the service and the eval both call `check`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.build.chunk import sentence_spans
from index.text.english import has_chinese, to_chinese_terms

# Calibrated on the eval dev split by `python -m eval citations` (eval/citation_calibration.py):
# a claim built from each question and its gold answer, scored against the gold evidence
# sentence's passage (supported) and against retrieved passages without the evidence and the
# gold passage's other sentences (not supported). 0.35 maximised balanced accuracy on dev
# (dev: 0.952 of gold citations pass, 0.948 of wrong ones fail; test 0.916 / 0.951); see eval/reports/citations.md.
SUPPORT_THRESHOLD = 0.35
# The same for sentences without Chinese (an English answer): compared through the glossary's
# Chinese terms of its words; calibrated on the English questions' gold evidence (the question
# standing for the claim): 0.3 maximised balanced accuracy on dev (0.789 pass / 0.791 fail) but on
# test only 0.533 of true citations pass (0.847 of wrong ones fail): the English check is weak.
SUPPORT_THRESHOLD_FOREIGN = 0.3

# [1], [1][2], [1, 2], 【1】, ［1］
MARKER = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】］]")
_ONLY_MARKERS = re.compile(r"^(?:\s|[。．.!！?？;；,，、:：]|" + MARKER.pattern + r")*$")
MAX_SENTENCE = 400


def lexical_overlap(claim_tokens: list[str], sentence_tokens: set[str], idf) -> float:
    """Share of the claim's idf mass that the sentence contains."""
    total = sum(idf(t) for t in set(claim_tokens))
    return sum(idf(t) for t in set(claim_tokens) if t in sentence_tokens) / total if total else 0.0


def bigram_overlap(claim: str, sentence: str) -> float:
    """Share of the claim's character bigrams found in the sentence: catches words jieba cut differently."""
    grams = {claim[i : i + 2] for i in range(len(claim) - 1)} - {"  "}
    return sum(g in sentence for g in grams) / len(grams) if grams else 0.0


@dataclass
class Evidence:
    n: int  # the citation number as written
    source: str
    char_start: int  # the supporting sentence, offsets into the document's clean text
    char_end: int
    score: float


@dataclass
class CheckedSentence:
    text: str  # the sentence without its [n] markers
    citations: list[int]
    supported: bool
    source: str | None = None  # the best supporting sentence among the cited passages
    char_start: int | None = None
    char_end: int | None = None
    score: float = 0.0
    problem: str | None = None  # why it is not supported, in plain words
    evidence: list[Evidence] = field(default_factory=list)  # one per valid citation


def citations_in(text: str) -> list[int]:
    out: list[int] = []
    for m in MARKER.finditer(text):
        for part in re.split(r"[,，、]", m.group(1)):
            n = int(part)
            if n not in out:
                out.append(n)
    return out


def strip_markers(text: str) -> str:
    return re.sub(r"\s+([。．.!！?？;；])", r"\1", MARKER.sub("", text)).strip()


_LATIN_END = re.compile(r"([.!?](?:\s*" + MARKER.pattern + r")*)[ \t]+(?=[A-Z0-9\"“(])")


def split_sentences(text: str) -> list[tuple[str, list[int]]]:
    """(sentence text with its markers, its citations). Markers written after the full stop
    ("…共享。[1]") belong to the sentence before them."""
    # English sentences end at ". " followed by a capital; chunk.sentence_spans knows only CJK stops.
    text = _LATIN_END.sub(lambda m: m.group(1) + "\n", text)
    out: list[tuple[str, list[int]]] = []
    for s, e in sentence_spans(text, MAX_SENTENCE):
        piece = text[s:e].strip()
        if not piece:
            continue
        if _ONLY_MARKERS.match(piece):
            if out:
                prev, cites = out[-1]
                out[-1] = (prev + piece, cites + [n for n in citations_in(piece) if n not in cites])
            continue
        # A piece starting with markers ("[1] 而且…" after a split) hands them to the sentence before.
        lead = re.match(r"^(?:\s*" + MARKER.pattern + r")+", piece)
        if lead and out:
            prev, cites = out[-1]
            out[-1] = (prev + lead.group(0), cites + [n for n in citations_in(lead.group(0)) if n not in cites])
            piece = piece[lead.end():].strip()
            if not piece or _ONLY_MARKERS.match(piece):
                continue
        out.append((piece, citations_in(piece)))
    return out


class SupportScorer:
    """Scores claims against passage sentences; caches each passage's tokenized sentences."""

    MAX_CACHED = 20_000  # passages; a bound so a long-running server's cache cannot grow without end

    def __init__(self, tokenizer, idf):
        self.tokenizer = tokenizer
        self.idf = idf
        self._sentences: dict[tuple[str, int, int], list[tuple[int, int, str, set[str]]]] = {}

    def passage_sentences(self, passage) -> list[tuple[int, int, str, set[str]]]:
        """(char_start, char_end in the document, text, tokens) of each sentence of a passage."""
        key = (passage.source, passage.char_start, passage.char_end)
        rows = self._sentences.get(key)
        if rows is None:
            rows = []
            for s, e in sentence_spans(passage.text, MAX_SENTENCE):
                text = passage.text[s:e]
                lead = len(text) - len(text.lstrip())
                text = text.strip()
                if text:
                    start = passage.char_start + s + lead
                    rows.append((start, start + len(text), text, set(self.tokenizer.tokenize(text))))
            if len(self._sentences) >= self.MAX_CACHED:
                self._sentences.clear()
            self._sentences[key] = rows  # one dict assignment: safe across threadpool threads
        return rows

    def claim(self, sentence: str) -> tuple[str, list[str]]:
        """The claim's comparable text and tokens; an English sentence is compared through
        the Chinese glossary terms of its words (the documents are Chinese)."""
        if has_chinese(sentence):
            return sentence, self.tokenizer.tokenize(sentence)
        terms = to_chinese_terms(sentence)
        joined = "".join(terms)
        return joined, self.tokenizer.tokenize(" ".join(terms)) if terms else []

    def score(self, claim_text: str, claim_tokens: list[str], sentence_text: str, sentence_tokens: set[str]) -> float:
        """0..1: the mean of idf-weighted token overlap and character-bigram overlap."""
        if not claim_text:
            return 0.0
        return 0.5 * lexical_overlap(claim_tokens, sentence_tokens, self.idf) + 0.5 * bigram_overlap(claim_text, sentence_text)

    def best(self, sentence: str, passage) -> tuple[float, int, int]:
        """(score, char_start, char_end) of the passage sentence that best supports `sentence`."""
        claim_text, claim_tokens = self.claim(sentence)
        best = (0.0, passage.char_start, passage.char_end)
        for start, end, text, tokens in self.passage_sentences(passage):
            s = self.score(claim_text, claim_tokens, text, tokens)
            if s > best[0]:
                best = (s, start, end)
        return best


def check(answer: str, passages: list, scorer: SupportScorer, threshold: float | None = None) -> list[CheckedSentence]:
    """Check every sentence of `answer` against the passages it cites ([1] = passages[0]).
    `threshold` overrides the calibrated one (per script of the sentence) when given."""
    out = []
    for raw, cites in split_sentences(answer):
        text = strip_markers(raw)
        cut = threshold if threshold is not None else SUPPORT_THRESHOLD if has_chinese(text) else SUPPORT_THRESHOLD_FOREIGN
        sentence = CheckedSentence(text=text, citations=cites, supported=False)
        out.append(sentence)
        if not cites:
            sentence.problem = "cites no passage"
            continue
        invalid = [n for n in cites if not 1 <= n <= len(passages)]
        for n in cites:
            if n in invalid:
                continue
            score, start, end = scorer.best(text, passages[n - 1])
            sentence.evidence.append(Evidence(n, passages[n - 1].source, start, end, round(score, 4)))
        if sentence.evidence:
            top = max(sentence.evidence, key=lambda ev: ev.score)
            sentence.source, sentence.char_start, sentence.char_end, sentence.score = top.source, top.char_start, top.char_end, top.score
        if invalid:
            listed = ", ".join(f"[{n}]" for n in invalid)
            sentence.problem = f"cites {listed}, but only {len(passages)} passages were given"
        elif sentence.score < cut:
            sentence.problem = f"the cited passage does not say this (overlap {sentence.score:.2f} < {cut})"
        else:
            sentence.supported = True
    return out
