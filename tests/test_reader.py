"""The reader: question analysis, sentence evidence, typed spans with exact offsets, abstain reasons."""
from dataclasses import replace

import numpy as np
import pytest

from eval.qa import load_qa
from index.read.answer import FEATURES, READER_WEIGHTS, ReaderModel, extract_span
from index.query.question import analyze, answer_type
from index.build.sentences import KIND_BITS, Sentence


# ---------------------------------------------------------------- question analysis


@pytest.mark.parametrize("question, kind", [
    ("示范区对引进的博士给多少安家费？", "quantity"),
    ("先行启动区财政专项资金3年累计不少于多少?", "quantity"),
    ("人才公寓占比是百分之几？", "quantity"),
    ("示范区是哪一年揭牌成立的？", "date"),
    ("总规划师什么时候能定下来?", "date"),
    ("示范区执委会主任是谁?", "person"),
    ("负责统筹协调工作的是哪个部门?", "organization"),
    ("落实最严格耕地保护制度这一条的责任单位是谁?", "organization"),  # a body asked as 谁
    ("数字人民币试点选在了哪家银行?", "organization"),
    ("高峰论坛是在哪里举办的？", "place"),
    ("两地共同签署了什么协议?", "title"),
    ("第六章的标题是什么?", "title"),
    ("示范区在金融方面有哪些支持措施？", "list"),
    ("合作协议紧紧围绕哪两个目标?", "list"),
    # which ones, not how many; kinds of people, not a person
    ("各方对一体化的认识经历了哪几个阶段?", "list"),
    ("示范区包括哪几个区县？", "list"),
    ("示范区有几个区县？", "quantity"),
    ("鼓励哪些人返乡创业？", "list"),
    ("要实现什么人才的有机统一？", "other"),
    ("为什么说招聘总规划师迫在眉睫?", "reason"),
    ("示范区数据中心怎么布局？", "method"),
    ("跨省看病能不能直接结算?", "yesno"),
    ("How many key tasks will the demonstration zone focus on?", "quantity"),
    ("When was the demonstration zone inaugurated?", "date"),
    ("Who is the director of the executive committee?", "person"),
    ("Which department coordinates the work in Jiangsu?", "organization"),
    ("Where was the summit forum held?", "place"),
    ("Why does Fenhu need a chief planner?", "reason"),
    ("How does Xiuzhou plan to use digital technology?", "method"),
    ("What measures support green finance?", "list"),
    ("Can talent card holders buy homes as locals?", "yesno"),
    # a relative who names no person asked for; what a payment is asks an amount
    ("How much is the subsidy for a worker who obtains a Level 5 certificate?", "quantity"),
    ("What one-off reward does Shiqu District give a company whose revenue first exceeds 1 billion yuan?", "quantity"),
    ("What is the one-off employment subsidy for a doctoral graduate who starts work in Qinghe?", "quantity"),
    ("In 2019, who was appointed chief planner?", "person"),
    ("To whom are applications sent?", "person"),
])
def test_answer_type(question, kind):
    assert answer_type(question) == kind


def test_constraints_come_from_the_tagger():
    a = analyze("成都对引进的博士给多少安家费？")
    assert a.answer_type == "quantity" and "成都" in a.places and a.is_chinese
    assert a.constraints == ["成都"]  # a place pins the answer down; the tagger's "person" 安家费 does not
    b = analyze("2019年长三角人才一体化发展高峰论坛是在哪里举办的？")
    assert b.years == ["2019"] and "长三角" in b.places and "2019" in b.constraints
    c = analyze("嘉善县人力资源和社会保障局负责什么？")
    assert "嘉善县" in c.places
    d = analyze("王涛介绍的浙江清华长三角研究院经验里是怎么做到的？")
    assert "王涛" in d.people and d.answer_type == "method"
    # a kind of place (城市, 中心 of 中心区) or a count of places (两港, 四区) pins nothing down
    assert analyze("辽中南城市群以哪两个城市为中心?").constraints == ["辽", "中南"]
    assert analyze("洛杉矶港口的货物量有没有超过纽约和新泽西两港之和?").constraints == ["洛杉矶", "纽约", "新泽西"]
    assert analyze("三亚的人才政策是什么?").constraints == ["三亚"]
    assert analyze("一家高企从外县整体搬到澄湖县,能拿多少钱?").constraints == ["澄湖县"]  # 外县: anywhere else
    assert analyze("外国医生能不能到示范区开诊所?").constraints == ["示范区"]  # 外国: any other country
    # a "place" the tagger's HMM made of the characters around it is none; one with a place's suffix stays
    assert analyze("浙台合作周开幕式上共签约多少个项目?").constraints == []  # 上共, 浙台
    assert analyze("跨省市人才流动在总流动次数中占比多少?").constraints == []  # 中占比
    assert analyze("栖凤市给博士后的一次性就业补贴是多少?").constraints == ["凤市"]  # 栖|凤市
    e = analyze("How many top talents did Jiangsu bring in during 2019?")
    assert not e.is_chinese and e.years == ["2019"] and e.answer_type == "quantity"


def test_user_dictionary_keeps_a_title_whole():
    title = "人才生态共享战略合作协议"
    assert title not in analyze(f"{title}是谁签署的？").terms
    assert title in analyze(f"{title}是谁签署的？", (title,)).terms


# ---------------------------------------------------------------- spans


def _sentence(text: str, start: int = 100) -> Sentence:
    return Sentence(0, "doc.txt", start, start + len(text), text, 0)


@pytest.mark.parametrize("question, sentence, span", [
    ("给来嘉工作的博士多少购房补助?", "来嘉工作的硕博人才,首次购房的,给予购房补助博士35万元、硕士15万元。", "35万元"),
    ("示范区是哪一年揭牌的?", "示范区于2019年11月1日正式揭牌。", "2019年11月1日"),
    ("两地共同签署了什么协议?", "青浦区金泽镇和汾湖高新区共同签署《人才生态共享战略合作协议》。", "《人才生态共享战略合作协议》"),
])
def test_typed_span_is_exact_and_nearest_the_question(question, sentence, span):
    s = _sentence(sentence)
    got = extract_span(s, analyze(question), ["博士", "购房补助", "揭牌", "签署", "协议"])
    assert got is not None and got.text == span
    assert sentence[got.char_start - s.char_start:got.char_end - s.char_start] == span


def test_a_how_many_span_counts_in_the_questions_unit():
    s = _sentence("示范区执委会大楼一年里共召开各类会议1079场,平均每天近3场。")
    got = extract_span(s, analyze("示范区执委会大楼一年里一共开了多少场会?"), ["执委会", "大楼", "会议"])
    assert got is not None and got.text == "1079场"


def test_no_span_when_the_sentence_holds_no_answer_of_the_type():
    s = _sentence("推动示范区内科技创新券通用通兑。")
    assert extract_span(s, analyze("科技创新券每年最多能申领多少钱?"), ["科技创新券"]) is None


# ---------------------------------------------------------------- the index's sentence evidence


def test_sentence_table_covers_every_passage(loaded_index):
    table, docs = loaded_index.sentences, loaded_index.documents
    assert len(table.ptr) == len(loaded_index.passages) + 1 and table.size > len(loaded_index.passages)
    assert table.vectors.shape == (table.size, loaded_index.dense.vectors.shape[1])
    assert np.allclose(np.linalg.norm(table.vectors[:50], axis=1), 1.0, atol=1e-3)
    for pid, p in enumerate(loaded_index.passages):
        for sid in table.ids[table.ptr[pid]:table.ptr[pid + 1]]:
            s = table.sentence(int(sid), docs)
            assert s.source == p.source and p.char_start <= s.char_start < s.char_end <= p.char_end
            assert docs[s.source].text[s.char_start:s.char_end] == s.text
    kinds = [table.sentence(i, docs) for i in range(table.size)]
    assert any(s.has("quantity") for s in kinds) and any(s.is_heading for s in kinds)
    assert all(not s.has("date") or any(c.isdigit() or c in "〇零一二" for c in s.text) for s in kinds)
    assert set(KIND_BITS) >= {"quantity", "date", "person", "organization", "place", "title"}


def test_best_similarity_is_the_max_over_a_passages_sentences(loaded_index, encoder):
    qvec = encoder.encode_query("示范区要加快建设哪些新一代信息基础设施？")
    table = loaded_index.sentences
    pids = np.array([0, 5, 17])
    got = table.best_similarity(pids, qvec)
    for value, pid in zip(got, pids):
        ids = table.ids[table.ptr[pid]:table.ptr[pid + 1]]
        assert value == pytest.approx(float(np.max(table.vectors[ids] @ qvec)), abs=1e-5)


# ---------------------------------------------------------------- answers and abstention, end to end


def test_every_eval_answer_cites_exact_offsets(searcher):
    """For every question of the eval set: each answer sentence is exactly the clean text at its
    offsets and lies in the passage it cites; the span lies inside the first sentence."""
    docs = searcher.index.documents
    answered = 0
    for item in load_qa():
        r = searcher.search(item.question, top_k=5)
        assert (r.answer is None) == (r.abstain_reason is not None), item.id
        if r.answer is None:
            continue
        answered += 1
        assert [h.rank for h in r.hits] == list(range(1, len(r.hits) + 1)), item.id
        a = r.answer
        assert a.text == "".join(s.text for s in a.sentences) and 1 <= len(a.sentences) <= 3
        assert (a.char_start, a.char_end, a.source) == (a.sentences[0].char_start, a.sentences[0].char_end, a.sentences[0].source)
        for s in a.sentences:
            assert docs[s.source].text[s.char_start:s.char_end] == s.text, item.id
            hit = r.hits[s.passage_rank - 1]
            assert hit.passage.source == s.source and hit.passage.char_start <= s.char_start < s.char_end <= hit.passage.char_end
        if a.span is not None:
            assert docs[a.source].text[a.span.char_start:a.span.char_end] == a.span.text, item.id
            assert a.char_start <= a.span.char_start < a.span.char_end <= a.char_end
        assert 0.0 <= a.score <= 1.0
    assert answered > 200


@pytest.mark.parametrize("question, reason", [
    ("成都对引进的博士给多少安家费？", "文件中未找到“成都”的相关内容"),
    ("海南自由贸易港对引进人才有哪些支持政策？", "文件中未找到“海南”的相关内容"),
    ("What housing subsidy does Chengdu give to PhDs in 2035?", 'The documents say nothing about "2035".'),
])
def test_a_named_place_or_year_the_documents_lack_is_refused(searcher, question, reason):
    r = searcher.search(question)
    assert r.answer is None and r.abstain_reason == reason
    assert r.hits  # passages are still returned


def test_a_dash_led_line_introduces_its_answer(searcher):
    """"——做精科技孵化人才平台。" heads a paragraph of a plan: the answer is the text under it."""
    result = searcher.search("秀洲打算用什么孵化模式来做精科技孵化人才平台？")
    assert result.answer is not None and "专业孵化+创业投资+创业导师" in result.answer.text
    assert not result.answer.text.startswith("——")


def test_the_issues_examples(searcher):
    fin = searcher.search("示范区在金融方面有哪些支持措施？")
    assert fin.answer is not None and fin.answer.answer_type == "list"
    assert "金融" in fin.answer.text and len(fin.answer.sentences) >= 2
    dc = searcher.search("示范区数据中心怎么布局？")
    assert dc.answer is not None and "数据中心" in dc.answer.text and "布局" in dc.answer.text
    amount = searcher.search("嘉兴给来嘉工作、首次购房的博士多少购房补助?")
    # the 博士 figure of 博士35万元、硕士15万元, with the label that tells it from the 硕士 one
    assert amount.answer is not None and amount.answer.span is not None and amount.answer.span.text == "博士35万元"


def test_low_confidence_abstains_with_a_plain_reason(searcher, monkeypatch):
    """Made strict, the reader refuses every question, in plain words of the question's language
    (with the trained reader present, naming what the documents lack when it can)."""
    strict = replace(searcher.reader, threshold=1.01, threshold_foreign=1.01)
    monkeypatch.setattr(searcher, "reader", strict)
    r = searcher.search("示范区数据中心怎么布局？")
    assert r.answer is None and r.abstain_reason.startswith("文件") and 0 < r.confidence < 1
    typed = searcher.search("嘉兴给来嘉工作、首次购房的博士多少购房补助?")
    assert typed.answer is None and typed.abstain_reason
    english = searcher.search("How is the data centre layout of the demonstration zone planned?")
    assert english.answer is None and english.abstain_reason.startswith("The documents")


def test_the_feature_reader_alone_abstains_with_a_plain_reason(loaded_index, encoder, settings):
    from index.search import Searcher

    features = Searcher(loaded_index, encoder, settings, neural=False)
    strict = replace(features.reader, threshold=1.01, threshold_foreign=1.01)
    features.reader = strict
    r = features.search("示范区数据中心怎么布局？")
    assert r.answer is None and r.abstain_reason == "文件中没有足以回答这个问题的内容" and 0 < r.confidence < 1
    typed = features.search("嘉兴给来嘉工作、首次购房的博士多少购房补助?")
    assert typed.answer is None and typed.abstain_reason
    english = features.search("How is the data centre layout of the demonstration zone planned?")
    assert english.answer is None and english.abstain_reason == "The documents don't say."


def test_reader_weights_missing_names_the_fix(tmp_path):
    with pytest.raises(RuntimeError, match="python -m eval fit-reader"):
        ReaderModel.load(tmp_path / "missing.json")


def test_the_sentence_trees_load_and_score(tmp_path):
    """The shipped reader picks sentences with its trees; a reader.json naming trees that are
    missing or corrupt is refused with the command that refits them."""
    import json

    model = ReaderModel.load()
    assert model.trees is not None
    X = np.random.default_rng(0).random((7, len(FEATURES)))
    logits = model.sentence_logits(X)
    assert logits.shape == (7,) and np.isfinite(logits).all() and np.ptp(logits) > 0
    assert not np.allclose(logits, X @ model.weights + model.bias)  # not the logistic weights
    assert model.sentence_logits(np.zeros((0, len(FEATURES)))).shape == (0,)
    data = json.loads(READER_WEIGHTS.read_text(encoding="utf-8"))
    (tmp_path / "reader.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RuntimeError, match="python -m eval fit-reader"):
        ReaderModel.load(tmp_path / "reader.json")  # sentence_trees.txt is not beside it
    (tmp_path / data["sentence_trees"]).write_text("tree\nnot a model", encoding="utf-8")
    with pytest.raises(RuntimeError, match="python -m eval fit-reader"):
        ReaderModel.load(tmp_path / "reader.json")


def test_fitting_the_trees_is_seeded_and_learns_an_interaction():
    """Same data and seed, same trees. The label here is an interaction (a candidate holds the
    answer when it is lexically close AND of the asked type), which trees rank right."""
    from types import SimpleNamespace

    from eval.reader_fit import fit_trees

    rng = np.random.default_rng(1)
    examples = []
    for _ in range(300):
        X = rng.random((8, len(FEATURES)))
        lexical, type_match = FEATURES.index("lexical"), FEATURES.index("type_match")
        X[:, type_match] = rng.integers(0, 2, 8)
        labels = ((X[:, lexical] > 0.5) & (X[:, type_match] == 1)).astype(np.int64)
        examples.append(SimpleNamespace(evidence=SimpleNamespace(X=X), labels=labels))
    a, b = fit_trees(examples, seed=7), fit_trees(examples, seed=7)
    probe = rng.random((50, len(FEATURES)))
    np.testing.assert_array_equal(a.logits(probe), b.logits(probe))
    pos, neg = probe.copy(), probe.copy()
    pos[:, FEATURES.index("lexical")], pos[:, FEATURES.index("type_match")] = 0.9, 1
    neg[:, FEATURES.index("lexical")], neg[:, FEATURES.index("type_match")] = 0.9, 0
    assert (a.logits(pos) > a.logits(neg)).all()


def test_the_reader_orders_the_passages_it_read(searcher):
    """With the answer, the passages the reader read come in the order of their best sentence: the same
    passages as retrieval's, ranked 1.., some questions reordered; a sentence model that prefers later
    passages reverses them; a rerank server's order stands."""
    from index.search import reader_order

    reordered = 0
    for item in load_qa(split="dev")[:40]:
        served = searcher.search(item.question, top_k=5)
        plain = searcher.search(item.question, top_k=5, with_answer=False)
        assert sorted(h.passage.chunk_id for h in served.hits) == sorted(h.passage.chunk_id for h in plain.hits)
        assert [h.rank for h in served.hits] == list(range(1, len(served.hits) + 1))
        reordered += [h.passage.chunk_id for h in served.hits] != [h.passage.chunk_id for h in plain.hits]
    assert reordered > 0

    class ByRank:
        def __init__(self, sign):
            self.sign = sign

        def logits(self, X):
            return self.sign * evidence.ranks.astype(float)

    r = searcher.search("示范区要加快建设哪些新一代信息基础设施？", top_k=5, with_answer=False)
    _, evidence = searcher.evidence(r.context, r.hits)
    read = sorted(set(evidence.ranks.tolist()))
    assert len(read) >= 2
    keep = reader_order(r.hits, evidence, replace(searcher.reader, trees=ByRank(-1)))
    assert [h.rank for h in keep] == [h.rank for h in r.hits]
    flipped = reader_order(r.hits, evidence, replace(searcher.reader, trees=ByRank(1)))
    assert [h.rank for h in flipped][:len(read)] == read[::-1]
    reranked = [replace(h, rerank=0.5) for h in r.hits]
    assert reader_order(reranked, evidence, replace(searcher.reader, trees=ByRank(1))) == reranked
