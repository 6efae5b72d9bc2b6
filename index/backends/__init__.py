"""Backends: where a build lives and how it is searched. `Backend` (base) is the seam; `local`
(index folder, BM25 matrix + FAISS in process) and `milvus` (a Milvus server) implement it, and
`open_backend` (select) picks one by POLICYQA_BACKEND."""
from .base import (Backend, BackendUnavailable, BadFilter, BuildReplaced, DocumentInfo, IndexInfo, LibraryWriter,
                   Ranked, SentenceEvidence, Serving, WriteJob, top_positive, validate_sources)
from .local import LoadedIndex, LocalBackend
from .select import BACKENDS, build_marker, ensure_built, open_backend, open_writer, print_status, selected_backend

__all__ = ["BACKENDS", "Backend", "build_marker", "BackendUnavailable", "BadFilter", "BuildReplaced", "DocumentInfo", "IndexInfo",
           "LibraryWriter", "LoadedIndex", "LocalBackend", "Ranked", "SentenceEvidence", "Serving", "WriteJob", "ensure_built",
           "open_backend", "open_writer", "print_status", "selected_backend", "top_positive", "validate_sources"]
