"""Answer by cell: a question about a table's figure is answered with the one cell it asks for.

The row is the one whose label the question names (全社会R&D经费支出占GDP比重, 面积); the column is the
qualifier it asks (2025年目标 vs 2020年基数, 纽约湾区 vs 东京湾区). The answer is the row with the cell in
bold and its unit from the table. A qualifier the table lacks is a refusal that says so
(表中没有“伦敦湾区”这一列). Questions this does not recognise as table questions go to the sentence reader.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from index.build import cell_unit
from index.query import Hit
from index.read.answer import Answer, AnswerSentence, Span, Verdict
from index.read.neighbours import period_instead, rung_instead
from index.text.english import has_chinese, is_pinyin, spelt_in, to_chinese_terms
from index.text.names import tag
from index.text.tokenize import jieba_for, occurs_whole

ROW_MATCH = 0.75     # share of a row label's character pairs the question must contain
HITS_READ = 5        # table passages among this many top hits are read
_YEAR = re.compile(r"(?:19|20)\d{2}")
_BRACKET = re.compile(r"[(（][^()（）]*[)）]")
_PUNCT = re.compile(r"[、,，·/／]")
# The whole of an area (全区): explained by a caption naming an area of that level (秀洲区).
_WHOLE_AREA = re.compile(r"全([区市县省镇])")
# Words that ask for a share, which a percentage states.
_SHARE_WORDS = ("比例", "比重", "占比", "份额")
# Words that ask how much a figure grew between two columns.
_GROWTH = ("增长", "增加", "增幅", "提高", "提升", "净增")
_AGAINST_YEAR = re.compile(r"(?:比|和|与|较|同)(?:19|20)\d{2}年?(?:底|末)?(?:相比|比)?")
# Words that ask for a kind of column in indicator tables.
_COLUMN_WORDS = ("目标", "基数", "总量", "增长率", "增长", "实际", "完成", "预期")
_SKIP_COLUMNS = ("序号", "计量单位", "单位")
# Question words that name no row or column.
_GENERIC = set("是 的 多少 几 哪些 什么 为 有 达到 要 将 计划 预计 年底 年末 年 目标 基数 总量 数量 数 规模 情况 "
               "指标 值 数值 多大 多高 请问 比 共 人数".split())


@dataclass
class _Row:
    hit: Hit
    table: dict
    cells: list[str]
    spans: list[list[int] | None]


@dataclass
class TableAnswer(Answer):
    """An answer read from a table cell; `table` names the table, the row, the column and the unit."""
    table: dict | None = None


def read_table(question: str, hits: list[Hit]) -> Verdict | None:
    """The cell the question asks for, a refusal naming the column the table lacks, or None when the
    question is not one for the tables among the top hits."""
    rows = _candidate_rows(hits[:HITS_READ])
    if not rows:
        return None
    if not has_chinese(question):
        return _read_english(question, rows)
    q = _normalise(question)
    scored = sorted(((_row_score(_label(r), q), -r.hit.rank, i) for i, r in enumerate(rows)), reverse=True)
    if scored[0][0] < ROW_MATCH:
        return _missing_row(q, rows, hits[:HITS_READ])
    # Every row that fits is read in turn: another table may hold the row with the column the first one
    # lacks (十三五 and 十四五 indicators). A refusal stands only when every fitting row refuses.
    # A row the question is not about (a short label inside it: GDP in ...经费支出占GDP比重) gives way to
    # the next that fits.
    refusal = None
    for score, _, i in scored:
        if score < ROW_MATCH:
            break
        verdict = _read_row(q, rows[i])
        if verdict is None:
            continue
        if verdict.answer is not None:
            return verdict
        refusal = refusal or verdict
    return refusal


def _read_english(question: str, rows: list[_Row]) -> Verdict | None:
    """An English question read in the Chinese its words map to (to_chinese_terms: target 目标, talent pool 人才资源,
    2025): the row it names, the column its year or words ask, every pinyin name it gives (Xiuzhou's) written where
    the table stands and every level it asks (national-level: 国家级) in the row or caption. It only answers: a
    refusal needs the question's own words."""
    shadow = _normalise("".join(to_chinese_terms(question)) + " ".join(_YEAR.findall(question)))
    names = [w for w in re.findall(r"\b([A-Z][a-z]+)(?:['’]s)?\b", question) if is_pinyin(w)]
    scored = sorted(((_row_score(_label(r), shadow), -r.hit.rank, i) for i, r in enumerate(rows)), reverse=True)
    for score, _, i in scored:
        if score < ROW_MATCH:
            break
        row = rows[i]
        where = " ".join([row.table.get("caption", ""), row.hit.passage.title, row.hit.passage.section])
        if not all(spelt_in(name, where) for name in names):
            continue
        held = _normalise(" ".join([where, *row.table["header"], *row.cells]))
        if any(level not in held for level in re.findall(r"(?:国家|省|市|县|区)级", shadow)):
            continue  # national-level asked of a row that names no level
        header = row.table["header"]
        columns = [c for c, h in enumerate(header) if c != _label_column(header) and h not in _SKIP_COLUMNS]
        column, missing = _pick_column(shadow, header, columns, _label(row))
        if column is not None and not missing and column < len(row.cells) and row.spans[column] and row.cells[column] \
                and _years_hold(shadow, row, header, column):
            return Verdict(_answer(row, column, header), None, 1.0)
    return None


def _read_row(q: str, row: _Row) -> Verdict | None:
    """The asked cell of this row, a refusal naming the column its table lacks, or None (not a question
    for this row)."""
    header = row.table["header"]
    label_col = _label_column(header)
    columns = [i for i, h in enumerate(header) if i != label_col and h not in _SKIP_COLUMNS]
    if not columns:
        return None
    column, missing = _pick_column(q, header, columns, _label(row))
    if column is None and _asks_growth(q.replace(_normalise(_BRACKET.sub("", _label(row))), ""), header, columns):
        return None  # the change asked is in no column (净增了多少人 where the table gives 增长率): prose may say
    if missing:
        return Verdict(None, f"表中没有“{missing}”这一列({row.table.get('caption') or '表格'}的列为:"
                             f"{'、'.join(header[i] for i in columns)})", 0.0)
    leftover = _unexplained(q, row, header, column)
    if column is None and leftover and row.hit.rank == 1 and len(columns) > 1 and _names_table(q, row.table, ""):
        # the top passage is the row the question names, but it asks for a column the table lacks
        return Verdict(None, f"表中没有“{leftover[0]}”这一列({row.table.get('caption') or '表格'}的列为:"
                             f"{'、'.join(header[i] for i in columns)})", 0.0)
    if column is None or column >= len(row.cells) or not row.spans[column] or not row.cells[column]:
        return None
    if leftover:
        return None  # the question asks about something this row does not hold
    whole_row = " ".join([row.table.get("caption", ""), *header, *row.cells])
    if rung_instead(q, whole_row, _label(row)):
        return None  # another rung's row (市级以上…平台数量 for 省级以上): the sentence reader weighs it
    if period_instead(q, whole_row):
        return None  # a “十三五” table does not answer for “十二五”: the sentence reader weighs it
    if any(w in q for w in _GROWTH) and not any(w in _label(row) + header[column] for w in _GROWTH):
        return None  # a change asked (年均增长), a level given (2025年目标 of 人才资源总量): the sentence reader weighs it
    if not _years_hold(q, row, header, column):
        return None  # a year the table does not date this cell with: the sentence reader weighs it
    return Verdict(_answer(row, column, header), None, 1.0)


def _years_hold(q: str, row: _Row, header: list[str], column: int) -> bool:
    """Every year the question names dates the cell: in its column, the cell itself or the caption; a column
    of change is dated by the year columns it compares."""
    where = header[column] + row.cells[column] + row.table.get("caption", "") + _label(row)
    if not _YEAR.search(header[column]) and any(w in header[column] for w in _GROWTH):
        where += "".join(header)
    return all(y in where for y in _YEAR.findall(q))


def prefer(by_cell: Verdict | None, by_sentence: Verdict) -> Verdict:
    """The cell's verdict, unless the text states the same figure with its unit (3.3 in the table, 3.3% in a
    sentence): then the sentence, which quotes the figure whole. A refusal by cell stands."""
    if by_cell is None:
        return by_sentence
    cell, sentence = by_cell.answer, by_sentence.answer
    if cell is not None and sentence is not None and sentence.span is not None and cell.span is not None \
            and len(sentence.span.text) > len(cell.span.text) \
            and re.search(rf"(?<![\d.]){re.escape(cell.span.text)}(?![\d.])", sentence.span.text):
        return by_sentence  # the same figure, whole (工作站13家 for 13)
    return by_cell


def _missing_row(q: str, rows: list[_Row], hits: list[Hit]) -> Verdict | None:
    """A question that names a table (words of its caption) and one of its columns, but a row it lacks:
    the refusal names what the table has no row for. Anything less clear goes to the sentence reader,
    and so does a row the text among the hits speaks of (a figure given in prose, not in the table)."""
    row = min(rows, key=lambda r: r.hit.rank)
    if row.hit.rank > 3:
        return None
    header = row.table["header"]
    label_col = _label_column(header)
    columns = [i for i, h in enumerate(header) if i != label_col and h not in _SKIP_COLUMNS]
    column, missing = _pick_column(q, header, columns, "")
    if missing or column is None or not _names(_normalise(_BRACKET.sub("", header[column])), q) and not _YEAR.search(header[column]):
        return None
    column_words = _normalise(header[column])
    if not _names_table(q, row.table, column_words):
        return None
    known = _normalise(" ".join([row.table.get("caption", ""), *header, row.hit.passage.title]))
    asked = re.sub(r"(?:19|20)\d{2}年[底末]?", " ", q.replace(column_words, " ").replace(_BRACKET.sub("", column_words), " "))
    unknown = [w for w in (x.strip("?？。,，、的") for x in jieba_for().cut(asked))
               if len(w) >= 2 and w not in _GENERIC and w not in known and not re.fullmatch(r"[\dA-Z.%]+", w)]
    if not unknown or any(all(w in _normalise(h.passage.text) for w in unknown) for h in hits if not h.passage.table):
        return None
    # what is asked for: from the first unknown word up to the next 的 or qualifier
    start = asked.find(unknown[0])
    name = re.split(r"[的 ?]", asked[start:], maxsplit=1)[0]
    return Verdict(None, f"表中没有“{name}”这一行({row.table.get('caption') or '表格'})", 0.0)


def _names_table(q: str, table: dict, besides: str) -> bool:
    """The question names the table's subject: a word of three or more characters of its caption
    (秀洲区, 嘉善县, 十三五), not one of `besides`. A refusal about a table needs that much."""
    words = jieba_for().cut(_normalise(table.get("caption", "")))
    return any(len(w) >= 3 and w not in besides and not _YEAR.search(w) and w in q for w in words)


def _candidate_rows(hits: list[Hit]) -> list[_Row]:
    """Rows of the tables among the hits: a row passage is its row; a column passage holds every row's
    cell of its column (the rest of those rows are read from their own row passages when retrieved)."""
    rows: list[_Row] = []
    for hit in hits:
        t = getattr(hit.passage, "table", None)
        if not t:
            continue
        if t.get("row") is not None:
            rows.append(_Row(hit, t, list(t["row"]), list(t.get("spans") or [None] * len(t["row"]))))
        elif t.get("column"):
            col = t["header"].index(t["column"]) if t["column"] in t["header"] else -1
            label_col = _label_column(t["header"])
            for label, value, start, end in t.get("cells", []):
                cells = [""] * len(t["header"])
                spans: list[list[int] | None] = [None] * len(t["header"])
                cells[label_col], cells[col] = label, value
                spans[col] = [start, end] if start >= 0 else None
                rows.append(_Row(hit, t, cells, spans))
    return rows


def _label_column(header: list[str]) -> int:
    return next((i for i, h in enumerate(header) if h != "序号"), 0)


def _label(row: _Row) -> str:
    return row.cells[_label_column(row.table["header"])]


def _normalise(text: str) -> str:
    """Whitespace out, one question mark, upper case, and the usual short forms written out (规上工业 is
    规模以上工业, 限上 限额以上) so a row is named either way."""
    text = re.sub(r"\s+", "", text).replace("？", "?").upper()
    return text.replace("规上", "规模以上").replace("限上", "限额以上")


def _pairs(text: str) -> set[str]:
    text = _PUNCT.sub("", _normalise(text))  # 博士、硕士人才 is named by 博士硕士人才
    return {text[i : i + 2] for i in range(len(text) - 1)} if len(text) > 1 else {text}


def _row_score(label: str, q: str) -> float:
    """Share of the label's character pairs (brackets aside: 面积(万平方公里) is 面积) found in the question."""
    core = _BRACKET.sub("", label) or label
    pairs = _pairs(core)
    if not pairs or not core:
        return 0.0
    if len(core) <= 3 and core in q and not _names(core, q):
        return 0.0  # a short label inside a longer word names another row (博士 in 博士后)
    exact = 0.5 if _normalise(label) in q else 0.0  # named with its brackets: 博士后工作(流动)站
    return sum(p in q for p in pairs) / len(pairs) + exact + 0.001 * len(core)  # a longer label that fits wins a tie


def _pick_column(q: str, header: list[str], columns: list[int], label: str) -> tuple[int | None, str | None]:
    """(column, None) for the asked column; (None, name) when the question asks for one the table lacks;
    (None, None) when it asks for none that can be told apart."""
    q_wo_label = q.replace(_normalise(_BRACKET.sub("", label)), "")
    years = _YEAR.findall(q_wo_label)
    if _asks_growth(q_wo_label, header, columns):
        return _growth_column(q_wo_label, header, columns), None  # no column of change: none is asked
    scores = {}
    for i in columns:
        name = _normalise(header[i])
        s = 0.0
        col_years = _YEAR.findall(name)
        if years and col_years:
            if not set(years) & set(col_years):
                continue
            s += 2
        s += sum(1 for w in _COLUMN_WORDS if w in name and w in q_wo_label)
        core = _BRACKET.sub("", name)
        if core and _names(core, q_wo_label):
            s += 3
        scores[i] = s
    year_columns = [i for i in columns if _YEAR.search(header[i])]
    if years and year_columns and not any(set(years) & set(_YEAR.findall(header[i])) for i in year_columns):
        return None, f"{years[0]}年"
    entity = _asked_entity(q_wo_label, [header[i] for i in columns])
    if entity:
        return None, entity
    if not scores or max(scores.values()) == 0:
        return (columns[0], None) if len(columns) == 1 else (None, None)
    top = max(scores.values())
    best = [i for i, s in scores.items() if s == top]
    return (best[0], None) if len(best) == 1 else (None, None)


def _asks_growth(q: str, header: list[str], columns: list[int]) -> bool:
    """The question asks how much a figure changed: between two of the table's year columns (从2015年到2020年
    增长了多少) or against one of them (比2015年增长了多少, 和2015年相比净增了多少)."""
    if not any(w in q for w in _GROWTH):
        return False
    years = set(_YEAR.findall(q))
    year_columns = {y for i in columns for y in _YEAR.findall(header[i])}
    return len(years) >= 2 and years <= year_columns or bool(_AGAINST_YEAR.search(q)) and bool(years & year_columns)


def _growth_column(q: str, header: list[str], columns: list[int]) -> int | None:
    """The column of change (增长率, not either year), when there is one that answers what is asked: a rate
    does not answer a count (净增了多少人)."""
    change = [i for i in columns if not _YEAR.search(header[i]) and any(w in header[i] for w in _GROWTH)]
    if len(change) != 1:
        return None
    if re.search(r"[率%]", header[change[0]]) and re.search(r"多少[人家个项元套名座所万亿]|净增", q):
        return None
    return change[0]


def _names(word: str, q: str) -> bool:
    """`word` stands in `q` as whole words (博士 is not named by 博士后)."""
    return occurs_whole(word, q, list(jieba_for().cut(q)))


def _asked_entity(q: str, names: list[str]) -> str | None:
    """A column of the same kind the table lacks: the names share a suffix (纽约湾区, 东京湾区 -> 湾区) and the
    question names another word with it (伦敦湾区)."""
    cores = [_BRACKET.sub("", _normalise(n)) for n in names]
    suffix = _common_suffix(cores)
    if len(suffix) < 2 or any(c in q for c in cores):
        return None
    words = list(jieba_for().cut(q))
    for k, w in enumerate(words):
        if w.endswith(suffix) and len(w) > len(suffix):
            return w
        if w == suffix and k > 0 and re.match(r"^[\u4e00-\u9fff]+$", words[k - 1]):
            return words[k - 1] + suffix
    return None


def _common_suffix(names: list[str]) -> str:
    if len(names) < 2:
        return ""
    first = names[0]
    n = 0
    while n < len(first) and all(len(x) > n and x[-1 - n] == first[-1 - n] for x in names):
        n += 1
    return first[len(first) - n :] if n else ""


def _unexplained(q: str, row: _Row, header: list[str], column: int | None) -> list[str]:
    """Question words that neither the table (caption, header, row) nor the title explain: the question
    is then about something else, and the sentence reader takes it."""
    known = _normalise(" ".join([row.table.get("caption", ""), *header, *row.cells, row.hit.passage.title,
                                 row.hit.passage.section]))
    out = []
    q = re.sub(r"(?:19|20)\d{2}年[底末]?", " ", q.replace(_normalise(_BRACKET.sub("", _label(row))), " "))
    for w, flag in tag(q):  # nouns and levels (国家级) only: 定为, 领取 name nothing a table could lack
        w = w.strip("?？。,，、的")
        if not (flag.startswith(("n", "eng", "x")) or flag == "b" and w.endswith("级")) or len(w) < 2 or w in _GENERIC or _YEAR.fullmatch(w) or w in known or re.fullmatch(r"[\dA-Z.%]+", w):
            continue
        if sum(p in known for p in _pairs(w)) / len(_pairs(w)) >= 0.5:
            continue
        if w in _SHARE_WORDS and any("%" in c for c in row.cells):
            continue  # 比例 is what a percentage in the row states
        whole = _WHOLE_AREA.fullmatch(w)
        if whole and whole.group(1) in _normalise(row.table.get("caption", "") + row.hit.passage.title):
            continue
        out.append(w)
    return out


def _answer(row: _Row, column: int, header: list[str]) -> TableAnswer:
    p = row.hit.passage
    start, end = row.spans[column]
    unit = cell_unit(header, row.cells, column, _label(row))
    table = {"caption": row.table.get("caption", ""), "header": header, "row": row.cells, "column": header[column],
             "unit": unit}
    if row.table.get("row") is not None:  # a row passage: the row is the evidence sentence
        text, s0, s1 = p.text, p.char_start, p.char_end
    else:  # a column passage: the cell alone
        text, s0, s1 = row.cells[column], start, end
    sentence = AnswerSentence(text, p.source, s0, s1, row.hit.rank)
    return TableAnswer(text=text, passage_rank=row.hit.rank, source=p.source, char_start=s0, char_end=s1, score=1.0,
                       sentences=[sentence], span=Span(row.cells[column], start, end), answer_type="quantity",
                       table=table)
