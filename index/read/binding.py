"""Which of a sentence's values the question's words bind: the words around each value, and values given
respectively ("新能源、智能家居、时尚纺织产业发明专利授权量分别为233项、321项和245项": the n-th value belongs
to the n-th label of the list before 分别 or 依次; a question naming one label is answered by its value,
not by the value nearest its words).
"""
from __future__ import annotations

import re

from index.text.names import tag

_RESPECTIVELY = re.compile(r"分别|依次")
_CLAUSE_END = ",，;；。:：!！?？\n"
_ITEM_SEP = re.compile(r"、|和|及|与|以及|或")
_VALUE_GAP = re.compile(r"\s*(?:、|,|，|和|及|与|以及)\s*")
_CLAUSE_START = ",，;；、。:："
_OPENING_BOUNDS = ("最高", "最多", "最低", "每人", "一次性", "为")  # 为: a copula (宁波紧随其后,为10.22%)
_NUMBER = re.compile(r"[\d.]+|[零〇一二两三四五六七八九十百千]+")
_ENUMERATOR = re.compile(r"\s*(?:[一二三四五六七八九十]+、|[(（][一二三四五六七八九十\d]+[)）]|\d+[.、．])")
_PARALLEL = 3  # characters after their labels that make two items parallel (本科毕业生|每人补贴, 博士研究生|每人补贴)
_LABEL_TAIL = 4  # characters a list item's label may run on after the question's noun (博士|研究生)
# a limit the question asks for, and the words that set it beside a value (最高获5000万元, 不超过8万元)
LIMITS = [(re.compile(asked, re.I), words) for asked, words in (
    (r"(?:最高|最多|最长|最大|上限|封顶|至多)(?!的)|\bmaximum\b|\bat most\b|\bup to\b|\blongest\b",
     ("最高", "最多", "最长", "最大", "不超过", "不高于", "至多", "封顶", "以下", "以内")),
    (r"(?:最低|最少|最短|最小|至少|下限)(?!的)|\bminimum\b|\bat least\b|\bshortest\b",
     ("最低", "最少", "最短", "最小", "不少于", "不低于", "至少", "以上")))]
LIMIT_ROOM = 4  # characters before a value its limit may stand in (最高获|5000万元)


_OF_PHRASE = re.compile(r"的[^,，;；。:：、及和与]{1,24}")


def own_clause(text: str, values: list[tuple[int, int]], k: int) -> str:
    """The words of value k's clause before it (本科毕业生每人一次性补贴|5000元): what the value is for, less
    the 的 phrases that values before it qualify (35周岁以下的全日制大学专科…及|45周岁以下)."""
    start = values[k][0]
    begin = max(text.rfind(p, 0, start) for p in _CLAUSE_START) + 1
    if _continues(text, begin):
        before = _clause_begin(text, begin - 1)
        if not any(before <= s < begin for s, _ in values):
            begin = before  # 对经认定的市级智能工厂,|给予一次性奖励80万元: the clause before names what it is for
    words, pos = [], begin
    for j in range(k):
        if begin <= values[j][1] <= start and (phrase := qualified(text, values, j)):
            words.append(text[pos:values[j][1]])
            pos = values[j][1] + len(phrase)
    return "".join(words) + text[pos:start]


def _clause_begin(text: str, end: int) -> int:
    return max(text.rfind(p, 0, end) for p in _CLAUSE_START) + 1


def _continues(text: str, begin: int) -> bool:
    """The clause at `begin` has no subject of its own: it follows a comma and opens with a verb or a bound
    (给予, 最高获), so the clause before it says whom the value is for."""
    if begin < 2 or text[begin - 1] not in ",，":
        return False
    words = tag(text[begin:begin + 8])
    return bool(words) and (words[0][1] == "v" or words[0][0] in _OPENING_BOUNDS)


def qualified(text: str, values: list[tuple[int, int]], k: int) -> str:
    """The 的 phrase right after value k, which the value qualifies (35周岁以下|的全日制大学专科(含高职)学历)."""
    m = _OF_PHRASE.match(text, values[k][1])
    return m.group() if m and (k + 1 == len(values) or m.end() <= values[k + 1][0]) else ""


def reach(text: str, values: list[tuple[int, int]], k: int) -> str:
    """The words value k alone stands among: back to the value before it (…新产品产值率达到52.0%,比2015年
    提高8.3个百分点; the first value shares the sentence's opening) and on to its clause's end or the next
    value (至少3个以上|大城市为构成单元)."""
    start, end = values[k]
    stops = [i for i in (text.find(p, end) for p in ",，;；。") if i >= 0]
    stop = min(stops + [values[k + 1][0] if k + 1 < len(values) else len(text)])
    return (text[values[k - 1][1]:start] if k else "") + " " + text[end:stop]


def label_words(terms: list[str]) -> list[str]:
    """The question's words that can label a list's item: nouns, levels (其中省级1家、市级11家) and place words
    (其中海外项目64个)."""
    return [t for t in terms if len(t) >= 2 and all(f.startswith(("n", "eng", "s")) or f == "b" and w.endswith("级")
                                                    for w, f in tag(t))]


def labelled_item(text: str, values: list[tuple[int, int]], kept: list[int], nouns: list[str]) -> int | None:
    """The one list item a question noun labels right before it (其中博士312人、硕士2860人), where no other
    kept value's clause holds that noun."""
    clauses = {k: own_clause(text, values, k) for k in kept}
    # the noun stands in the item's label: the last few characters before the value (其中博士|研究生48人)
    labelled = [k for k in kept if text[values[k][1]:values[k][1] + 1] in ("", *"、,，;；。")
                and any(t in clauses[k][-len(t) - _LABEL_TAIL:] and not any(t in clauses[j] for j in kept if j != k)
                        for t in nouns)]
    if len(labelled) > 1:
        # the sentence's subject also opens its first item's clause (长江中游城市群 面积40.15万平方公里,人口1.53亿):
        # the item whose label runs right up to its value is the one labelled
        labelled = [k for k in labelled if any(clauses[k].rstrip().endswith(t) for t in nouns)]
    if len(labelled) != 1:
        return None
    # a parallel item (the same words after its label) whose clause alone holds another of the question's nouns
    # (博士研究生每人补贴 against 本科毕业生每人补贴, for "a doctoral graduate") leaves the choice to the scores
    ending = clauses[labelled[0]].rstrip()[-_PARALLEL:]
    rivals = [k for k in kept if k != labelled[0] and clauses[k].rstrip().endswith(ending) and any(
        t in clauses[k].rstrip()[-len(t) - 2 * _LABEL_TAIL:] and not any(t in clauses[j] for j in kept if j != k)
        for t in nouns)]
    return None if rivals else labelled[0]


def respective_value(sentence: str, values: list[tuple[int, int]], question: str) -> int | None:
    """Index into `values` (candidate spans of `sentence`, in text order) of the value that 分别 binds
    to the one label of its list the question names; None when no such list, or the question names
    none or several of its labels."""
    for cue in _RESPECTIVELY.finditer(sentence):
        run = _value_run(sentence, values, cue.end())
        labels = _labels(sentence, cue.start())
        if len(labels) != len(run) and run:
            # each clause before gives its own figure (人口1.53亿): the run is asked only with its own words (占全国)
            verb = sentence[cue.end():values[run[0]][0]].replace("的", "")
            if any(verb[i:i + 2] in question for i in range(len(verb) - 1)):
                labels = _clause_labels(sentence, cue.start(), len(run))
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
    if not sentence[start:cue].strip() and start > 1:  # the cue opens its clause (…10亿元的企业,分别给予…)
        cue = start - 1
        start = max(sentence.rfind(c, 0, cue) for c in _CLAUSE_END) + 1
    head = _ENUMERATOR.match(sentence, start)  # 三、A类、B类: the article's number is no item
    items = [x.strip() for x in _ITEM_SEP.split(sentence[head.end() if head else start:cue])]
    if len(items) < 2 or not all(items):
        return []
    first = [w for w, _ in tag(items[0])]
    last = [w for w, _ in tag(items[-1])]
    return [_edge(first, from_end=True), *items[1:-1], _edge(last)]


def _clause_labels(sentence: str, cue: int, n: int) -> list[str]:
    """The labels of the n clauses before the one the cue stands in, when each opens with a label and a figure
    (面积40.15万平方公里,人口1.53亿,分别占全国的4.18%和11.16%: 面积, 人口); else none."""
    end = max(sentence.rfind(c, 0, cue) for c in ",，;；")
    clauses = []
    while end > 0 and len(clauses) < n:
        start = max(sentence.rfind(c, 0, end) for c in _CLAUSE_END + "\t") + 1
        clauses.insert(0, sentence[start:end])
        end = start - 1 if start > 0 and sentence[start - 1] in ",，;；" else -1
    labels = []
    for clause in clauses:
        figure = _NUMBER.search(clause)
        words = [w for w, _ in tag(clause[:figure.start()])] if figure and figure.start() else []
        labels.append(_edge(words, from_end=True) if words else "")
    return labels if len(labels) == n and all(labels) and len(set(labels)) == n else []


def _edge(words: list[str], from_end: bool = False) -> str:
    """The words at an item's edge that tell it from the others: the last item's first words, or with
    `from_end` the first item's last ones. At least two characters (B|类, not 类), and a figure whole
    (1|亿元, not 亿元; 10|亿元, not 10)."""
    order = words[::-1] if from_end else words  # from the edge inwards
    taken: list[str] = []
    for n, word in enumerate(order):
        taken.append(word)
        inner = order[n + 1] if n + 1 < len(order) else ""
        splits_figure = _NUMBER.fullmatch(inner if from_end else word) is not None
        if sum(map(len, taken)) >= 2 and not splits_figure:
            break
    return "".join(taken[::-1] if from_end else taken)


_COUNT_ASKED = re.compile(r"(?:几|多少)([个项家名位所座套次条场份张台户篇本种件])([^?？,，。;；的]{2,})")


def counted_item(text: str, values: list[tuple[int, int]], kept: list[int], question: str) -> int | None:
    """The one kept count whose measure word the question's counted thing follows, as the question writes it
    (9项|青年科学家总统奖 for 几项青年科学家总统奖, in 145项全球百大科技研发奖、9项青年科学家总统奖、34项劳伦斯奖):
    a list of counts labels each value after it, not before."""
    asked = _COUNT_ASKED.search(question)
    if not asked:
        return None
    measure, thing = asked.groups()

    def follows(k: int) -> int:
        end = values[k][1]
        if not text.endswith(measure, 0, end):
            return 0
        n = 0
        while n < len(thing) and end + n < len(text) and text[end + n] == thing[n]:
            n += 1
        return n

    lengths = {k: follows(k) for k in kept}
    best = max(lengths.values(), default=0)
    named = [k for k, n in lengths.items() if n == best]
    return named[0] if best >= 2 and len(named) == 1 else None


# words the tagger reads as places that name no particular one
_PLACE_WORDS = frozenset("城市 都市 大都市 城区 市区 地区 农村 乡村 全国 全省 全市 全区 当地 本地 异地 外地 国内 国外 海外 "
                         "沿海 内地 各地 两地 三地 四地 省内 省外 市内 市外".split())


NAMED_AFTER = 3  # characters of a question noun that must follow a value for the noun to label it


def named_after(text: str, values: list[tuple[int, int]], kept: list[int], nouns: list[str], question: str) -> int | None:
    """The one kept value a question noun follows right after it (past a 的), where the sentence writes the label
    after the figure (80%|高端数控机床和90%|数控系统均依靠进口: 80% for 高端数控机床). A noun the question
    qualifies with 的 (候选人的年薪) owns what is asked; it labels no figure."""
    labels = [t for t in nouns if len(t) >= NAMED_AFTER and f"{t}的" not in question]

    def follows(k: int) -> bool:
        end = values[k][1] + (text.startswith("的", values[k][1]))
        return any(text.startswith(t, end) for t in labels)

    named = [k for k in kept if follows(k)]
    return named[0] if len(named) == 1 else None


def places_another(clause: str, places: list[str]) -> bool:
    """The value's own clause names a place, none of the question's (杭州以|10.47%的人才净流入率 where 宁波 is
    asked): the value is that place's."""
    if not places:
        return False
    named = [w for w, flag in tag(clause) if flag == "ns" and len(w) >= 2 and w not in _PLACE_WORDS]
    related = lambda w: any(w in p or p in w for p in places)
    return bool(named) and not any(related(w) for w in named) and not any(p in clause for p in places)


def bounded_as_asked(question: str, text: str, values: list[tuple[int, int]], kept: list[int]) -> list[int]:
    """The kept values that carry the limit the question asks for (单套最高1.8万元 for 单套最高多少, not the
    每平方米200元 before it), where some do; else all kept. 最多的 picks a thing (盖章最多的文件), not a limit."""
    for asked, limits in LIMITS:
        if asked.search(question):
            bounded = [k for k in kept if any(w in text[max(0, values[k][0] - LIMIT_ROOM):values[k][1]] for w in limits)]
            return bounded or kept
    return kept


# verbs of change (新增 is left out: 新增博士144名、硕士1208名… lists what was added, each with its own label)
_CHANGES = ("净增", "增加", "增长", "减少", "下降", "提高", "提升")
CHANGE_ROOM = 3  # characters between a change verb and its value (比2015年净增|3.3万人, 增长了|36.6%)


def changed_as_asked(question: str, text: str, values: list[tuple[int, int]], kept: list[int]) -> list[int]:
    """The kept values a change verb of the question stands right before (比2015年净增3.3万人 for 净增了多少, not
    the 12.21万人 the total reached), where some are; else all kept."""
    verbs = [v for v in _CHANGES if v in question]

    def follows_verb(k: int) -> bool:
        before = text[max(0, values[k][0] - CHANGE_ROOM - 2):values[k][0]]
        return any(re.search(re.escape(v) + r"(?!率)", before) for v in verbs)  # 增长率为23% names a rate, not a change

    changed = [k for k in kept if follows_verb(k)]
    return changed or kept


def limits_of(text: str, start: int, end: int) -> list[int]:
    """Which of LIMITS (0: at most, 1: at least) the words around the value at start:end set."""
    around = text[max(0, start - LIMIT_ROOM):end]
    return [n for n, (_, words) in enumerate(LIMITS) if any(w in around for w in words)]


def named_by_question(text: str, value: tuple[int, int], terms: list[str]) -> bool:
    """The name at `value` is spelt out by the question's own words (共同体|建设|办公室 asked about, 食品|研究院
    for "Food Research Institute"): what the question is about, not its answer."""
    start, end = value
    covered = [False] * (end - start)
    for term in (t for t in terms if len(t) >= 2):
        i = text.find(term, start)
        while 0 <= i and i + len(term) <= end:
            covered[i - start:i - start + len(term)] = [True] * len(term)
            i = text.find(term, i + 1)
    return all(covered) if covered else False

