"""Rewrite a follow-up question into a standalone one, by rule (used when no LLM is configured).

"那吴江呢？" after "青浦区有哪些人才政策？" means "吴江有哪些人才政策？"; "具体标准是多少？" after
"示范区人才绿卡有什么待遇？" needs the earlier question's topic to find anything. The rule:

1. A question is a follow-up when it starts with a continuation word (那/那么/还有/另外/它/其/
   该/这/此/具体/上述/...), ends in 呢, or has no topic word of its own (short questions like
   "多少钱？"), or names no place or organisation and has fewer than three topic words
   ("由哪个部门负责？"). A question without a previous one is left unchanged.
2. If the follow-up names a place and otherwise adds no topic words ("那吴江呢？"), the previous
   question is repeated with its place(s) replaced by the new place.
3. Otherwise the previous question's places and organisations the follow-up lacks (a place in
   the follow-up replaces the previous place) and its topic words the follow-up lacks are put
   in front of the follow-up: "示范区 人才 绿卡 待遇 具体标准是多少？".

Places, organisations, topic words and subject nouns come from index.query.question.analyze() (jieba's
part-of-speech tags and dictionary: 吴江 is a place because 吴江市 is one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from index.query.question import analyze
from index.text.names import is_place_name

_CUE_START = re.compile(r"^\s*(那么|那|还有|另外|此外|以及|它们|它|其|该|这个|这些|这|此|具体|上述|那个|那些|再|又|and |what about |how about )",
                        re.I)
_CUE_END = re.compile(r"(呢|吗|呀)?\s*[?？。！!]*\s*$")
_STOP = frozenset("""是 有 要 会 能 可以 什么 哪些 哪个 多少 如何 怎么 怎样 为什么 是否 具体 情况 问题 方面 相关 规定
    内容 要求 标准 呢 吗 请问 还有 那么 进行 需要 应该 哪里 时候 主要""".split())


@dataclass
class Facts:
    places: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # topic words: nouns and verbs that are not places/orgs
    subjects: list[str] = field(default_factory=list)  # nouns naming what the question is about


def facts(question: str) -> Facts:
    """Places, organisations, topic words and subjects of a question, from index.query.question.analyze()."""
    a = analyze(question)
    out = Facts(subjects=list(a.subjects))
    for word in a.places + [w for w in a.people + a.terms if is_place_name(w)]:
        _add(out.places, word)
    for word in a.orgs:
        if word not in out.places:
            _add(out.orgs, word)
    named = set(out.places) | set(out.orgs) | set(a.people)
    for word in a.terms:
        if word not in named and word not in _STOP and len(word) >= 2:
            _add(out.terms, word)
    return out


def _add(items: list[str], word: str) -> None:
    if word not in items:
        items.append(word)


DISTINCT_IDF = 4.5  # a word in under ~1% of passages (or unknown to them) names a subject of its own (高温津贴), unlike 部门/负责


def is_followup(question: str, f: Facts | None = None, idf=None) -> bool:
    f = f or facts(question)
    core = _CUE_END.sub("", question).strip()
    # A new question names its subject ("高温津贴每月发多少？"); one that names none, or names no
    # place or organisation and too little else, leans on the one before ("由哪个部门负责？"),
    # unless it uses a word the corpus rarely does (with `idf`, the index's BM25 idf).
    distinct = idf is not None and any(idf(t) >= DISTINCT_IDF for t in f.terms)
    thin = not f.subjects or (not f.places and not f.orgs and len(f.subjects) < 2 and len(f.terms) < 3 and not distinct)
    return bool(_CUE_START.match(question) or re.search(r"呢\s*[?？]?\s*$", question) or thin or len(core) <= 4)


def rewrite(question: str, previous: str | None, idf=None) -> str:
    """The standalone form of `question` given the previous (already standalone) user question."""
    question = question.strip()
    if not previous or not previous.strip():
        return question
    now, before = facts(question), facts(previous)
    if not is_followup(question, now, idf):
        return question
    if now.places and not now.terms and not now.orgs and before.places:
        # "那吴江呢？": the same question about another place
        out = previous
        for i, place in enumerate(sorted(before.places, key=len, reverse=True)):
            out = out.replace(place, now.places[0] if i == 0 else "")
        if now.places[0] not in out:  # the previous places overlapped; put the new one first
            out = f"{now.places[0]} {out}"
        return out
    carried = [] if now.places else list(before.places)
    carried += [] if now.orgs else before.orgs
    carried += [t for t in before.terms if t not in question and t not in carried]
    core = _CUE_START.sub("", question).strip() or question
    return f"{' '.join(carried)} {core}".strip() if carried else question


def rewrite_conversation(user_questions: list[str], idf=None) -> str:
    """The last question made standalone, each earlier one rewritten in turn first
    (so a third question can follow a follow-up)."""
    standalone: str | None = None
    for q in user_questions:
        standalone = rewrite(q, standalone, idf)
    return standalone or ""
