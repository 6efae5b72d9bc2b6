"""The question's qualifiers (a category of person, a place, a year, an edition, an indicator) held
against the answer's passage: which one the passage lacks, what it lists in its place, and the
signs that the passage answers a neighbouring question (博士 for 博士后, 2025年 for 2030年, 首次 for
第二次) rather than this one. The answerability model reads QUALIFIER_FEATURES; a refusal names the
missing qualifier and its siblings."""
from __future__ import annotations

import re

from index.query.question import GENERIC_NOUNS, QuestionAnalysis, question_cues
from index.text.english import has_chinese
from index.text.names import is_place_name, jieba_tags, name_variants, tag
from index.text.tokenize import STOPWORDS

# Parts of speech of the words that pin a question down (names, nouns, numbers, times).
QUALIFIER_FLAGS = ("n", "m", "t", "eng", "q")
SLOT_FLAGS = ("n", "j", "nz", "ns", "nt", "nr", "b")  # the kinds of word a qualifier and its slot are
CONTENT_FLAGS = ("n", "j", "vn", "an", "b", "eng", "m", "t", "q")
NOT_CATEGORY_HEADS = ("v", "p", "u", "c", "d", "x", "m")  # verbs, prepositions, particles, numbers: not a category
CLAUSES = re.compile(r"[,，、;；]")
ORDINAL = re.compile(r"第[一二三四五六七八九十百\d]+[届次期批轮条个项]|首[次届期批轮个]")
YEARISH = re.compile(r"(?:19|20)\d{2}年?")
_YEAR = re.compile(r"(?:19|20)\d{2}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ASKING = ("多少", "哪些", "什么")
_REFERENCE = re.compile(r"第[一二三四五六七八九十百\d]+[条章节款]")  # where to look in a document, not a qualifier

# How often a figure is paid or counted: the question's 每年 is not answered by a sentence that gives
# only 每月 (1800元 a month is not a yearly figure). Chinese and English markers of each period.
PERIODS = {
    "年": re.compile(r"每(?:人)?(?:每)?年(?!龄)|/年|年均|按年|\b(?:per|a|each) year\b|\bannual(?:ly)?\b|\byearly\b", re.I),
    "月": re.compile(r"每(?:人)?(?:每)?(?:个)?月|/月|月均|按月|\b(?:per|a|each) month\b|\bmonthly\b", re.I),
    "天": re.compile(r"每(?:人)?(?:每)?[天日]|/[天日]|日均|按[天日]|\b(?:per|a|each) day\b|\bdaily\b", re.I),
    # the whole over all periods: a yearly cap does not answer what is paid in all
    "总": re.compile(r"累计|总计|合计|共计|\bin total\b|\bcumulative(?:ly)?\b|\baltogether\b", re.I),
}
_PERIOD_NAMES = {"年": ("每年", "yearly"), "月": ("每月", "monthly"), "天": ("每天", "daily"), "总": ("累计", "total")}

QUALIFIER_FEATURES = ("qualifier_missing", "qualifier_listed", "qualifier_nowhere", "qualifier_length",
                      "year_conflict", "ordinal_conflict", "number_missing", "place_conflict", "qualifier_narrower",
                      "qualifier_sibling", "absent_share")


def _is_asking(word: str, question: str) -> bool:
    """A question word (多少, 什么), or part of one (时候 of 什么时候, 部门 of 哪个部门)."""
    return word.lower() in _ASKING or any(word in cue for cue in question_cues(question))


def missing_qualifier(analysis: QuestionAnalysis, context: str, everywhere: str) -> str | None:
    """The question's word that pins it down and that `context` (the answer's passage with its
    title and section) does not hold: one `everywhere` (all retrieved passages) never mentions
    first, then the longest."""
    context, everywhere = context.lower(), everywhere.lower()
    words = [w for w, f in tag(analysis.question) if len(w) >= 2 and f.startswith(QUALIFIER_FLAGS)]
    words += [w for w in _straddling(analysis.question) if w not in words]
    words += [c for c in analysis.constraints if c not in words]
    absent = [w for w in words if w.lower() not in context and not _is_asking(w, analysis.question)]
    if not absent:
        return None
    word = max(absent, key=lambda w: (w.lower() not in everywhere, len(w)))
    year = re.search(re.escape(word) + r"\s*年", analysis.question) if word.isdigit() else None
    return word + "年" if year else word


def _straddling(question: str) -> list[str]:
    """Nouns of the dictionary that the tagger cut across: a token and the first character of the next
    (博士|后来青禾区 holds 博士后), which a question may ask about though the tagger never gives it."""
    tagged = [w for w, _ in tag(question)]
    tags = jieba_tags()
    found = []
    for word, following in zip(tagged, tagged[1:]):
        joined = word + following[:1]
        if len(word) >= 2 and len(following) >= 2 and tags.get(joined, "x").startswith(QUALIFIER_FLAGS[0]):
            found.append(joined)
    return found


def siblings(word: str, sentence: str) -> list[str]:
    """The values of the same slot that the sentence does give (本科、硕士、博士 for 博士后;
    2020年、2025年 for 2030年), for a refusal that says what the document lists instead."""
    if YEARISH.fullmatch(word) or YEARISH.match(word):
        found = [m.group() for m in YEARISH.finditer(sentence)]
    elif ORDINAL.search(word):  # of the same count: 首次 beside 第二次, never the article 第二条
        found = [m.group() for m in ORDINAL.finditer(sentence) if m.group()[-1] == word[-1]]
    else:
        # clause-initial nouns followed by the same word: 本科毕业生…,硕士毕业生…,博士毕业生…
        heads: dict[str, list[str]] = {}
        for clause in CLAUSES.split(sentence):
            tagged = [(w, f) for w, f in tag(clause.strip()) if w.strip()]
            if len(tagged) >= 2 and not tagged[0][1].startswith(NOT_CATEGORY_HEADS) and len(tagged[0][0]) >= 2:
                heads.setdefault(tagged[1][0], []).append(tagged[0][0])
        found = max(heads.values(), key=len, default=[])
        found = found if len(found) >= 2 else []
    return [w for w in dict.fromkeys(found) if w != word]


def qualifier_features(analysis: QuestionAnalysis, context: str, everywhere: str, sentence: str) -> list[float]:
    """QUALIFIER_FEATURES of an answer: its passage `context`, all passages `everywhere`, its `sentence`."""
    question = analysis.question
    word = missing_qualifier(analysis, context, everywhere)
    lowered = context.lower()
    asked = [(w, f) for w, f in tag(question) if len(w) >= 2 and f.startswith(CONTENT_FLAGS) and not _is_asking(w, question)]
    given = [(w, f) for w, f in tag(context) if len(w) >= 2]
    absent = [(w, f) for w, f in asked if w.lower() not in lowered]
    q_years, c_years = set(_YEAR.findall(question)), set(_YEAR.findall(context))
    q_ords, c_ords = set(ORDINAL.findall(question)), set(ORDINAL.findall(context))
    q_numbers = {n for n in _NUMBER.findall(question) if not _YEAR.fullmatch(n)}

    def is_place(w: str, f: str) -> bool:
        return f == "ns" or is_place_name(w)

    return [
        float(word is not None),
        float(bool(word) and bool(siblings(word, sentence))),
        float(bool(word) and word.lower() not in everywhere.lower()),
        min(len(word or ""), 6) / 6,
        # the passage has a year, an edition or a place of its own where the question's is missing
        float(bool(q_years - c_years) and bool(c_years - q_years)),
        float(bool(q_ords - c_ords) and bool(c_ords - q_ords)),
        float(bool(q_numbers - set(_NUMBER.findall(context)))),
        float(any(is_place(w, f) for w, f in absent) and any(is_place(v, g) and v not in question for v, g in given)),
        # the question asks for a narrower kind than the passage names (博士后 where it says 博士)
        float(any(v in w and v != w for w, _ in absent for v, _ in given)),
        # a word of the same kind, sharing characters, stands where the question's is missing (大专生/本科生)
        float(any(set(w) & set(v) and v not in question and f == g for w, f in absent for v, g in given)),
        len(absent) / max(len(asked), 1),
    ]


# A name the question quotes (“人才贷”, “北泽板”): a programme, a fund, a brand. Documents write a name as
# they coin it, so passages that never hold it are about something else. A quoted count (“四区”,
# “三个第一”) sums up a list a question may word its own way: it binds nothing.
QUOTED = re.compile(r"[“\"「『]([^”\"」』]{2,30})[”\"」』]")
_COUNTED = re.compile(r"[一二两三四五六七八九十百千\d]")


def quoted_absent(question: str, everywhere: str) -> str | None:
    """The name a Chinese question quotes that no retrieved passage (`everywhere`) holds, or None."""
    if not has_chinese(question):
        return None
    passages = re.sub(r"\s+", "", everywhere).lower()
    for m in QUOTED.finditer(question):
        name = m.group(1).strip()
        if has_chinese(name) and not _COUNTED.match(name) and re.sub(r"\s+", "", name).lower() not in passages:
            return name
    for m in _TITLED.finditer(question):
        name = m.group(1).strip()
        if len(name) >= 4 and re.sub(r"\s+", "", name).lower() not in passages:
            return "《" + name + "》"
    return None


_TITLED = re.compile(r"《([^《》]{2,60})》")  # a document's title, quoted whole


def period_conflict(question: str, sentence: str) -> tuple[str, str] | None:
    """(asked, given) when the question asks a figure per one period and the sentence gives it per
    another and never per the asked one (每年 asked, only 每月 given); None when they agree."""
    asked = [p for p, marker in PERIODS.items() if marker.search(question)]
    given = [p for p, marker in PERIODS.items() if marker.search(sentence)]
    if len(asked) != 1 or asked[0] in given or not given:
        return None
    return asked[0], given[0]


def period_refusal(conflict: tuple[str, str], chinese: bool) -> str:
    """The refusal for a period conflict, in the question's language."""
    (asked_zh, asked_en), (given_zh, given_en) = (_PERIOD_NAMES[p] for p in conflict)
    if chinese:
        return f"文件给出的是{given_zh}的标准,未提到{asked_zh}的数额。"
    return f"The documents give a {given_en} figure; they give no {asked_en} one."


def listed_instead(analysis: QuestionAnalysis, word: str | None, sentence: str) -> tuple[str, list[str]] | None:
    """(`word`, the question's missing qualifier (missing_qualifier), and what the sentence lists in
    its slot) when the sentence enumerates values of the asked slot and the asked one is not among
    them: 本科、硕士、博士 for 博士后 or 大专 (the same slot: 大专毕业生 beside 硕士毕业生), 2020年 for
    2019年, 第十七届 for 第十八届. The word the question asks for (哪个级别, 哪些类型) is not a qualifier."""
    if not word or _REFERENCE.fullmatch(word) or is_asked(word, analysis.question):
        return None
    listed = siblings(word, sentence)
    others = [w for w in listed if w not in analysis.question]  # 博士 is in 博士后's question, yet listed
    if not others:
        return None
    shares = any(set(word) & set(w) for w in others)
    return (word, listed) if shares or _same_slot(word, analysis.question, sentence, others) else None


def subject_instead(analysis: QuestionAnalysis, word: str | None, sentence: str) -> tuple[str, list[str]] | None:
    """(`word`, the sentence's subject) when the sentence opens on another value of the asked slot and
    gives the figure for it alone (硕士研究生前2年按市场租金的30%缴纳 for 博士后; 本科毕业生按…60%缴纳 for
    大专毕业生): a category that shares a character or the slot with the asked one, but no two-character
    word with it (硕士研究生 may answer a 硕士生 question; it does not answer a 博士后 one)."""
    if not analysis.is_chinese or not word or len(word) < 2 or _REFERENCE.fullmatch(word) \
            or is_asked(word, analysis.question):
        return None
    opening = [(w, f) for w, f in tag(CLAUSES.split(sentence, 1)[0].strip()) if w.strip()]
    # a category opens it: not a verb, particle or number (siblings' test), a name or a function word
    # (the tagger reads 本科 as a pronoun)
    if len(opening) < 2 or opening[0][1].startswith(NOT_CATEGORY_HEADS + ("ns", "nr", "nt")) \
            or opening[0][0] in STOPWORDS:
        return None
    subject = opening[0][0] + (opening[1][0] if opening[1][1].startswith("n") and len(opening[1][0]) >= 2 else "")
    if len(subject) < 2 or subject in analysis.question or opening[0][0] in GENERIC_NOUNS \
            or opening[0][0] in DETERMINERS:  # 本次会议 is the meeting the passage is about
        return None
    if _bigrams(word) & _bigrams(subject):
        return None
    same = bool(set(word) & set(subject)) or _same_slot(word, analysis.question, sentence, [opening[0][0]])
    return (word, [subject]) if same else None


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _same_slot(word: str, question: str, sentence: str, listed: list[str]) -> bool:
    """The question's word stands where the listed ones stand: followed by the word that follows
    them in the sentence (大专|毕业生 asked, 本科|毕业生 and 硕士|毕业生 listed)."""
    after = question.split(word, 1)[1] if word in question else ""
    return any(sentence.find(w) >= 0 and after and
               sentence[sentence.find(w) + len(w):].startswith(after[:2]) for w in listed)


COUNTED_ORDINAL = re.compile(r"第[一二三四五六七八九十百\d]+(层次|层级|梯队|阶段|批次|档次|届|次|期|批|轮|档|层|步|张|大|趟|场|站)"
                             r"|首([届次期批轮趟场站])"
                             # a project's phase without 第 (一期 and 二期 of 人才公寓; not 分三期, 期间 or 期限)
                             r"|(?<![第分每前后近头共哪这那同某该本上下\d一二三四五六七八九十])[一二三四五六七八九十](期)(?![间限末初中内满])")


_EN_ORDINAL = re.compile(r"\b(second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|[2-9](?:nd|rd|th)|1[0-9]th)\b"
                         r"((?:\s+[\w'’-]+){0,5}?)\s+(cup|contest|competition|session|edition|forum|expo|summit|"
                         r"conference|congress|festival|fair|awards?|batch|phase|round)s?\b", re.I)
_EN_NUMERALS = {"second": "二", "third": "三", "fourth": "四", "fifth": "五", "sixth": "六", "seventh": "七",
                "eighth": "八", "ninth": "九", "tenth": "十"}
_EN_COUNTERS = {"batch": "批", "phase": "期", "round": "轮"}  # the rest are editions: 届


_EN_CLASS = re.compile(r"\b(?:class|category|type|tier)\s+([A-Z])\b|\b([A-Z])-(?:class|category|type|tier)\b", re.I)


def english_frame(question: str) -> str:
    """An English question's editions, rounds and classes in the Chinese the documents write them
    (the fourth Beize Cup: 第四届; a Class E talent: E类), for the rules that read Chinese labels."""
    classes = [(m.group(1) or m.group(2)).upper() + "类" for m in _EN_CLASS.finditer(question)]
    return " ".join(english_ordinals(question) + classes + english_amounts(question))


_EN_AMOUNT = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)\s*(hundred million|billion|million|thousand)?\s*(yuan|rmb)?\b", re.I)
_EN_SCALE = {"hundred million": 1e8, "billion": 1e9, "million": 1e6, "thousand": 1e3}


def english_amounts(question: str) -> list[str]:
    """An English question's amounts as the documents write them: 1 billion yuan is 10亿元, 5 million 500万,
    50,000 yuan 5万元 (a figure with neither a scale nor yuan is left as it is)."""
    out = []
    for m in _EN_AMOUNT.finditer(question):
        number, scale, currency = m.groups()
        if not scale and not currency:
            continue
        value = float(number.replace(",", "")) * _EN_SCALE.get((scale or "").lower(), 1)
        unit, size = ("亿", 1e8) if value >= 1e8 else ("万", 1e4) if value >= 1e4 else ("", 1)
        out.append(f"{value / size:g}{unit}{'元' if currency else ''}")
    return out


def english_ordinals(question: str) -> list[str]:
    """An English question's editions and rounds in the Chinese the documents write them: the fourth
    Beize Cup is 第四届, the third batch 第三批. "First" is left out: 首届, 首批 and 第一届 all say it."""
    out = []
    for m in _EN_ORDINAL.finditer(question):
        ordinal = m.group(1).lower()
        number = _EN_NUMERALS.get(ordinal) or _chinese_numeral(int(re.match(r"\d+", ordinal).group()))
        out.append("第" + number + _EN_COUNTERS.get(m.group(3).lower().rstrip("s"), "届"))
    return out


def _chinese_numeral(n: int) -> str:  # 2 to 19, as an edition is written: 二, 十, 十八
    digits = "零一二三四五六七八九"
    return digits[n] if n < 10 else "十" + (digits[n - 10] if n > 10 else "")


def ordinal_instead(question: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's edition or round, the ones the passage gives instead) when the passage
    names other editions of the same count and never the asked one: 首次 for 第二次, 第十七届 for
    第十八届. Article numbers (第五条) are where to look, not a qualifier, and are not compared."""
    for m in COUNTED_ORDINAL.finditer(question):
        word, counter = m.group(), m.group(1) or m.group(2) or m.group(3)
        if word in context:
            continue
        others = [o.group() for o in COUNTED_ORDINAL.finditer(context) if (o.group(1) or o.group(2) or o.group(3)) == counter]
        if others:
            return word, list(dict.fromkeys(others))
    return None


def schedule_instead(question: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's year of a schedule, the ones the answer's passage gives instead): 首年发放50%,
    第二年、第三年各发放25% does not answer 第四年, unless one of them runs on (第3年起按50%缴纳
    answers any later year)."""
    for m in SCHEDULE_YEAR.finditer(question):
        others = [o.group() for o in SCHEDULE_YEAR.finditer(context)]
        if m.group() not in context and others and not RUNS_ON.search(context):
            return m.group(), list(dict.fromkeys(others))
    return None


SCHEDULE_YEAR = re.compile(r"第[一二三四五六七八九十\d]+个?年(?![度代级])|首年")
RUNS_ON = re.compile(r"第[一二三四五六七八九十\d]+个?年(?:起|以后|后|开始|及以后)")


# A lettered or numbered class: A类人才, 一类地区, 二级, 一等奖, 三星级 (not 这一类, 每一级: a kind, not a class).
CLASS_LABEL = re.compile(r"(?<![A-Za-z0-9这那哪同每某此该任])([A-Z]|[甲乙丙丁戊]|[一二三四五六七八九十]{1,2}|\d{1,2})(类|级|等|档|星)"
                         r"|(?<![副地])(国家|省|市|县|区)(级)")  # and the levels of government: 省级, 市级


# A numbered stretch of time: 第3年起, 第二个月后 (前2年按30%缴纳,第3年起按50%缴纳).
NUMBERED_PERIOD = re.compile(r"第[\d一二三四五六七八九十]+个?(?:年|月)(?:起|后|内)?")


def labels_in(question: str) -> list[str]:
    """The question's ordinal, class and numbered-period labels (第一层次, 第二批, B类, 一等, 第3年起): the words
    that bind a value in a list of them (第一层次每人给予50万元,第二层次每人给予20万元), though the tagger reads them
    as numerals."""
    return [m.group() for pattern in (COUNTED_ORDINAL, CLASS_LABEL, NUMBERED_PERIOD) for m in pattern.finditer(question)]


def binds_another(question: str, clause: str) -> bool:
    """The clause names another label of the kind the question asks (第一层次 where 第二层次 is asked, A类
    for B类) and not the asked one: its value belongs to that other label."""
    for pattern, counter in ((COUNTED_ORDINAL, lambda m: m.group(1) or m.group(2) or m.group(3)), (CLASS_LABEL, _class_kind)):
        for asked in pattern.finditer(question):
            if asked.group() not in clause and any(counter(o) == counter(asked) and o.group() != asked.group()
                                                   for o in pattern.finditer(clause)):
                return True
    return False


def parallel_instead(question: str, sentence: str, others: list[str]) -> tuple[str, list[str]] | None:
    """(the question's value, the values parallel sentences give) when the answer's sentence and others of
    its passage share a frame (对新引进的数字领域|博士|,给予… and …|硕士|,给予…) and the question puts
    another value in the slot (数字领域博士后): the documents give the slot's values, not that one."""
    words = [w for w, _ in tag(sentence)]
    asked = [w for w, _ in tag(question)]
    values, tail = [], None
    for other in others:
        theirs = [(w, f) for w, f in tag(other)]
        k = 0
        while k < min(len(words), len(theirs)) and words[k] == theirs[k][0]:
            k += 1
        if k + 1 >= min(len(words), len(theirs)) or len("".join(words[:k])) < 4 or words[k + 1] != theirs[k + 1][0]:
            continue  # no shared frame, or the sentences do not run on alike after the slot
        mine, their = tag(words[k])[0][1], theirs[k][1]
        frame_tail = next((w for w in reversed(words[:k]) if len(w) >= 2), None)
        if frame_tail and mine.startswith("n") and their.startswith("n"):
            values += [words[k], theirs[k][0]]
            tail = frame_tail
    if not values or tail not in asked or asked.index(tail) + 1 >= len(asked):
        return None
    word = asked[asked.index(tail) + 1]
    values = list(dict.fromkeys(values))
    return (word, values) if len(word) >= 2 and word not in values and word not in sentence else None


def _class_kind(m: re.Match) -> str:
    return m.group(2) or m.group(4)


def class_instead(question: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's class, the ones the passages give instead) when they name other classes of the
    same kind and never the asked one: A类、B类、C类 for D类, 一等奖、二等奖 for 特等奖's neighbour 三等奖."""
    for m in CLASS_LABEL.finditer(question):
        word, counter = m.group(), _class_kind(m)
        if word in context:
            continue
        others = [o.group() for o in CLASS_LABEL.finditer(context) if _class_kind(o) == counter and o.group() != word]
        if len(set(others)) >= 2:  # a list of classes, not one passing mention
            return word, list(dict.fromkeys(others))
    return None


# A named class: a contest's group (初创组, 成长组), a prize (优秀奖, 一等奖), a market tier (基础层, 精选层).
NAMED_CLASS = re.compile(r"[\u4e00-\u9fff]{2}([组奖层])")


def named_class_instead(question: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's named class, the ones the passage gives instead) when the passage names two or
    more others of the same kind and never the asked one: 初创组、成长组 for 青年组."""
    ends = _token_ends(question)
    starts = {0, *ends}
    for m in NAMED_CLASS.finditer(question):
        word = m.group()
        if m.start() not in starts or m.start() + 1 in ends or m.end() not in ends or word in context \
                or not _names_a_class(word):
            continue
        others = [o.group() for o in NAMED_CLASS.finditer(context)
                  if o.group(1) == m.group(1) and o.group() != word and _names_a_class(o.group())]
        others = list(dict.fromkeys(others))
        if len(others) >= 2:
            return word, others
    return None


def _names_a_class(word: str) -> bool:
    """Not a count or a question word before the class's head (两个组, 每个奖, 多少奖)."""
    return not any(c in word for c in "多少几哪每各个这那其该本")


def _token_ends(text: str) -> set[int]:
    """Where the tagger's words of `text` end (a class is whole words, its name not cut after
    its first character: not 每个|奖金, 北泽杯|获奖 nor 的|获奖)."""
    ends, at = [], 0
    for w, _ in tag(text):
        at += len(w)
        ends.append(at)
    return set(ends)


def place_instead(analysis: QuestionAnalysis, sentence: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's place, the places of its level the answer sentence names instead) when the
    answer's passage never names the asked place: 槐安县对在县内工业园区就业的新市民… does not answer for 丹枫县."""
    nowhere = context.lower()
    for place in analysis.places:
        if len(place) < 3 or place[-1] not in "省市县区镇乡" or any(v.lower() in nowhere for v in name_variants(place)):
            continue
        others = [w for w in places_in(sentence) if w[-1] == place[-1] and w not in analysis.question]
        if others:
            return place, list(dict.fromkeys(others))
    return None


def places_in(sentence: str) -> list[str]:
    """Names with a place's suffix, also where the tagger cut one after its first character (槐|安县)."""
    words = [w for w, _ in tag(sentence)]
    found = []
    for before, word in zip([""] + words, words):
        if len(before) == 1 and len(word) == 2 and _HAN_CHAR.match(before) and is_place_name(before + word):
            found.append(before + word)
        elif len(word) >= 3 and is_place_name(word):
            found.append(word)
    return found


_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")


def indicator_swap(question: str, local: str) -> tuple[str, str] | None:
    """(the question's indicator, the one that stands in its place) when a how-much question asks X+H
    (租房补贴) and `local`, a sentence with its own heading, never names X but gives a figure for Y+H
    (购房补贴150万元, Y a word as long as X): the sentence answers for another indicator."""
    words = tag(question)
    local_words = {w for w, f in tag(local) if f.startswith(("n", "v"))}
    for (x, fx), (h, fh) in zip(words, words[1:]):
        if len(x) < 2 or len(h) < 2 or fx not in ("n", "vn", "v") or not fh.startswith("n") or x in local:
            continue
        for m in re.finditer(re.escape(h) + r"[^\d,，。;；]{0,3}\d", local):
            y = local[max(0, m.start() - len(x)):m.start()]
            if len(y) == len(x) and y != x and y in local_words:
                return x + h, y + h
    return None


def slot_taken(analysis: QuestionAnalysis, context: str, sentence: str, everywhere: str = "") -> tuple[str, list[str]] | None:
    """(the question's qualifier, the words that stand in its place) when the sentence gives the
    asked thing for another value of the same kind: 二甲|医院 asked where 三甲|医院 stands, 数学|名师
    where 英语|名师, 市级|专业 where 省级|专业. The qualifier is missing from the passage; the word in
    its place has the same part of speech (any noun's, when no retrieved passage has the qualifier)
    and is not in the question."""
    question = analysis.question
    if not analysis.is_chinese:
        return None
    asked = [(w, f) for w, f in tag(question) if w.strip()]
    given = [(w, f) for w, f in tag(sentence) if w.strip()]
    lowered, nowhere = context.lower(), everywhere.lower()
    for (word, flag), (head, head_flag) in zip(asked, asked[1:]):
        if len(word) < 2 or len(head) < 2 or not flag.startswith(SLOT_FLAGS) or not head_flag.startswith(SLOT_FLAGS) \
                or word in GENERIC_NOUNS or word in DETERMINERS or word.lower() in lowered or is_asked(word, question):
            continue
        absent = bool(everywhere) and word.lower() not in nowhere
        instead = [w for (w, f), (h, _) in zip(given, given[1:])
                   if h == head and (f == flag or (absent and f.startswith(SLOT_FLAGS))) and len(w) >= 2
                   and w not in question and w not in GENERIC_NOUNS]
        # the sentence's tagger kept the pair as one word (高级技师 where 特级|技师 is asked)
        instead += [w[:-len(head)] for w, f in given if f.startswith(SLOT_FLAGS) and w.endswith(head)
                    and len(w) == len(word) + len(head) and w[:-len(head)] not in question]
        if instead:
            return word, list(dict.fromkeys(instead))
    return None


# words that pick out a whole or a part, not a kind (整个行业 is the sector, not one kind of it)
DETERMINERS = frozenset("整个 全部 所有 各个 其他 其它 整体 本次 该项 此次".split())


def is_asked(word: str, question: str) -> bool:
    """The word names what the question asks for (哪个级别, 什么方向), not a qualifier."""
    return re.search(r"(?:哪|什么|几)[个些一几]?[个项类种]?" + re.escape(word), question) is not None


def head_taken(analysis: QuestionAnalysis, context: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's term, the passage's terms in its place) when a term no retrieved passage has
    shares its head with a term of the answer's passage of the same length (留学生 asked, 大学生
    given; 公共租赁住房 asked, 保障性租赁住房 given)."""
    question = analysis.question
    if not analysis.is_chinese:
        return None
    lowered, nowhere = context.lower(), everywhere.lower()
    given = {w for w, f in tag(context) if len(w) >= 3 and f.startswith(SLOT_FLAGS) and w not in question}
    for word, flag in tag(question):
        if len(word) < 3 or not flag.startswith(SLOT_FLAGS) or word in GENERIC_NOUNS or word.lower() in nowhere \
                or is_asked(word, question):
            continue
        instead = sorted(w for w in given if len(w) == len(word) and w[-2:] == word[-2:] and w[0] != word[0])
        if instead:
            return word, instead
    return None


_MODIFIER_FLAGS = ("n", "t", "b", "j", "nz")  # what names a kind before its head: 青年|人才, 高校|教师


def _compounds(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(modifier, head) pairs of a tagged text: two words the tagger kept apart (青年|人才) or one
    it kept whole (高校教师: 高校, 教师)."""
    found = []
    for (m, fm), (h, fh) in zip(tokens, tokens[1:]):
        if len(m) >= 2 and len(h) >= 2 and fm.startswith(_MODIFIER_FLAGS) and fh.startswith("n") \
                and not fh.startswith(("nr", "ns", "nt")):
            found.append((m, h))
    for w, f in tokens:
        if len(w) >= 4 and f.startswith("n") and not f.startswith(("nr", "ns", "nt")):
            found.append((w[:-2], w[-2:]))
    return found


def compound_taken(analysis: QuestionAnalysis, sentence: str, context: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's term, the sentence's terms in its place) when the question names a kind by a
    modifier and a head that no retrieved passage joins (青年人才) and the answer's sentence joins
    another modifier to the same head (领军人才): the sentence is about another kind."""
    question = analysis.question
    if not analysis.is_chinese:
        return None
    given = _compounds(tag(sentence))
    for m, h in _compounds(tag(question)):
        if m + h in everywhere or m in context or h in GENERIC_NOUNS or m in GENERIC_NOUNS or m in DETERMINERS \
                or is_place_name(m) \
                or _is_asking(m, question) or is_asked(h, question) or is_asked(m + h, question):
            continue
        instead = [a + b for a, b in given if b == h and a not in question and a + b not in question]
        if instead:
            return m + h, list(dict.fromkeys(instead))
    return None


_NTH = re.compile(r"第([一二三四五六七八九十\d]{1,3})(?:个|大|项)([\u4e00-\u9fff]{2})")
_NUMERALS = {c: n for n, c in enumerate("零一二三四五六七八九十")} | {"两": 2}


def numeral_value(text: str) -> int | None:
    """1 to 99 in digits or in Chinese numerals (九, 十六, 二十): how many or which one."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in _NUMERALS for c in text):
        return None
    if "十" not in text:
        return _NUMERALS[text] if len(text) == 1 else None
    tens, _, units = text.partition("十")
    return (_NUMERALS[tens] if tens else 1) * 10 + (_NUMERALS[units] if units else 0)


def beyond_count(question: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's Nth, the count the passages give) when the question asks for an item past the
    number there are: 第四个战略坚持 where the passages name 三个战略坚持, 第十个方面 where 8个方面."""
    for m in _NTH.finditer(question):
        asked = numeral_value(m.group(1))
        counts = re.finditer(r"([一二两三四五六七八九十\d]{1,3})(?:个|大|项)" + re.escape(m.group(2)), everywhere)
        given = [(numeral_value(c.group(1)), c) for c in counts]
        given = [(n, c) for n, c in given if n is not None]
        if asked and given and all(n < asked for n, _ in given):
            k = 0  # the thing counted, as far as the question and the passage say it alike (战略|坚持)
            while m.end() + k < len(question) and given[0][1].end() + k < len(everywhere) \
                    and question[m.end() + k] == everywhere[given[0][1].end() + k]:
                k += 1
            return question[m.start():m.end() + k], list(dict.fromkeys(everywhere[c.start():c.end() + k] for _, c in given))
    return None
