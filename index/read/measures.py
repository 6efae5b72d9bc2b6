"""What a figure measures (a share, money, people, a time, an area…) and what a question asks to be
measured in: a figure of another kind than any asked (4000余名 for a 比例, 600公里 for an investment)
answers a neighbouring question."""
from __future__ import annotations

import re

from index.text.english import has_chinese

from .spans import ASKED_MEASURES, BOUND_AFTER, QUESTION_UNIT


# The kind of thing a figure's unit measures: a question that asks one kind (比例, 经费, 多少名) is not
# answered by a figure of another (4000余名 for a 比例; 600公里 for 总投资).
_MEASURE_KINDS = (("share", r"%|％|个?百分点|成"), ("money", r".*元"), ("time", r"年|个?月|天|日|周|小时|个?工作日"),
                  ("distance", r"公里|千米|米"), ("area", r"万?平方(?:米|公里|千米)?|亩|公顷"), ("multiple", r"倍"),
                  ("people", r"人次|人|名|位"), ("body", r"家|所|座"), ("item", r"项|条|件|篇|本|类|种|个|套|栋|台|份|张"),
                  ("event", r"次|场|班|届|期|轮|批"), ("age", r"岁"), ("score", r"分"))
_UNIT_AFTER = re.compile(r"[\d零〇一二两三四五六七八九十百千万亿.余多几]+([^\d]*)$")
_PER = re.compile(r"/.*$")


def measure_kind(unit: str) -> str | None:
    return next((kind for kind, units in _MEASURE_KINDS if re.fullmatch(units, unit)), None)


def figure_kind(figure: str) -> str | None:
    m = _UNIT_AFTER.search(_PER.sub("", figure))
    if not m:
        return None
    unit = m.group(1)
    for bound in BOUND_AFTER:
        unit = unit[:-len(bound)] if unit.endswith(bound) and not bound.startswith("/") else unit
    return measure_kind(unit)


def _asked_kinds(question: str) -> tuple[str, set[str]] | None:
    """(what the question asks for, in its words or the kind's name, and the kinds it asks for): its
    measure word (多少名) and what its words ask to be measured in (比例, 经费, 面积), every one (多少项目资助
    names 项 and money); 几个 asks no kind (people or things), and 近几年 asks nothing."""
    asked, kinds = [], set()
    unit = QUESTION_UNIT.search(question)
    if unit and unit.group(1) == "个":
        return None  # 投资额超过1亿元的有几个: the words before 几个 describe what is counted
    if unit:
        asked.append(unit.group())
        kinds.add(measure_kind(unit.group(1)))
    share = _SHARE_ASKED.search(question)
    if share:
        asked.append(share.group(1))
        kinds.add("share")
    for cue, fits in ASKED_MEASURES:
        m = next((m for m in cue.finditer(question) if question[m.start() - 1:m.start()] not in _NOT_ASKING), None)
        if m:
            kind = measure_kind(fits.pattern.split("|")[0])
            word = m.group().strip()  # 增速, 比重 name themselves; 率是多少, 占多大 and 多少人 do not
            asked.append(word if len(word) <= 3 and not re.search(r"多|几|哪|什么", word) else _KIND_NAMES.get(kind, ""))
            kinds.add(kind)
    kinds.discard(None)
    return (next(a for a in asked if a), kinds) if kinds else None


_KIND_NAMES = {"share": "比例", "money": "金额", "people": "人数", "time": "时长", "area": "面积", "age": "年龄",
               "score": "分数", "distance": "距离", "multiple": "倍数"}
_NOT_ASKING = set("近这前")
_SHARE_ASKED = re.compile(r"([\u4e00-\u9fff]{0,2}率|比重|比例|占比).{0,4}(?:多少|几|多高)")  # 增长率预计是多少  # 近几年, 这几年: a time, not a question about one


def measure_instead(question: str, figure: str) -> tuple[str, list[str]] | None:
    """(the question's words that ask for a measure, the figure) when the figure measures another kind
    of thing than any the question asks: a count of people for a share, a distance for an investment. A share of money may answer
    a question about money (租金的多少: 60%), and 多久…一次 asks how often (1次)."""
    if not has_chinese(question):
        return None  # "how many" takes up to four words before its noun: "how many talent apartments" is no count of people
    asked, given = _asked_kinds(question), figure_kind(figure)
    if asked is None or given is None or given in asked[1]:
        return None
    if "money" in asked[1] and given == "share" or "time" in asked[1] and "一次" in question:
        return None
    if asked[1] == {"share"} and given == "money" and "率" in asked[0] and "增" not in asked[0]:
        return None  # a 率 need not be a share: 全员劳动生产率 is output per head, in 元
    return asked[0], [figure]
