"""One tokenizer for indexing and querying: jieba search-mode cuts, lower-cased, stopwords out.

The user dictionary is taken from the corpus itself (titles in 《》, quoted terms that
recur) and saved with the index, so a query is always cut the way the index was.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import jieba

_TITLE = re.compile(r"《([^《》\n]{2,30})》")
_QUOTED = re.compile(r"“([^“”\n]{2,12})”")
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.U)

STOPWORDS = frozenset(
    """的 了 和 与 及 或 等 是 在 对 为 以 于 把 被 将 从 向 由 而 并 也 都 又 就 还 要 会 能 可 可以
    这 那 其 之 此 该 各 每 个 些 们 我 你 他 她 它 我们 你们 他们 什么 哪些 哪个 哪里 怎么 怎样 如何
    为什么 多少 几 吗 呢 吧 啊 呀 有 没有 是否 是不是 一个 一些 进行 通过 关于 根据 按照 以及 其中
    中 上 下 里 内 到 给 让 使 用 来 去 说 请问 请 问 the a an of to in on for and or is are was were be
    by with as at from what which how why who when where does do did can could should would will
    this that these those it its there their about into""".split()
)


def build_userdict(texts: list[str], min_quoted: int = 2) -> list[str]:
    """Domain terms from the corpus: every 《title》, and quoted terms seen at least twice."""
    titles: set[str] = set()
    quoted: Counter[str] = Counter()
    for text in texts:
        titles.update(m.group(1).strip() for m in _TITLE.finditer(text))
        quoted.update(m.group(1).strip() for m in _QUOTED.finditer(text))
    terms = titles | {t for t, n in quoted.items() if n >= min_quoted}
    return sorted(t for t in terms if t and not re.search(r"\s", t))


@lru_cache(maxsize=8)
def jieba_for(userdict: tuple[str, ...] = ()) -> jieba.Tokenizer:
    """The one jieba tokenizer of a user dictionary, shared by the BM25 tokenizer (cut_for_search),
    the part-of-speech tagger (index/text/names.py) and, without a dictionary, the cleaning's reflow."""
    jieba.setLogLevel(60)
    base = jieba.Tokenizer()
    base.initialize()
    for term in userdict:
        base.add_word(term, freq=max(base.suggest_freq(term), 10))
    return base


class Tokenizer:
    def __init__(self, userdict: list[str] | None = None):
        self.userdict = list(userdict or [])
        self._jieba = jieba_for(tuple(self.userdict))

    def tokenize(self, text: str) -> list[str]:
        tokens = []
        for tok in self._jieba.cut_for_search(text.lower(), HMM=True):
            tok = tok.strip()
            if tok and tok not in STOPWORDS and _WORD.search(tok):
                tokens.append(tok)
        return tokens

    def save(self, path: Path) -> None:
        path.write_text("\n".join(self.userdict) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        return cls([ln for ln in path.read_text(encoding="utf-8").split("\n") if ln])


def occurs_whole(word: str, text: str, pieces: list[str]) -> bool:
    """`word` stands in `text` (the concatenation of `pieces`, its words or syllables) as whole pieces:
    it starts where a piece starts and ends where one ends (博士 is not in 博士后)."""
    bounds, pos = {0}, 0
    for piece in pieces:
        pos += len(piece)
        bounds.add(pos)
    start = text.find(word)
    while start >= 0:
        if start in bounds and start + len(word) in bounds:
            return True
        start = text.find(word, start + 1)
    return False
