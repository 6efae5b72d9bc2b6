"""Table questions: cell accuracy per format, near misses refused, and recovery accuracy.

The seeds' tables (002 表2, 003 表1/表2) and invented documents with tables in DOCX, HTML, a
Chromium-printed PDF and a screenshot (made with tests/doc_fixtures.py, as the tests make theirs)
are indexed together; every question asks for one cell (the bold span must be the cell) or is a near
miss (a column, a year or a row the table does not have: the answer must be a refusal).

    python -m eval table-cells        # writes eval/reports/tables.md
"""
from __future__ import annotations

import re

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "eval" / "reports" / "tables.md"

# The seeds' tables as they are printed in the documents (the known tables for recovery accuracy).
SEED_TABLES = {
    ("002", "表2 世界级大湾区指标概况"): (["指标", "纽约湾区", "旧金山湾区", "东京湾区", "粤港澳大湾区", "长三角大湾区"], [
        ["面积(万平方公里)", "2.15", "1.80", "1.34", "5.65", "21.17"], ["人口(万)", "2340", "772", "3592", "6765", "15400"],
        ["GDP(万亿美元)", "1.4", "0.78", "1.39", "1.6", "2.5"], ["GDP占全国比重(%)", "8.96", "4.0", "32.3", "12.17", "23.6"],
        ["世界500强公司数", "22", "11", "39", "20", "17"]]),
    ("003", "表2 秀洲区“十四五”时期人才发展主要指标"): (["指标", "计量单位", "2020年基数", "2025年目标"], [
        ["人才资源总量", "万人", "12.21", "14.71"], ["区人才发展专项资金", "万元", "9066", "10510"],
        ["全社会R&D经费支出占GDP比重", "%", "3.15", "3.75"], ["博士、硕士人才", "人", "2223", "4750"],
        ["每万名从业人员中R&D人员", "人年/万人", "158.8", "200"], ["每万名从业人员中高技能人才数", "人", "1052", "1240"],
        ["规模以上工业企业中有研发活动企业数占比", "%", "86.3", "95"], ["省级(重点)企业研究院", "家", "27", "40"],
        ["院士专家工作站", "家", "13", "18"], ["博士后工作(流动)站", "家", "8", "16"],
        ["每万人高价值发明专利拥有量", "项", "10.3", "18.0"], ["PCT国际专利申请量", "项", "120", "192"],
        ["人才企业上市(挂牌)数量", "家", "4", "9"]]),
    ("003", "表1 秀洲区“十三五”期间人才发展主要指标完成情况"): (["指标", "计量单位", "2015年底基数", "2020年底总量"], [
        ["人才资源总量", "万人", "8.94", "12.21"], ["经营管理人才", "万人", "1.44", "3.14"], ["专业技术人才", "万人", "1.91", "4.04"],
        ["农村实用人才", "万人", "1.05", "1.23"], ["博士", "人", "78", "222"], ["硕士", "人", "793", "2001"],
        ["本科", "人", "13445", "28337"], ["众创空间", "个", "2", "7"], ["人才安居房", "套", "892", "2475"]]),
}


@dataclass
class Invented:
    name: str
    fmt: str          # docx | html | pdf | scan
    title: str
    before: list[str]
    caption: str
    header: list[str]
    rows: list[list[str]]
    ask: str          # question template: {row} {col} {subject}
    subject: str
    missing_columns: list[str]
    missing_rows: list[str]
    ask2: str = ""    # a second wording, asked of the first three rows


INVENTED = [
    Invented("桐乡人才安居补贴.docx", "docx", "桐乡市高层次人才安居补贴实施细则",
             ["为加快集聚高层次人才,桐乡市对来桐工作的各类人才给予安居补贴。补贴分安家补贴、租房补贴和购房补贴三类,由市人才办会同财政局按年度拨付。"],
             "表1 桐乡市各类人才安居补贴标准", ["人才类别", "安家补贴(万元)", "租房补贴(元/月)", "购房补贴(万元)"],
             [["顶尖人才", "200", "8000", "300"], ["国家级领军人才", "100", "6000", "150"], ["省级领军人才", "50", "4000", "80"],
              ["博士研究生", "20", "3000", "40"], ["硕士研究生", "8", "2000", "15"]],
             "桐乡市{row}的{col}是多少？", "桐乡市", ["落户补贴", "交通补贴"], ["博士后", "技师"],
             "在桐乡市工作的{row}可以领取多少{col}？"),
    Invented("海宁租金指导价.html", "html", "海宁市人才公寓租金指导价格公告",
             ["海宁市人才公寓实行政府指导租金,按区域和户型分档。入住人才按指导价的五折缴纳租金,租期最长三年,期满可申请续租一次。"],
             "表1 海宁市人才公寓月租金指导价", ["片区", "一室户(元/月)", "两室户(元/月)", "三室户(元/月)"],
             [["海洲街道", "1200", "1800", "2500"], ["硖石街道", "1100", "1650", "2300"], ["长安镇", "900", "1400", "1900"],
              ["许村镇", "850", "1300", "1800"], ["盐官镇", "800", "1200", "1700"]],
             "海宁市{row}人才公寓{col}的指导租金是多少？", "海宁市", ["四室户", "复式户"], ["袁花镇", "丁桥镇"],
             "海宁{row}的人才公寓{col}每月租金多少钱？"),
    Invented("平湖人才指标.pdf", "pdf", "平湖市人才发展第十四个五年规划",
             ["平湖市坚持人才引领发展的战略地位,到2025年基本建成长三角南翼人才高地。主要指标如下表,各镇街道应将指标分解落实到年度工作计划。"],
             "表1 平湖市人才发展主要指标", ["指标", "2020年基数", "2025年目标"],
             [["人才资源总量(万人)", "18.6", "25.0"], ["高技能人才(万人)", "4.2", "6.5"], ["博士人才(人)", "310", "800"],
              ["省级以上研发机构(家)", "45", "90"], ["人才发展专项资金(万元)", "12000", "20000"]],
             "平湖市{col}{row}是多少？", "平湖市", ["2030年"], ["外籍人才(人)", "院士(人)"],
             "平湖市{row}的{col}定为多少？"),
    Invented("嘉善人才统计.png", "scan", "嘉善县人才工作统计公报",
             ["嘉善县全年新引进各类人才一点二万人,人才总量稳步增长。各镇人才引进情况见下表,数据由县人才办统计。"],
             "表1 嘉善县各镇人才引进情况", ["镇名", "大学生(人)", "硕士(人)", "博士(人)"],
             [["魏塘街道", "1850", "260", "35"], ["罗星街道", "1420", "180", "22"], ["西塘镇", "960", "75", "8"],
              ["姚庄镇", "1130", "140", "16"], ["陶庄镇", "620", "40", "3"]],
             "嘉善县{row}引进的{col}有多少？", "嘉善县", ["博士后", "留学生"], ["干窑镇", "天凝镇"],
             "嘉善县{row}引进了多少{col}？"),
]


@dataclass
class TableQuestion:
    question: str
    fmt: str          # seed | docx | html | pdf | scan
    source: str
    gold: str | None  # the cell; None for a near miss (must be refused)


def _col_words(col: str) -> str:
    return col.split("(")[0]


def seed_questions() -> list[TableQuestion]:
    qs = []
    h, rows = SEED_TABLES[("002", "表2 世界级大湾区指标概况")]
    for r in rows:
        label = r[0].split("(")[0]
        for c in range(1, len(h)):
            qs.append(TableQuestion(f"{h[c]}的{label}是多少？", "seed", "002", r[c]))
    for bay in ("伦敦湾区", "悉尼湾区", "东海湾区"):
        qs.append(TableQuestion(f"{bay}的面积是多少？", "seed", "002", None))
    h, rows = SEED_TABLES[("003", "表2 秀洲区“十四五”时期人才发展主要指标")]
    for r in rows:
        qs.append(TableQuestion(f"秀洲区2025年{r[0]}的目标是多少？", "seed", "003", r[3]))
        qs.append(TableQuestion(f"秀洲区2020年{r[0]}的基数是多少？", "seed", "003", r[2]))
    for r in rows[:4]:
        qs.append(TableQuestion(f"秀洲区2030年{r[0]}的目标是多少？", "seed", "003", None))
    h, rows = SEED_TABLES[("003", "表1 秀洲区“十三五”期间人才发展主要指标完成情况")]
    for r in rows:
        qs.append(TableQuestion(f"2020年底秀洲区的{r[0]}有多少？", "seed", "003", r[3]))
    for r in rows[:3]:
        qs.append(TableQuestion(f"2015年底秀洲区的{r[0]}基数是多少？", "seed", "003", r[2]))
    for missing in ("外籍人才数量", "留学回国人员数量", "国家级人才工程入选人数"):
        qs.append(TableQuestion(f"秀洲区2025年{missing}的目标是多少？", "seed", "003", None))
    return qs


def invented_questions() -> list[TableQuestion]:
    qs = []
    for d in INVENTED:
        for r in d.rows:
            label = r[0].split("(")[0]
            for c in range(1, len(d.header)):
                qs.append(TableQuestion(d.ask.format(row=label, col=_col_words(d.header[c]), subject=d.subject),
                                        d.fmt, d.name, r[c]))
        for r in d.rows[:3] if d.ask2 else []:
            for c in range(1, len(d.header)):
                qs.append(TableQuestion(d.ask2.format(row=r[0].split("(")[0], col=_col_words(d.header[c]), subject=d.subject),
                                        d.fmt, d.name, r[c]))
        for col in d.missing_columns:
            qs.append(TableQuestion(d.ask.format(row=d.rows[0][0].split("(")[0], col=col, subject=d.subject),
                                    d.fmt, d.name, None))
        for row in d.missing_rows:
            qs.append(TableQuestion(d.ask.format(row=row.split("(")[0], col=_col_words(d.header[1]), subject=d.subject),
                                    d.fmt, d.name, None))
    return qs


def make_documents():
    """The invented documents' bytes, made as the tests make theirs."""
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    from doc_fixtures import browser, png_bytes, table_docx, table_page_html, table_pdf, table_scan

    out = {}
    with browser() as b:
        for d in INVENTED:
            after = ["以上标准自发布之日起施行,由主管部门负责解释。"]
            if d.fmt == "docx":
                out[d.name] = table_docx(d.title, d.before, d.caption, d.header, d.rows)
            elif d.fmt == "html":
                page = table_page_html([d.title, *d.before], d.caption, d.header, d.rows, after)
                out[d.name] = page.replace("<head>", f"<head><title>{d.title}</title>").encode()
            elif d.fmt == "pdf":
                out[d.name] = table_pdf(b, [d.title, *d.before], d.caption, d.header, d.rows, after)
            else:
                out[d.name] = png_bytes(table_scan(b, [d.title, *d.before], d.caption, d.header, d.rows, after))
    return out


def recovery(docs) -> dict[str, tuple[int, int]]:
    """Per format: (cells recovered exactly, cells in the known tables)."""
    from index.ingest import find_tables

    known = {(src, cap): v for (src, cap), v in SEED_TABLES.items()}
    known.update({(d.name, d.caption): (d.header, d.rows) for d in INVENTED})
    fmt_of = {d.name: d.fmt for d in INVENTED}
    out: dict[str, list[int]] = {}
    for (src, caption), (header, rows) in known.items():
        doc = next(x for x in docs if x.source.startswith(src))
        table = next((t for t in find_tables(doc) if t.caption == caption), None)
        fmt = fmt_of.get(src, "seed")
        got = {}
        if table is not None:
            label_col = table.label_column
            for row in table.rows:
                got[table.row_label(row)] = {table.header[i]: (c.text if c else "") for i, c in enumerate(row.cells)}
        tally = out.setdefault(fmt, [0, 0])
        for r in rows:
            for c in range(1, len(header)):
                tally[1] += 1
                tally[0] += got.get(r[0], {}).get(header[c]) == r[c]
    return {k: (v[0], v[1]) for k, v in out.items()}


def is_cell(span: str, gold: str) -> bool:
    """The bold span is the cell's value, alone or with its unit (12.21 or 12.21万人: a sentence that
    states the table's figure with its unit is quoted whole), never another figure."""
    return span == gold or (span.startswith(gold) and re.fullmatch(r"[^\d.]{1,4}", span[len(gold):]) is not None)


def run() -> int:
    from index.build import Encoder
    from index.build.plan import make_index
    from index.config import Settings
    from index.ingest import load_corpus, parse, to_clean_document
    from index.search import Searcher

    settings = Settings()
    seeds, _ = load_corpus(settings.seeds_dir)
    docs = list(seeds)
    for name, data in make_documents().items():
        docs.append(to_clean_document(name, parse(data, name)))
    from .ablations import VectorCache

    encoder = Encoder(settings.model_dir)
    cache = VectorCache(settings, encoder.model_id)  # vectors of unchanged texts are reused between runs
    searcher = Searcher(make_index(docs, settings, encoder, cache), encoder, settings)
    cache.save()
    questions = seed_questions() + invented_questions()
    per: dict[str, list[int]] = {}
    misses: list[str] = []
    for q in questions:
        result = searcher.search(q.question, top_k=5)
        a = result.answer
        if q.gold is None:
            ok = a is None
            key = "near misses"
        else:
            ok = a is not None and a.span is not None and is_cell(a.span.text, q.gold)
            key = q.fmt
        tally = per.setdefault(key, [0, 0])
        tally[0] += ok
        tally[1] += 1
        if not ok:
            misses.append(f"- [{q.fmt}] {q.question} gold={q.gold!r} got="
                          f"{(a.span.text if a and a.span else (a.text[:30] if a else result.abstain_reason))!r}")
    rec = recovery(docs)
    lines = ["# Table questions", "", f"{len(questions)} questions ({sum(q.gold is None for q in questions)} near misses); "
             "`python -m eval table-cells`.", "", "| set | correct | questions | accuracy |", "|---|---|---|---|"]
    for key in ("seed", "docx", "html", "pdf", "scan", "near misses"):
        if key in per:
            ok, n = per[key]
            lines.append(f"| {key if key == 'near misses' else 'cell answers, ' + key} | {ok} | {n} | {ok / n:.3f} |")
    lines += ["", "Recovery: cells recovered exactly against the known tables.", "",
              "| format | exact cells | cells | accuracy |", "|---|---|---|---|"]
    for key, (ok, n) in rec.items():
        lines.append(f"| {key} | {ok} | {n} | {ok / n:.3f} |")
    lines += ["", "## Misses", ""] + misses
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:20]))
    print(f"report: {REPORT}")
    return 0
