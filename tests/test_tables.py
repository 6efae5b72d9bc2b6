"""Tables recovered from every format (fixtures made here: text, python-docx, an HTML string, a
Chromium-printed PDF, a screenshot for the scan), indexed as rows, and answered by cell."""
from __future__ import annotations

import pytest

from doc_fixtures import browser, png_bytes, table_docx, table_page_html, table_pdf, table_scan
from index.build.chunk import chunk_document, table_text
from index.ingest.clean import clean_document
from index.ingest.parse import parse, to_clean_document
from index.ingest.tables import find_tables
from index.query import Hit
from index.read.table_cell import read_table

CAPTION = "表1 各类人才租房补贴标准"
HEADER = ["人才类别", "月补贴(元)", "最长年限"]
ROWS = [["博士", "3000", "3年"], ["硕士", "2000", "3年"], ["本科", "1000", "2年"], ["大专", "500", "1年"]]
BEFORE = ["为吸引人才来嘉兴工作，现将租房补贴标准公布如下。本办法自2024年1月1日起施行，由市人力社保局负责解释。"]
AFTER = ["补贴按月发放，申请人须在嘉兴缴纳社保。"]


def only_table(doc):
    tables = find_tables(doc)
    assert len(tables) == 1, [t.caption for t in tables]
    t = tables[0]
    for row in t.rows:  # every cell's span is exactly its text in the clean text
        assert all(c is None or doc.text[c.start:c.end] == c.text for c in row.cells)
        assert doc.text[row.start:row.end].startswith(row.cells[0].text)
    return t


def assert_known(t, header=HEADER, rows=ROWS):
    assert t.caption == CAPTION
    assert t.header == header
    assert [r.texts() for r in t.rows] == rows


# ------------------------------------------------------------------ text


def test_tab_separated_block_with_caption_and_dash_rule():
    raw = "前言。\n表2.世界级大湾区指标概况\n指标\t纽约湾区\t东京湾区\n面积(万平方公里)\t2.15\t1.34\n人口(万)\t2340\t3592\n---\t---\t---\n备注:数据为2017年。"
    doc = clean_document("x.txt", raw)
    t = only_table(doc)
    assert t.caption == "表2 世界级大湾区指标概况"
    assert t.header == ["指标", "纽约湾区", "东京湾区"]
    assert [r.texts() for r in t.rows] == [["面积(万平方公里)", "2.15", "1.34"], ["人口(万)", "2340", "3592"]]
    assert t.is_matrix
    assert doc.text[t.start:].startswith("表2")


def test_flattened_indicator_table_of_seed_003(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("003"))
    t = next(t for t in find_tables(doc) if t.caption.startswith("表2"))
    assert t.kind == "flat"
    assert t.caption == "表2 秀洲区“十四五”时期人才发展主要指标"
    assert t.header == ["序号", "指标", "计量单位", "2020年基数", "2025年目标"]
    assert len(t.rows) == 15
    rd = next(r for r in t.rows if r.cells[1].text == "全社会R&D经费支出占GDP比重")
    assert rd.texts() == ["3", "全社会R&D经费支出占GDP比重", "%", "3.15", "3.75"]
    assert doc.text[rd.cells[4].start:rd.cells[4].end] == "3.75"
    assert [r.texts() for r in t.rows][10] == ["11", "全员劳动生产率年均增长", "%", "-", "7以上"]


def test_flattened_rows_that_run_together_are_left_as_text(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("003"))
    t = next(t for t in find_tables(doc) if t.caption.startswith("表1"))
    numbers = [r.cells[0].text for r in t.rows]
    assert "14" not in numbers  # "3 13 39.7 9.4个百分点333.3": more values than columns, not evident
    assert numbers[:3] == ["1", "2", "3"] and "27" in numbers


def test_text_without_structure_is_left_alone():
    raw = "表1:说明如下。本办法自发布之日起施行,1年内有效,2个部门负责。\n第二条 其他事项。"
    assert find_tables(clean_document("x.txt", raw)) == []
    assert find_tables(clean_document("y.txt", "一行\t只有一行的制表符\n下一行没有")) == []


def test_seed_002_tables(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("002"))
    captions = [t.caption for t in find_tables(doc) if t.caption]
    assert captions == ["表1 美国三大实验室概况", "表2 世界级大湾区指标概况", "表3 长三角各城市落户政策与补贴政策概况",
                        "表1 中国11个国家级城市群概况"]
    labs = find_tables(doc)[1]
    assert labs.rows[2].cells[0].text == "阿拉莫斯实验室"  # <p> markup around the cell is not the cell


# ------------------------------------------------------------------ uploads


def test_docx_table_and_merged_header():
    data = table_docx("租房补贴", BEFORE, CAPTION, HEADER, ROWS)
    assert_known(only_table(to_clean_document("a.docx", parse(data, "a.docx"))))
    merged = table_docx("租房补贴", BEFORE, CAPTION, ["人才类别", "首年", "次年"], ROWS, merge_header=(1, 2))
    t = only_table(to_clean_document("b.docx", parse(merged, "b.docx")))
    assert t.header == ["人才类别", "补贴标准/首年", "补贴标准/次年"]
    assert [r.texts() for r in t.rows] == ROWS


def test_html_table_headers_from_th_or_first_row():
    page = table_page_html(BEFORE, CAPTION, HEADER, ROWS, AFTER)
    assert_known(only_table(to_clean_document("c.html", parse(page.encode(), "c.html"))))
    no_th = page.replace("<th>", "<td>").replace("</th>", "</td>").replace("<thead>", "").replace("</thead>", "")
    assert_known(only_table(to_clean_document("d.html", parse(no_th.encode(), "d.html"))))
    empty_cell = page.replace("<td>2000</td>", "<td></td>")
    t = only_table(to_clean_document("e.html", parse(empty_cell.encode(), "e.html")))
    assert t.rows[1].texts() == ["硕士", "-", "3年"]  # the row keeps its columns


def test_markdown_pipe_table():
    md = "# 补贴\n\n" + BEFORE[0] + "\n\n" + CAPTION + "\n\n| " + " | ".join(HEADER) + " |\n|---|---|---|\n" + \
        "".join("| " + " | ".join(r) + " |\n" for r in ROWS)
    assert_known(only_table(to_clean_document("f.md", parse(md.encode(), "f.md"))))


@pytest.fixture(scope="module")
def chromium_browser():
    with browser() as b:
        yield b


def test_pdf_table_from_ruling_lines(chromium_browser):
    data = table_pdf(chromium_browser, BEFORE, CAPTION, HEADER, ROWS, AFTER)
    doc = to_clean_document("g.pdf", parse(data, "g.pdf"))
    t = only_table(doc)
    assert_known(t)
    assert t.page == 1
    assert "补贴按月发放" in doc.text[t.end:]  # the text after the table stays after it


def test_scanned_table_from_ocr_boxes(chromium_browser):
    image = table_scan(chromium_browser, BEFORE, CAPTION, HEADER, ROWS, AFTER)
    t = only_table(to_clean_document("h.png", parse(png_bytes(image), "h.png")))
    assert_known(t)


# ------------------------------------------------------------------ passages and answers


def hits_for(doc, *labels_or_columns):
    """Hits over the document's table passages, in the order asked (a stand-in for retrieval)."""
    passages = [p for p in chunk_document(doc) if p.table]
    chosen = []
    for want in labels_or_columns:
        chosen.append(next(p for p in passages if want in (p.table.get("column") or "") or
                           (p.table.get("row") and want in p.table["row"])))
    return [Hit(rank=i + 1, score=1.0, bm25=0.0, dense=0.0, passage=p) for i, p in enumerate(chosen)]


def test_row_passages_render_with_header_and_cite_the_row(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("003"))
    rows = [p for p in chunk_document(doc) if p.table and p.table["row"] and "全社会R&D经费支出占GDP比重" in p.table["row"]]
    assert len(rows) == 1
    p = rows[0]
    assert doc.text[p.char_start:p.char_end] == p.text == "3全社会R&D经费支出占GDP比重% 3.15 3.75"
    assert table_text(p.table) == ("表2 秀洲区“十四五”时期人才发展主要指标 | 指标: 全社会R&D经费支出占GDP比重 | 计量单位: % | "
                                   "2020年基数: 3.15 | 2025年目标: 3.75")


def test_matrix_table_is_indexed_by_column_too(loaded_corpus):
    doc = next(d for d in loaded_corpus if d.source.startswith("002"))
    columns = [p.table["column"] for p in chunk_document(doc) if p.table and p.table["column"]]
    assert columns == ["纽约湾区", "旧金山湾区", "东京湾区", "粤港澳大湾区", "长三角大湾区"]
    assert len({p.chunk_id for p in chunk_document(doc)}) == len(chunk_document(doc))


def test_cell_answers_and_refusals(loaded_corpus):
    d3 = next(d for d in loaded_corpus if d.source.startswith("003"))
    v = read_table("秀洲区2025年全社会R&D经费支出占GDP比重的目标是多少？", hits_for(d3, "全社会R&D经费支出占GDP比重"))
    assert v.answer.span.text == "3.75" and v.answer.table["unit"] == "%" and v.answer.table["column"] == "2025年目标"
    assert d3.text[v.answer.span.char_start:v.answer.span.char_end] == "3.75"
    v = read_table("2020年秀洲区全社会R&D经费支出占GDP比重是多少？", hits_for(d3, "全社会R&D经费支出占GDP比重"))
    assert v.answer.span.text == "3.15"
    v = read_table("2020年底秀洲区的本科人才有多少人？", hits_for(d3, "本科"))
    assert v.answer.span.text == "28337"
    v = read_table("2030年秀洲区全社会R&D经费支出占GDP比重的目标是多少？", hits_for(d3, "全社会R&D经费支出占GDP比重"))
    assert v.answer is None and "2030年" in v.abstain_reason
    d2 = next(d for d in loaded_corpus if d.source.startswith("002"))
    v = read_table("纽约湾区的面积是多少万平方公里？", hits_for(d2, "面积(万平方公里)", "纽约湾区"))
    assert v.answer.span.text == "2.15" and v.answer.table["unit"] == "万平方公里"
    v = read_table("东京湾区的人口是多少？", hits_for(d2, "东京湾区"))
    assert v.answer.span.text == "3592"
    v = read_table("伦敦湾区的面积是多少？", hits_for(d2, "面积(万平方公里)"))
    assert v.answer is None and v.abstain_reason.startswith("表中没有“伦敦湾区”这一列")
    # a question about something the row does not hold goes to the sentence reader
    assert read_table("本科人才的购房补贴是多少？", hits_for(d3, "本科")) is None


def test_missing_row_is_refused_and_a_longer_word_is_not_its_column(loaded_corpus):
    d3 = next(d for d in loaded_corpus if d.source.startswith("003"))
    v = read_table("秀洲区2025年外籍人才数量的目标是多少？", hits_for(d3, "全社会R&D经费支出占GDP比重", "人才资源总量"))
    assert v.answer is None and v.abstain_reason.startswith("表中没有“外籍人才数量”这一行"), v.abstain_reason
    doc = clean_document("x.txt", "表1 各镇人才引进情况\n镇名\t硕士(人)\t博士(人)\n西塘镇\t75\t8\n姚庄镇\t140\t16")
    assert read_table("西塘镇引进的博士后有多少？", hits_for(doc, "西塘镇")) is None
    assert read_table("西塘镇引进的博士有多少？", hits_for(doc, "西塘镇")).answer.span.text == "8"
    doc = clean_document("y.txt", "表1 嘉善县各镇人才引进情况\n镇名\t硕士(人)\t博士(人)\n西塘镇\t75\t8\n姚庄镇\t140\t16")
    v = read_table("嘉善县西塘镇引进的留学生有多少？", hits_for(doc, "西塘镇"))
    assert v.answer is None and v.abstain_reason.startswith("表中没有“留学生”这一列"), v


def test_columns_sharing_a_suffix_and_verbs_the_table_does_not_need():
    doc = clean_document("x.docx", "桐乡市安居补贴实施细则\n表1 桐乡市各类人才安居补贴标准\n人才类别\t安家补贴(万元)\t租房补贴(元/月)\n"
                                   "顶尖人才\t200\t8000\n国家级领军人才\t100\t6000")
    v = read_table("在桐乡市工作的顶尖人才可以领取多少租房补贴？", hits_for(doc, "顶尖人才"))
    assert v.answer.span.text == "8000" and v.answer.table["unit"] == "元/月"
    v = read_table("桐乡市顶尖人才的落户补贴是多少？", hits_for(doc, "顶尖人才"))
    assert v.answer is None and v.abstain_reason.startswith("表中没有“落户补贴”这一列"), v


def test_api_passages_answers_documents_and_schema_carry_tables(settings):
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(settings), base_url="http://localhost") as client:
        body = client.post("/api/query", json={"query": "秀洲区2025年全社会R&D经费支出占GDP比重的目标是多少？"}).json()
        answer = body["answer"]
        assert answer["span"]["text"] == "3.75", answer
        assert answer["table"]["column"] == "2025年目标" and answer["table"]["unit"] == "%"
        cited = next(p for p in body["passages"] if p["rank"] == answer["passage_rank"])
        assert cited["table"]["row"][1] == "全社会R&D经费支出占GDP比重"
        assert cited["char_start"] <= answer["span"]["char_start"] < answer["span"]["char_end"] <= cited["char_end"]
        doc = client.get(f"/api/documents/{cited['source']}").json()
        assert doc["text"][answer["span"]["char_start"]:answer["span"]["char_end"]] == "3.75"
        assert any(t["caption"] == "表2 秀洲区“十四五”时期人才发展主要指标" for t in doc["tables"])
        refused = client.post("/api/query", json={"query": "伦敦湾区的面积是多少万平方公里？"}).json()
        assert refused["answer"] is None and "伦敦湾区" in refused["abstain_reason"], refused["abstain_reason"]
        schema = client.get("/openapi.json").json()["components"]["schemas"]
        assert "table" in schema["PassageOut"]["properties"] and "table" in schema["AnswerOut"]["properties"]
        assert set(schema["TableRef"]["properties"]) >= {"caption", "header", "row", "column"}


def test_every_table_with_the_row_is_read_and_prose_speaks_for_a_row_the_table_lacks():
    doc = clean_document("z.txt", "嘉善县人才发展规划\n表1 嘉善县“十三五”人才发展指标完成情况\n指标\t2015年底基数\t2020年底总量\n"
                                  "博士后工作站\t2\t8\n博士\t78\t222\n表2 嘉善县“十四五”人才发展主要指标\n指标\t2020年基数\t2025年目标\n"
                                  "博士后工作(流动)站\t8\t16\n人才资源总量\t12.21\t14.71\n"
                                  "到2025年，全县每千常住人口拥有执业医师数达到3.23人，护士数达到5人。")
    passages = chunk_document(doc)
    rows = {(p.table["caption"][:2], p.table["row"][0]): p for p in passages if p.table and p.table["row"]}
    prose = next(p for p in passages if not p.table and "执业医师" in p.text)

    def hits(*ps):
        return [Hit(rank=i + 1, score=1.0, bm25=0.0, dense=0.0, passage=p) for i, p in enumerate(ps)]

    # 表1 names the row exactly but has no 2025 column; 表2 has both
    v = read_table("到2025年嘉善县博士后工作站的目标是多少？", hits(rows["表1", "博士后工作站"], rows["表2", "博士后工作(流动)站"]))
    assert v.answer.span.text == "16" and v.answer.table["column"] == "2025年目标", v
    v = read_table("2030年嘉善县博士后工作站的目标是多少？", hits(rows["表1", "博士后工作站"], rows["表2", "博士后工作(流动)站"]))
    assert v.answer is None and "2030年" in v.abstain_reason
    # 博士 is not the row of a question about 博士后
    v = read_table("嘉善县2020年博士后工作(流动)站的基数是多少？", hits(rows["表1", "博士"], rows["表2", "博士后工作(流动)站"]))
    assert v.answer.span.text == "8", v
    # a row the table lacks is refused, unless the prose among the hits speaks of it
    question = "到2025年嘉善县每千常住人口拥有执业医师数的目标是多少？"
    v = read_table(question, hits(rows["表2", "人才资源总量"]))
    assert v.answer is None and v.abstain_reason.startswith("表中没有“每千常住人口拥有执业医师数”这一行"), v
    assert read_table(question, hits(rows["表2", "人才资源总量"], prose)) is None


def test_a_row_of_another_rung_goes_to_the_sentence_reader():
    doc = clean_document("z.txt", "表1 数字经济发展主要指标\n指标\t单位\t2020年\t2025年\n"
                                  "市级以上工业互联网平台数量\t个\t4\t15\n规模以上数字经济企业数量\t家\t148\t260")
    assert read_table("市级以上工业互联网平台数量2025年目标是多少个？", hits_for(doc, "市级以上工业互联网平台数量")).answer.span.text == "15"
    assert read_table("省级以上工业互联网平台数量2025年目标是多少个？", hits_for(doc, "市级以上工业互联网平台数量")) is None


def test_growth_between_years_the_whole_area_and_the_row_the_question_is_about():
    doc = clean_document("w.txt", "表1 临川县“十三五”人才发展指标完成情况\n指标\t计量单位\t2015年底基数\t2020年底总量\t增长率(%)\n"
                                  "GDP\t亿元\t310\t452\t45.8\n研发经费支出占GDP比重\t%\t1.9\t2.6\t36.8\n"
                                  "博士\t人\t41\t97\t136.6\n博士、硕士人才\t人\t820\t1530\t86.6")
    rows = {p.table["row"][0]: p for p in chunk_document(doc) if p.table and p.table["row"]}

    def hits(*labels):
        return [Hit(rank=i + 1, score=1.0, bm25=0.0, dense=0.0, passage=rows[x]) for i, x in enumerate(labels)]

    # growth between the table's two years is its change column, not either year
    v = read_table("临川县博士从2015年到2020年增长了多少(%)？", hits("博士"))
    assert v.answer.span.text == "136.6" and v.answer.table["column"] == "增长率(%)", v
    # against one year too; a rate does not answer a count, nor a year column a change
    assert read_table("临川县博士比2015年增长了多少？", hits("博士")).answer.span.text == "136.6"
    assert read_table("临川县博士从2015年到2020年增加了多少人？", hits("博士")) is None
    assert read_table("和2015年相比临川县博士净增了多少？", hits("博士")) is None
    # 全县 is the whole of the captioned county, 人数 counts the row; 全市 is another area
    assert read_table("2015年底全县博士人数是多少？", hits("博士")).answer.span.text == "41"
    assert read_table("2015年底全市博士人数是多少？", hits("博士")) is None
    # GDP alone fits the question too, but the question is about the longer row
    v = read_table("2020年研发经费支出占GDP的比重是多少？", hits("GDP", "研发经费支出占GDP比重"))
    assert v.answer.span.text == "2.6", v
    # a listed label is named without its comma
    assert read_table("2020年底博士硕士人才有多少人？", hits("博士、硕士人才")).answer.span.text == "1530"
    # another plan period's question goes to the sentence reader
    assert read_table("临川县博士人数在“十二五”期间增长了百分之多少？", hits("博士")) is None


def test_a_row_is_named_by_its_short_form():
    doc = clean_document("v.txt", "表1 数字化改造指标\n指标\t单位\t2020年\t2025年\n"
                                  "规模以上工业企业数字化改造覆盖率\t%\t38\t80\n限额以上批发零售企业数量\t家\t120\t160")
    assert read_table("2025年规上工业企业数字化改造覆盖率是多少？",
                      hits_for(doc, "规模以上工业企业数字化改造覆盖率")).answer.span.text == "80"
    assert read_table("2020年限上批发零售企业有多少家？", hits_for(doc, "限额以上批发零售企业数量")).answer.span.text == "120"
    # a yearly growth asked of a row that gives levels goes to the sentence reader
    assert read_table("到2025年限上批发零售企业数量年均增长多少？", hits_for(doc, "限额以上批发零售企业数量")) is None


def test_a_share_is_what_a_percentage_in_the_row_states():
    doc = clean_document("u.txt", "表1 临川县三大片区概况\n片区\t简介\t主要园区\n"
                                  "东湖片区\t面积32平方公里,常住人口18万,占全县的21%和35%。\t东湖科技园、东湖物流园\n"
                                  "西岭片区\t面积41平方公里,常住人口9万。\t西岭农业园")
    # 比例 names no column, but the row's percentages state shares: the sentence reader reads the row
    assert read_table("临川县东湖片区常住人口占全县比例是多少？", hits_for(doc, "东湖片区")) is None
    # a word the row does not hold still refuses
    v = read_table("临川县东湖片区耕地面积是多少？", hits_for(doc, "东湖片区"))
    assert v.answer is None and "耕地面积" in v.abstain_reason, v


def test_english_questions_read_the_row_their_words_map_to(loaded_corpus):
    d3 = next(d for d in loaded_corpus if d.source.startswith("003"))
    rows = [p for p in chunk_document(d3) if p.table and p.table.get("row") and "人才资源总量" in p.table["row"]]
    assert len(rows) == 2  # 表1 (2015, 2020) and 表2 (2020, 2025)
    hits = [Hit(rank=i + 1, score=1.0, bm25=0.0, dense=0.0, passage=p) for i, p in enumerate(rows)]
    v = read_table("What is the 2025 target for Xiuzhou's total talent pool?", hits)
    assert v.answer.span.text == "14.71" and v.answer.table["column"] == "2025年目标"
    assert d3.text[v.answer.span.char_start:v.answer.span.char_end] == "14.71"
    assert read_table("What was the total talent pool of Xiuzhou at the end of 2020?", hits).answer.span.text == "12.21"
    # another place spelt in pinyin, or a level no row names, goes to the sentence reader
    assert read_table("What is the 2025 target for Jiashan's total talent pool?", hits) is None
    assert read_table("How many national-level postdoctoral workstations did Xiuzhou have at the end of 2020?",
                      hits_for(d3, "博士后工作站")) is None
