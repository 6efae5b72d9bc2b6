"""Ingest: documents in, clean text out. Seed files (seeds), uploaded originals (library, parse/),
the cleaning rules both share (clean), and the tables recovered from a clean text (tables)."""
from .clean import CleanDocument, clean_document, heading_level, normalize_unicode
from .library import Library, atomic_write, atomic_write_json, sanitize_name
from .parse import ParsedDocument, ParseError, ParseLimits, Progress, UnsupportedFormat, parse, sniff, to_clean_document
from .tables import Cell, Table, TableRow, find_tables
from .seeds import MAX_FILE_BYTES, SeedError, SkippedFile, decode, load_corpus, read_seed, seed_paths

__all__ = ["MAX_FILE_BYTES", "Cell", "CleanDocument", "Table", "TableRow", "find_tables", "Library", "ParseError", "ParseLimits", "ParsedDocument", "Progress", "SeedError",
           "SkippedFile", "UnsupportedFormat", "atomic_write", "atomic_write_json", "clean_document", "decode",
           "heading_level", "load_corpus", "normalize_unicode", "parse", "read_seed", "sanitize_name", "seed_paths",
           "sniff", "to_clean_document"]
