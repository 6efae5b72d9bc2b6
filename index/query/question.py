"""Question analysis: what kind of answer a question wants and what it pins down.

From the question alone: the expected answer type (a quantity, a date, a person, ...) from its
interrogative words, and its constraints (the places, organisations, people and years it
names) from jieba's part-of-speech tags (ns, nt, nr, m/t) with the corpus user dictionary.
The interrogatives are the language's own closed class of question words, not this corpus's
names; the entity lists come from the tagger.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from index.text.names import is_known_place, is_org_name, is_place_name, tag
from index.text.tokenize import STOPWORDS
from index.text.english import has_chinese

ANSWER_TYPES = ("quantity", "date", "person", "organization", "place", "title", "list", "reason", "method",
                "yesno", "other")
# Answer types whose answer is a short span inside a sentence (bolded on the page).
TYPED = frozenset({"quantity", "date", "person", "organization", "place", "title"})

# (pattern, type), first match wins: the more specific question words come first.
_ZH_RULES = [
    # 哪几个 asks which ones (a list), not how many
    (r"多少|(?<!哪)几[个项家名所年倍次万亿千百]|多大|多高|多长|多久|比例|百分之|几成|占比|金额|数额|规模多", "quantity"),
    (r"哪一?年|哪一?天|何时|什么时[候间]|哪个月|几月|几号|日期|时间是", "date"),
    # a body asked as 谁 (责任单位是谁) is a body
    (r"(?:单位|部门|机构)(?:是|为)?谁", "organization"),
    # 哪些人 and 什么人才 ask kinds of people (农创客、高校毕业生), a list
    (r"谁|哪位|什么人(?!才)", "person"),
    (r"哪个?(?:部门|单位|机构|组织|企业|公司|高校|学校|院校|协会|政府|委员会|银行|医院|大学)|哪家|哪所"
     r"|哪些(?:部门|单位|机构|组织|企业|高校|银行|医院|大学)"
     r"|什么(?:部门|单位|机构|组织)|由谁|主办方|承办方", "organization"),
    (r"哪里|哪儿|在哪|何处|什么地方|哪个?(?:城市|地区|省|市|县|区|镇|地方)|哪些(?:城市|地区|地方)", "place"),
    (r"什么(?:文件|规划|方案|政策文件|意见|协议|办法|条例|纲要)|哪(?:份|个|部)(?:文件|规划|方案|协议|意见)"
     r"|叫什么|名称|称为什么|题目|标题", "title"),
    (r"为什么|为何|原因|何故|目的是|意义", "reason"),
    (r"怎么|怎样|如何|什么方式|哪些方式|做法|途径|举措是", "method"),
    (r"哪些|哪[两三四五六七八九几][个项步条类点种大层]|分别|有什么|包括什么|包括哪|几方面|哪几|措施|任务", "list"),
    (r"是否|能否|能不能|可不可以|可否|有没有|是不是|会不会|吗[？?]?$", "yesno"),
]
_EN_RULES = [
    (r"\bhow (?:many|much|long|large|big|high)\b|\bwhat (?:percentage|proportion|share|amount|number|sum)\b"
     # what a payment is (What is the one-off employment subsidy for…, What one-off reward does … give)
     r"|^\s*what(?: is| are| was| were)? (?:the )?(?:[\w'-]+ ){0,4}"
     r"(?:subsid(?:y|ies)|rewards?|allowances?|bonus(?:es)?|grants?|prize money|stipends?|salar(?:y|ies))\b", "quantity"),
    (r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b|\bwhich (?:year|date|day|month)\b", "date"),
    # asked, not relative (…a graduate who starts work…): first, after a preposition or a clause
    (r"(?:^|[,;:]\s*)(?:(?:by|to|with|from|for|of)\s+)?(?:who|whom|whose)\b", "person"),
    (r"\bwhich (?:organi[sz]ations?|departments?|agenc(?:y|ies)|institutions?|bodies|body|bureaus?|units?|companies|universit(?:y|ies)|governments?)\b"
     r"|\bwhat (?:organi[sz]ations?|departments?|agenc(?:y|ies)|institutions?|body)\b", "organization"),
    (r"\bwhere\b|\bwhich (?:city|cities|place|places|district|county|province|town|region)\b", "place"),
    (r"\bwhat (?:document|plan|agreement|policy document|title|programme|program) (?:is|was|did|does)\b|\bwhat is the name\b|\bwhat is .* called\b|\btitle\b", "title"),
    (r"\bwhy\b|\bfor what reason\b|\bpurpose\b", "reason"),
    (r"\bhow\b|\bin what way\b|\bby what means\b", "method"),
    (r"\bwhat (?:measures|steps|tasks|policies|areas|fields|are the)\b|\bwhich\b|\blist\b", "list"),
    (r"^(?:is|are|can|could|does|do|did|will|was|were|has|have|should|may)\b", "yesno"),
]
_ZH_COMPILED = [(re.compile(p), t) for p, t in _ZH_RULES]
_EN_COMPILED = [(re.compile(p, re.I), t) for p, t in _EN_RULES]

_YEAR = re.compile(r"(?:19|20)\d{2}(?=\s*年|\b)")
_EN_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class QuestionAnalysis:
    answer_type: str
    places: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # content words, in question order
    is_chinese: bool = True
    # nouns that name what the question is about (not the generic 标准/情况/部门 of a question);
    # a question without one leans on the conversation before it
    subjects: list[str] = field(default_factory=list)
    question: str = ""  # as asked

    @property
    def names(self) -> list[str]:
        """Everything the question names: places, organisations, people, years."""
        return list(dict.fromkeys(self.places + self.orgs + self.people + self.years))

    @property
    def constraints(self) -> list[str]:
        """What the question pins down hard: an answer must come from evidence that mentions
        these. Places and years only: the tagger's person and organisation guesses are too
        noisy (jieba tags 安家费 as a person) to refuse an answer on; they weigh in as reader features."""
        return list(dict.fromkeys(self.places + self.years))


def question_cues(question: str) -> list[str]:
    """The question words the answer-type rules find (什么时候, 哪个部门, 多少): what is asked, never a
    qualifier the documents must hold."""
    rules = _ZH_COMPILED if has_chinese(question) else _EN_COMPILED
    return [m.group() for pattern, _ in rules for m in pattern.finditer(question) if m.group()]


def answer_type(question: str) -> str:
    rules = _ZH_COMPILED if has_chinese(question) else _EN_COMPILED
    text = question.strip()
    for pattern, kind in rules:
        if pattern.search(text):
            return kind
    return "other"


@lru_cache(maxsize=2048)
def analyze(question: str, userdict: tuple[str, ...] = ()) -> QuestionAnalysis:
    """Answer type and constraints of `question`; `userdict` is the index's (Tokenizer.userdict)."""
    kind = answer_type(question)
    if not has_chinese(question):
        return QuestionAnalysis(kind, years=_EN_YEAR.findall(question), is_chinese=False, question=question,
                                terms=[w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", question.lower()) if w not in STOPWORDS])
    places, orgs, people, terms, subjects = [], [], [], [], []
    for word, flag in tag(question, tuple(userdict)):
        word = word.strip()
        if not _HAN.search(word):
            continue
        if ((flag == "ns" and is_known_place(word, tuple(userdict))) or (flag.startswith(("nr", "n")) and is_place_name(word))) \
                and not _not_a_place(word):
            places.append(word)
        elif flag == "nt" or (flag.startswith("n") and is_org_name(word)):
            orgs.append(word)
        elif flag == "nr" and 2 <= len(word) <= 4:
            people.append(word)
        if flag[0] in "nvi" or flag in ("l", "j", "eng"):
            if word not in STOPWORDS and len(word) >= 2:
                terms.append(word)
                if (flag[0] == "n" or flag in ("vn", "eng")) and word not in GENERIC_NOUNS:
                    subjects.append(word)
    return QuestionAnalysis(kind, _unique(places), _unique(orgs), _unique(people), _unique(_YEAR.findall(question)),
                            _unique(terms), True, _unique(subjects), question)


# Words the tagger reads as places that name no place: a kind of place (城市, 中心 for 中心区, 外县, 本市, 外国:
# any other country, which a passage says as 境外 or 海外 as often) or a count of places (两港, 四区, 三省). A
# question holding one is not pinned to a place the documents must name.
GENERIC_PLACES = frozenset("城市 中心 地区 当地 本地 各地 异地 外地 城乡 农村 乡村 城镇 周边 外省 外市 外县 外区 本省 本市 本县 本区 "
                           "外国 国外 境外 海外".split())
_COUNTED_PLACES = re.compile(r"[一二两三四五六七八九十百千]+[区港省市县地城镇岛湾]")


def _not_a_place(word: str) -> bool:
    return word in GENERIC_PLACES or bool(_COUNTED_PLACES.fullmatch(word))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# Nouns any question may use without naming its subject ("具体标准是多少？", "由哪个部门负责？").
GENERIC_NOUNS = frozenset("""标准 情况 问题 方面 内容 要求 规定 部门 单位 机构 时间 条件 方式 办法 措施 政策 时候 地方 东西
    事情 具体 相关 费用 金额 数量 比例 原因 目的 作用 意义 步骤 流程 程序 材料 手续 名称 人员""".split())
