"""Values given respectively (index/read/binding.py): the n-th value of the list after 分别 belongs to
the n-th label of the list before it."""
import pytest

from index.query.question import analyze
from index.read.binding import respective_value
from index.read.spans import span_candidates

PATENTS = "发明专利授权量累计2447项,其中,新能源、智能家居、时尚纺织产业发明专利授权量分别为233项、321项和245项。"
SOCIAL = "到2025年,全区持高级、中级、初级社会工作者证分别达到2人、391人、2053人。"
CLASSES = "B类、C类、D类人才分别按每月8000元、5000元、3000元发放人才津贴。"
THRESHOLDS = "对年软件业务收入首次突破1亿元、5亿元、10亿元的企业,分别给予一次性奖励50万元、100万元、200万元。"
HOUSING = "即本科生、硕士研究生分别给予一次性1万元、3万元生活安居补助。"


def bound(text: str, question: str) -> str | None:
    found = span_candidates(text, analyze(question))
    k = respective_value(text, found, question)
    return text[found[k][0]:found[k][1]] if k is not None else None


@pytest.mark.parametrize("text, question, expected", [
    (PATENTS, "智能家居产业拿到了多少项发明专利授权?", "321项"),
    (PATENTS, "时尚纺织产业的发明专利授权量是多少?", "245项"),
    (PATENTS, "新能源产业的发明专利授权量是多少?", "233项"),
    (SOCIAL, "到2025年持中级社会工作者证的要达到多少人?", "391人"),  # not the 初级 whose word 社会工作者证 is shared
    (SOCIAL, "持高级社会工作者证的要达到多少人?", "2人"),
    (HOUSING, "硕士研究生能拿多少生活安居补助?", "3万元"),
    (HOUSING, "本科生能拿多少补助?", "1万元"),
    # a one-character word does not tell items apart (B|类); a figure labels its item whole (5亿元), and the
    # list may close its clause before 分别 opens the next
    (CLASSES, "C类人才每月人才津贴多少钱?", "5000元"),
    (CLASSES, "B类人才每月津贴多少?", "8000元"),
    ("三、" + CLASSES, "C类人才每月人才津贴多少钱?", "5000元"),  # the article's number is no item
    (THRESHOLDS, "软件业务收入首次突破5亿元,能拿多少奖励?", "100万元"),
    (THRESHOLDS, "首次突破10亿元的企业奖励多少?", "200万元"),
])
def test_the_value_of_the_named_label(text, question, expected):
    assert bound(text, question) == expected


@pytest.mark.parametrize("text, question", [
    (HOUSING, "博士能拿多少补助?"),  # no label of the list
    (HOUSING, "本科生和硕士研究生各能拿多少补助?"),  # two labels: not one value
    ("本科生给予1万元,硕士研究生给予3万元。", "硕士研究生能拿多少?"),  # no 分别
    ("本科生、硕士研究生、博士分别给予1万元、3万元。", "硕士研究生能拿多少?"),  # three labels, two values
])
def test_no_binding_without_one_named_label_of_a_matched_list(text, question):
    assert bound(text, question) is None


def test_the_words_around_each_value():
    from index.read.binding import labelled_item, own_clause, reach
    text = "高新技术产业比重达到68.0%,比2015年提高24.3个百分点,新产品产值率达到52.0%,比2015年提高8.3个百分点。"
    values = span_candidates(text, analyze("新产品产值率比2015年提高了几个百分点?"))
    assert [text[s:e] for s, e in values] == ["24.3个百分点", "8.3个百分点"]
    # both clauses read 比2015年提高: only what each value alone reaches tells them apart
    assert own_clause(text, values, 0) == own_clause(text, values, 1) == "比2015年提高"
    assert "新产品产值率" in reach(text, values, 1) and "新产品产值率" not in reach(text, values, 0)
    listed = "其中博士312人、硕士2860人。"
    values = span_candidates(listed, analyze("其中硕士有多少人?"))
    assert labelled_item(listed, values, [0, 1], ["硕士"]) == 1
    assert labelled_item(listed, values, [0, 1], ["人才"]) is None  # no item labelled by the noun


def test_a_name_the_question_spells_out_is_not_its_answer():
    from index.read.binding import named_by_question
    text = "未来食品研究院由江南大学设立。"
    institute, university = (2, 7), (8, 12)
    assert named_by_question(text, institute, ["食品", "研究院"])  # the question's subject
    assert not named_by_question(text, university, ["食品", "研究院"])
    assert not named_by_question(text, institute, ["研究院"])  # 食品 is not the question's word


def test_a_value_qualifies_the_phrase_after_its_de():
    from index.read.binding import own_clause, qualified
    text = "年龄35周岁以下的全日制大学专科学历及45周岁以下全日制本科学历人才,可申请落户。"
    values = span_candidates(text, analyze("专科学历人才的年龄要求是多少?"))
    assert [text[s:e] for s, e in values] == ["35周岁以下", "45周岁以下"]
    assert qualified(text, values, 0) == "的全日制大学专科学历"
    assert own_clause(text, values, 1) == "年龄35周岁以下及"  # not the 专科 phrase the value before it qualifies


def test_a_list_item_labelled_by_a_noun_inside_its_label():
    from index.read.binding import labelled_item
    text = "2024年全镇新引进各类人才1350人,其中博士研究生48人、硕士研究生312人。"
    values = span_candidates(text, analyze("2024年新引进的博士研究生有多少人?"))
    assert [text[s:e] for s, e in values] == ["1350人", "48人", "312人"]
    assert labelled_item(text, values, [0, 1, 2], ["博士", "研究生"]) == 1  # 研究生 is in both items: 博士 tells
    assert labelled_item(text, values, [0, 1, 2], ["研究生"]) is None


def test_the_sentences_subject_labels_no_item():
    from index.read.binding import labelled_item
    text = "长江中游城市群\t面积40.15万平方公里,人口1.53亿,分别占全国的4.18%和11.16%。"
    values = span_candidates(text, analyze("长江中游城市群人口多少?"))
    assert [text[s:e] for s, e in values][:2] == ["40.15万平方公里", "1.53亿"]
    assert labelled_item(text, values, list(range(len(values))), ["长江中游城市群", "人口"]) == 1
    # a label that does not run up to its value leaves the choice to the reader's scores
    text = "面积占全国的2.3%左右,人口为7.23%。"
    values = span_candidates(text, analyze("京津冀城市群人口占全国的比重是多少?"))
    assert labelled_item(text, values, list(range(len(values))), ["全国", "人口"]) is None


def test_a_numbered_period_is_a_label():
    from index.read.qualifiers import labels_in
    assert labels_in("硕士住进人才公寓第3年起租金按市场价的多少缴纳?") == ["第3年起"]


def test_a_clause_without_a_subject_is_for_what_the_clause_before_names():
    from index.read.binding import own_clause
    text = "对经认定的市级智能工厂,给予一次性奖励80万元,对市级数字化车间给予一次性奖励30万元。"
    values = span_candidates(text, analyze("市级智能工厂奖励多少?"))
    assert "智能工厂" in own_clause(text, values, 0) and "智能工厂" not in own_clause(text, values, 1)
    # a clause before that holds a value of its own is another item's
    text = "本科生补贴1万元,给予一次性奖励2万元。"
    values = span_candidates(text, analyze("奖励多少?"))
    assert own_clause(text, values, 1) == "给予一次性奖励"


def test_the_limit_a_question_asks_for():
    from index.read.binding import bounded_as_asked
    text = "购买面积在90平方米以下的,另给予每平方米200元的购房补贴,单套最高1.8万元。"
    values = span_candidates(text, analyze("购房补贴单套最高多少?"))
    assert [text[values[k][0]:values[k][1]] for k in bounded_as_asked("购房补贴单套最高多少?", text, values, [0, 1])] \
        == ["最高1.8万元"]
    # no limit asked, or 最多的 picking a thing: every value stays
    assert bounded_as_asked("购房补贴单套多少?", text, values, [0, 1]) == [0, 1]
    assert bounded_as_asked("补贴最多的那套房补了多少?", text, values, [0, 1]) == [0, 1]


def test_a_generic_noun_labels_no_item_a_parallel_item_names_otherwise():
    from index.read.binding import labelled_item
    # "a doctoral graduate": 毕业生 labels the 本科 item, but the parallel 博士 item alone holds 博士
    text = "本科毕业生每人补贴8000元,硕士研究生每人补贴1.5万元,博士研究生每人补贴3万元。"
    values = span_candidates(text, analyze("博士毕业生补贴多少?"))
    assert labelled_item(text, values, [0, 1, 2], ["毕业生", "博士"]) is None
    assert labelled_item(text, values, [0, 1, 2], ["毕业生"]) == 0  # no rival: the label decides


def test_a_count_is_labelled_by_the_thing_after_its_measure_word():
    from index.read.binding import counted_item
    text = "建院以来获得120项省级科技奖、7项青年科学家奖、26项技术发明奖,另有专利300件。"
    question = "临川研究院获得过几项青年科学家奖?"
    values = span_candidates(text, analyze(question))
    assert [text[s:e] for s, e in values][:3] == ["120项", "7项", "26项"]
    kept = list(range(len(values)))
    assert counted_item(text, values, kept, question) == 1
    assert counted_item(text, values, kept, "获得过几项技术发明奖?") == 2
    # another measure word, or a thing no count is followed by, binds nothing
    assert counted_item(text, values, kept, "获得过几个青年科学家奖?") is None
    assert counted_item(text, values, kept, "获得过几项国家科技奖?") is None


def test_values_given_respectively_for_the_clauses_before():
    text = "临川片区\t面积32.5平方公里,常住人口18万,分别占全县的12.1%和20.4%。"
    for question, expected in (("临川片区面积占全县多少?", "12.1%"), ("临川片区常住人口占全县的比例是多少?", "20.4%")):
        values = span_candidates(text, analyze(question))
        k = respective_value(text, values, question)
        assert k is not None and text[values[k][0]:values[k][1]] == expected
    # the clause's own figure is asked without the run's words (占全县): no binding to the run
    question = "临川片区常住人口多少?"
    assert respective_value(text, span_candidates(text, analyze(question)), question) is None


def test_a_value_whose_clause_names_another_place_is_that_places():
    from index.read.binding import own_clause, places_another
    text = "在全省人才净流入率排名中,临川以8.47%的人才净流入率排名第一,青禾县紧随其后,为7.22%。"
    values = span_candidates(text, analyze("青禾县人才净流入率是多少?"))
    assert [text[s:e] for s, e in values] == ["8.47%", "7.22%"]
    # 为 opens a clause with no subject of its own: the clause before names whose figure it is
    assert own_clause(text, values, 1) == "青禾县紧随其后,为"
    assert places_another(own_clause(text, values, 0), ["青禾县"])
    assert not places_another(own_clause(text, values, 1), ["青禾县"])
    # a word the tagger reads as a place but names none (大都市) is no other place
    assert not places_another("形成一个由5大都市和", ["波士华"])


def test_a_change_asked_is_the_value_its_verb_stands_before():
    from index.read.binding import changed_as_asked
    text = "截至2020年底,全县人才资源总量达到8.5万人,比2015年净增2.1万人,人才增长率为32.8%。"
    question = "和2015年比,全县人才资源总量净增了多少人?"
    values = span_candidates(text, analyze(question))
    kept = list(range(len(values)))
    assert [text[values[k][0]:values[k][1]] for k in changed_as_asked(question, text, values, kept)] == ["2.1万人"]
    # no change asked: every value stays; 增长率为 names a rate, not a change
    assert changed_as_asked("全县人才资源总量是多少?", text, values, kept) == kept
    rates = span_candidates(text, analyze("人才增长了多少?"))
    assert changed_as_asked("人才增长了多少?", text, rates, list(range(len(rates)))) == list(range(len(rates)))


def test_a_label_written_after_its_figure():
    from index.read.binding import named_after
    text = "(4)高端装备方面,80%高端数控机床和90%数控系统均依靠进口。"
    question = "高端数控机床有多大比例依靠进口?"
    values = span_candidates(text, analyze(question))
    assert [text[s:e] for s, e in values] == ["80%", "90%"]
    assert named_after(text, values, [0, 1], ["高端数控机床", "进口"], question) == 0
    assert named_after(text, values, [0, 1], ["数控系统"], "数控系统有多大比例依靠进口?") == 1
    # a noun the question qualifies with 的 owns what is asked and labels no figure
    text = "目前6名候选人从116名应聘者中脱颖而出。"
    values = span_candidates(text, analyze("候选人的年薪是多少?"))
    assert named_after(text, values, list(range(len(values))), ["候选人", "年薪"], "候选人的年薪是多少?") is None


def test_a_place_word_labels_a_list_item():
    from index.read.binding import labelled_item
    text = "本届大赛报名项目从216个增加到358个,其中海外项目64个,占比接近18%。"
    values = span_candidates(text, analyze("大赛报名项目中海外项目有多少个?"))
    assert [text[s:e] for s, e in values] == ["216个", "358个", "64个"]
    # 海外 (a place word) and 市级 (a level) are label words; 有 is not
    from index.read.binding import label_words
    assert label_words(["海外", "项目", "市级", "有"]) == ["海外", "项目", "市级"]
    # 海外 labels the third item alone; 项目 is in every clause
    assert labelled_item(text, values, [0, 1, 2], ["海外", "项目"]) == 2
    assert labelled_item(text, values, [0, 1, 2], ["项目"]) is None
