"""Refusals of a neighbouring question, each held against the answer's own sentence and passage: the
same verb with another object, another threshold, post, count, rung of a ladder, side of a bound or way
of doing; a name like one the passage quotes; an English question's place spelt in pinyin. Each returns
(what the question asks, what the documents give instead) or None, as index/read/qualifiers.py's do."""
from __future__ import annotations

import difflib
import os
import re

from index.build import same_sense
from index.build.sentences import QUANTITY
from index.query.question import GENERIC_NOUNS, QuestionAnalysis
from index.text.english import has_chinese, is_pinyin, pinyin_places, spelt_in, to_chinese_terms
from index.text.names import is_place_name, tag

from .binding import LIMIT_ROOM, LIMITS, limits_of
from .measures import figure_kind
from .qualifiers import DETERMINERS, QUOTED, SLOT_FLAGS, is_asked, places_in


_SCOPES = ("省", "市", "县", "区", "镇", "境", "国")
# named periods: five-year plans (十三五, the 13th Five-Year Plan) and halves of a year
_PLAN = re.compile(r"十[一二三四五六七八九]五")
_EN_PLAN = re.compile(r"\b1([1-9])(?:st|nd|rd|th)\s+five[- ]year plan", re.I)
_HALVES = ("上半年", "下半年")


def named_periods(text: str) -> set[str]:
    """The plan periods and halves of a year a text names: 十三五, 上半年; an English question's in Chinese."""
    found = set(_PLAN.findall(text)) | {h for h in _HALVES if h in text}
    return found | {"十" + "一二三四五六七八九"[int(m.group(1)) - 1] + "五" for m in _EN_PLAN.finditer(text)} | \
        ({"上半年"} if re.search(r"\bfirst half\b|\bH1\b", text, re.I) else set()) | \
        ({"下半年"} if re.search(r"\bsecond half\b|\bH2\b", text, re.I) else set())


def period_instead(question: str, sentence: str, context: str = "", everywhere: str = "") -> tuple[str, list[str]] | None:
    """(the question's named period, the ones given instead) when the answer's sentence names other plan
    periods or halves of the year and not the asked one (“十三五”期间…92.86亿元 for “十二五”期间), or names none
    while its passage names others and no retrieved passage names the asked one (“十二五” asked of a plan that
    reports “十三五” and aims at “十四五”). The document's title is not held against the question: a “十四五”
    plan's title stands over the “十三五” figures it reports."""
    asked = named_periods(question)
    given = named_periods(sentence)
    if asked and given and not asked & given:
        return sorted(asked)[0], sorted(given)
    around = named_periods(context.partition("\n")[2])  # the passage and its section, not the document's title
    if asked and not given and around and not asked & (around | named_periods(everywhere)):
        return sorted(asked)[0], sorted(around)
    return None


def scope_instead(question: str, context: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's scope, the sentence's) when the question asks within or beyond a bound (省外, 市内)
    that the answer's passage never names and the sentence gives the other side (省内各市推荐的企业
    does not answer for 省外推荐的). 省内外 names both."""
    for unit in _SCOPES:
        for side, other in (("外", "内"), ("内", "外")):
            asked = unit + side
            if asked in question and asked not in context and unit + "内外" not in context \
                    and unit + other in sentence and unit + other not in question:
                return asked, [unit + other]
    return None


def manner_instead(analysis: QuestionAnalysis, everywhere: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's word before a verb, the sentence's in its place) when the question says how
    something is done (柔性|引进|顶尖人才) with a word no retrieved passage names, and the sentence does
    the same to the same object another way (全职|引进|顶尖人才): it counts another thing."""
    if not analysis.is_chinese:
        return None
    question, lowered = analysis.question, everywhere.lower()
    asked = [(w, f) for w, f in tag(question) if w.strip()]
    given = [(w, f) for w, f in tag(sentence) if w.strip()]
    for (word, flag), (verb, verb_flag), (obj, obj_flag) in zip(asked, asked[1:], asked[2:]):
        if not verb_flag.startswith("v") or len(verb) < 2 or len(word) < 2 or not flag.startswith(("n", "b")) \
                or len(obj) < 2 or not obj_flag.startswith(SLOT_FLAGS) \
                or flag.startswith(("nr", "ns", "nt", "nz")) or word in GENERIC_NOUNS or word.lower() in lowered \
                or is_asked(word, question) or word[-1] in "期间时年月季":  # “十四五”时期|推进: when, not how
            continue
        # the same verb on the same object (…|引进|顶尖), so the word before it says how, not who
        instead = [w for (w, f), (v, _), (o, _) in zip(given, given[1:], given[2:]) if v == verb and o == obj
                   and len(w) >= 2 and f == flag and w not in question]
        if instead:
            return word, list(dict.fromkeys(instead))
    return None


def name_like_quoted(question: str, context: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's name, the passage's quoted names like it) when the question names, unquoted, a
    programme or place no retrieved passage holds, and the answer's passage quotes one of its length
    with the same first two characters and last one: 临溪创业港 asked where “临溪人才港” is given."""
    if not has_chinese(question):
        return None
    nowhere = everywhere.lower()
    for name in dict.fromkeys(m.group(1).strip() for m in QUOTED.finditer(context)):
        if len(name) < 4 or name in question:
            continue
        for at in (m.start() for m in re.finditer(re.escape(name[:2]), question)):
            word = question[at:at + len(name)]
            if word[-1] == name[-1] and _HAN_RUN.fullmatch(word) and word.lower() not in nowhere:
                return word, [name]
    return None


_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


def pinyin_place_instead(question: str, sentence: str, context: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the English question's place, the places the answer sentence names) when the question spells a
    place in pinyin (in Beize) that the answer's passage does not write (北泽) where another retrieved
    passage does, or where the answer's passage names other places (柳川市). A name that is not pinyin
    (London, Boston) is left to the other rules."""
    if has_chinese(question):
        return None
    for name in pinyin_places(question):
        if spelt_in(name, context) or not is_pinyin(name):
            continue
        if spelt_in(name, everywhere):
            return name, list(dict.fromkeys(places_in(sentence)))
        others = [p for p in places_in(context) if not spelt_in(name, p)]
        if others:  # the passage is about its own places, none of them the asked one
            return name, list(dict.fromkeys(others))
    return None


def object_instead(analysis: QuestionAnalysis, context: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's object, the sentence's in its place) when the question's verb takes an object
    the answer's passage never names and the sentence gives the same verb another object: 引进高层次人才
    does not answer 引进博士后, nor 缴纳失业保险费 缴纳养老保险费. An object is a run of nouns; a short
    one is too often a paraphrase, so two objects conflict only when their first words are each of
    three characters or more, or when they share a head and differ in a modifier of two or more."""
    if not analysis.is_chinese:
        return None
    question, lowered = analysis.question, context.lower()
    asked = [(w, f) for w, f in tag(question) if w.strip()]
    given = [(w, f) for w, f in tag(sentence) if w.strip()]
    for n, (verb, verb_flag) in enumerate(asked[:-1]):
        obj = _noun_run(asked, n + 1)
        if not verb_flag.startswith("v") or len(verb) < 2 or not obj or any(_ASKING_WORD.search(w) for w in obj):
            continue
        instead = ["".join(other) for m, (v, _) in enumerate(given[:-1]) if v == verb
                   for other in [_noun_run(given, m + 1)] if other and "".join(other) not in question
                   and _objects_conflict(obj, other, lowered)]
        if instead:
            return "".join(obj), list(dict.fromkeys(instead))
    return None


_ASKING_WORD = re.compile(r"哪|什么|几|多少|谁|何")


def _noun_run(tokens: list[tuple[str, str]], start: int, most: int = 3) -> list[str]:
    """The nouns from `start` on (at most `most`), ending in an action noun if one follows (学徒制|培训)."""
    run = []
    for word, flag in tokens[start:start + most]:
        if not flag.startswith(SLOT_FLAGS + ("vn", "l")):
            break
        run.append(word)
    return run


def _objects_conflict(asked: list[str], given: list[str], context: str) -> bool:
    """Two different objects, the asked one's distinguishing part absent from the answer's passage:
    first words of three characters or more each (博士后 and 高层次), or a shared head with modifiers
    of two or more (养老|保险费 and 失业|保险费)."""
    first = asked[0]
    if first != given[0] and len(first) >= 3 and len(given[0]) >= 3 and first not in GENERIC_NOUNS \
            and first.lower() not in context:
        return True
    a, g = "".join(asked), "".join(given)
    shared = len(os.path.commonprefix([a[::-1], g[::-1]]))
    return shared >= 2 and len(a) - shared >= 2 and len(g) - shared >= 2 and a[:-shared].lower() not in context


# Ladders of categories a policy pays by rung: a rung is not answered by another of its ladder.
LADDERS = (
    (("中专",), ("大专", "专科", "高职"), ("本科", "学士"), ("硕士",), ("博士",), ("博士后",)),
    (("初级工",), ("中级工",), ("高级工",), ("技师",), ("高级技师",)),
    (("国家级",), ("省级", "省部级"), ("市级", "地市级"), ("县级", "区级")),
)
_RUNG_WORDS = sorted(((w, (n, k)) for n, ladder in enumerate(LADDERS) for k, rung in enumerate(ladder) for w in rung),
                     key=lambda wr: -len(wr[0]))


def rung_of(word: str) -> tuple[int, int] | None:
    """(ladder, rung) of a word that opens with a rung's name (博士研究生: 博士; 博士后: 博士后)."""
    return next((rung for name, rung in _RUNG_WORDS if word.startswith(name)), None)


def _asked_rungs(question: str) -> list[tuple[str, bool]]:
    """The question's words, each with whether it spans the rungs above or below it (硕士以上); an
    English question's through the glossary (postdoctoral: 博士后)."""
    if not has_chinese(question):
        spanning = _SPANS_RUNGS.search(question) is not None
        return [(w, spanning) for w in to_chinese_terms(question)]
    words = [w for w, _ in tag(question)]
    return [(w, "".join(words[n + 1:n + 3]).startswith(("以上", "及以上", "以下", "及以下"))) for n, w in enumerate(words)]


_SPANS_RUNGS = re.compile(r"\b(?:or|and) (?:above|higher|more|below|lower)\b|\bat least\b", re.I)


def rung_instead(question: str, context: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's rung, the sentence's rungs of its ladder) when the question asks for one rung
    (大专, 博士后, 高级工) that the answer's passage never names and the sentence gives others
    (硕士…10万元,博士…20万元 for 大专; 博士研究生48人 for 博士后). A rung with 以上 or 以下 spans others."""
    have = {rung_of(w) for w, _ in tag(context)}
    for word, spanning in _asked_rungs(question):
        rung = rung_of(word)
        if rung is not None and spanning and has_chinese(question):
            # a span from another rung (市级以上 for 省级以上) counts other things
            bounds = [m.group(1) for m in re.finditer(r"([\u4e00-\u9fff]{2,3}?)(?:及)?以上", sentence)
                      if (r := rung_of(m.group(1))) is not None and r[0] == rung[0] and r != rung]
            if bounds and not re.search(re.escape(word) + "(?:及)?以上", context):
                return word + "以上", [b + "以上" for b in dict.fromkeys(bounds)]
        if rung is None or rung in have or spanning:
            continue
        others = [w for w, _ in tag(sentence) if (r := rung_of(w)) is not None and r[0] == rung[0] and r != rung]
        if others:
            return word, list(dict.fromkeys(others))
    return None


_ASKED_COUNT = re.compile(r"(?<!哪)(?:几|多少)(家|所|座|名|人|位|条|批|次|场|套|户|篇|本|种|件|项|类)")
_COUNTED_VALUE = re.compile(r"\d+(?:\.\d+)?[万亿千百]?([家所座名人位条批次场套户篇本种件项类元%])")
# any figure of a measure, in digits or words, with its approximations (900余次, 百名, 近40名)
_ANY_COUNT = re.compile(r"[\d零〇一二两三四五六七八九十百千万亿]+(?:\.\d+)?[余多]?[万亿千百]?([家所座名人位条批次场套户篇本种件项类])")
_SAME_COUNT = ({"人", "名", "位"}, {"种", "类"})


def count_instead(analysis: QuestionAnalysis, sentence: str, context: str = "") -> tuple[str, list[str]] | None:
    """(what the question counts, the sentence's values) when a how-many question counts one thing
    (几家, 多少所) and the sentence gives figures, none of them of that thing (6.2万人 for 几家重点实验室):
    it counts something else. The measure word must stand alone (多少|项目 counts no 项)."""
    if analysis.answer_type != "quantity" or not analysis.is_chinese or "吗" in analysis.question:
        return None  # 几项条件都要满足吗 asks yes or no
    tagged = [(w, f) for w, f in tag(analysis.question) if w.strip()]
    words = [w for w, _ in tagged]
    for m in _ASKED_COUNT.finditer(analysis.question):
        unit = m.group(1)
        if m.group() in words:
            after = words.index(m.group()) + 1
        elif any(a + b == m.group() for a, b in zip(words, words[1:])):
            after = next(n for n, (a, b) in enumerate(zip(words, words[1:])) if a + b == m.group()) + 2
        else:
            continue  # 多少|项目, 几|人才: the measure word is part of a noun
        same = next((g for g in _SAME_COUNT if unit in g), {unit})
        values = list(_COUNTED_VALUE.finditer(sentence))
        counted = "".join(_noun_run(tagged, after))  # 几家|重点|实验室: 重点实验室
        fitting = [v for v in _ANY_COUNT.finditer(sentence) if v.group(1) in same]
        if values and not fitting:
            return counted or m.group(), list(dict.fromkeys(v.group() for v in values))
        if fitting and len(counted) >= 2 and counted.lower() not in context.lower():
            # the same measure, of another thing the passage never calls the asked one (40多家科技型企业
            # for 多少家金融机构)
            after = ["".join(_noun_run([(w, f) for w, f in tag(sentence[v.end():v.end() + 12]) if w.strip()], 0))
                     for v in fitting]
            # or the label before a value that ends its clause: 引进大学生|6万名 for 多少名中职毕业生
            things = [t or _label_before(sentence, v.start()) for v, t in zip(fitting, after)]
            if all(len(t) >= 2 and counted not in t and t not in counted for t in things):
                return counted, list(dict.fromkeys(v.group() + t if a else t + v.group()
                                                   for v, t, a in zip(fitting, things, after)))
    return None


ROLE = re.compile(r"(?:常务副|副|代理)?(?:党委书记|书记|秘书长|理事长|董事长|总经理|局长|镇长|区长|县长|市长|省长|主任|主席|"
                  r"院长|校长|所长|会长|部长|厅长|处长|科长|经理|总监)")


def role_absent(analysis: QuestionAnalysis, context: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the asked role, the roles the sentence names instead) when a who-question asks for the holder
    of a post (镇长, 副局长, 秘书长) that the answer's passage never names: the person it gives holds
    another post (党委书记唐知远 for 镇长). A deputy's post is another post (副局长 is not 局长)."""
    if analysis.answer_type != "person" or not analysis.is_chinese:
        return None
    for m in ROLE.finditer(analysis.question):
        role = m.group()
        if not re.search(("" if role.startswith(("副", "常务", "代理")) else "(?<!副)") + role, context):
            return role, list(dict.fromkeys(r.group() for r in ROLE.finditer(sentence)))
    return None


_FIGURE_UNIT = r"(?:万|亿|千)?(?:元|人次|人|家|个|项|年|月|天|岁|平方米|亩|户|名|倍|%|套|所|次)"
_QUALIFYING_FIGURE = re.compile(r"(?<=[\u4e00-\u9fff]{2})(\d+(?:\.\d+)?)(" + _FIGURE_UNIT + ")")


def figure_instead(question: str, context: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's figure, the sentence's in its place) when the question qualifies by a figure
    (突破50亿元的企业, 带动10人以上) that the answer's passage never states, and the sentence gives
    the same words with other figures (突破1亿元、5亿元、10亿元): it answers for another threshold."""
    for m in _QUALIFYING_FIGURE.finditer(question):
        lead, unit = question[m.start() - 2:m.start()], m.group(2)
        if m.group() in context:
            continue
        value = r"\d+(?:\.\d+)?" + re.escape(unit)
        others = [v for o in re.finditer(re.escape(lead) + f"{value}(?:[、和或]{value})*", sentence)
                  for v in re.findall(value, o.group())]
        if others:
            return m.group(), list(dict.fromkeys(others))
    return None


_LABEL_EDGE = ",，;；。:：、(（)）"
_LABEL_WORDS = ("n", "vn", "b", "j", "nz", "l")  # what a value's label is made of: 全科|医生, 护士|数, 教育|名家


def _words_before(sentence: str, value_start: int) -> list[tuple[str, str]]:
    """The tagged words of a value's clause before it, up to its label's last noun (达到, 为: the verb
    between the label and its value is left out)."""
    begin = max(sentence.rfind(p, 0, value_start) for p in _LABEL_EDGE) + 1
    words = tag(sentence[begin:value_start])
    while words and not words[-1][1].startswith(_LABEL_WORDS):
        words = words[:-1]
    return words


def _label_before(sentence: str, value_start: int) -> str:
    """The nouns that label a value from before it (全科医生|达5名/万人), or ""."""
    label = []
    for word, flag in reversed(_words_before(sentence, value_start)):
        if not flag.startswith(_LABEL_WORDS) or not word.strip():
            break
        label.insert(0, word)
    return "".join(label)


def label_instead(question: str, sentence: str, value_start: int) -> tuple[str, list[str]] | None:
    """(the question's noun, the one that labels the bound value instead) when the value's own label, the
    nouns right before it in its clause (全科医生|达5名/万人, 护士数|达到5人), ends in a word of the question
    but opens with another (专科医生, 护理员数), which neither the sentence nor its label holds: the value
    counts another thing of the asked kind."""
    words = _words_before(sentence, value_start)
    label = []
    while words and words[-1][1].startswith(_LABEL_WORDS) and words[-1][0].strip():
        label.insert(0, words[-1][0])
        words = words[:-1]
    if len(label) < 2 or "".join(label) in question:
        return None
    asked = [w for w, _ in tag(question)]
    for n, word in enumerate(asked[1:], 1):
        if word != label[-1] or asked[n - 1] in label:
            continue
        modifier = asked[n - 1]
        if len(modifier) >= 2 and modifier not in sentence and not _ASKING_WORD.search(modifier) \
                and modifier not in DETERMINERS:
            return modifier + word, ["".join(label)]
    # the mirror: the label opens with the question's word and goes on with another (发明专利|授权量 for
    # 发明专利|申请量)
    for n, word in enumerate(asked[:-1]):
        if word not in label[:-1] or len(word) < 2:
            continue
        ours, theirs = asked[n + 1], label[label.index(word) + 1]
        if ours != theirs and len(ours) >= 2 and ours not in sentence and theirs not in question \
                and tag(ours)[0][1].startswith(_LABEL_WORDS) and not _ASKING_WORD.search(ours) \
                and not same_sense(ours, theirs):  # 中小学老师 is 中小学教师
            return word + ours, ["".join(label)]
    return None


_FIGURE_START = re.compile(r"[\d零〇一二两三四五六七八九十百千万亿]")


def figure_start(sentence: str, start: int, end: int) -> int:
    """Where the figure of a bound span begins: 名家1名 is bound with its label, 1名 is the figure."""
    m = _FIGURE_START.search(sentence, start, end)
    return m.start() if m else start


def modifier_instead(question: str, sentence: str, value_start: int, value_end: int | None = None) -> tuple[str, list[str]] | None:
    """(the question's term, the value's label) when the value's label and the question's term end alike
    (…专业人才总量, …类硕士以上研究生) after different modifiers, and the question's modifier is nowhere in the
    sentence (仲裁专业人才总量 asked, 法律服务专业人才总量达到550人以上 given): the value is another kind's. With
    `value_end`, the thing a count names after its figure is read too (约1210万个|工作岗位 for 空缺岗位)."""
    found = _other_modifier(question, sentence, _words_before(sentence, value_start))
    if found is None and value_end is not None:
        figure = QUANTITY.match(sentence, value_start)
        end = figure.end() if figure else value_end
        found = _other_modifier(question, sentence, _noun_tokens(sentence[end:end + 12]))
    return found


def _noun_tokens(text: str) -> list[tuple[str, str]]:
    """The tagged nouns that open `text` (工作|岗位 of 工作岗位,…)."""
    words = []
    for word, flag in tag(text):
        if not flag.startswith(_LABEL_WORDS) or not word.strip():
            break
        # a long noun kept whole (工作岗位) is read as its modifier and its head
        words += [(word[:-2], flag), (word[-2:], flag)] if len(word) >= 4 else [(word, flag)]
    return words


def _other_modifier(question: str, sentence: str, words: list[tuple[str, str]]) -> tuple[str, list[str]] | None:
    clause = "".join(w for w, _ in words)
    starts = [len("".join(w for w, _ in words[:k])) for k in range(1, len(words))]  # whole words only
    shared = next((clause[k:] for k in starts if clause[k:] in question), "")
    if len(shared) < 2:
        return None
    # the words that end right before the shared part, in the question and in the label (the label's
    # run of nouns: 法律服务)
    asked = _word_before(question, question.index(shared))
    given = _word_before(clause, len(clause) - len(shared))
    if not given or not tag(given)[0][1].startswith(_LABEL_WORDS + ("t",)) or given[0] in "全本该":
        return None  # 本次|大赛, 建成|…新征程: no kind of the shared thing; 全镇 is the document's own place
    if not asked or is_place_name(asked) or asked in DETERMINERS:
        return None  # 柏溪镇|人才资源总量 for 全镇|人才资源总量: a place, which the place rules hold
    run = [w for w, f in words[:len(words) - len(tag(shared))]]
    while len(run) > 1 and tag(run[-2])[0][1].startswith(_LABEL_WORDS) and "".join(run) not in question:
        run = run[:-2] + [run[-2] + run[-1]]
    given = run[-1] if run and run[-1].endswith(given) and given else given
    if not asked or not given or asked == given or asked in sentence or given in question \
            or _ASKING_WORD.search(asked) or not tag(asked)[0][1].startswith(_LABEL_WORDS + ("t", "a")):
        return None
    return asked + shared, [given + shared]


def _word_before(text: str, end: int) -> str:
    """The tagger's word of at least two characters that ends at `end` in `text`, or ""."""
    pos = 0
    for word, _ in tag(text[:end]):
        pos += len(word)
        if pos == end and len(word) >= 2 and word.strip():
            return word
    return ""


def limit_instead(question: str, sentence: str, start: int, end: int) -> tuple[str, list[str]] | None:
    """(the limit the question asks, the one the bound figure has instead) when they are opposite: 最高获5000万元
    does not answer 最低能获得多少, nor 不少于100亿元 what is paid at most."""
    asked = [n for n, (cue, _) in enumerate(LIMITS) if cue.search(question)]
    given = limits_of(sentence, start, end)
    if len(asked) == 1 and given and asked[0] not in given:
        word = LIMITS[asked[0]][0].search(question).group()
        around = sentence[max(0, start - LIMIT_ROOM):end]
        return word, [w for w in LIMITS[given[0]][1] if w in around][:1]
    return None


# words whose opposite answers the opposite question (净流入率 is not 净流出率)
_OPPOSITES = (("流入", "流出"), ("进口", "出口"), ("迁入", "迁出"), ("上升", "下降"), ("增加", "减少"), ("入境", "出境"),
              ("盈利", "亏损"), ("应届", "往届"), ("全职", "兼职"), ("公办", "民办"), ("境内", "境外"), ("线上", "线下"),
              ("购房", "租房"), ("买房", "租房"), ("男性", "女性"), ("城镇", "农村"), ("国有", "民营"))


def opposite_instead(question: str, sentence: str) -> tuple[str, list[str]] | None:
    """(the question's word, its opposite in the answer's sentence) when the sentence says the opposite and never
    the asked word: 80%高端数控机床…依靠进口 does not answer 多大比例用于出口."""
    for pair in _OPPOSITES:
        for asked, other in (pair, pair[::-1]):
            said = re.search(rf"(?<![未不无非没]){re.escape(other)}", sentence)  # 未购房的 says nothing of 购房
            if asked in question and other not in question and asked not in sentence and said:
                return asked, [other]
    return None


# a task list's line that names who does the item before it: (责任单位:两省一市规划资源部门)
_DUTY_LINE = re.compile(r"[(（](?:责任单位|牵头单位|责任部门|牵头部门|配合单位|实施单位)[:：][^()（）]*[)）]")


def item_instead(analysis: QuestionAnalysis, sentence: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's word, the item's opening) when the answer is a task list's duty line and the item it closes,
    from its numbered heading (七、落实最严格耕地保护制度。…) to the line, lacks a word the question names the item by:
    it does not answer for 落实最严格水资源管理制度这一条."""
    line = sentence.strip()
    if not _DUTY_LINE.fullmatch(line) or (at := context.find(line)) <= 0:
        return None
    heads = list(_ITEM_HEAD.finditer(context, 0, at))
    if not heads:
        return None  # the item's heading is not in the passage: which item the line closes is unknown
    item = context[heads[-1].start():at]
    words = [w for w, flag in tag(analysis.question) if len(w) >= 2 and flag.startswith(("n", "v", "a", "b"))
             and w not in GENERIC_NOUNS and not _DUTY_WORD.search(w) and not _ASKING_WORD.search(w)]
    missing = [w for w in words if w not in item and w not in line]
    opening = item[heads[-1].end() - heads[-1].start():].split("。")[0][:16]  # 落实最严格耕地保护制度
    return (missing[0], [opening]) if missing and opening else None


_ITEM_HEAD = re.compile(r"[一二三四五六七八九十百]+、")
_DUTY_WORD = re.compile(r"责任|牵头|负责|配合|实施|这一条|那一条")


_PHRASE_FLAGS = ("n", "eng", "q", "b", "j", "l", "f", "t")  # what a kind is named by: 硕士|以上|人才, A|类|人才


def aligned_instead(question: str, sentence: str, context: str, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's kind, the sentence's) when the sentence says what the question says around a slot
    (企业引进的 …, …创业担保贷款最高) but names another kind in it (A类人才 where 博士后 is asked; 小微企业
    where 农民专业合作社 is) and no retrieved passage names the asked one. The frame before a slot ends in
    its 的 (引进的|博士后, 租房的|技能人才): without it, a shared verb or noun aligns paraphrases as well."""
    if not has_chinese(question):
        return None
    asked = [(w, f) for w, f in tag(question) if w.strip() and f != "x"]
    given = [(w, f) for w, f in tag(sentence) if w.strip() and f != "x"]
    blocks = difflib.SequenceMatcher(None, [w for w, _ in asked], [w for w, _ in given], autojunk=False).get_opcodes()
    for n, (op, i1, i2, j1, j2) in enumerate(blocks):
        if op != "replace":
            continue
        before = "".join(w for w, _ in asked[blocks[n - 1][1]:blocks[n - 1][2]]) if n and blocks[n - 1][0] == "equal" else ""
        after = asked[blocks[n + 1][1]:blocks[n + 1][2]] if n + 1 < len(blocks) and blocks[n + 1][0] == "equal" else []
        frame = asked[blocks[n - 1][1]:blocks[n - 1][2]] if before else []
        if len(before) < 3 or not before.endswith("的") or not any(len(w) >= 2 and f != "ns" for w, f in frame):
            continue  # no frame before the slot (企业引进的|…), or only a place (上海的|…)
        ours, theirs = _kind_run(asked[i1:i2]), _kind_run(given[j1:j2])
        whole = len(ours) == i2 - i1 and len(theirs) == j2 - j1  # the kinds run up to the shared words
        head = after[0][0] if whole and after and after[0][1].startswith("n") and len(after[0][0]) >= 2 else ""
        mine, other = "".join(ours) + head, "".join(theirs) + head  # 技能|人才, 硕士以上|人才
        places = any(f == "ns" for _, f in asked[i1:i2] + given[j1:j2])  # the place rules hold places
        if len(mine) == len(other) == 2 and set(mine) & set(other):
            continue  # 房子 and 房产: two-character words that share one may be one thing
        if ours and theirs and not places and max(map(len, ours)) >= 2 and max(map(len, theirs)) >= 2 \
                and "".join(ours) not in everywhere + context and "".join(theirs) not in question \
                and not _ASKING_WORD.search(mine):
            return mine, [other]
    return None


def _kind_run(words: list[tuple[str, str]]) -> list[str]:
    """The words that open `words` while they name a kind (nouns, classes, levels)."""
    run = []
    for word, flag in words:
        if not flag.startswith(_PHRASE_FLAGS) or re.search(r"多|几|哪|什么", word):
            break
        run.append(word)
    return run


_BRACKETED = re.compile(r"([\u4e00-\u9fff]{2})[(（]([^()（）]{1,12})[)）]")


def bracket_instead(question: str, sentence: str, context: str) -> tuple[str, list[str]] | None:
    """(the question's bracketed qualifier, the sentence's) when both bracket one after the same word and
    the passage never gives the asked one: 运动员(国家队)5名以上 does not answer 运动员(省队)多少名."""
    for m in _BRACKETED.finditer(question):
        if m.group(2) in context:
            continue
        others = [o.group(2) for o in _BRACKETED.finditer(sentence) if o.group(1) == m.group(1) and o.group(2) != m.group(2)]
        if others:
            return m.group(2), list(dict.fromkeys(others))
    return None


def narrower_instead(question: str, sentence: str, start: int, end: int, everywhere: str) -> tuple[str, list[str]] | None:
    """(the question's narrower kind, the sentence's) when the value counts a thing (4200余名|工作人员, or
    引进大学生|6万名) that the question narrows by a word no retrieved passage has (女性工作人员): the
    documents count the whole, not the part asked."""
    figure = QUANTITY.match(sentence, start)  # the figure alone: a span may hold its label (4200余名工作人员)
    end = figure.end() if figure else end
    if figure_kind(sentence[start:end]) not in ("people", "body", "item", "event", "time"):
        return None  # a share or a sum counts no thing (杭州以10.47%, 同比增长20.5%)
    thing = "".join(_noun_run([(w, f) for w, f in tag(sentence[end:end + 12]) if w.strip()], 0)) \
        or _label_before(sentence, start)
    if len(thing) < 2 or thing not in question or is_place_name(thing):
        return None
    modifier = _word_before(question, question.index(thing))
    if len(modifier) < 2 or modifier in everywhere or modifier in DETERMINERS or _ASKING_WORD.search(modifier) \
            or not tag(modifier)[0][1].startswith(_LABEL_WORDS + ("a", "t")) or is_place_name(modifier):
        return None
    return modifier + thing, [thing]
