"""The local backend: an index folder of files (store) loaded into this process (LocalBackend)."""
from .backend import LocalBackend
from .store import LoadedIndex, build, current_build, load, manifest_checksum, read_manifest

__all__ = ["LoadedIndex", "LocalBackend", "build", "current_build", "load", "manifest_checksum", "read_manifest"]
