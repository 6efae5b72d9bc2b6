"""The trained reader (issue 16): its training data's rules, offline loading, the value bound
to the asked qualifier, refusals that name what is missing, and `answer: false`."""
from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from eval import trainset
from eval.train_reader import training_records
from index.build import Sentence
from index.query import analyze
from index.read import Evidence, NeuralReader, ReaderConfig, best_span, refusal_reason, siblings

SUBSIDY = "本科毕业生每人一次性补贴5000元,硕士毕业生每人一次性补贴1万元,博士毕业生每人一次性补贴2万元。"
TITLE, SECTION = "某市高校毕业生就业创业补贴办法", "第三条 就业补贴"


# ---------------------------------------------------------------- the training data


@pytest.fixture(scope="module")
def records():
    return trainset.load_records()


def test_every_record_keeps_the_rules(records):
    """Exact spans of the clean text, known labels, near misses that no sentence answers, no
    question copied from the eval test split."""
    found = trainset.problems(records, trainset.corpus_texts(), trainset.test_split_questions(), records)
    assert found == []


def test_the_data_is_at_the_scale_the_issue_asks(records):
    stats = trainset.stats(records)
    seeds = [r for r in records if r.file.startswith("seeds/")]
    assert sum(r.answerable and r.provenance == "written" for r in seeds) >= 2000
    assert stats["near_misses"] >= 1500
    assert stats["by_provenance"].get("generated", 0) > 0 and stats["english"] > 0
    docs = trainset.invented_paths("train") + trainset.invented_paths("heldout")
    assert len(docs) >= 20 and len(trainset.invented_paths("heldout")) >= 10
    invented = [r for r in records if r.file.startswith("invented/")]
    assert len(invented) >= 400


def test_held_out_documents_never_reach_training(records):
    heldout = {p.name for p in trainset.invented_paths("heldout")}
    train = training_records()
    assert heldout and train
    assert not any("heldout" in r.file for r in train)
    assert not any(r.source in heldout for r in train)
    assert {p.name for p in trainset.invented_paths("train")}.isdisjoint(heldout)
    # and every held-out question is about a held-out document
    assert all(r.source in heldout for r in records if "heldout" in r.file and r.answerable)


def test_the_near_miss_check_finds_an_answerable_swap():
    """Swapping in a value a sentence does give is caught (the check can fail)."""
    texts = trainset.corpus_texts()
    source, text = next((s, t) for s, t in texts.items() if "吴江区" in t and "青浦区" in t)
    original = trainset.Record("o", "青浦区和吴江区达成了什么合作?", "x", "x", source, "other", "written", "t")
    swapped = trainset.Record("n", "青浦区和吴江区达成了什么合作?", None, None, None, "other", "perturbed", "t",
                              of="o", slot="place", from_="嘉善县", to="吴江区", refusal="-")
    assert trainset.answerable_elsewhere(swapped, texts) is not None
    assert original.answerable and not swapped.answerable


# ---------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def reader(settings):
    return NeuralReader(settings.model_dir)


def test_reader_loads_and_reads_offline(settings, monkeypatch):
    """No network: any connection attempt fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the reader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    offline = NeuralReader(settings.model_dir)
    readings = offline.read("硕士毕业生的一次性就业补贴是多少?", [(SUBSIDY, TITLE, SECTION)])
    assert len(readings) == 1 and 0.0 < readings[0].probability < 1.0
    start, end = readings[0].span
    assert 0 <= start < end <= len(SUBSIDY)


def test_config_says_how_it_was_trained():
    cfg = ReaderConfig.load()
    assert 1 <= cfg.layers <= 12 and cfg.candidates >= 1 and 0.0 < cfg.threshold < 1.0


@pytest.mark.parametrize("question, value", [
    ("硕士毕业生的一次性就业补贴是多少?", "1万元"),
    ("博士毕业生能拿多少一次性补贴?", "2万元"),
])
def test_the_span_is_the_value_bound_to_the_asked_category(reader, question, value):
    """Three figures in one sentence: the bold span is the one of the asked category, whichever
    span source the training chose on dev (the reader's span head or the rule)."""
    from dataclasses import replace

    from index.read import FEATURES, ReaderModel, read

    answering = replace(ReaderModel.load(), threshold=0.0, threshold_foreign=0.0)  # answer whatever the features say
    evidence = _evidence(SUBSIDY, features=len(FEATURES))
    evidence.match_terms = [t for t in ("硕士", "博士", "本科", "补贴", "就业") if t in question]
    verdict = read(analyze(question), evidence, answering, reader)
    assert verdict.answer is not None and verdict.answer.span is not None
    assert verdict.answer.span.text == value
    assert SUBSIDY[verdict.answer.span.char_start - 10:verdict.answer.span.char_end - 10] == value


def test_best_span_stays_inside_the_allowed_tokens():
    start, end = np.array([0.0, 5.0, 1.0, 9.0]), np.array([0.0, 1.0, 8.0, 2.0])
    offsets = [(0, 0), (0, 2), (2, 4), (4, 6)]
    span, _ = best_span(start, end, np.array([1, 2]), offsets)
    assert span == (0, 4)  # token 3 scores higher but is not allowed
    span, _ = best_span(start, end, np.array([1, 2, 3]), offsets, max_tokens=1)
    assert span in {(0, 2), (2, 4), (4, 6)}


# ---------------------------------------------------------------- refusals


def _evidence(text: str, features: int = 1) -> Evidence:
    s = Sentence(0, "doc.txt", 10, 10 + len(text), text, 1)  # kinds: holds a quantity
    return Evidence([s], np.array([1]), np.zeros((1, features)), [], [], {}, [f"{TITLE}\n{SECTION}\n{text}"],
                    np.array([True]), [(TITLE, SECTION)])


@pytest.mark.parametrize("question, missing, listed", [
    ("博士后的一次性就业补贴是多少?", "博士后", ["本科", "硕士", "博士"]),
    ("2030年的目标是多少?", "2030年", ["2020年", "2025年"]),
])
def test_a_refusal_names_the_missing_qualifier_and_what_is_listed(question, missing, listed):
    text = SUBSIDY if missing == "博士后" else "到2025年,人才总量达到10万人,比2020年增长30%。"
    reason = refusal_reason(analyze(question), _evidence(text), 0)
    assert missing in reason
    assert all(w in reason for w in listed), reason


@pytest.mark.parametrize("question, frame", [
    ("聚焦青年人才的工程叫什么名字?", "名字"),
    # a demonstrative and a count of the thing asked point into the question, not the documents
    ("加强组织保障这一条的责任单位是谁?", "一条"),
    ("在嘉兴乌镇举行的那场人才论坛叫什么?", "那场"),
    ("第三个战略坚持要实现什么?", "第三个"),
])
def test_a_refusal_never_names_a_word_of_the_questions_frame(question, frame):
    reason = refusal_reason(analyze(question), _evidence("实施“秀水青拔”工程,聚焦青年人才。"), 0)
    assert frame not in reason and reason


TRAINEE = "见习单位按每人每月1800元的标准获得补贴,最长12个月。"
FOUNDING = "首次创办企业的,给予一次性创业补贴3万元;带动就业5人以上的,再给予2万元奖励。"


@pytest.mark.parametrize("question, text, reason", [
    # the asked category is not among those the sentence lists (narrower, or the same slot)
    ("某市给博士后的一次性就业补贴是多少?", SUBSIDY, "文件只提到本科、硕士和博士,未提到“博士后”。"),
    ("某市给大专毕业生的就业补贴是多少?", SUBSIDY, "文件只提到本科、硕士和博士,未提到“大专”。"),
    # another round than the one the passage gives
    ("对第二次创办企业的毕业生补贴多少?", FOUNDING, "文件只提到首次,未提到“第二次”。"),
    # another value stands where the question's stands
    ("二甲医院到示范区建立分院能拿多少补助?", "支持三甲医院到示范区建立分院,给予一次性补助100万元。",
     "文件只提到三甲,未提到“二甲”。"),
    # a term no passage has, where the passage has one of the same head (留学生 asked, 大学生 given)
    ("到2025年留学生的引进目标是多少人?", "到2025年,争取新引进大学生6万名。", "文件只提到大学生,未提到“留学生”。"),
    # a monthly figure is not a yearly one
    ("见习补贴每人每年多少?", TRAINEE, "文件给出的是每月的标准,未提到每年的数额。"),
    ("What is the internship subsidy per year?", TRAINEE, "The documents give a monthly figure; they give no yearly one."),
])
def test_a_confident_answer_to_a_neighbouring_question_is_refused(question, text, reason):
    """However sure the models are, a sentence that answers a neighbouring question (one qualifier
    changed) is refused, and the refusal says what the document gives instead."""
    from dataclasses import replace

    from index.read import FEATURES, ReaderModel, read

    answering = replace(ReaderModel.load(), threshold=0.0, threshold_foreign=0.0, near_miss=None)
    verdict = read(analyze(question), _evidence(text, features=len(FEATURES)), answering)
    assert verdict.answer is None and verdict.abstain_reason == reason
    # the question the sentence does answer is answered
    fixed = {"博士后": "硕士毕业生", "大专毕业生": "硕士毕业生", "第二次": "首次", "每年": "每月", "per year": "per month",
             "二甲": "三甲", "留学生": "大学生"}
    asked = next(question.replace(k, v) for k, v in fixed.items() if k in question)
    assert read(analyze(asked), _evidence(text, features=len(FEATURES)), answering).answer is not None, asked


def test_siblings_of_an_ordinal():
    assert siblings("第二次", "首次创办企业的,给予一次性创业补贴3万元。") == ["首次"]


def test_an_english_refusal_is_in_english():
    reason = refusal_reason(analyze("What is the one-off subsidy for postdocs?"), _evidence(SUBSIDY), 0)
    assert reason.startswith("The documents")
    # an English word is absent from Chinese text whatever it asks: it is not named as what is missing
    reason = refusal_reason(analyze("According to the plan, what is the trainee subsidy?"), _evidence(TRAINEE), 0)
    assert reason.startswith("The documents") and "according" not in reason.lower()


# ---------------------------------------------------------------- the API


def test_answer_false_skips_the_reader(settings, monkeypatch):
    from service.app import create_app

    with TestClient(create_app(settings), base_url="http://localhost") as client:
        body = client.post("/api/query", json={"query": "示范区要加快建设哪些新一代信息基础设施？", "answer": False}).json()
        assert body["answer"] is None and body["abstain_reason"] is None and body["passages"]

        def boom(*a, **k):
            raise AssertionError("the reader ran")

        searcher = client.app.state.holder.engine.searcher
        with monkeypatch.context() as m:
            m.setattr(searcher, "answer", boom)
            again = client.post("/api/query", json={"query": "示范区是哪一年揭牌的?", "answer": False})
            assert again.status_code == 200 and again.json()["answer"] is None
        with_answer = client.post("/api/query", json={"query": "示范区要加快建设哪些新一代信息基础设施？"}).json()
        assert with_answer["answer"] is not None
        assert client.post("/api/query", json={"query": "x", "answer": "no"}).status_code == 422


# ---------------------------------------------------------------- a user's own document, end to end

RULES = """云溪县高层次人才安居保障实施细则
第一条 为加快集聚高层次人才，根据《云溪县人才强县行动计划》，制定本细则。
第二条 本细则所称高层次人才分为A、B、C三类。A类为国家级领军人才，B类为省级领军人才，C类为市级拔尖人才。
第三条 购房补贴。在云溪县首次购买商品住房的，A类人才给予购房补贴150万元，B类人才给予购房补贴80万元，C类人才给予购房补贴30万元，分5年发放。
第四条 租房补贴。未购房的，A类人才每月补贴6000元，B类人才每月补贴4000元，C类人才每月补贴2500元，补贴期限最长3年。
第五条 人才公寓。新引进的全日制硕士研究生可申请入住人才公寓，租期不超过2年，租金按市场价的50%收取。
第六条 本细则自2026年3月1日起施行，有效期5年。"""


NOTICE = """关于开展2026年度临江市青年创新人才项目申报工作的通知
一、申报条件
申报人年龄不超过35周岁，具有博士学位或副高级以上职称，在临江市全职工作满1年。
二、支持标准
入选人员分为两个层次：第一层次每人给予50万元项目资助，第二层次每人给予20万元项目资助。资助资金分3年拨付。
三、申报时间
网上申报时间为2026年4月1日至4月30日。各区人社局于5月15日前完成初审并报送市人社局。
四、名额
2026年度计划遴选第一层次人才30名、第二层次人才120名。"""


NEWS = """白鹭湾新区召开2026年人才工作会议
本报讯（记者 林晓）3月18日，白鹭湾新区召开2026年人才工作会议。新区党工委书记陈立强出席会议并讲话。
会议通报了2025年人才工作情况：全年新引进各类人才1.2万人，其中博士312人、硕士2860人；新建博士后工作站5家，累计达到23家；人才发展专项资金投入4.6亿元，同比增长18%。
会议提出，2026年新区将力争引进各类人才1.5万人，新增博士后工作站6家，人才专项资金投入不低于5亿元。到2030年，新区人才总量要突破30万人，研发人员占从业人员比重达到8%。"""


PLAN = """青川市数字人才发展三年行动计划（2026—2028年）
一、总体目标
到2028年，全市数字人才总量达到25万人，其中高端数字人才不少于8000人；建成数字人才实训基地20个。
二、重点任务
建设数字人才创新平台。支持企业建设数字技术创新中心，经认定为省级的给予100万元奖励，认定为市级的给予50万元奖励。
实施数字英才引进工程。对新引进的数字领域博士，给予每人30万元安家补贴；对新引进的数字领域硕士，给予每人10万元安家补贴。"""


MEASURES = """石湾区支持科技创新若干措施
一、研发投入。对研发费用占营业收入比重达到3%以上的企业，按研发费用增量的10%给予补助，单个企业每年最高200万元。
二、科技贷款。科技型企业申请“科创贷”的，区财政按贷款利率的50%给予贴息，单个企业每年贴息最高40万元。
三、技能人才。取得技师证书的，每人补贴3000元；取得高级技师证书的，每人补贴5000元。
四、人才服务。A类、B类人才每年可享受1次免费健康体检，体检标准不超过5000元。C类人才可申请入住人才公寓。
五、安家补贴。安家补贴分3年发放，首年发放50%，第二年、第三年各发放25%。
六、创新大赛。大赛分初创组和成长组。成长组设一等奖1名、奖金50万元，二等奖3名、每个奖金30万元。
七、人才公寓。石湾人才公寓一期提供房源600套，二期计划新增房源800套，预计2027年6月建成。"""

UPGRADE = """柏溪镇产业升级若干措施
一、营收奖励。对年营业收入首次突破1亿元、5亿元、10亿元的企业，分别给予一次性奖励50万元、100万元、200万元。
二、社保补贴。企业为新招用职工缴纳失业保险费的，按实缴金额的50%给予补贴，每人每年最高3000元。
三、安居补贴。毕业生在柏溪镇首次购买商品住房的，硕士最高10万元，博士最高20万元。
四、人才总量。截至2025年底，全镇人才资源总量达到3.2万人，其中高层次人才640人。
五、政策解读。柏溪镇党委书记林望舒在新闻发布会上介绍了上述措施。"""


# a seventh: lists of bodies, values given respectively by class and by threshold, a clause with no subject of its
# own, a limit, a name its label introduces
DIGITAL = """枫林区促进数字产业发展若干措施
枫林区经济和信息化局、枫林区财政局联合印发。
一、对年软件业务收入首次突破1亿元、5亿元、10亿元的企业,分别给予一次性奖励50万元、100万元、200万元。
二、对经认定的省级智能工厂,给予一次性奖励80万元,对省级数字化车间给予一次性奖励30万元。
三、A类、B类、C类数字人才分别按每月6000元、4000元、2000元发放数字人才津贴。
四、购买面积在90平方米以下住房的数字人才,按每平方米300元给予购房补贴,单套最高2.7万元。
五、政策咨询联系人:柯明远,电话:86001234。"""


# an eighth: figures of another measure, kinds and counts the question narrows or names by another modifier, a
# bracketed qualifier, an item past the count given, and a figure in the sentence after the one first bound
ORCHARD = """桃源区人才工作情况通报
一、人才引育。2025年全区新引进大学生6200名,其中博士研究生86人。
二、人才平台。全区建有省级博士后工作站9家,高水平运动员(国家队)12名。
三、人才资金。今年受理人才项目申报386个,同比增长12.5%。撬动社会资本4.8亿元,带动就业2100余人。
四、人才服务。区人才服务中心有工作人员35名,提供三个服务套餐。
五、人才队伍。到2027年,全区法律服务专业人才总量达到600人以上。"""


def searcher_over(docs, settings, encoder):
    """A searcher over an index of `docs` alone, built in memory."""
    from index.build import make_index
    from index.search import Searcher

    return Searcher(make_index(docs, settings, encoder), encoder, settings)


def assert_reads(searcher, question: str, span: str | None, reason: str | None) -> None:
    """The bold span is `span`, or (span None) the question is refused for `reason`."""
    result = searcher.search(question, top_k=5)
    if span is None:
        assert result.answer is None and result.abstain_reason == reason, (result.answer, result.abstain_reason)
    else:
        assert result.answer is not None and result.answer.span.text == span, (result.answer, result.abstain_reason)


@pytest.fixture(scope="module")
def rules_searcher(settings, encoder):
    from index.ingest.clean import clean_document

    docs = [clean_document("900_yunxi.txt", RULES), clean_document("901_notice.txt", NOTICE),
            clean_document("902_news.txt", NEWS), clean_document("903_plan.txt", PLAN),
            clean_document("904_measures.txt", MEASURES), clean_document("905_upgrade.txt", UPGRADE)]
    return searcher_over(docs, settings, encoder)


@pytest.mark.parametrize("question, span, reason", [
    ("云溪县给B类人才的购房补贴是多少？", "80万元", None),
    ("云溪县A类人才每月能拿多少租房补贴？", "6000元", None),
    # an article that runs on into its provision is read as a sentence, not as a heading
    ("这个细则什么时候开始施行？", "2026年3月1日", None),
    # a class the document does not list
    ("云溪县给D类人才的购房补贴是多少？", None, "文件只提到A类、B类和C类,未提到“D类”。"),
    # the 购房 article is closest, but 租房 is asked: the reader moves to its article, which is monthly
    ("云溪县给B类人才的租房补贴每年多少？", None, "文件给出的是每月的标准,未提到每年的数额。"),
    # a value is bound to its own label (第一层次…50万元, 第二层次…120名) and ends where its word ends (not 50万元项)
    ("临江市第一层次人才每人能拿多少项目资助？", "50万元", None),
    ("临江市2026年计划遴选多少名第二层次人才？", "120名", None),
    ("临江市各区人社局要在什么时候前完成初审？", "5月15日前", None),
    # a round of a kind the document lists, but not this one
    ("临江市第三层次人才每人能拿多少项目资助？", None, "文件只提到第一层次和第二层次,未提到“第三层次”。"),
    # a news report: the lede and the 2026 plans are about other years than 2025's figures, which run on
    # after "2025年人才工作情况:"; the one value a question word labels (其中博士312人); a day, not the year
    ("白鹭湾新区2025年人才发展专项资金投入了多少？", "4.6亿元", None),
    ("白鹭湾新区2025年引进了多少博士？", "博士312人", None),
    ("白鹭湾新区人才工作会议是哪天召开的？", "3月18日", None),
    # a verb of the question (达到) labels nothing: the figure of the asked noun (人才总量)
    ("到2030年白鹭湾新区人才总量要达到多少？", "30万人", None),
    # a label both values' clauses share (数字人才) binds neither; levels of government are labels
    ("到2028年青川市数字人才总量要达到多少？", "25万人", None),
    ("青川市省级数字技术创新中心奖励多少？", "100万元", None),
    ("青川市国家级数字技术创新中心奖励多少？", None, "文件只提到省级和市级,未提到“国家级”。"),
    # parallel sentences give the slot's values (对新引进的数字领域博士…; 对新引进的数字领域硕士…)
    ("青川市对新引进的数字领域硕士给多少安家补贴？", "10万元", None),
    ("青川市对新引进的数字领域博士后给多少安家补贴？", None, "文件只提到博士和硕士,未提到“博士后”。"),
    # a programme the question quotes and no passage names
    ("石湾区“科创贷”单个企业每年贴息最高多少？", "最高40万元", None),
    ("石湾区“人才贷”单个企业每年贴息最高多少？", None, "文件中没有关于“人才贷”的内容。"),
    # a grade the sentence's tagger keeps whole (高级技师), a yearly cap for a total, a year past the schedule
    ("石湾区取得特级技师证书的每人补贴多少？", None, "文件只提到高级,未提到“特级”。"),
    ("石湾区研发费用补助单个企业累计最高多少？", None, "文件给出的是每年的标准,未提到累计的数额。"),
    ("石湾区安家补贴第二年发放多大比例？", "25%", None),
    ("石湾区安家补贴第四年发放多大比例？", None, "文件只提到首年、第二年和第三年,未提到“第四年”。"),
    # classes the sentence lists though its passage names the asked one elsewhere; a group's prize; a phase
    ("石湾区C类人才免费体检的标准是多少？", None, "文件只提到A类和B类,未提到“C类”。"),
    ("石湾区创新大赛成长组二等奖每个奖金多少？", "30万元", None),
    ("石湾区创新大赛成长组优秀奖每个奖金多少？", None, "文件只提到一等奖和二等奖,未提到“优秀奖”。"),
    ("石湾人才公寓三期提供多少套房源？", None, "文件只提到一期和二期,未提到“三期”。"),
    # another threshold, another object of the same verb, another rung, a count of another thing, another post
    ("柏溪镇企业年营业收入首次突破20亿元，奖励多少？", None, "文件只提到1亿元、5亿元和10亿元,未提到“20亿元”。"),
    ("柏溪镇企业为职工缴纳养老保险费的，补贴比例是多少？", None, "文件只提到失业保险费,未提到“养老保险费”。"),
    ("柏溪镇企业为职工缴纳失业保险费的，补贴比例是多少？", "50%", None),
    ("大专毕业生在柏溪镇首次买房，补贴最高多少？", None, "文件只提到硕士和博士,未提到“大专”。"),
    ("硕士毕业生在柏溪镇首次买房，补贴最高多少？", "硕士最高10万元", None),
    ("截至2025年底，柏溪镇累计建成了几家重点实验室？", None, "文件只提到3.2万人和640人,未提到“重点实验室”。"),
    ("截至2025年底，柏溪镇人才资源总量达到多少？", "3.2万人", None),
    ("在新闻发布会上介绍措施的柏溪镇镇长是谁？", None, "文件只提到党委书记,未提到“镇长”。"),
    ("在新闻发布会上介绍措施的柏溪镇党委书记是谁？", "林望舒", None),
])
def test_a_users_rules_answered_by_article(rules_searcher, question, span, reason):
    assert_reads(rules_searcher, question, span, reason)


def beside_two_seeds(name: str, text: str, loaded_corpus, settings, encoder):
    """A searcher over a user's document read beside two real seeds (idf as in a library, not a one-document index)."""
    from index.ingest.clean import clean_document

    docs = [d for d in loaded_corpus if d.source.startswith(("000", "004"))]
    return searcher_over(docs + [clean_document(name, text)], settings, encoder)


@pytest.fixture(scope="module")
def digital_searcher(settings, encoder, loaded_corpus):
    return beside_two_seeds("906_digital.txt", DIGITAL, loaded_corpus, settings, encoder)


@pytest.mark.parametrize("question, span, reason", [
    ("枫林区数字产业措施由哪些部门联合印发？", "枫林区经济和信息化局、枫林区财政局", None),
    ("枫林区软件企业年软件业务收入首次突破5亿元，奖励多少？", "100万元", None),
    ("枫林区对经认定的省级智能工厂奖励多少？", "80万元", None),
    ("枫林区B类数字人才每月的数字人才津贴是多少？", "4000元", None),
    ("枫林区数字人才购房补贴单套最高多少？", "最高2.7万元", None),
    ("枫林区数字产业政策的咨询联系人是谁？", "柯明远", None),
])
def test_values_bound_through_lists_clauses_and_limits(digital_searcher, question, span, reason):
    assert_reads(digital_searcher, question, span, reason)


# The policy the issue uploaded, read beside two real seeds.
ISSUE_POLICY = """栖凤市高校毕业生就业创业补贴办法
第一条 为鼓励高校毕业生来栖凤市就业创业，制定本办法。
第二条 本办法适用于毕业5年内、在栖凤市就业或创业的全日制高校毕业生。
第三条 就业补贴。本科毕业生每人一次性补贴5000元，硕士毕业生每人一次性补贴1万元，博士毕业生每人一次性补贴2万元。
第四条 创业补贴。首次创办企业的，给予一次性创业补贴3万元；带动就业5人以上的，再给予2万元奖励。
第五条 见习补贴。见习单位按每人每月1800元的标准获得补贴，最长12个月。
第六条 本办法自2025年1月1日起施行。"""


@pytest.fixture(scope="module")
def issue_searcher(settings, encoder, loaded_corpus):
    return beside_two_seeds("950_qifeng.txt", ISSUE_POLICY, loaded_corpus, settings, encoder)


@pytest.mark.parametrize("question, span, reason", [
    # the figure bound to the asked qualifier, never 一次 or the question's own 5人
    ("栖凤市给硕士毕业生的一次性就业补贴是多少？", "1万元", None),
    ("栖凤市首次创办企业的毕业生能拿多少创业补贴？", "3万元", None),
    ("带动就业5人以上的还能再拿多少奖励？", "2万元", None),
    # near misses: one qualifier changed, each refused in words that name it
    ("栖凤市给博士后的一次性就业补贴是多少？", None, "文件只提到本科、硕士和博士,未提到“博士后”。"),
    ("栖凤市给大专毕业生的就业补贴是多少？", None, "文件只提到本科、硕士和博士,未提到“大专”。"),
    ("栖凤市的见习补贴每人每年多少？", None, "文件给出的是每月的标准,未提到每年的数额。"),
    ("栖凤市对第二次创办企业的毕业生补贴多少？", None, "文件中没有关于“第二次”的内容。"),
])
def test_the_issues_uploaded_policy(issue_searcher, question, span, reason):
    assert_reads(issue_searcher, question, span, reason)


@pytest.fixture(scope="module")
def orchard_searcher(settings, encoder, loaded_corpus):
    return beside_two_seeds("907_orchard.txt", ORCHARD, loaded_corpus, settings, encoder)


@pytest.mark.parametrize("question, span, reason", [
    ("桃源区人才服务中心有多少工作人员？", "工作人员35名", None),
    ("桃源区人才服务中心工作人员的比例是多少？", None, "文件只提到工作人员35名,未提到“比例”。"),
    ("桃源区人才服务中心有多少女性工作人员？", None, "文件只提到工作人员,未提到“女性工作人员”。"),
    ("到2027年桃源区法律服务专业人才总量要达到多少？", "600人以上", None),
    ("到2027年桃源区仲裁专业人才总量要达到多少？", None, "文件只提到全区法律服务专业人才总量,未提到“仲裁专业人才总量”。"),
    ("2025年桃源区新引进多少名大学生？", "6200名", None),
    ("2025年桃源区新引进多少名中职毕业生？", None, "文件只提到大学生6200名和博士研究生86人,未提到“中职毕业生”。"),
    ("桃源区高水平运动员(省队)有多少名？", None, "文件只提到国家队,未提到“省队”。"),
    ("桃源区人才服务中心的第四个服务套餐是什么？", None, "文件只提到三个服务套餐,未提到“第四个服务套餐”。"),
    # the next sentence gives the asked money and says more of the question; one that says none of it does not answer
    ("桃源区人才项目今年撬动了多少社会资本？", "4.8亿元", None),
    ("桃源区今年受理人才项目申报的金额是多少？", None, "文件只提到项目申报386个,未提到“金额”。"),
])
def test_figures_of_the_asked_measure_and_kind(orchard_searcher, question, span, reason):
    assert_reads(orchard_searcher, question, span, reason)
