"""Which backend serves: POLICYQA_BACKEND names it (the only place that tells backends apart by name)."""
from __future__ import annotations

import os
from index.backends.milvus.backend import MilvusBackend
from index.backends.milvus.store import MilvusConfig
from index.backends.base import Backend
from index.backends.local.backend import LocalBackend
from index.backends.local.store import load

BACKENDS = ("local", "milvus")


def selected_backend() -> str:
    name = os.environ.get("POLICYQA_BACKEND", "local").strip().lower() or "local"
    if name not in BACKENDS:
        raise ValueError(f"POLICYQA_BACKEND={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def open_backend(settings) -> Backend:
    """The backend POLICYQA_BACKEND names: the local index folder (default) or Milvus."""
    if selected_backend() == "milvus":
        return MilvusBackend.open(MilvusConfig.from_env(), settings)
    return LocalBackend(load(settings), settings)
