"""Backends: where a build lives and how it is searched. `Backend` (base) is the seam; `local`
(index folder, BM25 matrix + FAISS in process) and `milvus` (a Milvus server) implement it, and
`open_backend` (select) picks one by POLICYQA_BACKEND."""
from .base import (Backend, BackendUnavailable, BadFilter, BuildReplaced, DocumentInfo, IndexInfo, Ranked,
                   top_positive, validate_sources)
from .local import LoadedIndex, LocalBackend
from .select import BACKENDS, open_backend, selected_backend

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "BadFilter", "BuildReplaced", "DocumentInfo", "IndexInfo",
           "LoadedIndex", "LocalBackend", "Ranked", "open_backend", "selected_backend", "top_positive",
           "validate_sources"]
