"""Where an answer of the asked type can stand in a sentence, and how far it reaches.

A figure keeps the words that bound it (最高8万元, 2500名以上, 约120名, 10个工作日内, 1000元/月) and
a range stays whole (2022-2025年, 27-58分); a year is a date, not an amount; a value the question
itself states is never the answer. An organisation is the whole name (浙江大学公共管理学院, not
浙江大学), a person the whole name even when the tagger splits off the surname (马|春雷).
"""
from __future__ import annotations

import re

from index.build.sentences import DATE, QUANTITY, TITLE
from index.query.question import QuestionAnalysis
from index.text.names import is_org_name, tag

# The measure word a how-many question counts in (多少场, 几名, 多少亩).
QUESTION_UNIT = re.compile(r"(?:多少|几)\s*([个项家名人位所座套栋次倍批类条期场班份张台亩户篇本元分])")
# "how many" and the adjectives of the noun it counts (how many new provincial-level … stations), no verb between
_HOW_MANY = r"\bhow many(?:\s+(?!(?:has|have|had|did|do|does|is|are|was|were|will|would|can|could|the|a|an|of|in|on|for|to" \
    r"|by|at|and)\b)[\w-]+){0,4}?\s+"
# What a question's words ask to be measured in, when it names no measure word: (question cue, what a
# fitting value holds), first match wins. A share is asked before money (补贴比例 is a share).
ASKED_MEASURES = [(re.compile(cue, re.I), re.compile(unit)) for cue, unit in (
    # what an English question counts, in the measure words Chinese counts it in ("how many" asks a count
    # first: "how many people got subsidies" is not asking for money)
    (_HOW_MANY + r"(?:institutions?|compan(?:y|ies)|enterprises?|firms?|stations?|organi[sz]ations?|universit(?:y|ies)"
     r"|hospitals?|schools?|platforms?|cent(?:re|er)s?|parks?|bases?|labs?|laborator(?:y|ies))\b", r"家|所|个|座"),
    (_HOW_MANY + r"(?:people|persons?|talents?|experts?|graduates?|students?|doctors?|teachers?|workers?|employees?"
     r"|residents?|members?|participants?|representatives?|candidates?|nurses?|professionals?|researchers?|scientists?)\b",
     r"人|名|位"),
    (_HOW_MANY + r"(?:times|sessions?|meetings?|events?|conferences?|forums?|rounds?|editions?)\b", r"次|场|届|期|轮"),
    (_HOW_MANY + r"(?:projects?|measures?|polic(?:y|ies)|items?|articles?|patents?|awards?|tasks?|programmes?|programs?)\b",
     r"项|个|条|件"),
    (r"比例|比重|占比|份额|占.{0,12}(?:多少|几|多大)|百分之|百分比|[增降]幅|增速|年均增长|(?:率|增长了?)(?:是|为|达到?)?(?:多少|几)"
     r"|\b(?:percent(?:age)?|proportion|share|rate)\b", r"%|％|百分点|成|\d\s*/\s*\d"),
    (r"年龄|多大岁数|几岁|多少岁|\bhow old\b|\bage\b", r"岁"),
    (r"人口|人数|人次|\bpopulation\b|\bhow many people\b", r"人"),
    (r"多久|多长时间|(?:几|多少)(?:个)?(?:年|月|天|日|工作日|周)|期限|年限|时限|\bhow long\b|\bhow many (?:years|months|days)\b",
     r"年|月|天|日|周|小时"),
    (r"补贴|补助|奖励|奖金|津贴|资助|安家费|生活费|租金|房租|费用|经费|资金|工资|薪酬|年薪|收入|价格|多少钱|金额|投资|融资|"
     r"资本|\b(?:subsid(?:y|ies)|allowance|bonus|prize|award|grant|rent|yuan|money|salary|funding)\b", r"元"),
    (r"面积|平方米|平方公里|公顷|\barea\b", r"平方|亩|公顷"),
    (r"海拔|距离|多远|相距|多宽|\bhow far\b|\bhow wide\b", r"公里|千米|米"),
    (r"得分|分数|评分|打分|多少分|几分|\bscores?\b", r"分"),
)]
# Limits and approximations that belong to the figure they bound, longest first.
BOUND_BEFORE = ("不超过", "不少于", "不低于", "不高于", "不足", "不到", "至少", "至多", "最高", "最多", "最低", "最少",
                "超过", "人均", "约", "近", "逾")
BOUND_AFTER = ("及以上", "及以下", "以上", "以下", "以内", "之内", "左右", "内", "多", "余",
               "/平方米", "/万人", "/千人", "/百人", "/月", "/年", "/人", "/天", "/次", "/户")
# The part of a period a date names and the deadline it sets: 2023年底, 2020年12月底前, 6月上旬.
_DATE_EDGE = re.compile(r"(?:底|末|初|上旬|中旬|下旬|上半年|下半年)?(?:前|以前|之前)?")
# A date range closed by a later date or a day alone (9月18日至19日): the range is the answer, whole.
_STARTS = re.compile(r"开始|起始|启动|最早|\bstart|\bbegin|\bopen", re.I)
_DATE_RANGE_END = re.compile(r"\s*(?:-|~|～|—|–|至|到)\s*(?:(?:(?:19|20)\d{2}\s*年)?\s*\d{1,2}\s*月)?\s*\d{1,2}\s*[日号]")
# The year a month-only date is in, said relative to now (今年6月底前), and a question about the top N (前多少名).
_RELATIVE_YEARS = ("今年", "明年", "去年", "当年", "本年", "次年")
_ASKS_TOP = re.compile(r"前(?:多少|几)")
# A question about a rank or place in order (第几, 排第几, 排多少位, 名次): 第69位 is its answer.
_ASKS_RANK = re.compile(r"第几|排(?:名)?(?:第)?(?:多少|几)|名次|位列(?:第)?(?:多少|几)")
_FIGURE = re.compile(r"\d+(?:\.\d+)?")
_NUMERAL = r"[\d零〇一二两三四五六七八九十百千万亿半.]"  # what a figure without its unit ends in
_COUNTERS = set("个项家名位所座套次批类条期场份张台户篇本种件")  # measure words of a count (12个|政策文件)
MAX_BOUND = 4  # characters a figure may gain from its bounds (more and it reads as a clause)
_RANGE_BEFORE = re.compile(r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十百千万]+)\s*(?:%|％|万|千|百)?\s*(?:-|~|～|—|–|至|到)\s*$")
_YEAR = re.compile(r"(?:19|20)\d{2}\s*年")
_DEADLINE = re.compile(r"截止|截至|结束|到期|最后期限|最晚|最迟|\bdeadline\b|\bclose[sd]?\b|\bend(?:s|ed)?\b", re.I)
_RANGE_AFTER = re.compile(r"\s*(?:-|~|～|—|–|至|到)\s*(?:(?:19|20)\d{2}\s*年)?\s*\d{1,2}\s*月")
_NOUNISH = ("n", "j", "b", "vn", "an", "nz", "nt", "ns", "l")  # parts of a name: nouns, abbreviations, attributes
_MAX_NAME = 24
_NAME_DOTS = ("·", "•", "・")
# names whose units follow them: 浙江大学公共管理学院, 吴江区委组织部, 集团公司第三十六研究所, 领导小组办公室
_PARENT = re.compile(r"(?:大学|政府|集团|公司|小组|委员会|[省市区县]委)$")
# bodies whose names end in a unit the index's organisation kind leaves out: 区委组织部, 发展改革委,
# 干部人才关爱中心, 开发者联盟 (parts of a direction or a whole, 东部 全部 内部, are not bodies)
_MORE_ORG = re.compile(r"(?:[^全内外局东西南北中本上下前后]部|[^主]委|中心|联盟|工作组|小组)$")
# the governments of several places acting together: 两省一市, 三省一市, 两区一县
_JOINT_BODY = re.compile(r"(?:[一二两三四五六七八九十]+[省市区县]){2,}(?:(?:人民)?政府|党委)?")
# a person's name after the label that introduces it, up to the punctuation that ends it
_LABELLED_NAME = re.compile(r"(?:联系人|负责人|记者|作者|通讯员|主持人|发言人|执笔人|咨询人)\s*[:：]?\s*([\u4e00-\u9fff]{2,3})"
                            r"(?=[,，。;；、\s(（)）]|$)")
_UNIT_END = re.compile(r"(?:部|委|办|会|院|所|厅|处|室|中心|站)$")  # 组织部和…: two bodies, not one name


def span_candidates(text: str, analysis: QuestionAnalysis, strict: bool = False) -> list[tuple[int, int]]:
    """(start, end) offsets in `text` where an answer of the asked type can stand; `strict` leaves out
    the bodies a "who" question may be answered by where the text names no person, and joint bodies
    (两省一市): the answerability model was fitted without them."""
    kind = analysis.answer_type
    if kind in ("quantity", "date"):
        return _values(text, analysis)
    if kind == "title":
        return [(m.start(), m.end()) for m in TITLE.finditer(text) if m.group() not in analysis.question]
    given = set(analysis.names) | set(analysis.terms)
    if kind == "organization":
        return [se for se in _organisations(text, joint=not strict) if text[se[0]:se[1]] not in given]
    found, pos = [], 0
    tokens = [(w, f) for w, f in tag(text)]
    for n, (word, flag) in enumerate(tokens):
        start, pos = pos, pos + len(word)
        if word in given or len(word) < 2:
            continue
        if kind == "person" and n and tokens[n - 1][0] in _NAME_DOTS:
            continue  # inside a transliterated name found whole
        if kind == "person" and flag.startswith("n"):
            end, m = pos, n  # a transliterated name, whole across its dots (理查德·佛罗里达)
            while m + 2 < len(tokens) and tokens[m + 1][0] in _NAME_DOTS and tokens[m + 2][1].startswith("n"):
                end, m = end + 1 + len(tokens[m + 2][0]), m + 2
            if end > pos or flag == "nrt":  # nrt: a transliterated name the tagger knows (特曼)
                found.append((start, end))
                continue
        if kind == "person" and flag == "nr":
            before = tokens[n - 1] if n else None
            # the tagger splits a three-character name into surname and given name (马|春雷)
            if before and len(before[0]) == 1 and len(word) == 2 and before[1] in ("n", "nr", "ng", "nrt"):
                start -= 1
            after = tokens[n + 1] if n + 1 < len(tokens) else None
            # ...or splits off a given name's last character that reads as a function word (宋景|和), seen
            # where the name closes its clause
            if len(word) == 2 and after and len(after[0]) == 1 and after[1] in ("c", "p", "u", "d") \
                    and (n + 2 == len(tokens) or tokens[n + 2][1] == "x"):
                found.append((start, pos + 1))
                continue
            found.append((start, pos))
        elif kind == "place" and flag == "ns":
            found.append((start, pos))
    if kind == "person" and not strict:  # a name a label introduces (联系人:林清远), whatever the tagger made of it
        found += [m.span(1) for m in _LABELLED_NAME.finditer(text)
                  if not any(s <= m.start(1) < e for s, e in found) and m.group(1) not in given]
        found.sort()
    if kind == "person" and not found and not strict:  # "谁" asks for a body as often as for a person (由两省一市优先保障)
        return [se for se in _organisations(text) if text[se[0]:se[1]] not in given]
    return found


def _values(text: str, analysis: QuestionAnalysis) -> list[tuple[int, int]]:
    """Amounts or dates with their bounds and ranges, less the ones the question states."""
    kind = analysis.answer_type
    asked = _squeeze(analysis.question)
    # an English question states its counts without the Chinese unit ("the 12 measures" for 12条)
    stated = set(_FIGURE.findall(analysis.question)) if kind == "quantity" and not analysis.is_chinese else set()
    found, ordinals = [], []
    dates = [d.span() for d in DATE.finditer(text)] if kind == "quantity" else []
    for m in (QUANTITY if kind == "quantity" else DATE).finditer(text):
        core = m.group().strip()
        if kind == "quantity" and (_YEAR.fullmatch(core) or any(a < m.end() and m.start() < b for a, b in dates)):
            continue  # 2025年, 3月18日 in a sentence about amounts are when, not how much
        if re.match(r"[万亿]+[^\d零〇一二两三四五六七八九十半]", core):
            continue  # (万平方公里) in a header names a unit, not a figure
        if text.startswith("性", m.end()):
            continue  # 一次性 is "one-off", not a count
        ordinal = text.endswith("第", 0, m.start())
        if ordinal and not _ASKS_RANK.search(analysis.question):
            continue  # 第十条, 第二批: which one, not how many
        figure = _FIGURE.match(core)
        if _squeeze(core) in asked or (figure and figure.group() in stated):
            continue  # the question's own figure (带动就业5人以上…再拿多少) is not its answer
        end = m.end()
        if kind == "quantity" and end not in _word_ends(text) and end - 1 in _word_ends(text) \
                and not re.match(_NUMERAL, text[end - 2]):
            end -= 1  # a measure character that starts the next word: 50万元|项目资助, not 50万元项
        start, end = _widen(text, m.start(), end)
        if kind == "date" and start == m.start() and not _YEAR.match(core):
            start -= len(next((y for y in _RELATIVE_YEARS if text.endswith(y, 0, start)), ""))  # 今年|6月底前
        if kind == "quantity" and start == m.start() and text.endswith("前", 0, start) and _ASKS_TOP.search(asked):
            start -= 1  # 排了前多少名: 前90名
        if kind == "date":
            end = _date_end(text, end, whole=not (_DEADLINE.search(analysis.question) or _STARTS.search(analysis.question)))
        found.append((start - 1 if ordinal and start == m.start() else start, end))  # 第69位 whole
        ordinals += [found[-1]] if ordinal else []
    if ordinals:
        found = ordinals  # 排第几 asks for a place in order (全国第一个), not the 18个月 beside it
    if kind == "date":
        found = [se for se in found if not any(o != se and o[0] <= se[0] and se[1] <= o[1] for o in found)]
    if kind == "date" and _DEADLINE.search(analysis.question):
        # 截止 asks for the end of a range (2026年4月1日至4月30日): not the date that opens it
        found = [se for se in found if not _RANGE_AFTER.match(text, se[1])] or found
    # "多少场会" wants a count of 场, not the 一年 next to it; "奖金多少" money, not the 1名 beside it;
    # "哪天" a day, not the year beside it
    for fits in asked_measures(analysis.question) if kind == "quantity" else asked_dates(analysis.question):
        fitting = [se for se in found if fits.search(text[se[0]:se[1]])]
        if fitting:
            found = fitting
            break
    return list(dict.fromkeys(found))


def with_label(text: str, values: list[tuple[int, int]], k: int, words: list[str]) -> tuple[int, int]:
    """Value k with the question's own word that labels it alone among the sentence's values, right
    before it (博士|5万元 asked about 博士, 东京都的|2.5倍) or right after a count (12个|政策文件): the
    bold then says whose figure it is (a label before needs another value to tell apart). At most MAX_BOUND characters are added, so a bold that holds the
    value alone stays as close to it as a bound would."""
    start, end = values[k]
    words = sorted({w for w in words if len(w) >= 2}, key=len, reverse=True)
    # the bounds the value already holds (约1210万个) count against the room
    room = MAX_BOUND - len(next((b for b in BOUND_BEFORE if text.startswith(b, start)), "")) \
        - len(next((b for b in BOUND_AFTER if text.endswith(b, 0, end)), ""))

    def before(pos: int) -> str:  # the question's words that end right before pos (购房补助|博士), within the room
        label = "的" if text.endswith("的", 0, pos) else ""
        while w := next((w for w in words if len(w + label) <= room and text.endswith(w + label, 0, pos)), ""):
            label = w + label
        return label if label != "的" else ""

    def after(pos: int) -> str:  # the question's words that start at pos (政策|文件), within the room
        label = ""
        while w := next((w for w in words if len(label + w) <= room
                         and text.startswith(w, pos + len(label))), ""):
            label += w
        return label

    label = before(start)  # a lone value needs no label to say whose it is
    if label and len(values) > 1 and not any(before(s) == label for j, (s, _) in enumerate(values) if j != k):
        return start - len(label), end
    # what is counted, not what is paid, nor what a place in order ranks (第一个|跨省域规划)
    label = after(end) if text[end - 1:end] in _COUNTERS and not text.startswith("第", start) else ""
    if label and not any(after(e) == label for j, (_, e) in enumerate(values) if j != k):
        return start, end + len(label)
    return start, end


def _date_end(text: str, end: int, whole: bool) -> int:
    """Where a date ends: with the part of the period it names (年底, 6月上旬) and a deadline's 前; a range
    closed by a later day is kept whole (9月18日至19日) unless the question asks when it starts or ends."""
    ranged = _DATE_RANGE_END.match(text, end)
    if ranged and whole:
        end = ranged.end()
    edge = _DATE_EDGE.match(text, end)
    return edge.end() if edge.end() - end <= MAX_BOUND else end


def _word_ends(text: str) -> set[int]:
    ends, pos = {0}, 0
    for word, _ in tag(text):
        pos += len(word)
        ends.add(pos)
    return ends


ASKED_DATES = [(re.compile(cue), re.compile(fits)) for cue, fits in (
    (r"哪一?天|几号|几月几[日号]|哪一?日|什么日子|\bwhat (?:date|day)\b|\bwhich day\b", r"日|号|\d[-./]\d{1,2}[-./]\d"),
    (r"哪个月|几月份?|\bwhat month\b|\bwhich month\b", r"月"),
)]


def asked_dates(question: str) -> list[re.Pattern]:
    """What a fitting date holds when the question asks for a day (哪天 → 日) or a month (几月 → 月)."""
    return [fits for cue, fits in ASKED_DATES if cue.search(question)][:1]


def asked_measures(question: str) -> list[re.Pattern]:
    """Every measure the question asks in, the most specific first: its measure word (多少场), then what
    its words ask for (资助 → 元). 多少项目资助 names 项 and money: a value in 元 fits when none is in 项."""
    unit = QUESTION_UNIT.search(question)
    cued = [fits for cue, fits in ASKED_MEASURES if cue.search(question)][:1]
    return ([re.compile(re.escape(unit.group(1)))] if unit else []) + cued


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The value with the range it closes and the bounds around it, within MAX_BOUND characters."""
    ranged = _RANGE_BEFORE.search(text, max(0, start - 12), start)
    if ranged and ranged.end() == start:
        start = ranged.start()
    after = next((w for w in BOUND_AFTER if text.startswith(w, end)), "")
    room = MAX_BOUND - len(after)
    before = next((w for w in BOUND_BEFORE if len(w) <= room and text.endswith(w, 0, start)), "")
    return start - len(before), end + len(after)


_WITH = "会同"


def _organisations(text: str, joint: bool = True) -> list[tuple[int, int]]:
    """Whole organisation names: a run of nouns and attributes ending in an organisation's suffix
    (省|发展|改革|部门, 浙江大学|公共|管理|学院), or a word the tagger knows as one."""
    tokens, pos = [], 0
    for word, flag in tag(text):
        tokens.append((pos, pos + len(word), word, flag))
        pos += len(word)
    found = []
    for n, (start, end, word, flag) in enumerate(tokens):
        if not _ends_name(word, flag):
            continue
        first = n
        while first > 0 and end - tokens[first - 1][0] <= _MAX_NAME and _joins(tokens, first - 1):
            first -= 1
        # the longest run that still reads as a name (is_org_name: three characters and a suffix)
        for k in range(first, n + 1):  # a known name keeps the place before it: 汾湖|高级中学
            if _is_org(text[tokens[k][0]:end]) or flag == "nt":
                begin = tokens[k][0]
                if text.startswith(_WITH, begin) and begin + len(_WITH) < end and _is_org(text[begin + len(_WITH):end]):
                    begin += len(_WITH)  # 科学技术局|会同|县财政局: 会同 joins two bodies (the tagger reads 会同县)
                found.append((begin, end))
                break
    found += [m.span() for m in _JOINT_BODY.finditer(text)] if joint else []
    # names inside a longer name are not candidates of their own
    return [se for se in found if not any(o != se and o[0] <= se[0] and se[1] <= o[1] for o in found)]


# a question that asks for several bodies or people: 哪些部门, 谁和谁, 联合发布, which bodies jointly
ASKS_SEVERAL = re.compile(r"哪些|哪几|哪[两三四五六七八九]|谁和谁|共同|联合|\bjointly\b|\btogether\b"
                          r"|\bwhich (?:bodies|organi[sz]ations|departments|agencies|institutions|units|authorities)\b",
                          re.I)
_CLAUSE_EDGES = "，,；;：:。（(）)“”《》！？!?"
_LIST_JOINS = ("以及", "、", "和", "与", "及")
_NOT_IN_ITEM = ("p", "c", "d", "u", "r", "v", "f", "t", "y", "e", "a", "q", "x")  # words a list item does not open with
_MAX_ITEM = 16


def coordinated(text: str, start: int, end: int, found: list[tuple[int, int]], question: str) -> tuple[int, int]:
    """A name widened over the list it stands in, for a question that asks for several: 市财政局 in
    上海市教委、市委编办、市人社局、市财政局, 民政部门 in 两省一市科技、民政部门 (the items share its head).
    Items end at the clause's edges and open with a noun, a numeral or an abbreviation (由 is not an item's);
    an item after the name is one of `found` (the names of the asked kind). An item the question names is
    the partner it asks about (戴德梁行是和哪家机构一起…), not one of the answer's."""
    clause_start = max(text.rfind(c, 0, start) for c in _CLAUSE_EDGES) + 1
    while True:
        join = next((j for j in _LIST_JOINS if text.endswith(j, clause_start, start)), None)
        if join is None:
            break
        item_end = start - len(join)
        item_start = max(clause_start, text.rfind("、", clause_start, item_end) + 1)
        words, pos = [], item_start
        for word, flag in tag(text[item_start:item_end]):
            words.append((pos, flag))
            pos += len(word)
        opening = next((p for p, flag in words if not flag.startswith(_NOT_IN_ITEM)), None)
        if opening is None or item_end - opening > _MAX_ITEM or text[opening:item_end] in question \
                or any(flag.startswith("u") for p, flag in words if p >= opening):
            break
        start = opening
    while True:
        join = next((j for j in _LIST_JOINS if text.startswith(j, end)), None)
        after = next((se for se in found if join and se[0] == end + len(join)), None)
        if after is None or text[after[0]:after[1]] in question:
            break
        end = after[1]
    return start, end


def _ends_name(word: str, flag: str) -> bool:
    """The word ends an organisation's name: a known one, or a suffix (局, 学院, 部门, 研究院)."""
    return flag == "nt" or (flag.startswith("n") and _is_org(word)) or \
        (len(word) <= 3 and _is_org("机构" + word))


def _is_org(name: str) -> bool:
    return is_org_name(name) or (len(name) >= 3 and _MORE_ORG.search(name) is not None)


def _joins(tokens: list[tuple[int, int, str, str]], k: int) -> bool:
    """Token k belongs to the name that follows it: a noun or attribute that does not end a name
    of its own (two names side by side stay two), or the 和 inside 住房和城乡建设局."""
    _, _, word, flag = tokens[k]
    if flag == "m" and k + 1 < len(tokens) and tokens[k + 1][2] in ("省", "市", "区", "县"):
        return True  # 两|省|一|市发展改革部门, 三省一市科技厅
    if word == "和":
        left = tokens[k - 1] if k > 0 else None
        return left is not None and left[3].startswith("n") and tokens[k + 1][3].startswith("n") \
            and not _ends_name(left[2], left[3]) and not _UNIT_END.search(left[2])
    if flag == "m" and word.startswith("第"):
        return True  # a numbered unit: 集团公司|第三十六|研究所
    if flag == "v" and k > 0 and tokens[k - 1][3].startswith(_NOUNISH) and tokens[k + 1][3].startswith(_NOUNISH):
        return True  # a verb the tagger reads inside a name, between nouns: 长三角科技|创新|共同体建设办公室
    # a parent keeps its units (浙江大学|公共管理学院); other names side by side stay two
    return flag.startswith(_NOUNISH) and (not _ends_name(word, flag) or _PARENT.search(word) is not None)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)
