"""BM25 over jieba tokens.

rank-bm25's BM25Okapi is the reference: it computes the idf table and document
statistics at build time. Its `get_scores` loops in Python over every document, so
the index stores the same scores precomputed as a sparse document x term matrix of
BM25 term weights; a query is then one sparse column slice and a sum. The two agree
to 1e-6 (tests/test_bm25.py checks it against rank-bm25).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi
from scipy import sparse


def okapi_idf(df, n):
    """Okapi BM25's idf of a term in `df` of `n` passages (a count or an array of counts): the one
    formula the local index (floored at epsilon x mean, as BM25Okapi does) and Milvus's term
    statistics use."""
    return np.log(n - df + 0.5) - np.log(df + 0.5)


class BM25Index:
    def __init__(self, weights: sparse.csc_matrix, vocab: dict[str, int], idf: np.ndarray, params: dict):
        self.weights = weights  # (n_passages, n_terms), CSC for fast column slices
        self.vocab = vocab
        self.idf = idf  # per term, as BM25Okapi computed it (floored at epsilon * mean idf)
        self.params = params

    @classmethod
    def build(cls, corpus_tokens: list[list[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> "BM25Index":
        """Same weights as BM25Okapi (tests/test_bm25.py, tests/test_fast_paths.py), built with
        numpy instead of one Python dict per document: needed at 100k-1M passages."""
        vocab: dict[str, int] = {}
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for doc in corpus_tokens for t in doc), dtype=np.int64)
        offsets = np.zeros(len(corpus_tokens) + 1, dtype=np.int64)
        np.cumsum([len(doc) for doc in corpus_tokens], out=offsets[1:])
        return cls.from_token_ids(ids, offsets, list(vocab), k1=k1, b=b, epsilon=epsilon)

    @classmethod
    def from_token_ids(cls, ids: np.ndarray, offsets: np.ndarray, terms: list[str], k1: float = 1.5, b: float = 0.75,
                       epsilon: float = 0.25) -> "BM25Index":
        """Vectorised build. Document d is the token ids ids[offsets[d]:offsets[d+1]], id t names terms[t]."""
        n_docs, n_ids = len(offsets) - 1, len(terms)
        doc_len = np.diff(offsets).astype(np.float64)
        rows = np.repeat(np.arange(n_docs, dtype=np.int32), np.diff(offsets))
        tf = sparse.csr_matrix((np.ones(len(ids), dtype=np.float64), (rows, np.asarray(ids, dtype=np.int32))),
                               shape=(n_docs, n_ids))  # duplicates are summed: term frequencies
        del rows
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=n_ids)
        used = np.flatnonzero(df > 0)  # BM25Okapi only knows terms that occur
        order = sorted(used.tolist(), key=terms.__getitem__)
        new_col = np.full(n_ids, -1, dtype=np.int64)
        new_col[order] = np.arange(len(order))
        df = df[order].astype(np.float64)
        idf = okapi_idf(df, n_docs)
        eps = epsilon * (idf.sum() / len(idf))
        idf[idf < 0] = eps
        avgdl = float(doc_len.sum() / n_docs)
        norm = k1 * (1 - b + b * doc_len / avgdl)
        cols = new_col[tf.indices]
        freq = tf.data
        freq_rows = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        tf.data = idf[cols] * freq * (k1 + 1) / (freq + norm[freq_rows])
        tf.indices = cols.astype(tf.indices.dtype)
        del cols, freq_rows
        weights = sparse.csr_matrix((tf.data, tf.indices, tf.indptr), shape=(n_docs, len(order))).tocsc()
        vocab = {terms[t]: i for i, t in enumerate(order)}
        return cls(weights, vocab, idf, {"k1": k1, "b": b, "epsilon": epsilon, "avgdl": avgdl})

    @classmethod
    def build_reference(cls, corpus_tokens: list[list[str]], k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> "BM25Index":
        """The straightforward builder, kept as the reference for tests and eval.bench."""
        ref = BM25Okapi(corpus_tokens, k1=k1, b=b, epsilon=epsilon)
        vocab = {term: i for i, term in enumerate(sorted(ref.idf))}
        rows, cols, vals = [], [], []
        for d, freqs in enumerate(ref.doc_freqs):
            norm = k1 * (1 - b + b * ref.doc_len[d] / ref.avgdl)
            for term, tf in freqs.items():
                rows.append(d)
                cols.append(vocab[term])
                vals.append(ref.idf[term] * tf * (k1 + 1) / (tf + norm))
        shape = (len(corpus_tokens), len(vocab))
        weights = sparse.csc_matrix((np.array(vals, dtype=np.float64), (rows, cols)), shape=shape)
        idf = np.array([ref.idf[t] for t in sorted(ref.idf)], dtype=np.float64)
        return cls(weights, vocab, idf, {"k1": k1, "b": b, "epsilon": epsilon, "avgdl": ref.avgdl})

    @property
    def size(self) -> int:
        return self.weights.shape[0]

    def coverage(self, query_tokens: list[str]) -> float:
        """Share of the query's tokens that the corpus knows (0 for an English question)."""
        return sum(t in self.vocab for t in query_tokens) / len(query_tokens) if query_tokens else 0.0

    def term_idf(self, token: str) -> float:
        """idf of a token; one the corpus never saw counts as the rarest."""
        i = self.vocab.get(token)
        return float(self.idf[i]) if i is not None else float(self.idf.max(initial=1.0))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """Same as BM25Okapi.get_scores: repeated query tokens count again."""
        cols, counts = np.unique([self.vocab[t] for t in query_tokens if t in self.vocab], return_counts=True)
        if len(cols) == 0:
            return np.zeros(self.size)
        return np.asarray(self.weights[:, cols] @ counts.astype(np.float64)).ravel()

    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / "bm25_weights.npz", self.weights.tocsc(), compressed=False)
        (folder / "bm25_vocab.json").write_text(
            json.dumps(
                {"params": self.params, "terms": sorted(self.vocab, key=self.vocab.get), "idf": self.idf.tolist()},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        weights = sparse.load_npz(folder / "bm25_weights.npz").tocsc()
        meta = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        vocab = {t: i for i, t in enumerate(meta["terms"])}
        if weights.shape[1] != len(vocab):
            raise ValueError(f"bm25_weights.npz has {weights.shape[1]} terms but bm25_vocab.json lists {len(vocab)}")
        return cls(weights, vocab, np.array(meta["idf"], dtype=np.float64), meta["params"])
