"""Ablations: rebuild the index in memory with one thing changed and score hybrid retrieval.

Passage vectors are cached by text (for this model) under .var/eval/, so only passages
a variant really changes are encoded, once.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np

from index.build.chunk import ChunkParams
from index.ingest.clean import CleanDocument, normalize_unicode
from index.config import Settings
from index.ingest.seeds import decode, seed_paths
from index.search import Searcher
from index.build.plan import make_index

from .run import in_process, relevant_counter as _relevant_counter, run_mode, summarize


class VectorCache(dict):
    """index text -> passage vector, persisted per model."""

    def __init__(self, settings: Settings, model_id: str):
        super().__init__()
        key = hashlib.sha1(model_id.encode()).hexdigest()[:10]
        self.folder = settings.var_dir / "eval" / f"vectors-{key}"
        try:
            texts = json.loads((self.folder / "texts.json").read_text(encoding="utf-8"))
            vectors = np.load(self.folder / "vectors.npy")
            self.update(zip(texts, vectors))
        except (OSError, ValueError):
            pass
        self._saved = len(self)

    def save(self) -> None:
        if len(self) == self._saved:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        texts = list(self)
        np.save(self.folder / "vectors.npy", np.stack([self[t] for t in texts]))
        (self.folder / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")


def raw_documents(settings: Settings) -> list[CleanDocument]:
    """The seeds as they are (decoded only): the 'no cleaning' baseline."""
    docs = []
    for path in seed_paths(settings.seeds_dir):
        text = decode(path.read_bytes())
        docs.append(CleanDocument(path.name, text.strip().split("\n", 1)[0][:80], text, []))
    return docs


def nfkc_only_documents(settings: Settings) -> list[CleanDocument]:
    return [CleanDocument(d.source, d.title, normalize_unicode(d.text), []) for d in raw_documents(settings)]


def run_ablations(searcher: Searcher, settings: Settings, docs: list[CleanDocument], items) -> dict[str, dict]:
    encoder = searcher.encoder
    cache = VectorCache(settings, encoder.model_id)
    rows: dict[str, dict] = {}

    def score(name: str, variant_settings: Settings, variant_docs=docs, mode: str = "hybrid", parts=None):
        parts = parts or make_index(variant_docs, variant_settings, encoder, cache)
        variant = Searcher(parts, encoder, variant_settings)
        results = run_mode(in_process(variant), items, mode, _relevant_counter(parts.passages))
        rows[name] = summarize(results)
        rows[name]["passages"] = len(parts.passages)
        return parts

    base = score("baseline (hybrid, defaults)", settings)
    f = settings.fusion
    for k in (10, 30, 100):
        score(f"RRF k={k}", settings.replace(fusion=replace(f, k=k)), parts=base)
    for wb, wd in ((0.5, 1.0), (1.0, 0.5), (2.0, 1.0)):
        score(f"RRF weights bm25 {wb} : dense {wd}", settings.replace(fusion=replace(f, bm25_weight=wb, dense_weight=wd)), parts=base)
    score("RRF without coverage weighting", settings.replace(fusion=replace(f, coverage_weighting=False)), parts=base)
    no_s2b = settings.replace(fusion=replace(f, sentence_dense=False))
    score("dense side by passage only (no small-to-big)", no_s2b, parts=base)
    score("dense only, small-to-big", settings, parts=base, mode="dense")
    score("dense only, by passage", no_s2b, parts=base, mode="dense")
    no_context = settings.replace(index_context=False)
    score("dense only, by passage, no title/section prefix", no_context.replace(fusion=no_s2b.fusion), mode="dense")
    for target, maximum in ((200, 300), (400, 500), (500, 700)):
        score(f"chunks target {target} / max {maximum}", settings.replace(chunk=ChunkParams(max_chars=maximum, target_chars=target)))
    score("no jieba user dictionary", settings.replace(userdict=False))
    score("no title/section context", no_context)
    score("no cleaning (raw seeds)", settings, variant_docs=raw_documents(settings))
    score("NFKC only (no other cleaning)", settings, variant_docs=nfkc_only_documents(settings))
    cache.save()
    return rows
