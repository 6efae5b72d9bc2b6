"""The Milvus backend: collections and the client (store), their rows (rows), the Backend over
them (backend) and the build writer (build)."""
from .backend import MilvusBackend
from .store import Collections, MilvusConfig, MilvusStore

__all__ = ["Collections", "MilvusBackend", "MilvusConfig", "MilvusStore"]
