"""The document library: uploaded originals kept under the data folder, so the index can
always be rebuilt from them (`make run` on an existing data folder serves them again).

Layout under `<library_dir>` (POLICYQA_LIBRARY_DIR, default <var_dir>/library):
    library.json           the committed documents: source, sha256, format, pages, size, added, ...
    blobs/<sha256>         each original, stored by content
    parsed/<sha256>-v<N>.json  its text per page (parsing, OCR above all, is done once)

Nothing is in the library until library.json lists it, and library.json is only rewritten
(atomically) after the index build that includes the change has been made current. A blob
or parse left by a failed or killed job is unreferenced and removed by `collect_garbage`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path

from index.ingest.clean import CleanDocument
from index.ingest.parse import ParsedDocument, ParseError, ParseLimits, Progress, parse_isolated, to_clean_document

PARSER_VERSION = 1  # bump when a parser's output changes: cached parses are redone
MAX_NAME_CHARS = 120


def sanitize_name(name: str) -> str:
    """A safe document name from an uploaded file name, or ValueError saying why not.

    Folders are dropped (`../../etc/x.pdf` -> `x.pdf`); control and invisible characters
    are refused rather than guessed around."""
    name = unicodedata.normalize("NFC", name or "")
    base = re.split(r"[\\/]", name)[-1].strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in base):
        raise ValueError("the file name contains control characters; rename the file and upload it again")
    if base in ("", ".", "..") or base.startswith("."):
        raise ValueError("the file needs a name that does not start with a dot")
    if len(base) > MAX_NAME_CHARS:
        raise ValueError(f"the file name is longer than {MAX_NAME_CHARS} characters")
    return base


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, ensure_ascii=False, indent=1).encode("utf-8"))


class Library:
    def __init__(self, root: Path, limits: ParseLimits = ParseLimits()):
        """`limits`: what parsing an original may cost (ParseLimits.of(settings))."""
        self.root = Path(root)
        self.limits = limits

    @property
    def index_file(self) -> Path:
        return self.root / "library.json"

    def blob_path(self, sha: str) -> Path:
        return self.root / "blobs" / sha

    def parsed_path(self, sha: str) -> Path:
        return self.root / "parsed" / f"{sha}-v{PARSER_VERSION}.json"

    # -------------------------------------------------------------- committed state

    def entries(self) -> list[dict]:
        try:
            data = json.loads(self.index_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise ValueError(f"the library index {self.index_file} is unreadable ({err})") from err
        return list(data.get("documents", []))

    def commit(self, entries: list[dict]) -> None:
        atomic_write_json(self.index_file, {"documents": sorted(entries, key=lambda e: e["source"])})

    # -------------------------------------------------------------- originals and parses

    def store_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            atomic_write(path, data)
        return sha

    def parsed(self, entry: dict, progress: Progress | None = None) -> ParsedDocument:
        """The parse of an entry's original, from the cache or done now (and cached)."""
        cache = self.parsed_path(entry["sha256"])
        try:
            return ParsedDocument.from_dict(json.loads(cache.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError):
            pass
        try:
            data = self.blob_path(entry["sha256"]).read_bytes()
        except OSError as err:
            raise ParseError(f"the original of {entry['source']} is missing from the library ({err.strerror})") from err
        parsed = parse_isolated(data, entry["source"], progress, self.limits)  # a child process under memory and time limits
        atomic_write_json(cache, parsed.to_dict())
        return parsed

    def documents(self, entries: list[dict] | None = None) -> tuple[list[CleanDocument], list[tuple[str, str]]]:
        """Clean documents of `entries` (default: the committed ones), and (source, reason) of those that fail."""
        docs, failed = [], []
        for entry in self.entries() if entries is None else entries:
            try:
                docs.append(to_clean_document(entry["source"], self.parsed(entry)))
            except ParseError as err:
                failed.append((entry["source"], str(err)))
        return docs, failed

    def collect_garbage(self, keep: set[str] | None = None, older_than_s: float = 0.0) -> None:
        """Remove originals and parses that no committed entry refers to (left by failed jobs).
        `keep`: the sha256s still needed, when the committed entries live elsewhere (Milvus);
        `older_than_s`: spare younger files (an upload being received has no job yet)."""
        keep = {e["sha256"] for e in self.entries()} if keep is None else keep
        cutoff = time.time() - older_than_s
        for folder in (self.root / "blobs", self.root / "parsed"):
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.name.split("-v")[0] not in keep and (not older_than_s or path.stat().st_mtime < cutoff):
                        path.unlink(missing_ok=True)


def fingerprint(entries: list[dict]) -> str:
    """What the index depends on in the library: names, contents and the parser version."""
    digest = hashlib.sha256(f"parser-v{PARSER_VERSION}\n".encode())
    for e in sorted(entries, key=lambda e: e["source"]):
        digest.update(f"{e['source']}\0{e['sha256']}\n".encode())
    return digest.hexdigest()
