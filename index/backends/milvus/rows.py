"""Rows of the Milvus collections: passages, sentences, documents, term counts."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Iterable

import numpy as np

from index.build.chunk import Passage
from index.build.sentences import NewSentence
from index.ingest.clean import CleanDocument
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


def sentence_rows(sentences: list[NewSentence], vectors: np.ndarray, gen: int) -> list[dict]:
    """Rows of the sentences collection, from the one sentence builder (index/build/sentences.py)."""
    return [{"sid": s.id, "source": s.source, "char_start": s.char_start, "char_end": s.char_end, "gen": gen,
             "kinds": s.kinds, "text": s.text, "prev_text": s.prev_text, "vec": np.asarray(v, dtype=np.float32).tolist()}
            for s, v in zip(sentences, vectors)]


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
