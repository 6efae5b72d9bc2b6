"""The question's qualifiers held against the answer's passage (index/read/qualifiers.py), and the
answerability model fitted on the training questions (eval/answerability.py)."""
import numpy as np
import pytest

from eval.answerability import joint_cut
from index.query import analyze
from index.read import NEAR_MISS_FEATURES, QUALIFIER_FEATURES, ReaderModel, qualifier_features

SUBSIDY = "本科毕业生每人一次性补贴5000元,硕士毕业生每人一次性补贴1万元,博士毕业生每人一次性补贴2万元。"
CONTEXT = "某市高校毕业生就业创业补贴办法\n第三条 就业补贴\n" + SUBSIDY


def features(question: str, context: str = CONTEXT, sentence: str = SUBSIDY) -> dict[str, float]:
    return dict(zip(QUALIFIER_FEATURES, qualifier_features(analyze(question), context, context, sentence)))


def test_a_question_the_passage_answers_raises_no_flag():
    f = features("某市给硕士毕业生的一次性就业补贴是多少?")
    assert f["qualifier_missing"] == 0 and f["qualifier_narrower"] == 0 and f["absent_share"] == 0


def test_a_narrower_category_is_flagged_with_what_the_passage_lists():
    f = features("某市给博士后的一次性就业补贴是多少?")
    assert f["qualifier_missing"] == 1
    assert f["qualifier_listed"] == 1  # 本科、硕士、博士 stand where 博士后 would
    assert f["qualifier_narrower"] == 1  # 博士后 is narrower than the 博士 the passage names


@pytest.mark.parametrize("question, flag", [
    ("到2030年人才总量要达到多少?", "year_conflict"),
    ("第二次创办企业的能拿多少补贴?", "ordinal_conflict"),
])
def test_a_neighbouring_year_or_edition_is_a_conflict(question, flag):
    context = "到2025年,人才总量达到10万人。首次创办企业的,给予一次性创业补贴3万元。"
    assert features(question, context, context)[flag] == 1
    # and the question the passage does answer raises neither
    fixed = question.replace("2030", "2025").replace("第二次", "首次")
    assert features(fixed, context, context)[flag] == 0


def test_the_shipped_near_miss_model_reads_every_qualifier():
    model = ReaderModel.load()
    assert model.near_miss is not None and len(model.near_miss.weights) == len(NEAR_MISS_FEATURES)
    assert set(QUALIFIER_FEATURES) <= set(NEAR_MISS_FEATURES)
    # fitted on the training near misses: more of the question's words missing weighs against answering
    weights = dict(zip(NEAR_MISS_FEATURES, model.near_miss.weights))
    assert weights["absent_share"] < 0


def test_the_near_miss_cut_keeps_the_share_answered_by_both_models():
    near = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    first = np.array([True, True, True, False, True, True])  # the first model already refuses the 4th
    answerable = np.array([1, 1, 1, 1, 0, 0])
    # 5 answerable in all (one refused before the reader): 3 of 5 answered by both needs a cut at 0.7
    assert joint_cut(near, first, answerable, 5, 0.6) == pytest.approx(0.7 - 1e-6)
    # 2 of 5 lets the cut rise to 0.8
    assert joint_cut(near, first, answerable, 5, 0.4) == pytest.approx(0.8 - 1e-6)
    # more than both can answer: no cut at all (the lowest score)
    assert joint_cut(near, first, answerable, 5, 0.8) == pytest.approx(0.7 - 1e-6)


def test_the_words_of_the_question_word_are_no_qualifier():
    from index.read.qualifiers import missing_qualifier

    context = "第六条本细则自2026年3月1日起施行,有效期5年。"
    for question in ("这个细则什么时候开始施行?", "细则什么时间开始施行?"):
        assert missing_qualifier(analyze(question), context, context) is None, question
    assert missing_qualifier(analyze("这个细则什么时候在苏州施行?"), context, context) == "苏州"


def test_parallel_sentences_give_the_values_of_a_slot():
    from index.read.qualifiers import parallel_instead

    first, second = "对新引进的数字领域博士,给予每人30万元安家补贴;", "对新引进的数字领域硕士,给予每人10万元安家补贴。"
    assert parallel_instead("新引进的数字领域博士后安家补贴多少?", first, [second]) == ("博士后", ["博士", "硕士"])
    assert parallel_instead("新引进的数字领域硕士安家补贴多少?", first, [second]) is None
    # sentences that do not run on alike after the slot are no frame
    assert parallel_instead("新引进的数字领域博士后安家补贴多少?", first, ["对新引进的数字领域企业予以表彰。"]) is None


@pytest.mark.parametrize("question, word, sentence, expected", [
    # the sentence gives the figure for another category of the slot
    ("博士后入住人才公寓,前2年租金按市场租金的多少交?", "博士后", "硕士研究生前2年按市场租金的30%缴纳,第3年起按50%缴纳;",
     ("博士后", ["硕士研究生"])),
    ("大专毕业生住人才公寓,租金按市场租金的几成交?", "大专", "本科毕业生按市场租金的60%缴纳。", ("大专", ["本科毕业生"])),
    # a paraphrase of the sentence's category is no other category
    ("硕士生入住人才公寓,前2年租金按市场租金的多少交?", "硕士生", "硕士研究生前2年按市场租金的30%缴纳;", None),
    # a sentence that opens on a place, a number or a verb names no category; English words are not compared
    ("博士后在青禾区买房补贴多少?", "博士后", "青禾区对博士给予购房补贴20万元。", None),
    ("Postdocs get how much rent subsidy?", "Postdocs", "硕士研究生前2年按市场租金的30%缴纳;", None),
])
def test_a_sentence_about_another_category_does_not_answer(question, word, sentence, expected):
    from index.read.qualifiers import subject_instead

    assert subject_instead(analyze(question), word, sentence) == expected


def test_a_qualifier_the_tagger_cut_across_is_still_missing():
    """博士后来青禾区就业 is cut 博士|后来: the missing qualifier is 博士后, not 后来."""
    from index.read.qualifiers import missing_qualifier

    context = "本科每人补贴5000元,硕士每人补贴1万元,博士每人补贴2万元。后来补贴标准有所调整。"
    assert missing_qualifier(analyze("博士后来青禾区就业,一次性就业补贴是多少?"), context, context) == "博士后"


@pytest.mark.parametrize("question, passages, expected", [
    # a programme the question quotes and no passage holds: the passages are about another one
    ("“人才贷”单个企业每年贴息最高多少?", "科技型企业申请的“科创贷”,单个企业每年贴息最高40万元。", "人才贷"),
    ("在“北泽板”挂牌能拿多少奖励?", "对在区域性股权市场“柳川板”挂牌的企业,奖励10万元。", "北泽板"),
    # held as written, across spaces and case
    ("“科创 贷”单个企业每年贴息最高多少?", "科技型企业申请的“科创贷”,单个企业每年贴息最高40万元。", None),
    # a quoted count sums up a list in the question's own words; an English quote binds nothing
    ("示范区要不断提升哪“三度”?", "提升示范区的开放度、显示度和美誉度。", None),
    ('What is "Talent Loan" capped at?', "单个企业每年贴息最高40万元。", None),
    # a document's title in 《》 that no passage holds: another edition or another agreement
    ("《全球城市竞争力报告2017-2018》什么时候发布的?", "联合发布的《全球城市竞争力报告2018-2019》中,", "《全球城市竞争力报告2017-2018》"),
    ("《人才生态共享战略合作协议》是哪两方签署的?", "两镇共同签署《人才生态共享战略合作协议》。", None),
])
def test_a_quoted_name_no_passage_holds_is_missing(question, passages, expected):
    from index.read.qualifiers import quoted_absent

    assert quoted_absent(question, passages) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # the pair the question splits (特级|技师) is one word of the sentence (高级技师)
    ("在丹枫县拿到特级技师证书,技能提升补贴给多少?", "取得高级技师(一级)证书的,每人补贴4000元。", ("特级", ["高级"])),
    # the asked one is there: nothing stands in its place
    ("在丹枫县拿到高级技师证书,技能提升补贴给多少?", "取得高级技师(一级)证书的,每人补贴4000元。", None),
    # a word that picks out the whole (整个行业) is no kind of it
    ("K12招聘企业数量占教培整个行业的多少?", "K12招聘企业数量占整体行业的四成多。", None),
])
def test_another_value_in_the_qualifiers_place(question, sentence, expected):
    from index.read.qualifiers import slot_taken

    context = "丹枫县职业技能提升补贴\n二、补贴标准\n" + sentence
    assert slot_taken(analyze(question), context, sentence, context) == expected


@pytest.mark.parametrize("question, context, expected", [
    ("梧桐人才公寓三期一共提供多少套房源?", "“梧桐人才公寓”一期共提供房源620套;二期计划于今年9月开工,新增房源880套。",
     ("三期", ["一期", "二期"])),
    ("梧桐人才公寓二期新增多少套房源?", "“梧桐人才公寓”一期共提供房源620套;二期计划于今年9月开工,新增房源880套。", None),
    # a question word, an instalment count and a term are no phase
    ("这份《人才政策研究动态》是哪一期?", "2019第9期【总第116期】", None),
    ("安家补贴分三期发放吗?", "安家补贴分3年发放,首年发放50%。", None),
    ("补贴期限内离职怎么办?", "第一期补贴于入职时发放。", None),
    # steps and lists in order, and a rank by size
    ("第三步要实现跨省市的哪种互通?", "第一步,建设试点区。第二步,以试点区为基础,实现医保互通。", ("第三步", ["第一步", "第二步"])),
    ("第二步要实现哪种互通?", "第一步,建设试点区。第二步,以试点区为基础,实现医保互通。", None),
    ("第三张政策清单是什么内容?", "第一张清单是基础性政策清单。第二张清单是创新性政策清单。", ("第三张", ["第一张", "第二张"])),
    ("哪个城市群是中国第二大经济区?", "长三角城市群是中国第一大经济区。", ("第二大", ["第一大"])),
    # trips and sessions
    ("临川第二趟“人才专列”什么时候开通?", "临川首趟“人才专列”将于9月10日开通。", ("第二趟", ["首趟"])),
    ("临川首场招聘会在哪里举行?", "临川首场招聘会在会展中心举行。", None),
])
def test_a_phase_the_passage_gives_others_of(question, context, expected):
    from index.read.qualifiers import ordinal_instead

    assert ordinal_instead(question, context) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("见习补贴每人每年多少?", "见习单位按每人每月1800元的标准获得补贴。", ("年", "月")),
    # a yearly cap does not say what is paid in all, nor a total what is paid each year
    ("研发费用补助单个企业累计最高能拿多少?", "按研发费用增量的10%给予补助,单个企业每年最高200万元。", ("总", "年")),
    ("专项资金每年至少安排多少?", "先行启动区累计安排财政专项资金不少于100亿元。", ("年", "总")),
    ("研发费用补助单个企业累计最高能拿多少?", "单个企业每年最高200万元,累计不超过500万元。", None),
])
def test_a_figure_for_another_period_conflicts(question, sentence, expected):
    from index.read.qualifiers import period_conflict, period_refusal

    assert period_conflict(question, sentence) == expected
    if expected:
        assert period_refusal(expected, True).startswith("文件给出的是")


@pytest.mark.parametrize("question, context, expected", [
    ("人才安家补贴第四年发放多大比例?", "安家补贴分3年发放,首年发放50%,第二年、第三年各发放25%。",
     ("第四年", ["首年", "第二年", "第三年"])),
    ("人才安家补贴第二年发放多大比例?", "安家补贴分3年发放,首年发放50%,第二年、第三年各发放25%。", None),
    # a year that runs on answers the years after it
    ("人才公寓第四年租金按多少缴纳?", "前2年按市场租金的30%缴纳,第3年起按50%缴纳。", None),
])
def test_a_year_of_a_schedule_the_passage_does_not_give(question, context, expected):
    from index.read.qualifiers import schedule_instead

    assert schedule_instead(question, context) == expected


@pytest.mark.parametrize("question, context, expected", [
    ("北泽杯成长组优秀奖每个奖金多少?", "成长组设一等奖1名、奖金50万元,二等奖3名、每个奖金30万元,三等奖6名、每个奖金15万元。",
     ("优秀奖", ["一等奖", "二等奖", "三等奖"])),
    ("北泽杯青年组二等奖奖金多少?", "大赛分初创组和成长组两个组别。初创组设一等奖1名、奖金20万元。",
     ("青年组", ["初创组", "成长组"])),
    # the asked class is there; and no class is cut out of other words (北泽杯|获奖, 的|获奖, 每个|奖金)
    ("北泽杯成长组三等奖每个奖金多少?", "成长组设一等奖1名、奖金50万元,二等奖3名、每个奖金30万元,三等奖6名、每个奖金15万元。", None),
    ("北泽杯获奖项目能免收场地租金多久?", "一等奖、二等奖、三等奖项目均可免收场地租金2年。", None),
    ("落户望江湾区的获奖项目能免租多久?", "一等奖、二等奖、三等奖项目均可免租2年。", None),
])
def test_a_named_class_the_passage_gives_others_of(question, context, expected):
    from index.read.qualifiers import named_class_instead

    assert named_class_instead(question, context) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # another county's rule (the tagger cuts 槐|安县) does not answer for the asked one
    ("在丹枫县工业园区就业的新市民,每户每月再增发多少租赁补贴?", "此外,槐安县对在县内工业园区就业的新市民,每户每月再增发租赁补贴200元。",
     ("丹枫县", ["槐安县"])),
    ("在槐安县工业园区就业的新市民,每户每月再增发多少租赁补贴?", "此外,槐安县对在县内工业园区就业的新市民,每户每月再增发租赁补贴200元。", None),
    # a place of another level is no conflict (a city's rule may hold in its county)
    ("在丹枫县租房的新市民每月补贴多少?", "新市民在柳川市租房的,每户每月补贴600元。", None),
])
def test_a_place_of_the_same_level_in_the_asked_ones_place(question, sentence, expected):
    from index.read.qualifiers import place_instead

    assert place_instead(analyze(question), sentence, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # the same verb with another object: another thing is paid for
    ("企业为职工缴纳养老保险费的补贴比例是多少?", "企业为职工缴纳失业保险费的,按50%给予补贴。", ("养老保险费", ["失业保险费"])),
    ("企业开展订单式培训,每人补助多少?", "对开展新型学徒制培训的企业,每人补助5000元。", ("订单式培训", ["新型学徒制培训"])),
    ("企业引进博士后研究人员的补贴是多少?", "企业引进高层次人才的,给予每人10万元补贴。", ("博士后研究人员", ["高层次人才"])),
    # a paraphrase the passage holds, or a shorter object, is no conflict
    ("企业开展技能培训补助多少?", "对开展职业技能培训的企业补助500元。", None),
    ("企业为职工缴纳失业保险费的补贴比例是多少?", "企业为职工缴纳失业保险费的,按50%给予补贴。", None),
    # the asking words are not an object
    ("示范区要实现哪几个通?", "实现示范区城市阅读一卡通、一网通。", None),
])
def test_the_same_verb_with_another_object(question, sentence, expected):
    from index.read.neighbours import object_instead

    assert object_instead(analyze(question), sentence, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("营业收入首次突破30亿元的企业奖励多少?", "对营业收入首次突破1亿元、5亿元、10亿元的企业,分别奖励50万元、100万元、200万元。",
     ("30亿元", ["1亿元", "5亿元", "10亿元"])),
    ("带动就业10人以上的再奖励多少?", "带动就业5人以上的,再给予2万元奖励。", ("10人", ["5人"])),
    # the asked threshold is there: no conflict
    ("营业收入首次突破5亿元的企业奖励多少?", "对营业收入首次突破1亿元、5亿元、10亿元的企业,分别奖励50万元、100万元、200万元。", None),
    # a figure not qualified by the sentence's words is no conflict
    ("带动就业10人以上的再奖励多少?", "首次创办企业的,给予一次性创业补贴3万元。", None),
])
def test_a_threshold_figure_the_passage_gives_others_of(question, sentence, expected):
    from index.read.neighbours import figure_instead

    assert figure_instead(question, sentence, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("在发布会上介绍情况的柏溪镇镇长是谁?", "柏溪镇党委书记林望舒在发布会上介绍了今年的引才情况。", ("镇长", ["党委书记"])),
    ("柏溪镇规划局副局长是谁?", "柏溪镇规划局局长方知远说。", ("副局长", ["局长"])),
    ("柏溪镇规划局局长是谁?", "柏溪镇规划局局长方知远说。", None),
    ("柏溪镇的书记是谁?", "柏溪镇党委书记林望舒在发布会上介绍。", None),  # 党委书记 is a 书记
    ("柏溪镇规划局局长是谁?", "柏溪镇规划局副局长方知远说。", ("局长", ["副局长"])),  # a deputy is not the head
])
def test_a_post_the_passage_never_names(question, sentence, expected):
    from index.read.neighbours import role_absent

    assert role_absent(analyze(question), sentence, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("截至去年底,新区累计建成了几家重点实验室?", "截至去年底,新区人才资源总量达到6.2万人,其中高层次人才860人。",
     ("重点实验室", ["6.2万人", "860人"])),
    ("新区有多少名高层次人才?", "新区人才资源总量达到6.2万人,其中高层次人才860人。", None),
    ("新区有多少位院士?", "新区共有院士12人。", None),  # 位 and 人 count people alike
    ("每人最多能拿多少项目资助?", "每人给予500万元项目资助。", None),  # 多少|项目 counts no 项
    ("新区有几家重点实验室?", "新区重点实验室数量 17", None),  # a bare figure may count anything
])
def test_a_count_of_another_thing(question, sentence, expected):
    from index.read.neighbours import count_instead

    assert count_instead(analyze(question), sentence) == expected


def test_a_count_in_words_or_approximate_counts_the_asked_thing():
    from index.read.neighbours import count_instead

    assert count_instead(analyze("服务开展了多少次?"), "全年开展服务900余次,惠及1200人。") is None
    assert count_instead(analyze("会有多少名院士到场?"), "届时将有百名院士、3000人参会。") is None
    assert count_instead(analyze("几项条件都要满足吗?"), "满足任一条即可,约3000人受益。") is None  # yes or no


@pytest.mark.parametrize("question, sentence, expected", [
    ("大专毕业生在新区买房能补贴多少?", "毕业生首次购房的,硕士最高10万元,博士最高20万元。", ("大专", ["硕士", "博士"])),
    ("新区今年引进了多少博士后?", "全镇引进各类人才1350人,其中博士研究生48人、硕士研究生312人。", ("博士后", ["博士", "硕士"])),
    ("取得高级工证书的补贴多少?", "取得中级工证书的补贴1000元,取得技师证书的补贴3000元。", ("高级工", ["中级工", "技师"])),
    # the asked rung is given, or the question spans rungs (硕士以上)
    ("硕士毕业生买房能补贴多少?", "毕业生首次购房的,硕士最高10万元,博士最高20万元。", None),
    ("硕士以上人才买房能补贴多少?", "博士最高20万元。", None),
    ("新区今年引进了多少博士?", "其中博士研究生48人、硕士研究生312人。", None),  # 博士研究生 is a 博士
])
def test_a_rung_of_a_ladder_the_passage_gives_others_of(question, sentence, expected):
    from index.read.neighbours import rung_instead

    assert rung_instead(question, sentence, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("How much is the monthly rent subsidy for a postdoctoral researcher?", "本科每人每月补贴800元,博士每人每月补贴2000元。",
     ("博士后", ["本科", "博士"])),
    ("How much is the monthly rent subsidy for a doctoral graduate?", "本科每人每月补贴800元,博士每人每月补贴2000元。", None),
    ("How much is the rent subsidy for a master or above?", "博士每人每月补贴2000元。", None),
    ("对新建的省级重点实验室最高补助多少?", "对新建的县级重点实验室,最高补助100万元。", ("省级重点", ["县级"])),
    # a span of rungs from another rung counts other things
    ("省级以上工业互联网平台2025年要达到多少个?", "市级以上工业互联网平台数量\t个\t4\t15", ("省级以上", ["市级以上"])),
    ("市级以上工业互联网平台2025年要达到多少个?", "市级以上工业互联网平台数量\t个\t4\t15", None),
])
def test_rungs_of_english_questions_and_of_government(question, sentence, expected):
    from index.read.neighbours import rung_instead

    assert rung_instead(question, sentence, sentence) == expected


def test_an_english_edition_is_held_against_the_passages_editions():
    from index.read.qualifiers import english_ordinals, ordinal_instead

    assert english_ordinals("When will the final of the fourth Beize Cup be held?") == ["第四届"]
    assert english_ordinals("Who won at the 12th marine economy contest and in the 2nd round?") == ["第十二届", "第二轮"]
    assert english_ordinals("What did the first forum decide in the second half of the year?") == []  # 首届 or 第一届
    assert ordinal_instead("第四届", "第三届北泽杯大赛明年举行。") == ("第四届", ["第三届"])


def test_an_english_class_is_held_against_the_passages_classes():
    from index.read.qualifiers import class_instead, english_frame

    assert english_frame("How much is the settlement allowance for a Class E talent?") == "E类"
    assert english_frame("What do B-class talents of the fourth batch get?") == "第四批 B类"
    context = "A类人才给予安家补贴300万元,B类人才150万元,C类人才80万元。"
    assert class_instead(english_frame("How much does a Class D talent get?"), context) == ("D类", ["A类", "B类", "C类"])
    assert class_instead(english_frame("How much does a Class B talent get?"), context) is None


def test_an_english_place_in_pinyin_is_held_against_the_answers_passage():
    from index.read.neighbours import pinyin_place_instead

    question = "What is the largest housing fund loan for a first home in Beize?"
    sentence = "柳川市新市民首次申请住房公积金贷款购买首套住房的,最高可贷60万元。"
    elsewhere = "北泽市住房公积金贷款最高可贷50万元。"
    assert pinyin_place_instead(question, sentence, sentence, sentence + elsewhere) == ("Beize", ["柳川市"])
    # the answer's passage writes the place: no conflict
    assert pinyin_place_instead(question.replace("Beize", "Liuchuan"), sentence, sentence, sentence + elsewhere) is None
    # no passage writes it (London is not 伦敦 in pinyin): left to the other rules
    assert pinyin_place_instead(question.replace("Beize", "London"), sentence, sentence, sentence + elsewhere) is None
    # a place another retrieved passage does not write, where the answer's passage names its own
    assert pinyin_place_instead("What is the loan cap in Qinghe District?", "最高可贷60万元。", "柳川市新市民最高可贷60万元。",
                                "柳川市新市民最高可贷60万元。") == ("Qinghe", ["柳川市"])


def test_pinyin_place_names_are_told_from_people_and_foreign_places():
    from index.text import pinyin_places
    from index.text.english import is_pinyin, spelt_in

    assert pinyin_places("What is the loan cap in Beize, and in Qinghe District?") == ["Beize", "Qinghe"]
    assert pinyin_places("Which facilities are missing, according to Zhu Ying?") == []
    assert pinyin_places("What did the zone do in Chen Lijun's view?") == []
    # a place's own figure; not a person's, a foreign city's, nor China's
    assert pinyin_places("What is the 2025 target for Jiashan's total talent pool?") == ["Jiashan"]
    assert pinyin_places("What was Chen Lijun's rank for China's and London's talent?") == []
    assert is_pinyin("Wangjiangwan") and not is_pinyin("London") and not is_pinyin("Boston")
    assert spelt_in("Qinghe", "青禾区") and not spelt_in("Qinghe", "青年路") and not spelt_in("Eize", "北泽市")
    assert spelt_in("Qinghe", "清河路")  # homophones read alike: pinyin cannot tell 青禾 from 清河



def test_a_name_like_one_the_passage_quotes():
    from index.read.neighbours import name_like_quoted

    passage = "年底前建成“柏溪人才港”,集成落户、子女入学等26项服务事项。"
    assert name_like_quoted("柏溪创业港集成了多少项服务?", passage, passage) == ("柏溪创业港", ["柏溪人才港"])
    assert name_like_quoted("柏溪人才港集成了多少项服务?", passage, passage) is None
    # another retrieved passage holds the asked name: not a made-up one
    assert name_like_quoted("柏溪创业港集成了多少项服务?", passage, passage + "柏溪创业港位于城东。") is None


def test_the_other_side_of_a_bound_and_another_way_of_doing():
    from index.read.neighbours import manner_instead, scope_instead

    sentence = "对省内各市推荐的入驻企业,经审核后给予3年免租。"
    assert scope_instead("省外推荐入驻的企业可以免租几年?", sentence, sentence) == ("省外", ["省内"])
    assert scope_instead("省内推荐入驻的企业可以免租几年?", sentence, sentence) is None
    assert scope_instead("省外推荐入驻的企业可以免租几年?", "省内外企业均可申请。" + sentence, sentence) is None  # 省内外: both
    sentence = "到2025年,力争全职引进顶尖人才(团队)10个以上。"
    assert manner_instead(analyze("到2025年力争柔性引进顶尖人才多少个?"), sentence, sentence) == ("柔性", ["全职"])
    assert manner_instead(analyze("到2025年力争全职引进顶尖人才多少个?"), sentence, sentence) is None


def test_a_count_of_the_same_measure_but_another_thing():
    from index.read.neighbours import count_instead

    sentence = "先导区块已集聚40多家科技型企业,并可提供金融等个性化服务。"
    assert count_instead(analyze("先导区块集聚了多少家金融机构?"), sentence, sentence) == ("金融机构", ["40多家科技型企业"])
    assert count_instead(analyze("先导区块集聚了多少家科技型企业?"), sentence, sentence) is None
    assert count_instead(analyze("先导区块集聚了多少家企业?"), sentence, sentence) is None  # 企业 is a 科技型企业's kind
    # a value that ends its clause is labelled from before it
    sentence = "到2025年,争取新引进大学生6万名。"
    assert count_instead(analyze("到2025年秀洲争取新引进多少名中职毕业生?"), sentence, sentence) == ("中职毕业生", ["大学生6万名"])
    assert count_instead(analyze("到2025年秀洲争取新引进多少名大学生?"), sentence, sentence) is None


@pytest.mark.parametrize("question, sentence, expected", [
    # a five-year plan or half-year the sentence does not give, where it gives another
    ("“十二五”期间累计发明专利授权量是多少?", "“十三五”期间,发明专利授权量累计2447项。", ("十二五", ["十三五"])),
    ("How many patents were granted during the 12th Five-Year Plan?", "“十三五”期间,发明专利授权量累计2447项。",
     ("十二五", ["十三五"])),
    ("2019年下半年浙江新增高技能人才多少人?", "2019年上半年,浙江省新增高技能人才10.66万人。", ("下半年", ["上半年"])),
    ("“十三五”期间累计发明专利授权量是多少?", "“十三五”期间,发明专利授权量累计2447项。", None),
    # a sentence that names no period is not judged by its passage's title (a “十四五” plan reports “十三五” figures)
    ("“十三五”期间引育了多少名顶尖人才?", "其中,引育顶尖人才23名。", None),
    ("“十三五”期间比“十二五”多了多少?", "比“十二五”末增长36.6%。", None),
])
def test_another_plan_period_or_half_year(question, sentence, expected):
    from index.read.neighbours import period_instead

    assert period_instead(question, sentence) == expected


PLAN_TITLE = "秀洲区人才发展“十四五”规划"


@pytest.mark.parametrize("question, context, everywhere, expected", [
    # the sentence names no period, its passage names others, and no retrieved passage the asked one
    ("“十二五”期间人才公寓入住率是多少?", f"{PLAN_TITLE}\n发展基础\n“十三五”期间,累计投入使用1292套人才公寓,入住率保持在80%左右。",
     "", ("十二五", ["十三五"])),
    # a passage elsewhere names the asked period, or only the document's title names another
    ("“十二五”期间人才公寓入住率是多少?", f"{PLAN_TITLE}\n发展基础\n“十三五”期间,累计投入使用1292套人才公寓,入住率保持在80%左右。",
     "“十二五”期间,人才公寓入住率为70%。", None),
    ("“十三五”期间引育了多少名顶尖人才?", f"{PLAN_TITLE}\n发展基础\n其中,引育顶尖人才23名。", "", None),
])
def test_a_period_no_retrieved_passage_names(question, context, everywhere, expected):
    from index.read.neighbours import period_instead

    assert period_instead(question, "入住率保持在80%左右。" if "入住率" in question else "其中,引育顶尖人才23名。",
                          context, everywhere) == expected


HEALTH = "到2025年,全区每千常住人口拥有执业(助理)医师数达到3.23人,护士数达到5人,全科医生达5名/万人。"
MASTERS = "到2025年,争取新增教育名家1名、教育领军人才1名。"
PATENTS = "“十三五”期间,全区规模以上工业企业投入研发费用92.86亿元,发明专利授权量累计2447项。"
TEACHERS = "每一位中小学教师在10年内都必须有规定的流动记录。"


@pytest.mark.parametrize("question, sentence, value, expected", [
    # the bound figure's own label is another thing of the asked kind
    ("到2025年每千常住人口的护理员数要达到多少?", HEALTH, "5人", ("护理员数", ["护士数"])),
    ("到2025年每千常住人口拥有药师数要达到多少?", HEALTH, "3.23人", ("药师数", ["医师数"])),
    ("到2025年争取新增几名体育名家?", MASTERS, "1名", ("体育名家", ["教育名家"])),
    # ...or opens with the question's word and goes on with another
    ("“十三五”期间累计发明专利申请量是多少?", PATENTS, "2447项", ("发明专利申请量", ["发明专利授权量"])),
    ("“十三五”期间累计发明专利授权量是多少?", PATENTS, "2447项", None),
    ("中小学老师要在多长时间内有流动记录?", TEACHERS, "10年内", None),  # 老师 is 教师
    # its own label, or a label the question does not name a rival of
    ("到2025年每千常住人口的护士数要达到多少?", HEALTH, "5人", None),
    ("到2025年争取新增几名教育名家?", MASTERS, "1名", None),
    ("到2025年全科医生要达到多少?", HEALTH, "5名/万人", None),
])
def test_a_value_labelled_as_another_thing_of_the_asked_kind(question, sentence, value, expected):
    from index.read.neighbours import label_instead

    assert label_instead(question, sentence, sentence.index(value)) == expected


@pytest.mark.parametrize("question, sentence, value, expected", [
    # a figure bounded the other way from the limit asked
    ("顶尖团队最低能获得多少项目经费?", "顶尖团队可直接立项为姑苏重大创新团队,最高获5000万元项目经费。", "5000万元", ("最低", ["最高"])),
    ("财政专项资金三年累计的上限是多少?", "设立财政专项资金(3年累计不少于100亿元)。", "100亿元", ("上限", ["不少于"])),
    ("外籍人才一次性工作许可最多能给多久?", "可一次性给予2年以上工作许可。", "2年以上", ("最多", ["以上"])),
    ("建设用地指标周转期最短不少于几年?", "周转期最长不超过5年。", "不超过5年", ("最短", ["最长"])),
    # the limit asked, no limit asked, or none given
    ("顶尖团队最高能获得多少项目经费?", "顶尖团队可直接立项为姑苏重大创新团队,最高获5000万元项目经费。", "5000万元", None),
    ("顶尖团队能获得多少项目经费?", "顶尖团队可直接立项为姑苏重大创新团队,最高获5000万元项目经费。", "5000万元", None),
    ("顶尖团队最低能获得多少项目经费?", "顶尖团队可获得5000万元项目经费。", "5000万元", None),
])
def test_a_figure_bounded_the_other_way(question, sentence, value, expected):
    from index.read.neighbours import limit_instead

    start = sentence.index(value)
    assert limit_instead(question, sentence, start, start + len(value)) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # the sentence says the opposite and never the asked word
    ("高端数控机床有多大比例用于出口?", "80%高端数控机床和90%数控系统均依靠进口。", ("出口", ["进口"])),
    ("宁波中高端人才净流出率是多少?", "宁波以10.47%的人才净流入率排名第二。", ("流出", ["流入"])),
    ("往届本科毕业生来临川工作补贴多少?", "对新引进的应届本科毕业生给予一次性生活补贴1万元。", ("往届", ["应届"])),
    ("本科生在临川买房补贴多少?", "本科生租房的,每月补贴800元。", ("买房", ["租房"])),
    ("A类人才每月能拿多少租房补贴?", "未购房的,A类人才每月补贴6000元。", None),  # 未购房 is no 购房
    # the asked word, or both sides asked or given
    ("应届和往届本科毕业生补贴一样吗?", "对新引进的应届本科毕业生给予一次性生活补贴1万元。", None),
    ("宁波中高端人才净流入率是多少?", "宁波以10.47%的人才净流入率排名第二。", None),
    ("进出口总额中出口占多少?", "出口占进口的两倍。", None),
])
def test_the_opposite_of_the_asked_word(question, sentence, expected):
    from index.read.neighbours import opposite_instead

    assert opposite_instead(question, sentence) == expected


TASKS = ("七、落实最严格耕地保护制度。\n推进全域土地综合整治,优先将示范区全域整治项目申报列入国家试点。\n"
         "(责任单位:两省一市规划资源部门)八、提高土地资源配置效能。\n探索建立跨区域统筹用地机制。\n(责任单位:两省一市发展改革部门)")


@pytest.mark.parametrize("question, line, expected", [
    # the duty line closes the item its numbered heading opens: another item's words are not in it
    ("落实最严格水资源管理制度这一条的责任单位是谁?", "(责任单位:两省一市规划资源部门)", ("水资源", ["落实最严格耕地保护制度"])),
    ("落实最严格耕地保护制度这一条的责任单位是谁?", "(责任单位:两省一市规划资源部门)", None),
    ("提高土地资源配置效能由哪个部门负责?", "(责任单位:两省一市发展改革部门)", None),
    # not a duty line: nothing to say
    ("落实最严格水资源管理制度这一条的责任单位是谁?", "探索建立跨区域统筹用地机制。", None),
])
def test_a_duty_line_answers_for_the_item_it_closes(question, line, expected):
    from index.read.neighbours import item_instead

    assert item_instead(analyze(question), line, TASKS) == expected


def test_english_amounts_in_the_documents_units():
    from index.read.binding import respective_value
    from index.read.qualifiers import english_amounts, english_frame
    from index.read.spans import span_candidates

    assert english_amounts("a company whose revenue first exceeds 1 billion yuan") == ["10亿元"]
    assert english_amounts("500 million yuan, 1.5 million and 50,000 yuan") == ["5亿元", "150万", "5万元"]
    assert english_amounts("the 12 measures of 2025") == []
    # 1 billion yuan names the 10亿元 item of a list given respectively
    text = "对年软件业务收入首次突破1亿元、5亿元、10亿元的企业,分别给予一次性奖励50万元、100万元、200万元。"
    question = "What one-off reward does a company get whose revenue first exceeds 1 billion yuan?"
    values = span_candidates(text, analyze(question))
    k = respective_value(text, values, " ".join([question, english_frame(question)]))
    assert k is not None and text[values[k][0]:values[k][1]] == "200万元"


SERVICE = "加快构建律师服务领军人才工作机制,以“法律体检”等形式,为领军人才企业解决法律问题。"


@pytest.mark.parametrize("question, sentence, context, everywhere, expected", [
    # a kind no passage names, by a modifier the passage lacks, where the sentence names another of the head
    ("律师服务青年人才工作机制用什么形式帮企业解决法律问题?", SERVICE, SERVICE, SERVICE, ("青年人才", ["领军人才"])),
    ("高校教师要推进什么类型的队伍培养?", "推进中高职教师“双师型”队伍培养。", "加强教师队伍建设。", "", ("高校教师", ["高职教师"])),
    # the kind asked is named, the modifier is in the passage, or it is a place (another rule's)
    ("律师服务领军人才工作机制用什么形式帮企业解决法律问题?", SERVICE, SERVICE, SERVICE, None),
    ("律师服务青年人才工作机制用什么形式?", SERVICE, "青年" + SERVICE, SERVICE, None),
    ("秀洲人才资源总量净增了多少人?", "全区人才资源总量净增3.3万人。", "", "", None),
])
def test_another_kind_of_the_same_head(question, sentence, context, everywhere, expected):
    from index.read.qualifiers import compound_taken

    assert compound_taken(analyze(question), sentence, context, everywhere) == expected


@pytest.mark.parametrize("question, figure, expected", [
    # the figure measures another kind than the question asks
    ("劳伦斯实验室的企业委托经费比例大约是多少?", "4000余名", ("比例", ["4000余名"])),
    ("粤港澳大湾区的GDP增速是多少?", "1.6万亿美元", ("增速", ["1.6万亿美元"])),
    ("和汉堡商会开对话会时有多少人参会?", "12000公里", ("多少人", ["12000公里"])),
    ("上海和杭州之间准备筹建的磁悬浮总投资是多少?", "600公里以上", ("投资", ["600公里以上"])),
    ("能吸引高端人才的国际学校配套在示范区有几所?", "两项", ("几所", ["两项"])),
    ("阿拉莫斯实验室的总建筑面积是多少?", "约12000名", ("面积", ["约12000名"])),
    ("阿拉莫斯实验室拥有多少栋办公大楼?", "约12000名", ("多少栋", ["约12000名"])),
    ("波士华城市群的制造业产值在全国占多大份额?", "一个", ("比例", ["一个"])),
    ("伦敦就业增长率预计是多少?", "820万人", ("增长率", ["820万人"])),
    ("2001年纽约大都市区总人口有多少?", "7.3%", ("人口", ["7.3%"])),
    # the kind asked, a share of money, how often, a count by 个, a rate per head, or no unit to judge by
    ("入选计划的每人最多能拿多少项目资助?", "最高500万元", None),
    ("人才公寓的租金按市场租金的多少收取?", "60%", None),
    ("联席会议多久至少开一次?", "1次", None),
    ("投资额超过1亿元的项目有几个?", "7个", None),
    ("截至2020年全区全员劳动生产率是多少?", "15.5万元/人", None),
    ("东京湾区人口多少万?", "3592万", None),
    ("王振说近几年哪两个省的差距越来越小?", "一个", None),
])
def test_a_figure_of_another_measure(question, figure, expected):
    from index.read.measures import measure_instead

    assert measure_instead(question, figure) == expected


def test_a_figure_with_a_unit_is_no_year_and_month():
    from index.build.sentences import DATE, QUANTITY

    text = "仅纽约大都市区2001年总人口就达2087.2万人,占全国人口的7.3%。"
    assert [m.group() for m in DATE.finditer(text)] == ["2001年"]
    assert "2087.2万人" in [m.group() for m in QUANTITY.finditer(text)]
    assert [m.group() for m in DATE.finditer("发布日期:2020.12.31")] == ["2020.12.31"]


LAW = "到2025年,法律服务专业人才总量达到550人以上,法治宣传教育人才总量达到1040人以上。"


@pytest.mark.parametrize("question, sentence, value, expected", [
    # the value's label ends as the asked term does, after another modifier the question never names
    ("仲裁专业人才总量到2025年要达到多少?", LAW, "550人以上", ("仲裁专业人才总量", ["法律服务专业人才总量"])),
    ("到2025年争取新增几名体育名家?", "争取新增教育名家1名、教育领军人才1名。", "1名", ("体育名家", ["教育名家"])),
    ("到2025年力争新增医卫类硕士以上研究生多少人?", "力争新增建设类硕士以上研究生20人。", "20人",
     ("医卫类硕士以上研究生", ["建设类硕士以上研究生"])),
    ("汾湖高新区规划局局长是谁?", "吴江汾湖高新区(黎里镇)建设局局长姚俊说。", "姚俊", ("规划局局长", ["建设局局长"])),
    # the asked label, a modifier the sentence holds, or no kind of the thing before the shared words
    ("到2025年法律服务专业人才总量要达到多少?", LAW, "550人以上", None),
    ("汾湖高新区建设局局长是谁?", "吴江汾湖高新区(黎里镇)建设局局长姚俊说。", "姚俊", None),
    ("硕博倍增计划力争新引进多少名博士青年人才?", "力争新引进博士、硕士青年人才2500名以上。", "2500名以上", None),
    ("湖州创新创业大赛这次覆盖了多少个国家和地区?", "本次大赛19个国家和地区的人才参赛。", "19个", None),
])
def test_a_value_labelled_with_another_modifier(question, sentence, value, expected):
    from index.read.neighbours import modifier_instead

    assert modifier_instead(question, sentence, sentence.index(value)) == expected


def test_a_count_of_a_thing_with_another_modifier():
    from index.read.neighbours import modifier_instead

    sentence = "拥有约2270万人和约1210万个工作岗位。"
    start, end = sentence.index("1210"), sentence.index("工作")
    assert modifier_instead("伦敦大城区总共大约有多少个空缺岗位?", sentence, start, end) == ("空缺岗位", ["工作岗位"])
    assert modifier_instead("伦敦大城区总共大约有多少个工作岗位?", sentence, start, end) is None
    assert modifier_instead("伦敦大城区总共大约有多少个空缺岗位?", sentence, start) is None  # the label before only


def test_the_figure_of_a_span_bound_with_its_label():
    from index.read.neighbours import figure_start

    sentence = "争取新增教育名家1名、教育领军人才1名。"
    assert figure_start(sentence, 4, 9) == sentence.index("1名")


@pytest.mark.parametrize("question, sentence, expected", [
    # the same frame before the slot (引进的, 租房的), another kind in it, and the asked kind named nowhere
    ("澄湖县对企业引进的博士后给多少安家补贴?", "对企业引进的A类人才,给予安家补贴100万元;", ("博士后", ["A类人才"])),
    ("没住进人才公寓、在梧岗镇自己租房的技能人才,每月能领多少租房补贴?",
     "对暂未入住人才公寓、在镇内自行租房的硕士以上人才,梧岗镇按每人每月800元发放租房补贴。", ("技能人才", ["硕士以上人才"])),
    # the asked kind, a frame that is only a place (上海的), or two short words that may be one thing
    ("澄湖县对企业引进的A类人才给多少安家补贴?", "对企业引进的A类人才,给予安家补贴100万元;", None),
    ("我是上海的中学老师,多长时间之内必须有流动记录?", "上海的师资配置新政要求教师在10年内流动。", None),
    ("享受宁波购房补贴的房子多久之后才能上市交易?", "享受购房补贴的房产,取得不动产登记证满5年后方可上市交易。", None),
])
def test_another_kind_in_the_questions_frame(question, sentence, expected):
    from index.read.neighbours import aligned_instead

    assert aligned_instead(question, sentence, sentence, sentence) == expected


@pytest.mark.parametrize("question, everywhere, expected", [
    # an item past the number the passages give
    ("第四个战略坚持要坚持什么理念?", "需要做到三个战略坚持。", ("第四个战略坚持", ["三个战略坚持"])),
    ("金融16条的第十个方面是什么?", "建立金融信息共享合作机制等8个方面提出16条具体举措。", ("第十个方面", ["8个方面"])),
    ("《行动方案》提出的第六大行动是什么?", "《行动方案》提出实施五大行动。", ("第六大行动", ["五大行动"])),
    # one of them, or no count given
    ("第三个战略坚持是什么?", "需要做到三个战略坚持。", None),
    ("第四个战略坚持是什么?", "需要做到几个战略坚持。", None),
])
def test_an_item_past_the_count_given(question, everywhere, expected):
    from index.read.qualifiers import beyond_count

    assert beyond_count(question, everywhere) == expected


@pytest.mark.parametrize("text, value", [("九", 9), ("十", 10), ("十六", 16), ("二十", 20), ("二十三", 23), ("12", 12),
                                         ("两", 2), ("几", None)])
def test_numeral_values(text, value):
    from index.read.qualifiers import numeral_value

    assert numeral_value(text) == value


def test_another_bracketed_qualifier():
    from index.read.neighbours import bracket_instead

    sentence = "新增秀洲籍高水平运动员(国家队)5名以上。"
    assert bracket_instead("到2025年新增秀洲籍高水平运动员(省队)多少名?", sentence, sentence) == ("省队", ["国家队"])
    assert bracket_instead("到2025年新增秀洲籍高水平运动员(国家队)多少名?", sentence, sentence) is None
    # the passage gives the asked one elsewhere
    assert bracket_instead("高水平运动员(省队)多少名?", sentence, sentence + "运动员(省队)10名。") is None


@pytest.mark.parametrize("question, sentence, value, expected", [
    # the question narrows the counted thing by a word no passage has
    ("林肯实验室有多少女性工作人员?", "林肯实验室\t4200余名工作人员。", "4200余名工作人员", ("女性工作人员", ["工作人员"])),
    # the thing as given, a share (it counts no thing), or a place before the value
    ("林肯实验室有多少工作人员?", "林肯实验室\t4200余名工作人员。", "4200余名工作人员", None),
    ("宁波3315系列计划受理申报项目数同比增长了多少?", "受理申报项目1504个,同比增长20.5%。", "20.5%", None),
    ("那段时间杭州吸引中高端人才的净流入率达到了多少?", "杭州以10.47%的人才净流入率排名第一。", "10.47%", None),
])
def test_a_narrower_thing_than_the_one_counted(question, sentence, value, expected):
    from index.read.neighbours import narrower_instead

    start = sentence.index(value)
    assert narrower_instead(question, sentence, start, start + len(value), sentence) == expected
