"""Rows of the Milvus collections: passages, sentences, documents, term counts."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Iterable

import numpy as np

from index.build.chunk import Passage
from index.build.sentences import kinds_of, split_passage
from index.ingest.clean import CleanDocument
from index.text.names import tag
from index.text.tokenize import Tokenizer

from .store import MAX_TERM_CHARS, PART_CHARS, QUERY_LIMIT, TOKEN_VEC, MilvusStore, passage_pid, quote


def passage_rows(passages: list[Passage], texts: list[str], vectors: np.ndarray, gen: int,
                 sentence_ids: list[list[int]]) -> list[dict]:
    return [{
        "pid": passage_pid(p.source, p.chunk_id, gen), "chunk_id": p.chunk_id, "source": p.source, "title": p.title,
        "section": p.section, "char_start": p.char_start, "char_end": p.char_end,
        "page": -1 if getattr(p, "page", None) is None else int(p.page), "gen": gen, "text": p.text,
        "table": json.dumps(p.table, ensure_ascii=False) if getattr(p, "table", None) else "", "index_text": t, "dense": np.asarray(v, dtype=np.float32).tolist(), "sentence_ids": json.dumps(sids),
    } for p, t, v, sids in zip(passages, texts, vectors, sentence_ids)]


def sentence_sid(source: str, start: int, end: int, gen: int) -> int:
    return int(hashlib.sha1(f"{source}\0{start}\0{end}\0{gen}".encode()).hexdigest()[:15], 16)


class SentenceSplitter:
    """Sentence evidence of passages that arrive in document order (a build streams them so):
    the same split and kinds as index/sentences.build_table; a sentence shared by overlapping
    passages is written once; `prev_text` is the sentence before it in its document."""

    def __init__(self, userdict: list[str]):
        self.userdict = tuple(userdict)
        self._last: tuple[str, list[tuple[int, int, str]]] = ("", [])  # previous passage's source and sentences

    def rows(self, passages: list[Passage], encode, gen: int) -> tuple[list[list[int]], list[dict]]:
        per_passage: list[list[int]] = []
        new: dict[int, dict] = {}
        for p in passages:
            last_source, last = self._last
            known = {(s, e) for s, e, _ in last} if last_source == p.source else set()
            spans = [(s, e, p.text[s - p.char_start:e - p.char_start]) for s, e in split_passage(p)]
            sids = []
            for j, (s, e, text) in enumerate(spans):
                sid = sentence_sid(p.source, s, e, gen)
                sids.append(sid)
                if (s, e) in known or sid in new:
                    continue
                before = [t for ps, pe, t in (spans[:j] if j else (last if last_source == p.source else []))
                          if pe <= s]
                new[sid] = {"sid": sid, "source": p.source, "char_start": s, "char_end": e, "gen": gen,
                            "kinds": kinds_of(text, tag(text, self.userdict)), "text": text,
                            "prev_text": before[-1] if before else ""}
            per_passage.append(sids)
            self._last = (p.source, spans)
        rows = list(new.values())
        if rows:
            vectors = encode([r["text"] for r in rows])
            for r, v in zip(rows, vectors):
                r["vec"] = np.asarray(v, dtype=np.float32).tolist()
        return per_passage, rows


def document_rows(doc: CleanDocument, n_passages: int, gen: int, library_entry: dict | None = None) -> list[dict]:
    parts = [doc.text[i : i + PART_CHARS] for i in range(0, len(doc.text), PART_CHARS)] or [""]
    headings = json.dumps([list(h) for h in doc.headings], ensure_ascii=False)
    if len(headings.encode()) > 65_000:  # a pathological heading list; offsets into the text stay right
        headings = "[]"
    pages = json.dumps(doc.page_starts) if doc.page_starts else ""
    if len(pages) > 65_000:  # over ~7,000 pages: passages keep their page numbers, the document loses its map
        pages = ""
    entry = json.dumps(library_entry, ensure_ascii=False) if library_entry else ""
    if len(entry.encode()) > 8_000:
        raise ValueError(f"{doc.source}: its library entry is too large to store")
    return [{
        "key": f"{doc.source}\0{gen}\0{i:06d}", "source": doc.source, "part": i, "parts": len(parts), "gen": gen,
        "title": doc.title, "length": len(doc.text), "passages": n_passages, "headings": headings if i == 0 else "[]",
        "page_starts": pages if i == 0 else "", "library": entry if i == 0 else "", "text": part, "vec": TOKEN_VEC,
    } for i, part in enumerate(parts)]


def read_document(store: "MilvusStore", collection: str, source: str) -> tuple[CleanDocument, dict | None] | None:
    """A document of a build's documents collection, and its library entry (None for a seed)."""
    rows = store.call("query", collection, filter=f"source == {quote(source)}",
                      output_fields=["part", "gen", "title", "headings", "page_starts", "library", "text"],
                      limit=QUERY_LIMIT)
    head = max((r for r in rows if r["part"] == 0), key=lambda r: r["gen"], default=None)
    if head is None:  # (two heads only in the moment between a replacement's commit point and its cleanup)
        return None
    parts = sorted((r for r in rows if r["gen"] == head["gen"]), key=lambda r: r["part"])
    headings = [tuple(h) for h in json.loads(head["headings"] or "[]")]
    doc = CleanDocument(source, head["title"], "".join(r["text"] for r in parts), headings,
                        json.loads(head["page_starts"]) if head.get("page_starts") else None)
    return doc, (json.loads(head["library"]) if head.get("library") else None)


def library_entries(store: "MilvusStore", collection: str) -> list[dict]:
    """The library entries of a build's uploaded documents, by name."""
    rows = newest_heads(store.query_all(collection, 'part == 0 and library != ""', ["source", "gen", "library"]))
    return sorted((json.loads(r["library"]) for r in rows), key=lambda e: e["source"])


def newest_heads(rows: list[dict]) -> list[dict]:
    """One head row per document: the newest generation's (see read_document)."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["source"] not in best or r["gen"] > best[r["source"]]["gen"]:
            best[r["source"]] = r
    return list(best.values())


def term_counts(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter:
    """Passage frequency of every token, as BM25's idf counts it."""
    df: Counter = Counter()
    for t in texts:
        df.update(tok for tok in set(tokenizer.tokenize(t)) if len(tok) <= MAX_TERM_CHARS)
    return df


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]
