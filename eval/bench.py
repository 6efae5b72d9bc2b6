"""Performance benchmark: `make bench` (python -m eval.bench [--scales real,10k,100k,1m] [--quick]).

Prints a table and writes eval/reports/bench.md: query latency (in process and over HTTP),
per stage, at the real corpus and at synthetic 10k/100k/1M passages; build throughput;
memory; and each fast path against the straightforward one, timed in the same run.

Synthetic passages recombine real cleaned sentences of the seeds (same vocabulary and
length distribution as the real passages). Their vectors: a sample of synthetic passages
is encoded with the real encoder; the rest are mixtures of two real vectors plus small
gaussian noise, renormalised.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from index.build.bm25 import BM25Index  # noqa: E402

from .tables import md_table  # noqa: E402
from index.build.chunk import Passage, sentence_spans  # noqa: E402
from index.config import REPO_ROOT, Settings  # noqa: E402
from index.build.dense import DEFAULT_ENCODER, DenseIndex, Encoder  # noqa: E402
from index.ingest.seeds import load_corpus  # noqa: E402
from index.text.names import tag  # noqa: E402
from index.search import STAGES, Searcher  # noqa: E402
from index.build.sentences import SentenceTable, kinds_of  # noqa: E402

SCALES = {"real": 0, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
OUT = REPO_ROOT / "eval" / "reports" / "bench.md"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def rss_mb(proc: psutil.Process | None = None) -> float:
    return (proc or psutil.Process()).memory_info().rss / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if len(xs) else float("nan")


def med(xs) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def timed(fn, *args, repeat: int = 1, **kw):
    """(median seconds over `repeat` calls, last result)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        times.append(time.perf_counter() - t0)
    return med(times), out


# ---------------------------------------------------------------- report


class Report:
    def __init__(self):
        self.sections: list[tuple[str, list[str], list[list]]] = []
        self.notes: list[str] = []

    def table(self, title: str, header: list[str], rows: list[list]) -> None:
        self.sections.append((title, header, rows))
        print(f"\n## {title}")
        print(md_table(header, rows), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"- {text}", flush=True)

    def markdown(self, args) -> str:
        out = ["# policyqa benchmark", "",
               f"`python -m eval.bench --scales {args.scales}{' --quick' if args.quick else ''}` "
               f"({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
               f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, encoder POLICYQA_ENCODER={args.encoder}). "
               "Latencies are per query, in ms: median (p50), p95, p99 over the queries listed. "
               "Ratios compare two paths timed in the same run.", ""]
        for title, header, rows in self.sections:
            out += [f"## {title}", "", md_table(header, rows), ""]
        if self.notes:
            out += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(out)


# ---------------------------------------------------------------- queries and quality


def qa_items() -> list[dict]:
    import json

    items = []
    for path in sorted((REPO_ROOT / "eval" / "qa").glob("*.jsonl")):
        items += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return items


def hit_at_5(searcher: Searcher, items: list[dict], mode: str = "hybrid") -> float:
    answerable = [it for it in items if it.get("source")]
    hits = 0
    for it in answerable:
        res = searcher.search(it["question"], top_k=5, mode=mode, with_answer=False)
        hits += any(h.passage.source == it["source"] and it["answer"] in h.passage.text for h in res.hits)
    return 100.0 * hits / len(answerable)


# ---------------------------------------------------------------- synthetic corpus


class SentenceBank:
    """Real cleaned sentences of the seeds, tokenized once, ids into one flat token array."""

    def __init__(self, docs, tokenizer):
        self.docs = docs
        self.texts: list[str] = []
        self.doc_of: list[int] = []
        vocab: dict[str, int] = {}
        flat: list[int] = []
        lens: list[int] = []
        for d, doc in enumerate(docs):
            for s, e in sentence_spans(doc.text, 200):
                text = doc.text[s:e].strip()
                if len(text) < 4:
                    continue
                toks = [vocab.setdefault(t, len(vocab)) for t in tokenizer.tokenize(text)]
                self.texts.append(text)
                self.doc_of.append(d)
                flat += toks
                lens.append(len(toks))
        self.title_tokens = [np.array([vocab.setdefault(t, len(vocab)) for t in tokenizer.tokenize(doc.title)],
                                      dtype=np.int64) for doc in docs]
        self.terms = list(vocab)
        self.tok = np.array(flat, dtype=np.int64)
        self.tok_len = np.array(lens, dtype=np.int64)
        self.tok_off = np.concatenate([[0], np.cumsum(self.tok_len)[:-1]])
        self.char_len = np.array([len(t) for t in self.texts], dtype=np.int64)
        self.doc_of_arr = np.array(self.doc_of)
        self.by_doc = [np.flatnonzero(self.doc_of_arr == d) for d in range(len(docs))]


@dataclass
class SynthCorpus:
    bank: SentenceBank
    doc: np.ndarray  # per passage: source document
    sent: np.ndarray  # flat sentence ids
    off: np.ndarray  # passage p has sentences sent[off[p]:off[p+1]]

    def __len__(self) -> int:
        return len(self.doc)

    def text(self, p: int) -> str:
        return "".join(self.bank.texts[s] for s in self.sent[self.off[p]:self.off[p + 1]])

    def token_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """Each passage's tokens: its document title's (index text leads with it), then its sentences'."""
        b = self.bank
        title_len = np.array([len(t) for t in b.title_tokens])[self.doc]
        sent_len = b.tok_len[self.sent]
        per_passage = np.add.reduceat(sent_len, self.off[:-1]) + title_len
        offsets = np.concatenate([[0], np.cumsum(per_passage)])
        flat = np.empty(offsets[-1], dtype=np.int64)
        # titles first: one vectorised gather per document
        pos_in = offsets[:-1]
        for d, tt in enumerate(b.title_tokens):
            rows = np.flatnonzero(self.doc == d)
            if len(tt) and len(rows):
                flat[(pos_in[rows][:, None] + np.arange(len(tt))).ravel()] = np.tile(tt, len(rows))
        # sentences: token k of sentence j goes to its passage's slot
        starts = np.repeat(pos_in + title_len, np.diff(self.off))
        within = np.concatenate([[0], np.cumsum(sent_len)[:-1]]) - np.repeat(
            np.concatenate([[0], np.cumsum(sent_len)[:-1]])[self.off[:-1]], np.diff(self.off))
        dest_start = starts + within
        total = int(sent_len.sum())
        seg = np.repeat(np.arange(len(self.sent)), sent_len)
        k = np.arange(total) - np.repeat(np.concatenate([[0], np.cumsum(sent_len)[:-1]]), sent_len)
        flat[dest_start[seg] + k] = b.tok[b.tok_off[self.sent[seg]] + k]
        return flat, offsets


def make_synth(bank: SentenceBank, n: int, real_lengths: np.ndarray, seed: int = 0) -> SynthCorpus:
    """n passages: each from one document, random sentences of it until a length drawn from
    the real passages' length distribution is reached."""
    rng = np.random.default_rng(seed)
    sizes = np.array([len(x) for x in bank.by_doc], dtype=np.float64)
    docs = rng.choice(len(bank.docs), n, p=sizes / sizes.sum())
    targets = rng.choice(real_lengths, n)
    sent_chunks, counts = [], np.zeros(n, dtype=np.int64)
    for d in range(len(bank.docs)):
        rows = np.flatnonzero(docs == d)
        if not len(rows):
            continue
        pool = bank.by_doc[d]
        width = 24  # sentences drawn per passage, more than any passage needs
        draw = pool[rng.integers(0, len(pool), (len(rows), width))]
        cum = np.cumsum(bank.char_len[draw], axis=1)
        take = np.minimum((cum < targets[rows][:, None]).sum(axis=1) + 1, width)
        counts[rows] = take
        mask = np.arange(width)[None, :] < take[:, None]
        sent_chunks.append((rows, draw, mask))
    off = np.concatenate([[0], np.cumsum(counts)])
    sent = np.empty(off[-1], dtype=np.int64)
    for rows, draw, mask in sent_chunks:
        dest = (off[rows][:, None] + np.arange(draw.shape[1])[None, :])[mask]
        sent[dest] = draw[mask]
    return SynthCorpus(bank, docs, sent, off)


class LazyPassages:
    """passages[i] builds the Passage on demand: 1M Passage objects would cost GBs."""

    def __init__(self, corpus: SynthCorpus):
        self.corpus = corpus

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, i: int) -> Passage:
        doc = self.corpus.bank.docs[int(self.corpus.doc[i])]
        text = self.corpus.text(int(i))
        return Passage(f"syn-{i}", doc.source, doc.title, "", 0, len(text), text)


def synth_vectors(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.02, block: int = 100_000) -> np.ndarray:
    """Mixtures of two real vectors (weight U(0.5,1) on the first) plus N(0, noise^2) per dim, renormalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        a, b = base[rng.integers(0, len(base), m)], base[rng.integers(0, len(base), m)]
        w = rng.uniform(0.5, 1.0, (m, 1)).astype(np.float32)
        v = w * a + (1 - w) * b + rng.standard_normal((m, base.shape[1]), dtype=np.float32) * noise
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[s:s + m] = v
    return out


@dataclass
class SynthIndex:
    """Quacks like store.LoadedIndex for Searcher."""
    passages: LazyPassages
    tokenizer: object
    bm25: BM25Index
    dense: DenseIndex
    sentences: SentenceTable
    documents: dict


class BankSentences:
    """The sentence bank as the reader's sentence evidence: each real sentence typed and
    embedded once; a synthetic passage's sentences are the bank sentences it was made of."""

    def __init__(self, bank: SentenceBank, encoder: Encoder):
        docs = bank.docs
        self.documents = {d.source: d for d in docs}
        offsets = []
        for d, doc in enumerate(docs):  # the same spans SentenceBank kept, stripped
            for s, e in sentence_spans(doc.text, 200):
                piece = doc.text[s:e]
                if len(piece.strip()) >= 4:
                    lead = len(piece) - len(piece.lstrip())
                    offsets.append((d, s + lead, s + lead + len(piece.strip())))
        assert len(offsets) == len(bank.texts)
        self.offsets = np.array(offsets, dtype=np.int64)
        self.kinds = np.array([kinds_of(t, tag(t)) for t in bank.texts], dtype=np.uint8)
        self.encode_s, self.vectors = timed(encoder.encode_passages, bank.texts)
        self.sources = [d.source for d in docs]

    def table(self, corpus: SynthCorpus) -> SentenceTable:
        return SentenceTable(self.sources, self.offsets, self.kinds, self.vectors, corpus.off.astype(np.int64),
                             corpus.sent.astype(np.int64))


# ---------------------------------------------------------------- query latency


def latency(searcher: Searcher, queries: list[str], mode: str = "hybrid") -> dict[str, list[float]]:
    searcher.search(queries[0], mode=mode)  # warm-up
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for q in queries:
        t = searcher.search(q, mode=mode).timings_ms
        for s in STAGES:
            stages[s].append(t.get(s, 0.0))
    return stages


def latency_rows(label: str, n: int, stages: dict[str, list[float]]) -> list[list]:
    tot = stages["total"]
    return [[label, n, len(tot), med(tot), pct(tot, 95), pct(tot, 99)] + [med(stages[s]) for s in STAGES[:-1]]]


LAT_HEADER = ["scale", "passages", "queries", "p50", "p95", "p99"] + [f"{s} p50" for s in STAGES[:-1]]


# ---------------------------------------------------------------- HTTP


def http_bench(queries: list[str], workers: int, n_latency: int, seconds: float, clients: int) -> dict:
    import httpx

    from tests.conftest import start_server, stop_server

    # WARNING: per-request INFO logs would fill start_server's stderr pipe (nobody reads it)
    # after ~200 requests and block the server.
    proc, url = start_server({"POLICYQA_LOG_LEVEL": "WARNING"}, workers=workers, timeout=300)
    try:
        deadline = time.monotonic() + 300  # 503 while the index loads
        while httpx.get(f"{url}/api/health", timeout=30).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        with httpx.Client(base_url=url, timeout=120) as c:
            for q in queries[:2 * workers]:
                c.post("/api/query", json={"query": q, "top_k": 5})
            lat = []
            for q in queries[:n_latency]:
                t0 = time.perf_counter()
                r = c.post("/api/query", json={"query": q, "top_k": 5})
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text[:200]
        done, errors = [0] * clients, [0] * clients
        stop_at = time.perf_counter() + seconds

        def client(k: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as cc:
                i = k
                while time.perf_counter() < stop_at:
                    try:
                        r = cc.post("/api/query", json={"query": queries[i % len(queries)], "top_k": 5})
                        done[k] += r.status_code == 200
                        errors[k] += r.status_code != 200
                    except httpx.HTTPError:
                        errors[k] += 1
                    i += clients

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        p = psutil.Process(proc.pid)
        rss = rss_mb(p) + sum(rss_mb(ch) for ch in p.children(recursive=True))
        return {"lat": lat, "qps": sum(done) / elapsed, "errors": sum(errors), "rss": rss}
    finally:
        stop_server(proc)


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default=None, help="comma list of real,10k,100k,1m (default all; --quick: real,10k)")
    ap.add_argument("--quick", action="store_true", help="small sample sizes, no 1M, under 2 minutes")
    ap.add_argument("--queries", type=int, default=None, help="queries per latency measurement")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--no-upload", action="store_true", help="skip the upload section (eval/bench_upload.py)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.scales = args.scales or ("real,10k" if args.quick else "real,10k,100k,1m")
    scales = [s.strip().lower() for s in args.scales.split(",") if s.strip()]
    for s in scales:
        if s not in SCALES:
            ap.error(f"unknown scale {s!r}; use {', '.join(SCALES)}")
    quick = args.quick
    n_q = args.queries or (30 if quick else 120)
    n_enc = 24 if quick else 64
    t_start = time.perf_counter()
    rep = Report()
    settings = Settings()
    args.encoder = settings.encoder or DEFAULT_ENCODER

    from index.backends.local.store import load

    log("loading the real index and the encoders")
    real = load(settings)
    items = qa_items()
    questions = [it["question"] for it in items]
    encoders = {"torch": Encoder(settings.model_dir, backend="torch")}
    for b in ("onnx", "onnx-int8"):
        try:
            encoders[b] = Encoder(settings.model_dir, backend=b)
        except Exception as err:  # onnxruntime missing: report, fall back
            rep.note(f"encoder {b} unavailable: {err}")
    enc = encoders.get(args.encoder, encoders["torch"])
    docs, _ = load_corpus(settings.seeds_dir)
    bank = SentenceBank(docs, real.tokenizer)
    real_lengths = np.array([len(p.text) for p in real.passages])

    # ------------------------------------------------ passage encoding
    log(f"passage encoding: {n_enc} synthetic passages per encoder")
    sample = make_synth(bank, n_enc, real_lengths, seed=99)
    sample_texts = [f"{bank.docs[int(sample.doc[i])].title}\n{sample.text(i)}" for i in range(len(sample))]
    st = encoders["torch"].model
    plain = lambda xs: st.encode(xs, prompt_name="passage", batch_size=32, normalize_embeddings=True,  # noqa: E731
                                 convert_to_numpy=True)
    st.encode(sample_texts[:4], prompt_name="passage")
    paths = [("plain SentenceTransformer.encode fp32", plain)] + [
        (f"Encoder.encode_passages ({b})", e.encode_passages) for b, e in encoders.items()]
    for _, fn in paths:
        fn(sample_texts[:4])
    # rounds, each path once per round in a rotating order; ratios against plain within a round
    rounds = 2 if quick else 3
    secs: dict[str, list[float]] = {name: [] for name, _ in paths}
    vecs: dict[str, np.ndarray] = {}
    for r in range(rounds):
        for name, fn in paths[r % len(paths):] + paths[: r % len(paths)]:
            t, vecs[name] = timed(fn, sample_texts)
            secs[name].append(t)
    plain_name = paths[0][0]
    ref_vecs, plain_s = vecs[plain_name], med(secs[plain_name])
    rows = []
    for name, _ in paths:
        ratios = [a / b for a, b in zip(secs[plain_name], secs[name])]
        rows.append([name, len(sample_texts), len(sample_texts) / med(secs[name]), med(ratios), min(ratios), max(ratios),
                     float(np.sum(vecs[name] * ref_vecs, axis=1).min())])
    rep.table(f"Passage encoding throughput (median of {rounds} rounds)",
              ["path", "passages", "passages/s", "speed-up vs plain", "min", "max", "min cos vs plain"], rows)
    base_vectors = np.concatenate([np.asarray(real.dense.vectors, dtype=np.float32), ref_vecs.astype(np.float32)])

    # ------------------------------------------------ retrieval quality per encoder
    if not quick:
        from index.build.plan import make_index

        log("hit@5 per encoder on the eval set")
        rows = []
        for b, e in encoders.items():
            if b == "torch":
                idx = real
            else:
                t0 = time.perf_counter()
                parts = make_index(docs, settings, e)
                idx = SynthIndex(parts.passages, parts.tokenizer, parts.bm25, parts.dense, parts.sentences, parts.documents)
                log(f"  {b}: index built in {time.perf_counter() - t0:.1f}s")
            s = Searcher(idx, e, settings)
            rows.append([b, hit_at_5(s, items, "hybrid"), hit_at_5(s, items, "dense")])
        base = rows[0]
        for r in rows:
            r += [r[1] - base[1], r[2] - base[2]]
        rep.table("Retrieval quality per encoder (eval set, answerable questions)",
                  ["encoder", "hybrid hit@5 %", "dense hit@5 %", "hybrid Δ pts", "dense Δ pts"], rows)

    # ------------------------------------------------ query latency per scale
    log(f"sentence evidence: typing and encoding the {len(bank.texts)} bank sentences")
    bank_sentences = BankSentences(bank, enc)
    sent_rate = len(bank.texts) / bank_sentences.encode_s
    lat_rows, build_rows, bm25_rows, dense_rows, ann_rows, mem_rows = [], [], [], [], [], []
    qs = (questions * (n_q // len(questions) + 1))[:n_q]
    for scale in scales:
        n = SCALES[scale]
        gc.collect()
        rss0 = rss_mb()
        if scale == "real":
            log("real corpus latency")
            searcher = Searcher(real, enc, settings)
            lat_rows += latency_rows("real", len(real.passages), latency(searcher, qs))
            continue
        log(f"{scale}: generating {n:,} passages")
        t0 = time.perf_counter()
        corpus = make_synth(bank, n, real_lengths, seed=n)
        ids, offsets = corpus.token_ids()
        gen_s = time.perf_counter() - t0
        bm25_s, bm25 = timed(BM25Index.from_token_ids, ids, offsets, bank.terms)
        log(f"{scale}: bm25 built in {bm25_s:.1f}s ({bm25.weights.nnz:,} weights)")
        t0 = time.perf_counter()
        vectors = synth_vectors(base_vectors, n, seed=n)
        vec_s = time.perf_counter() - t0
        faiss_s, dense = timed(DenseIndex.build, vectors)
        log(f"{scale}: faiss {dense.kind} built in {faiss_s:.1f}s")
        idx = SynthIndex(LazyPassages(corpus), real.tokenizer, bm25, dense, bank_sentences.table(corpus),
                         bank_sentences.documents)
        searcher = Searcher(idx, enc, settings)
        lat_rows += latency_rows(scale, n, latency(searcher, qs))
        ref_build = float("nan")
        if n <= 10_000:
            docs_tokens = [[bank.terms[t] for t in ids[offsets[i]:offsets[i + 1]]] for i in range(n)]
            ref_build, _ = timed(BM25Index.build_reference, docs_tokens)
            del docs_tokens
        build_rows.append([scale, n, gen_s, bm25_s, ref_build, ref_build / bm25_s, vec_s, faiss_s, dense.kind,
                           n_enc and len(sample_texts) / (plain_s or 1), peak_rss_mb() / 1024])

        # BM25: rank-bm25 get_scores vs the sparse matrix, same run
        q_tokens = [real.tokenizer.tokenize(q) for q in questions]
        ours = [timed(bm25.scores, t, repeat=3)[0] * 1000 for t in q_tokens[:n_q]]
        topk = [timed(lambda t: _top(bm25.scores(t)), t, repeat=3)[0] * 1000 for t in q_tokens[:n_q]]
        ref_ms, diff = float("nan"), float("nan")
        if n <= 100_000 and not (quick and n > 10_000):
            from rank_bm25 import BM25Okapi

            log(f"{scale}: rank-bm25 reference")
            okapi = BM25Okapi([[bank.terms[t] for t in ids[offsets[i]:offsets[i + 1]]] for i in range(n)])
            few = q_tokens[:3 if n > 10_000 else 10]
            ref_ms = med([timed(okapi.get_scores, t)[0] * 1000 for t in few])
            diff = max(float(np.abs(okapi.get_scores(t) - bm25.scores(t)).max()) for t in few[:2])
            del okapi
        bm25_rows.append([scale, n, med(ours), pct(ours, 95), med(topk), ref_ms, ref_ms / med(ours), diff])

        # dense: exact vs ANN, same run
        qv = np.stack([enc.encode_query(q) for q in questions[: (60 if quick else 240)]])
        flat = DenseIndex.build(vectors, ann_above=n + 1) if dense.kind != "flat" else dense
        flat_ms = [timed(flat.search, v, 50)[0] * 1000 for v in qv[:20]]
        row = [scale, n, med(flat_ms)]
        if dense.kind != "flat":
            _, truth = flat.index.search(qv, 10)
            for nprobe in (8, 16, 32, 64, 128, 192, 256):
                dense.set_search_params(nprobe=nprobe)
                _, got = dense.index.search(qv, 10)
                recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
                ms = [timed(dense.search, v, 50)[0] * 1000 for v in qv[:60]]
                ann_rows.append([scale, dense.kind, nprobe, len(qv), recall, med(ms), pct(ms, 95), med(flat_ms) / med(ms)])
            dense.set_search_params(nprobe=_chosen_nprobe(ann_rows, scale))
            _, got = dense.index.search(qv, 10)
            ann_ms = [timed(dense.search, v, 50)[0] * 1000 for v in qv[:60]]
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
            row += [dense.kind, med(ann_ms), recall, med(flat_ms) / med(ann_ms)]
        else:
            row += ["flat (exact)", med(flat_ms), 1.0, 1.0]
        dense_rows.append(row)
        del flat

        if n == 100_000:  # what serving this scale adds to a process: materialise what load() would hold
            passages = [idx.passages[i] for i in range(n)]
            mem_rows.append([scale, n, rss_mb() - rss0, bm25_bytes(bm25) / 2**20, vectors.nbytes / 2**20,
                             faiss_bytes(dense) / 2**20])
            del passages
        del corpus, ids, offsets, bm25, vectors, dense, idx, searcher
        gc.collect()

    rep.table("Query latency in process (Searcher.search, hybrid, with answer)", LAT_HEADER, lat_rows)
    per_passage = real.sentences.size / len(real.passages)
    rep.table("Sentence evidence: build-time cost (the reader's sentence vectors)",
              ["sentences per passage (real index)", "sentences encoded/s", "passages encoded/s (plain fp32)",
               "extra encode time per 1,000 passages (s)", "sentence vectors MB per 1,000 passages"],
              [[per_passage, sent_rate, len(sample_texts) / (plain_s or 1), 1000 * per_passage / sent_rate,
                1000 * per_passage * real.dense.vectors.shape[1] * 4 / 2**20]])
    if build_rows:
        rep.table("Build at synthetic scales (seconds)",
                  ["scale", "passages", "generate", "bm25 (vectorised)", "bm25 (BM25Okapi-based)", "speed-up",
                   "vectors (synthetic)", "faiss", "faiss index", "encode passages/s (plain fp32)", "peak RSS GiB"],
                  build_rows)
    if bm25_rows:
        rep.table("BM25 per query: sparse matrix vs rank-bm25 get_scores (ms)",
                  ["scale", "passages", "sparse p50", "sparse p95", "sparse + top-50 p50", "rank-bm25 p50",
                   "speed-up", "max |Δscore|"], bm25_rows)
    if dense_rows:
        rep.table("Dense search per query, k=50 (ms)",
                  ["scale", "passages", "exact flat p50", "index used", "index p50", "recall@10 vs exact", "speed-up"],
                  dense_rows)
    if ann_rows:
        rep.table("ANN tuning (recall@10 against exact search)",
                  ["scale", "index", "nprobe", "queries", "recall@10", "p50", "p95", "speed-up vs exact"], ann_rows)

    # ------------------------------------------------ HTTP
    if not args.no_http:
        log("HTTP: uvicorn on the real index")
        rows = []
        for w in ((1,) if quick else (1, 2)):
            try:
                r = http_bench(questions, w, n_latency=min(n_q, 60), seconds=5 if quick else 15, clients=4)
            except Exception as err:  # report it, keep the rest of the report
                rep.note(f"HTTP with {w} worker(s) failed: {type(err).__name__}: {err}")
                continue
            rows.append([w, len(r["lat"]), med(r["lat"]), pct(r["lat"], 95), pct(r["lat"], 99), r["qps"], r["errors"],
                         r["rss"]])
        rep.table("HTTP, real corpus (POST /api/query, hybrid, top_k=5; 4 concurrent clients for throughput)",
                  ["workers", "queries", "p50", "p95", "p99", "queries/s", "errors", "server RSS MiB"], rows)
        if mem_rows:
            per = mem_rows[0][2]
        if mem_rows and rows:
            rep.note(f"serving memory: the real-corpus server holds {rows[0][7]:.0f} MiB RSS (1 worker; mostly the "
                     f"model); each 100k passages add about {per:.0f} MiB (measured in process at 100k: BM25 weights, "
                     f"vectors, FAISS index and Passage objects); 2 workers hold two copies of the model, while "
                     f"memory-mapped index files are shared through the page cache.")
        log("HTTP: chat path against the stub LLM (eval/chat_bench.py)")
        try:
            from .chat_bench import rows as chat_rows, run as chat_run

            chat = chat_run(seconds=15 if quick else 60)
            rep.table("Chat path, POST /api/chat streamed, stub LLM test double (eval/chat_bench.py)", ["measure", "value"],
                      chat_rows(chat))
        except Exception as err:  # report it, keep the rest of the report
            rep.note(f"chat bench failed: {type(err).__name__}: {err}")
    if mem_rows:
        rep.table("Memory added by 100k passages (MiB)",
                  ["scale", "passages", "RSS added", "BM25 weights", "vectors", "FAISS index"], mem_rows)
    rep.note("synthetic passages recombine real cleaned sentences (index.ingest.load_corpus + index.build.chunk."
             "sentence_spans) of one seed document each, lengths drawn from the real passages; vectors: "
             f"{len(base_vectors)} real encodings (the real passages and {n_enc} synthetic ones) mixed in pairs "
             "(weight U(0.5,1)) plus N(0, 0.02²) noise per dimension, renormalised.")
    rep.note("HNSW is not built at 1M here: on 2 cores its build takes minutes; IVF-Flat builds in well under a "
             "minute. DenseIndex.build(ann='hnsw') stays available and is tested.")
    if not args.no_upload:
        log("uploads: eval/bench_upload.py")
        from .bench_upload import run as upload_bench

        upload_bench(rep)
    rep.note(f"total bench time {time.perf_counter() - t_start:.0f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(rep.markdown(args), encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


def _top(scores: np.ndarray, k: int = 50) -> np.ndarray:
    from index.backends.base import top_positive as _top_positive

    return _top_positive(scores, k)


def _chosen_nprobe(ann_rows: list[list], scale: str, target: float = 0.98) -> int:
    ok = [r for r in ann_rows if r[0] == scale and r[4] >= target]
    return min(r[2] for r in ok) if ok else max(r[2] for r in ann_rows if r[0] == scale)


def bm25_bytes(bm25: BM25Index) -> int:
    w = bm25.weights
    return w.data.nbytes + w.indices.nbytes + w.indptr.nbytes


def faiss_bytes(dense: DenseIndex) -> int:
    import faiss

    return len(faiss.serialize_index(dense.index)) if dense.size <= 300_000 else dense.size * dense.index.d * 4


if __name__ == "__main__":
    raise SystemExit(main())
