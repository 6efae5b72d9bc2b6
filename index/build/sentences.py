"""Sentence-level evidence (small-to-big): every passage split into sentences, each embedded.

A sentence is stored once per document even when overlapping passages share it; each
passage lists its sentences. Offsets index into the document's clean text, like passages.
The arrays are written as .npy files in the build folder and memory-mapped at load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.build.chunk import Passage, sentence_spans
from index.ingest.clean import HEADING_PATTERNS, heading_level
from index.text.names import is_org_name, tag

MAX_SENTENCE = 160  # longer sentences are cut into clauses
MIN_SENTENCE = 4
FILES = ("sentence_offsets.npy", "sentence_vectors.npy", "sentence_kinds.npy", "passage_sentences.npy",
         "passage_sentence_ptr.npy")

# Kinds of content a sentence holds, as bits: what an answer of each type needs to find.
KIND_BITS = {"quantity": 1, "date": 2, "person": 4, "organization": 8, "place": 16, "title": 32, "heading": 64}

_NUMBER = r"(?:\d+(?:[.,]\d+)*|[零〇一二两三四五六七八九十百千万亿半]+)"
QUANTITY = re.compile(
    _NUMBER + r"\s*(?:%|％|‰|万亿|亿元|万元|千元|元|亿|万|余|多)?\s*"
    # longest unit first: the first alternative that fits wins (18个月, not 18个)
    r"(?:元|个工作日|工作日|个百分点|百分点|个季度|个月|个|项|家|名|人次|人年(?![满龄底内度初末])|人|位|所|座|套|次|倍|批|类|条|期|年|月|天|日|小时"
    r"|平方公里|平方米|公里|米|亩|公顷|吨|户|万人|%|成|篇|本|场|份|张|台|栋|周岁|岁|美元|欧元|港元|港币|日元|英镑)"
    r"|\d+(?:\.\d+)?\s*(?:%|％)|百分之[零一二三四五六七八九十百点\d]+"
    r"|\d+(?:\.\d+)?\s*分(?![之钟])"  # a score (得分100分), in digits: 十分 is "very"
    r"|\d+(?:\.\d+)?\s*多?\s*(?:万亿|亿|万)"  # a count without its unit (人口1.53亿, 少400多万)
    r"|(?<![\d/])\d{1,2}\s*/\s*\d{1,3}(?![\d/]|\s*强)")  # a fraction (1/4以上的工业增加值), not a rank band (100/200强)
DATE = re.compile(r"(?:19|20)\d{2}\s*年?\s*(?:-|~|～|—|–|至|到)\s*(?:19|20)\d{2}\s*年"  # a span of years, whole
                  r"|(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?|\d{1,2}\s*月\s*\d{1,2}\s*日"
                  r"|\d{1,2}\s*月(?:初|中旬|上旬|下旬|底|末|中)"
                  r"|[一二三四五六七八九十〇零]{4}年|(?:19|20)\d{2}[-./]\d{1,2}(?:[-./]\d{1,2})?(?![\d.]|\s*[万亿千百%％元人名个项])"
                  r"|(?<![\d.])(?:1[0-2]|[1-9])\s*月份?(?![\d个])"  # a month alone: 每年3月和9月
                  r"|(?:春节|元旦|国庆|五一|中秋|端午|清明)节?(?:前后|之前|以前|期间|前|后)")  # a holiday's time: 春节前后
TITLE = re.compile(r"《[^《》\n]{2,60}》")


@dataclass(frozen=True)
class Sentence:
    id: int
    source: str
    char_start: int
    char_end: int
    text: str
    kinds: int  # KIND_BITS

    def has(self, kind: str) -> bool:
        return bool(self.kinds & KIND_BITS.get(kind, 0))

    @property
    def is_heading(self) -> bool:
        return self.has("heading")


def split_passage(p: Passage) -> list[tuple[int, int]]:
    """Sentences of a passage as (start, end) offsets into its document, whitespace trimmed."""
    out = []
    for s, e in sentence_spans(p.text, MAX_SENTENCE, MAX_SENTENCE // 2):
        piece = p.text[s:e]
        lead = len(piece) - len(piece.lstrip())
        text = piece.strip()
        if len(text) >= MIN_SENTENCE:
            out.append((p.char_start + s + lead, p.char_start + s + lead + len(text)))
    return out


def kinds_of(text: str, tags: list[tuple[str, str]]) -> int:
    """The KIND_BITS of a sentence, from patterns (numbers, dates, titles) and jieba POS tags."""
    bits = 0
    if QUANTITY.search(text):
        bits |= KIND_BITS["quantity"]
    if DATE.search(text):
        bits |= KIND_BITS["date"]
    if TITLE.search(text):
        bits |= KIND_BITS["title"]
    flags = {f for _, f in tags}
    if "nr" in flags:
        bits |= KIND_BITS["person"]
    if "nt" in flags or any(f.startswith("n") and is_org_name(w) for w, f in tags):
        bits |= KIND_BITS["organization"]
    if "ns" in flags:
        bits |= KIND_BITS["place"]
    if heading_level(text) is not None and len(text) <= 40 and not runs_on(text):
        bits |= KIND_BITS["heading"]
    return bits


def runs_on(text: str) -> bool:
    """A numbered line that runs on into its provision (第七条本细则自2026年3月1日起施行,有效期5年。): it ends a
    sentence and, past its marker, carries a figure or a clause break. It is read as a sentence, not as a
    heading (第五条人才公寓。 and 十八、推进职业技能等级互认。 stay headings)."""
    marker = next((m for _, p in HEADING_PATTERNS if (m := p.match(text))), None)
    body = text[marker.end():] if marker else text
    return text.rstrip()[-1:] in "。;；!！?？" and re.search(r"\d|[,，;；:：]", body.rstrip("。;；!！?？")) is not None


@dataclass
class SentenceTable:
    """All sentences of an index. offsets[i] = (document number, start, end); a passage's
    sentences are ids[ptr[p]:ptr[p+1]]."""

    sources: list[str]  # document number -> source
    offsets: np.ndarray  # int64 [n, 3]
    kinds: np.ndarray  # uint8 [n]
    vectors: np.ndarray  # float32 [n, dim], memory-mapped when loaded
    ptr: np.ndarray  # int64 [passages + 1]
    ids: np.ndarray  # int64

    @property
    def size(self) -> int:
        return len(self.offsets)

    def of_passages(self, passage_ids) -> np.ndarray:
        """Sentence ids of the given passages, in passage order, each once."""
        out = [self.ids[self.ptr[p]:self.ptr[p + 1]] for p in passage_ids]
        ids = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
        _, first = np.unique(ids, return_index=True)
        return ids[np.sort(first)]

    def best_similarity(self, passage_ids: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """For each passage, the highest dense similarity of one of its sentences to the query."""
        counts = self.ptr[passage_ids + 1] - self.ptr[passage_ids]
        rows = np.concatenate([self.ids[self.ptr[p]:self.ptr[p + 1]] for p in passage_ids]) if len(passage_ids) else []
        sims = np.asarray(self.vectors[rows] @ qvec) if len(rows) else np.zeros(0)
        out = np.full(len(passage_ids), -1.0)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        nonempty = counts > 0
        out[nonempty] = np.maximum.reduceat(sims, starts[nonempty]) if nonempty.any() else out[nonempty]
        return out

    def sentence(self, i: int, documents: dict) -> Sentence:
        doc, start, end = (int(x) for x in self.offsets[i])
        source = self.sources[doc]
        return Sentence(int(i), source, start, end, documents[source].text[start:end], int(self.kinds[i]))

    def previous(self, i: int, documents: dict) -> str:
        """The text of the sentence before sentence i in its document ('' at the start)."""
        doc, start, _ = (int(x) for x in self.offsets[i])
        if i == 0 or int(self.offsets[i - 1][0]) != doc or int(self.offsets[i - 1][2]) > start:
            return ""
        return documents[self.sources[doc]].text[int(self.offsets[i - 1][1]):int(self.offsets[i - 1][2])]

    def save(self, folder: Path) -> None:
        np.save(folder / "sentence_offsets.npy", self.offsets)
        np.save(folder / "sentence_vectors.npy", np.ascontiguousarray(self.vectors, dtype=np.float32))
        np.save(folder / "sentence_kinds.npy", self.kinds)
        np.save(folder / "passage_sentences.npy", self.ids)
        np.save(folder / "passage_sentence_ptr.npy", self.ptr)

    @classmethod
    def load(cls, folder: Path, sources: list[str]) -> "SentenceTable":
        def mapped(name: str) -> np.ndarray:
            # A plain ndarray view of the mapping: indexing an np.memmap costs a subclass object per call.
            return np.asarray(np.load(folder / name, mmap_mode="r"))

        table = cls(sources, mapped("sentence_offsets.npy"), mapped("sentence_kinds.npy"), mapped("sentence_vectors.npy"),
                    np.load(folder / "passage_sentence_ptr.npy"), mapped("passage_sentences.npy"))
        if not (len(table.offsets) == len(table.kinds) == len(table.vectors)):
            raise ValueError(f"sentence files disagree: {len(table.offsets)} offsets, {len(table.kinds)} kinds, "
                             f"{len(table.vectors)} vectors")
        if len(table.ids) and (table.ids.max() >= len(table.offsets) or table.ptr[-1] != len(table.ids)):
            raise ValueError("passage_sentences.npy points past the sentence table")
        return table


@dataclass(frozen=True)
class NewSentence:
    """A sentence met for the first time, as a backend stores it."""

    id: int
    source: str
    char_start: int
    char_end: int
    text: str
    kinds: int  # KIND_BITS
    prev_text: str  # the sentence before it in its document ('' at the start)


class SentenceSplitter:
    """The one sentence-row builder: the sentences of passages that arrive in document order (a build
    and an upload stream them so), split and typed. A sentence shared by overlapping passages is given
    once, by the first passage that holds it; each passage lists the ids of all its sentences.
    `sentence_id(source, start, end)` names a sentence (None: numbered 0, 1, ... as met, the local
    table's row numbers); `userdict` is the build's jieba user dictionary, for the POS tags."""

    def __init__(self, userdict, sentence_id=None):
        self.userdict = tuple(userdict)
        self.sentence_id = sentence_id
        self._source = ""
        self._seen: dict[tuple[int, int], int] = {}  # this document's sentences: (start, end) -> id
        self._last: list[tuple[int, int, str]] = []  # the previous passage's sentences, same document
        self._count = 0

    def split(self, passages: list[Passage]) -> tuple[list[list[int]], list[NewSentence]]:
        """(the sentence ids of each passage, the sentences none of the earlier passages held)."""
        per_passage: list[list[int]] = []
        new: list[NewSentence] = []
        for p in passages:
            if p.source != self._source:
                self._source, self._seen, self._last = p.source, {}, []
            spans = [(s, e, p.text[s - p.char_start:e - p.char_start]) for s, e in split_passage(p)]
            ids = []
            for j, (s, e, text) in enumerate(spans):
                if (s, e) not in self._seen:
                    self._seen[(s, e)] = self._next_id(p.source, s, e)
                    before = [t for _, pe, t in (spans[:j] if j else self._last) if pe <= s]
                    new.append(NewSentence(self._seen[(s, e)], p.source, s, e, text,
                                           kinds_of(text, tag(text, self.userdict)), before[-1] if before else ""))
                ids.append(self._seen[(s, e)])
            per_passage.append(ids)
            self._last = spans
        return per_passage, new

    def _next_id(self, source: str, start: int, end: int) -> int:
        if self.sentence_id is not None:
            return self.sentence_id(source, start, end)
        self._count += 1
        return self._count - 1


class TableBuilder:
    """The local index's sentence table, gathered from the splitter's output batch by batch."""

    def __init__(self, sources: list[str], dim: int):
        self.doc_no = {s: i for i, s in enumerate(sources)}
        self.sources = sources
        self.dim = dim
        self.offsets: list[tuple[int, int, int]] = []
        self.kinds: list[int] = []
        self.vectors: list[np.ndarray] = []
        self.ptr = [0]
        self.ids: list[int] = []

    def add(self, per_passage: list[list[int]], new: list[NewSentence], vectors: np.ndarray | None = None) -> None:
        for s in new:
            self.offsets.append((self.doc_no[s.source], s.char_start, s.char_end))
            self.kinds.append(s.kinds)
        if vectors is not None and len(new):
            self.vectors.append(np.asarray(vectors, dtype=np.float32))
        for ids in per_passage:
            self.ids.extend(ids)
            self.ptr.append(len(self.ids))

    def table(self) -> SentenceTable:
        vectors = np.concatenate(self.vectors) if self.vectors else np.zeros((len(self.offsets), self.dim), dtype=np.float32)
        return SentenceTable(self.sources, np.array(self.offsets, dtype=np.int64).reshape(-1, 3),
                             np.array(self.kinds, dtype=np.uint8), vectors, np.array(self.ptr, dtype=np.int64),
                             np.array(self.ids, dtype=np.int64))
