"""Each cleaning rule on a small fixture taken from what the seeds really contain."""
from index.ingest.clean import clean_document, clean_text, collapse_spaces, drop_boilerplate_lines, drop_page_markers, drop_symbol_garbage, find_headings, join_char_per_line, normalize_unicode, reflow


def test_nfkc_folds_kangxi_radicals_and_fullwidth():
    assert normalize_unicode("⼀体化 ⻓三⾓ ⽰范区") == "一体化 长三角 示范区"
    assert normalize_unicode("ＡＢＣ１２３（一）") == "ABC123(一)"


def test_one_char_per_line_ocr_is_rejoined():
    raw = "\n购\n自\n住\n房\n\n    长\n三\n角\n"
    out = join_char_per_line(raw)
    assert "购自住房" in out and "长三角" in out
    assert clean_text(raw) == "购自住房\n长三角"


def test_line_broken_mid_word_is_joined():
    raw = "5. 生态修复文件:制定了相应的文件。\n这些文件规\n定了生态修复的目标。"
    assert reflow(raw) == "5. 生态修复文件:制定了相应的文件。\n这些文件规定了生态修复的目标。"


def test_column_breaks_across_blank_lines_are_joined_but_headings_kept():
    raw = ("但不可否认，长三角区域涉及人才的流动共享和一体化发展尚面临系列现实挑战，同时，三省一市\n\n"
           "尚未形成合理分工、有效合作的一体化人才市场。\n\n二、长三角人才一体化的现实基础和挑战\n\n长三角区域人才一体化发展来自于强烈的现实需求。")
    out = clean_text(raw)
    assert "三省一市尚未形成" in out
    assert "\n二、长三角人才一体化的现实基础和挑战\n" in out


def test_short_title_line_is_not_glued_to_the_next_paragraph():
    raw = "长三角生态绿色一体化发展示范区生态环境制度文件\n长三角生态绿色一体化发展示范区是国家确定的重要战略发展区域,为保护和改善生态环境,推动经济高质量发展,制定了一系列生态环境制度文件。"
    assert clean_text(raw).split("\n")[0] == "长三角生态绿色一体化发展示范区生态环境制度文件"


def test_pdf_symbol_garbage_is_dropped():
    raw = '!"*+*+,+-!"!#$% &\'%!%()长三角一体化示范区支持政策解读'
    assert drop_symbol_garbage(raw).strip() == "长三角一体化示范区支持政策解读"
    # ordinary ASCII in the text survives
    keep = "DOI:10.12049/j.urp.202004001 与 IPv6、5G 和 2022-2025年"
    assert drop_symbol_garbage(keep) == keep


def test_lines_garbled_by_symbol_punctuation_are_dropped():
    from index.ingest.clean import drop_garbled_lines

    bad = "对拟长期在一体化示范区工作的高科技领域外籍人才&外国技能型人才和符合产业发展方向的单位聘雇的外籍人才#可以适当放宽年龄&学历和工作经历的#符合的#一次性给予!年以上的工作许可"
    good = "围绕“3+3”产业导向,即培育壮大数字经济、低碳经济、健康经济三大新兴产业。"
    assert drop_garbled_lines(f"{bad}\n{good}") == good


def test_page_markers_are_dropped():
    raw = "人才专项投入占地方 — 2 — 公共财政收入比例达 2021 年 12 月 31 日 —1— 秀洲区"
    out = drop_page_markers(raw)
    assert "—" not in out and "2021 年 12 月 31 日" in out


def test_web_boilerplate_lines_are_dropped():
    raw = "您的位置首页  产经信息  消费\n正文第一句。\n  • 来源:互联网\n  • |\n  • 2020-06-02\n  • T小字 T大字\n免责声明:本站所有信息均搜集自互联网。联系QQ:1640731186"
    assert drop_boilerplate_lines(raw).split("\n") == ["正文第一句。"]


def test_spaces_that_were_pdf_line_breaks_are_removed_latin_spaces_kept():
    assert collapse_spaces("区级有关部 门(单位): 已经九届区政府第 62 次 常务会议") == "区级有关部门(单位):已经九届区政府第62次常务会议"
    assert collapse_spaces("30SHANGHAI ENTERPRISE November 2022") == "30SHANGHAI ENTERPRISE November 2022"


def test_inline_headings_of_flattened_pdf_get_their_own_line():
    raw = "特制定本规划。 一、发展基础和面临形势 (一)发展基础 “十三五”期间,区委高度重视。"
    lines = clean_text(raw).split("\n")
    assert lines[1] == "一、发展基础和面临形势"
    assert lines[2].startswith("(一)发展基础")


def test_headings_and_sections():
    text = "标题行\n一、总体要求\n第一段正文。\n(一)基本原则\n正文。(责任单位:某部门)二、加大支持力度。\n正文。"
    heads = find_headings(text)
    labels = [h[2] for h in heads]
    assert "一、总体要求" in labels and "(一)基本原则" in labels and "二、加大支持力度" in labels
    from index.ingest.clean import CleanDocument  # noqa: E402

    doc = CleanDocument("x.txt", "标题行", text, heads)
    assert doc.section_at(text.index("\n正文。") + 1) == "一、总体要求 / (一)基本原则"
    assert doc.section_at(len(text) - 1) == "二、加大支持力度"


def test_filename_line_becomes_the_title():
    doc = clean_document("003.txt", "秀洲区人才发展“十四五”规划.doc\n正文第一句。\n\n秀洲区人才发展“十四五”规划.doc\n")
    assert doc.title == "秀洲区人才发展“十四五”规划"
    assert ".doc" not in doc.text


def test_real_seeds_are_clean(loaded_corpus):
    docs = {d.source[:3]: d for d in loaded_corpus}
    assert sum(1 for d in docs.values() for c in d.text if 0x2F00 <= ord(c) <= 0x2FDF or 0x2E80 <= ord(c) <= 0x2EFF) == 0
    assert "长三角一体化发展示范区" in docs["001"].text and "⼀" not in docs["001"].text
    assert "购自住房可享示范区户籍待遇" in docs["000"].text
    assert "这些文件规定了生态修复" in docs["001"].text
    assert "!\"*+*+,+-" not in docs["001"].text
    assert "—2—" not in docs["003"].text and "— 28 —" not in docs["003"].text
    assert "您的位置" not in docs["004"].text and "联系QQ" not in docs["004"].text
    assert docs["003"].title == "秀洲区人才发展“十四五”规划"
    assert docs["001"].title == "关于支持长三角生态绿色一体化发展示范区高质量发展的若干政策措施"
