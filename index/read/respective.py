"""Values given respectively: "新能源、智能家居、时尚纺织产业发明专利授权量分别为233项、321项和245项".

The n-th value belongs to the n-th label of the list before 分别 (依次). A question that names one of
the labels is answered by its value, not by the value nearest its words.
"""
from __future__ import annotations

import re

from index.text.names import tag

_RESPECTIVELY = re.compile(r"分别|依次")
_CLAUSE_END = ",，;；。:：!！?？\n"
_ITEM_SEP = re.compile(r"、|和|及|与|以及|或")
_VALUE_GAP = re.compile(r"\s*(?:、|,|，|和|及|与|以及)\s*")


def respective_value(sentence: str, values: list[tuple[int, int]], question: str) -> int | None:
    """Index into `values` (candidate spans of `sentence`, in text order) of the value that 分别 binds
    to the one label of its list the question names; None when no such list, or the question names
    none or several of its labels."""
    for cue in _RESPECTIVELY.finditer(sentence):
        run = _value_run(sentence, values, cue.end())
        labels = _labels(sentence, cue.start())
        if len(run) < 2 or len(labels) != len(run):
            continue
        named = [i for i, label in enumerate(labels) if label and label in question]
        if len(named) == 1:
            return run[named[0]]
    return None


def _value_run(sentence: str, values: list[tuple[int, int]], after: int) -> list[int]:
    """The values listed one after another from the first one after the cue, in its clause."""
    later = [k for k, (s, _) in enumerate(values) if s >= after]
    if not later or any(c in sentence[after:values[later[0]][0]] for c in _CLAUSE_END):
        return []
    run = [later[0]]
    for k in later[1:]:
        if not _VALUE_GAP.fullmatch(sentence[values[run[-1]][1]:values[k][0]]):
            break
        run.append(k)
    return run


def _labels(sentence: str, cue: int) -> list[str]:
    """The distinctive word of each item of the list the cue closes: the whole item inside the list,
    the last word of the first item (全区持|高级) and the first word of the last (初级|社会工作者证),
    where the words they share with the other items stand."""
    start = max(sentence.rfind(c, 0, cue) for c in _CLAUSE_END) + 1
    items = [x.strip() for x in _ITEM_SEP.split(sentence[start:cue])]
    if len(items) < 2 or not all(items):
        return []
    first = [w for w, _ in tag(items[0])]
    last = [w for w, _ in tag(items[-1])]
    return [first[-1], *items[1:-1], last[0]]
