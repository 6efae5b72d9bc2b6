"""English questions over Chinese documents: map English words to the corpus's Chinese terms.

BM25 over jieba tokens cannot match an English question. A bilingual glossary of the
corpus's own domain vocabulary (index/glossary.tsv, written from the corpus vocabulary,
not from any evaluation question) turns it into Chinese terms that BM25 can match.
Longest phrase first, up to four words; plural and -ing/-ed forms fall back to the stem.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .tokenize import occurs_whole

GLOSSARY = Path(__file__).resolve().parent / "glossary.tsv"
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
MAX_PHRASE = 4


@lru_cache(maxsize=4)
def load_glossary(path: Path = GLOSSARY) -> dict[str, tuple[str, ...]]:
    entries: dict[str, tuple[str, ...]] = {}
    if not path.exists():
        return entries
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line and not line.startswith("#"):
            english, chinese = line.split("\t", 1)
            entries[" ".join(english.lower().split())] = tuple(chinese.split())
    return entries


def has_chinese(text: str) -> bool:
    return _HAN.search(text) is not None


def _variants(word: str) -> list[str]:
    out = [word] + ([word[:-2]] if word.endswith("'s") else [])  # a possessive: master's
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ed", ""), ("ed", "e")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            out.append(word[: -len(suffix)] + repl)
    return out


def to_chinese_terms(query: str, glossary: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Chinese terms for the English words of `query`; [] for a query already in Chinese."""
    if has_chinese(query):
        return []
    glossary = load_glossary() if glossary is None else glossary
    words = _WORD.findall(query.lower().replace("\u2019", "'"))
    terms: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(MAX_PHRASE, len(words) - i), 0, -1):
            phrase = words[i : i + n]
            hit = None
            for last in _variants(phrase[-1]):
                hit = glossary.get(" ".join(phrase[:-1] + [last]))
                if hit:
                    break
            if hit:
                terms.extend(t for t in hit if t not in terms)
                i += n
                break
        else:
            if words[i].isdigit():
                terms.append(words[i])  # years and figures match as they are
            i += 1
    return terms


# An English question writes a Chinese place in pinyin (Beize, Qinghe District, Wangjiangwan).
_PLACE_NAME = re.compile(r"\b([A-Z][a-z]+(?:[ '-]?[A-Z]?[a-z]+)?)\s+(?:District|County|City|Town|Township|Province|"
                         r"Village|New Area)\b|\b(?:in|at)\s+([A-Z][a-z]{2,}(?:'[a-z]+)?)\b(?!\s+[A-Z])")  # not a person: in Chen Lijun's
# a place's own figure (Jiashan's total talent pool); a person's (Chen Lijun's) follows another capitalised word
_POSSESSIVE = re.compile(r"\b([A-Z][a-z]+\s+)?([A-Z][a-z]{2,})['’]s\b")
_EXONYMS = frozenset({"China"})  # English names that happen to read as pinyin (chi|na), not as 中国
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


def pinyin_places(question: str) -> list[str]:
    """The names an English question gives a place (Qinghe District: Qinghe; in Beize: Beize; Jiashan's, when
    the name is pinyin and no given name stands before it)."""
    possessive = [m.group(2) for m in _POSSESSIVE.finditer(question)
                  if not m.group(1) and m.group(2) not in _EXONYMS and is_pinyin(m.group(2))]
    return list(dict.fromkeys([m.group(1) or m.group(2) for m in _PLACE_NAME.finditer(question)] + possessive))


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    from pypinyin import lazy_pinyin

    return frozenset(lazy_pinyin("".join(chr(c) for c in range(0x4E00, 0x9FA6))))


def is_pinyin(name: str) -> bool:
    """The name reads as pinyin syllables (Beize, Wangjiangwan; not London or Boston)."""
    word, syllables = re.sub(r"[^a-z]", "", name.lower()), _syllables()
    reachable = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        reachable[end] = any(reachable[start] and word[start:end] in syllables for start in range(max(0, end - 6), end))
    return bool(word) and reachable[-1]


def spelt_in(name: str, text: str) -> bool:
    """Whether `text` writes in Chinese characters a name spelt in pinyin (Beize: 北泽; Lu'an: 六安
    only where the characters read so), syllable for syllable."""
    from pypinyin import lazy_pinyin  # MIT; phrase-aware readings of place names

    target = re.sub(r"[^a-z]", "", name.lower())
    for run in _HAN_RUN.finditer(text):
        syllables = lazy_pinyin(run.group())
        if occurs_whole(target, "".join(syllables), syllables):
            return True
    return False
