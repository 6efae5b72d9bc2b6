"""Read the seed files: decode them, reject what cannot be text, and clean the rest.

One bad file never aborts the build or poisons the index: it is skipped and reported.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from index.ingest.clean import CleanDocument, clean_document

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024


class SeedError(ValueError):
    """A seed file that cannot be used, with a reason a person understands."""


@dataclass
class SkippedFile:
    source: str
    reason: str


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) first; GB18030 is common for Chinese government files."""
    if not data.strip():
        raise SeedError("file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark (Windows "Unicode")
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise SeedError("file starts with a UTF-16 byte-order mark but is not valid UTF-16") from err
        if _mostly_text(text):
            return text
        raise SeedError("file looks binary (it decodes as UTF-16 but is mostly control characters)")
    if b"\x00" in data[:8192]:
        raise SeedError("file looks binary (it contains NUL bytes)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _mostly_text(text):
            return text
    raise SeedError("file is neither UTF-8 nor GB18030 text")


def _mostly_text(text: str) -> bool:
    control = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
    return control <= len(text) * 0.01


def read_seed(path: Path) -> CleanDocument:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # checked before reading: a huge file is never loaded into memory
            raise SeedError(f"file is {size / 1e6:.1f} MB, over the {MAX_FILE_BYTES / 1e6:.1f} MB limit")
        data = path.read_bytes()
    except OSError as err:
        raise SeedError(f"file cannot be read ({err.strerror or err})") from err
    doc = clean_document(path.name, decode(data))
    if not doc.text.strip():
        raise SeedError("no text left after cleaning")
    return doc


def seed_paths(seeds_dir: Path) -> list[Path]:
    return sorted(p for p in seeds_dir.iterdir() if p.is_file() and p.suffix == ".txt" and not p.name.startswith("."))


def load_corpus(seeds_dir: Path) -> tuple[list[CleanDocument], list[SkippedFile]]:
    docs, skipped = [], []
    for path in seed_paths(seeds_dir):
        try:
            docs.append(read_seed(path))
        except SeedError as err:
            log.warning("skipping seed %s: %s", path.name, err)
            skipped.append(SkippedFile(path.name, str(err)))
    return docs, skipped
