"""Shared text tools for names: jieba's part-of-speech tagger with the corpus user dictionary, and the
tests for place and organisation names. Build (sentence kinds) and query (question analysis) both use them."""
from __future__ import annotations

import re
from functools import lru_cache

import jieba
import jieba.posseg

from index.text.tokenize import jieba_for

# Generic suffixes of Chinese place and organisation names (the tagger often calls such words nr/n).
_PLACE_SUFFIX = re.compile(r"(?:省|市|区|县|镇|乡|村|州|岛|港|湾|新区|开发区|高新区)$")
# Multi-character suffixes only: 中心, 部 or 办 end too many ordinary words (数据中心, 东部).
_ORG_SUFFIX = re.compile(r"(?:局|厅|部门|委员会|委会|办公室|研究院|研究所|大学|学院|医院|公司|集团|协会|学会|银行|政府|法院|检察院|联合会|管委会)$")


@lru_cache(maxsize=8)
def _pos_tokenizer(userdict: tuple[str, ...]) -> jieba.posseg.POSTokenizer:
    pos = jieba.posseg.POSTokenizer(jieba_for(userdict))
    pos.word_tag_tab.update(dict.fromkeys(userdict, "nz"))  # the corpus terms are other nouns
    return pos


def jieba_tags(userdict: tuple[str, ...] = ()) -> dict[str, str]:
    """The tagger's dictionary: word -> part of speech."""
    return _pos_tokenizer(userdict).word_tag_tab


def tag(text: str, userdict: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(word, part-of-speech) pairs from jieba.posseg, with the corpus user dictionary."""
    return list(_tagged(text, tuple(userdict)))


@lru_cache(maxsize=8192)
def _tagged(text: str, userdict: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # the reader tags the same question and sentences several times per query
    return tuple((w, f) for w, f in _pos_tokenizer(userdict).cut(text))


@lru_cache(maxsize=4096)
def is_place_name(word: str) -> bool:
    """A place written with its suffix (青浦区, 嘉善县), or a name jieba's dictionary knows as a
    place once a suffix is added (it tags 吴江 as a person but 吴江市 as a place)."""
    if len(word) >= 3 and _PLACE_SUFFIX.search(word):
        return True
    tags = jieba.posseg.dt.word_tag_tab
    return len(word) >= 2 and any(tags.get(word + suffix) == "ns" for suffix in "市县区镇省")


def is_known_place(word: str, userdict: tuple[str, ...] = ()) -> bool:
    """A word the tagger read as a place is one: jieba's dictionary or the corpus terms hold it, or it ends
    in a place's suffix (栖|凤市 of 栖凤市). Not a word its HMM made up of the characters around it
    (浙台合作周开幕式|上共|签约, 总流动次数|中占比)."""
    return bool(jieba_for(userdict).FREQ.get(word)) or bool(_PLACE_SUFFIX.search(word))


def is_org_name(word: str) -> bool:
    return len(word) >= 3 and bool(_ORG_SUFFIX.search(word))


def name_variants(name: str) -> list[str]:
    """Ways a text may write a name the question wrote: 青浦区 is also 青浦, 吴江区 also 吴江."""
    out = [name]
    short = _PLACE_SUFFIX.sub("", name)
    if short != name and len(short) >= 2:
        out.append(short)
    return out
