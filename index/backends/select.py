"""Which backend serves: POLICYQA_BACKEND names it. This is the one place that tells backends apart
by name; everything else uses the Backend protocol and the per-backend operations below."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from index.backends.base import Backend, LibraryWriter, Serving
from index.backends.local.backend import LocalBackend
from index.backends.local.store import current_build, load, read_manifest
from index.backends.local.writer import LocalWriter
from index.backends.milvus.backend import MilvusBackend
from index.backends.milvus.build import build as build_milvus, status as milvus_status
from index.backends.milvus.store import MilvusConfig
from index.backends.milvus.writer import MilvusWriter
from index.backends.local.store import build as build_local
from index.build.plan import IndexUnavailable, stale_reasons
from index.config import Settings
from index.ingest.library import Library

BACKENDS = ("local", "milvus")


def selected_backend(settings: Settings) -> str:
    name = settings.backend.strip().lower() or "local"
    if name not in BACKENDS:
        raise ValueError(f"POLICYQA_BACKEND={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def open_backend(settings) -> Backend:
    """The backend POLICYQA_BACKEND names: the local index folder (default) or Milvus."""
    if selected_backend(settings) == "milvus":
        return MilvusBackend.open(MilvusConfig.from_settings(settings), settings)
    return LocalBackend(load(settings), settings)


def build_marker(settings: Settings) -> str | None:
    """The build that is current, read as cheaply as possible so every worker can watch it: the local
    `current` link's target (a build id). None for Milvus: its replicas read the same store, and a
    newer build there is caught by BuildReplaced on the next request."""
    if selected_backend(settings) == "milvus":
        return None
    try:
        return Path(os.readlink(settings.index_root / "current")).name
    except OSError:
        return None


def open_writer(settings: Settings, library: Library, serving: Serving) -> LibraryWriter:
    """How the library's uploads and deletions reach the backend POLICYQA_BACKEND names."""
    if selected_backend(settings) == "milvus":
        return MilvusWriter(settings, library, serving)
    return LocalWriter(settings, library, serving)


def _local_stale(settings: Settings) -> list[str]:
    """Reasons to rebuild; empty when the current index matches the seeds and settings."""
    try:
        return stale_reasons(read_manifest(current_build(settings)), settings)
    except IndexUnavailable as err:
        return [str(err)]


def ensure_built(settings: Settings, force: bool = False) -> None:
    """Build the index POLICYQA_BACKEND names when it is missing or stale (always with `force`)."""
    if selected_backend(settings) == "milvus":  # build into the Milvus at POLICYQA_MILVUS_URI
        build_milvus(settings, MilvusConfig.from_settings(settings), force=force)
        return
    reasons = _local_stale(settings)
    if not force and not reasons:
        print(f"index is up to date: {current_build(settings)}")
        return
    for r in reasons:
        print(f"rebuilding: {r}", file=sys.stderr)
    build_local(settings)


def print_status(settings: Settings) -> int:
    """Print the current build and whether it is stale; 0 when up to date."""
    if selected_backend(settings) == "milvus":
        return milvus_status(settings)
    try:
        folder = current_build(settings)
    except IndexUnavailable as err:
        print(err)
        return 1
    manifest = read_manifest(folder)
    print(json.dumps({k: manifest[k] for k in ("build_id", "created", "counts", "config", "timings_s")}, ensure_ascii=False, indent=1))
    reasons = stale_reasons(manifest, settings)
    print("stale: " + "; ".join(reasons) if reasons else "up to date")
    return 1 if reasons else 0
