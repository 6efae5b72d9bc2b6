"""Where an answer can stand in a sentence and how far it reaches (index/read/spans.py)."""
import re

import pytest

from index.query import analyze
from index.read.spans import ASKS_SEVERAL, coordinated, span_candidates, with_label


def spans(text: str, question: str) -> list[str]:
    return [text[s:e] for s, e in span_candidates(text, analyze(question))]


@pytest.mark.parametrize("text, question, expected", [
    # the longest unit, not the first that fits
    ("见习单位按每人每月1800元的标准获得补贴,最长12个月。", "见习补贴最长能领几个月?", ["12个月"]),
    ("符合条件的,10个工作日内办结。", "审批要多长时间?", ["10个工作日内"]),
    # the bounds of a figure belong to it
    ("购房补贴最高8万元,约120名人才受益。", "最多能有多少?", ["最高8万元", "约120名"]),
    ("力争新引进青年人才2500名以上。", "力争新引进多少青年人才?", ["2500名以上"]),
    ("租房补贴1000元/月。", "租房补贴是多少?", ["1000元/月"]),
    # 一次性 is not a count, and a year is not an amount
    ("硕士毕业生每人一次性补贴1万元。", "给硕士的就业补贴是多少?", ["1万元"]),
    ("到2025年,人才总量增长到100万人。", "人才总量要增长到多少?", ["100万人"]),
    # the question's own figure is never its answer
    ("带动就业5人以上的,再给予2万元奖励。", "带动就业5人以上的还能再拿多少奖励?", ["2万元"]),
    # ...nor in English, which states it without the Chinese unit
    ("“12条举措”中有3条聚焦人才。", "How many of the 12 measures focus on talent?", ["3条"]),
    # an ordinal says which one, not how many
    ("第十条人才离职的,退回已发放津贴的50%。", "人才离职要退回多少津贴?", ["50%"]),
    # a figure ends where its word ends: 50万元|项目, but 五所 stays whole though the tagger reads 所在
    ("第一层次每人给予50万元项目资助。", "第一层次每人给予多少?", ["50万元"]),
    ("九所大学中五所在长三角地区。", "有几所在长三角?", ["九所", "五所"]),
    # 多少项目资助 names 项 and money: with no count of 项, the amount in 元
    ("每年遴选领军人才20名左右,每人给予最高500万元项目资助;", "每人最多能拿多少项目资助?", ["最高500万元"]),
    # a date is not an amount, nor a unit in a header; a time limit is a duration
    ("3月18日,新区召开人才工作会议,会期2天。", "会议开了多少天?", ["2天"]),
    ("面积(万平方公里):纽约湾区2.15万平方公里。", "纽约湾区面积是多少?", ["2.15万平方公里"]),
    ("出台服务外籍人才八项举措,将办理时限缩减至3个工作日。", "办理时限缩短到了多少?", ["3个工作日"]),
])
def test_amounts_reach_their_units_and_bounds(text, question, expected):
    assert spans(text, question) == expected


@pytest.mark.parametrize("text, question, expected", [
    # the asked measure picks among values of other kinds in the same sentence
    ("一等奖1名,奖金50万元。", "一等奖奖金是多少?", ["50万元"]),
    ("按房款的2%给予补贴,最高不超过8万元。", "购房补贴最多能拿多少?", ["不超过8万元"]),
    ("按房款的2%给予补贴,最高不超过8万元。", "购房补贴的比例是多少?", ["2%"]),
    ("共引进人才1350人,比上年增长42%。", "引进人才比上年增长了多少?", ["42%"]),
    ("免租办公场地6个月,最长可延至3年。", "How long can the office be rent-free at most?", ["6个月", "3年"]),
    ("年龄35周岁以下、本科学历的,补贴2万元。", "申请人的年龄要求是多少?", ["35周岁以下"]),
    # a question that names no measure keeps every value
    ("一等奖1名,奖金50万元。", "一等奖的标准是多少?", ["1名", "50万元"]),
])
def test_the_asked_measure_chooses_among_values(text, question, expected):
    assert spans(text, question) == expected


def test_a_span_of_years_stays_whole():
    assert spans("《行动方案》的实施期为2022-2025年。", "行动方案的实施期是什么时候?") == ["2022-2025年"]


def test_dates_a_question_asks_for():
    # a month alone is a date; a day is asked for by 哪天, the end of a range by 截止
    assert spans("每年3月和9月集中受理申报。", "每年什么时候受理申报?") == ["3月", "9月"]
    assert spans("3月18日,新区召开2026年人才工作会议。", "会议是哪天召开的?") == ["3月18日"]
    text = "网上申报时间为2026年4月1日至4月30日,逾期不予受理。"
    assert spans(text, "网上申报什么时候截止?") == ["4月30日"]
    assert spans(text, "网上申报最晚到哪天?") == ["4月30日"]  # 最晚 asks for the end as 截止 does
    assert spans(text, "网上申报什么时候开始?") == ["2026年4月1日", "4月30日"]
    assert spans("补贴最长发放18个月。", "补贴什么时候发放?") == []  # a duration, not a date
    # a range is whole unless its start or end is asked; a date keeps the part of the period it names
    assert spans("年会于9月18日至19日在杭州召开。", "年会是什么时候开的?") == ["9月18日至19日"]
    assert spans(text, "网上申报的时间是?") == ["2026年4月1日至4月30日"]
    assert spans("服务中心计划于2023年底前建成。", "服务中心计划什么时候建成?") == ["2023年底前"]
    assert spans("科技部于2020年12月底印发规划。", "规划是什么时候印发的?") == ["2020年12月底"]
    # a month-only date keeps the year it names relative to now
    assert spans("一批专项规划要在今年6月底前完成报批。", "专项规划要在什么时候前完成报批?") == ["今年6月底前"]


def test_a_rank_keeps_its_ordinal():
    text = "中国竞争力排名第28位,其中劳动力市场指标排第69位。"
    assert spans(text, "劳动力市场指标排多少位?") == ["第28位", "第69位"]
    # a place in order is asked, so the figures beside it are not (上升3位, 花了18个月)
    assert spans("该市排名第28位,比上年上升3位。", "该市排名第多少位?") == ["第28位"]
    assert spans("规划花了18个月,这是全国第一个跨省域规划。", "这份规划在全国排第几个?") == ["第一个"]
    assert spans("理事会召开第三次全体会议。", "理事会开的是第几次全体会议?") == ["第三次"]
    assert spans("依据本办法第十条的规定,补贴2万元。", "补贴多少?") == ["2万元"]  # which article, not how much
    # the top N is asked with its 前; a count asked without it stays bare
    assert spans("报告对全球城市排了前90名。", "报告排了前多少名?") == ["前90名"]
    assert spans("报告对全球城市排了前90名。", "报告排了多少名?") == ["90名"]


def test_a_figure_keeps_its_per_unit():
    assert spans("每万人疾控人员达到1.75名/万人。", "疾控人员要达到多少?") == ["1.75名/万人"]
    assert spans("每万名从业人员中R&D人员达到200人年。", "R&D人员要达到多少?") == ["200人年"]


@pytest.mark.parametrize("text, expected", [
    ("由区工业和信息化局负责解释。", ["区工业和信息化局"]),
    ("由浙江大学公共管理学院牵头。", ["浙江大学公共管理学院"]),
    ("澄湖县科学技术局会同县财政局组织实施。", ["澄湖县科学技术局", "县财政局"]),  # 会同 joins two bodies
    ("负责统筹协调工作的是省发展改革部门。", ["省发展改革部门"]),
])
def test_organisations_are_whole_names(text, expected):
    assert spans(text, "由哪个部门负责?") == expected


def test_who_is_answered_by_a_body_where_no_person_is_named():
    assert spans("示范区建设项目用地指标由两省一市优先保障。", "用地指标由谁优先保障?") == ["两省一市"]
    assert spans("赋予执委会联合两区一县政府行使审批权。", "执委会联合谁行使审批权?") == ["两区一县政府"]  # 执委会 is the question's own
    assert spans("仪式上,浙江省外国专家局与管委会签署协议。", "仪式上谁签署了协议?") == ["浙江省外国专家局", "管委会"]
    assert spans("咨询联系人:宋景和。", "政策咨询的联系人是谁?") == ["宋景和"]  # a person named: no body
    # the answerability model's features keep what it was fitted on: no body for "who", no joint body
    text = "示范区建设项目用地指标由两省一市优先保障。"
    assert span_candidates(text, analyze("用地指标由谁优先保障?"), strict=True) == []
    assert span_candidates(text, analyze("用地指标由哪个单位优先保障?"), strict=True) == []


def test_a_surname_the_tagger_split_off_stays_with_the_name():
    assert spans("本报讯(记者马春雷)报道", "这篇报道的记者是谁?") == ["马春雷"]


def test_whole_names():
    # a name the tagger knows keeps the place before it; a given name's last character is not cut off
    assert spans("扶持汾湖高级中学争创省“四星高中”。", "要扶持哪所学校争创四星高中?") == ["汾湖高级中学"]
    assert spans("咨询联系人:宋景和。", "政策咨询的联系人是谁?") == ["宋景和"]
    assert spans("张伟和李明出席会议。", "谁出席了会议?") == ["张伟", "李明"]


def test_what_an_english_question_counts():
    text = "上半年新增省级博士后工作站48家,引进博士后131人。"
    assert spans(text, "How many new provincial-level postdoctoral research stations were added?") == ["48家"]
    assert spans(text, "How many postdoctoral researchers were brought in?") == ["131人"]
    # a verb between "how many" and a counted noun: not what is counted
    assert spans("项目已运行3年,共资助12个项目。", "How many years has the project run?") == ["3年"]


def test_a_score_is_an_amount_in_digits():
    assert spans("-龙头城市(1座,得分100分):上海", "龙头城市上海得了多少分?") == ["100分"]
    assert spans("这项工作十分重要。", "这项工作得了多少分?") == []  # 十分 is "very"


def test_foreign_currencies_and_counts_without_a_unit_are_amounts():
    assert spans("开幕式上共签约项目32个,总金额45.8亿美元。", "签约项目总金额是多少?") == ["45.8亿美元"]
    assert spans("长江中游城市群面积40.15万平方公里,人口1.53亿。", "长江中游城市群人口多少?") == ["40.15万平方公里", "1.53亿"]
    assert spans("拥有1000栋办公大楼。", "有多少栋办公大楼?") == ["1000栋"]


@pytest.mark.parametrize("text, k, words, expected", [
    # the question's word that labels this value alone comes with it
    ("硕士3万元、博士5万元。", 1, ["博士"], "博士5万元"),
    ("千叶县面积是东京都的2.5倍、大阪府的3倍。", 0, ["东京都"], "东京都的2.5倍"),
    ("国家出台12个政策文件、地方出台30项措施。", 0, ["政策文件"], "12个政策文件"),
    ("国家先后出台了12个政策文件。", 0, ["政策文件"], "12个政策文件"),
    # a word before every value labels none of them
    ("本科每人补贴8000元,硕士每人补贴1.5万元。", 1, ["补贴", "硕士"], "1.5万元"),
    # a label longer than a bound stays out; a lone value needs no label
    ("博士后工作站16家、院士工作站3家。", 0, ["博士后工作站"], "16家"),
    ("博士5万元。", 0, ["博士"], "5万元"),
])
def test_a_value_keeps_the_question_word_that_labels_it(text, k, words, expected):
    values = [(m.start(), m.end()) for m in re.finditer(r"[\d.]+(?:万元|元|倍|个|项|家)", text)]
    start, end = with_label(text, values, k, words)
    assert text[start:end] == expected


@pytest.mark.parametrize("text, question, expected", [
    # a transliterated name, whole across its dot, and one the tagger knows as transliterated
    ("美国人才经济地理学家理查德·佛罗里达研究表明,人才具有集聚效应。", "哪位学者研究提出人才具有集聚效应?", ["理查德·佛罗里达"]),
    ("特曼首次以Megalopolis来为城市群命名。", "谁首次用Megalopolis来为城市群命名?", ["特曼"]),
])
def test_foreign_names_are_whole(text, question, expected):
    assert spans(text, question) == expected


@pytest.mark.parametrize("text, question, expected", [
    # a party committee keeps its departments; a count of places opens a joint body's name
    ("吴江区委组织部立足自身职能,推出12条举措。", "12条举措是哪个部门推出的?", ["吴江区委组织部"]),
    ("(责任单位:两省一市发展改革部门)", "优化公共资源配置的责任单位是哪个部门?", ["两省一市发展改革部门"]),
    # a direction or a whole is not a department
    ("示范区东部地区的全部企业", "哪个部门负责?", []),
])
def test_organisations_with_units_and_joint_bodies(text, question, expected):
    assert spans(text, question) == expected


@pytest.mark.parametrize("text, expected", [
    # a verb the tagger reads inside a name, a numbered unit under its company, an office of a leading group
    ("长三角科技创新共同体建设办公室发布了3项政策文件。", ["长三角科技创新共同体建设办公室"]),
    ("与中国电子科技集团公司第三十六研究所共建人才飞地。", ["中国电子科技集团公司第三十六研究所"]),
    ("区委人才工作领导小组办公室负责规划实施的统筹协调。", ["区委人才工作领导小组办公室"]),
])
def test_names_the_tagger_cuts_stay_whole(text, expected):
    assert spans(text, "是哪个机构?") == expected


@pytest.mark.parametrize("text, question, expected", [
    # a question that asks for several bodies gets the list the answer stands in, shared head and all
    ("(责任单位:两省一市科技、民政部门)", "这项工作由哪些部门负责?", "两省一市科技、民政部门"),
    ("近日,上海市教委、市委编办、市人社局、市财政局联合出台了新政。", "新政由哪些部门联合发布?",
     "上海市教委、市委编办、市人社局、市财政局"),
    ("由柳川市住房和城乡建设局、柳川市住房公积金管理中心负责解释。", "由哪些单位负责解释?",
     "柳川市住房和城乡建设局、柳川市住房公积金管理中心"),
    # one body asked: one body; a partner the question names is not part of the answer
    ("(责任单位:两省一市科技、民政部门)", "这项工作由哪个部门负责?", "民政部门"),
    ("戴德梁行和上海社科院联合发布了白皮书。", "戴德梁行是和哪家机构联合发布白皮书的?", "上海社科院"),
])
def test_a_list_of_bodies_is_answered_whole(text, question, expected):
    analysis = analyze(question)
    found = span_candidates(text, analysis)
    pick = max(range(len(found)), key=lambda k: found[k][1])  # the list's last name
    start, end = coordinated(text, *found[pick], found, question) if ASKS_SEVERAL.search(question) else found[pick]
    assert text[start:end] == expected


def test_a_name_its_label_introduces_is_a_person():
    # the tagger reads 林|清远 as a character and an adjective; the label says it is a name
    text = "大赛组委会办公室设在北泽市科学技术局创新创业服务中心，联系人：林清远，电话：86230415。"
    assert spans(text, "大赛的联系人是谁?") == ["林清远"]
    assert span_candidates(text, analyze("大赛的联系人是谁?"), strict=True) == []  # the fitted features' view


def test_money_invested_is_an_amount():
    assert spans("共有7个项目签约,意向总投资27.6亿元。", "签约项目的意向总投资是多少?") == ["27.6亿元"]


def test_fractions_and_counts_of_many_ten_thousands_are_amounts():
    text = "全国2.1%的国土面积,1/4经济总量,1/4以上的工业增加值;人口却比邻市少400多万。世界100/200强大学数为3。"
    shares = [text[s:e] for s, e in span_candidates(text, analyze("工业增加值占全国多少?"))]
    assert "1/4以上" in shares and "100/200" not in shares
    counts = [text[s:e] for s, e in span_candidates(text, analyze("人口比邻市少多少?"))]
    assert "400多万" in counts


def test_a_holidays_time_is_a_date():
    text = "根据《2021年重点工作安排》,规划有望于春节前后获批,国庆期间开放。"
    found = [text[s:e] for s, e in span_candidates(text, analyze("规划预计什么时候获批?"))]
    assert "春节前后" in found and "国庆期间" in found


def test_a_score_and_a_yearly_growth_are_asked_in_their_measures():
    text = "-枢纽城市(6座,得分27-58分):南京、苏州、杭州。到2025年人才总量达到14.71万人,年均增长3.8%。"
    assert [text[s:e] for s, e in span_candidates(text, analyze("枢纽城市的得分区间是多少?"))] == ["27-58分"]
    assert [text[s:e] for s, e in span_candidates(text, analyze("人才总量年均增长目标是多少?"))] == ["3.8%"]


def test_huitong_is_a_county_where_no_body_stands_before_it():
    text = "湖南省会同县人民政府发布通知。"
    assert [text[s:e] for s, e in span_candidates(text, analyze("哪个部门发布的?"))] == ["湖南省会同县人民政府"]
