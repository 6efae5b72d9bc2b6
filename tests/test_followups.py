"""Follow-up rewriting by rule (index/generate/followup.py) and the multi-turn eval set (eval/followups/)."""
from __future__ import annotations

from dataclasses import replace

from eval.multiturn import load_followups, problems
from eval.qa import load_qa
from index.generate.followup import facts, is_followup, rewrite, rewrite_conversation


def test_place_follow_up_asks_the_same_question_about_the_new_place():
    assert rewrite("那吴江呢？", "青浦区有哪些人才政策？") == "吴江有哪些人才政策？"


def test_follow_up_without_topic_carries_the_previous_topic():
    out = rewrite("具体标准是多少？", "示范区人才绿卡有什么待遇？")
    for word in ("示范区", "人才", "绿卡", "待遇", "标准是多少"):
        assert word in out, out


def test_previous_place_is_carried_when_the_follow_up_names_none():
    out = rewrite("由哪个部门负责？", "嘉善县的人才公寓怎么申请？")
    assert "嘉善县" in out and "人才" in out and "公寓" in out and out.endswith("由哪个部门负责？")


def test_a_place_in_the_follow_up_replaces_the_previous_place():
    out = rewrite("那嘉善县的补贴标准是多少？", "青浦区的人才公寓补贴有哪些？")
    assert "嘉善县" in out and "青浦" not in out


def test_standalone_questions_and_first_questions_are_left_alone():
    assert rewrite("示范区要加快建设哪些新一代信息基础设施？", "嘉善县的人才政策有哪些？") == "示范区要加快建设哪些新一代信息基础设施？"
    assert rewrite("那吴江呢？", None) == "那吴江呢？"
    assert not is_followup("示范区要加快建设哪些新一代信息基础设施？")
    assert is_followup("那吴江呢？") and is_followup("一共开了多少场会？")


def test_a_new_question_with_its_own_subject_is_not_a_follow_up():
    assert rewrite("高温津贴每月发多少？", "共享单车骑行怎样折算碳积分？") == "高温津贴每月发多少？"
    assert rewrite("示范区人才公寓怎么申请？", "那吴江呢？") == "示范区人才公寓怎么申请？"


def test_a_chain_of_follow_ups_keeps_the_first_topic():
    out = rewrite_conversation(["青浦区有哪些人才政策？", "那吴江呢？", "具体标准是多少？"])
    assert "吴江" in out and "人才" in out and "青浦" not in out


def test_places_include_zone_names_jieba_tags_as_names():
    assert facts("那吴江呢？").places == ["吴江"]


def test_followup_set_is_valid_against_the_clean_text(loaded_corpus):
    items = load_followups()
    texts = {d.source: d.text for d in loaded_corpus}
    assert problems(items, texts) == []
    assert len(items) >= 30
    assert {q.split for q in items} == {"dev", "test"}
    # each case was made from a QA item and keeps that item's split (no test question tunes on dev)
    base = {q.id: q for q in load_qa()}
    for q in items:
        assert q.base in base and base[q.base].split == q.split and base[q.base].evidence == q.evidence


def test_followup_validation_catches_a_broken_span(loaded_corpus):
    texts = {d.source: d.text for d in loaded_corpus}
    item = load_followups()[0]
    broken = replace(item, evidence=item.evidence + "（不存在的尾巴）", answer=item.answer)
    assert any("no longer an exact span" in p for p in problems([broken], texts))
    assert any("empty question or history" in p for p in problems([replace(item, history=[])], texts))


def test_a_short_question_with_a_rare_subject_word_stands_alone(loaded_index):
    idf = loaded_index.bm25.term_idf
    # 高温津贴 is not in the seeds (unknown words count as rarest): a new subject, not a follow-up
    assert rewrite("高温津贴每月发多少？", "共享单车骑行怎样折算碳积分？", idf) == "高温津贴每月发多少？"
    # generic words (部门, 负责, 目标) still lean on the previous question
    assert rewrite("由哪个部门负责？", "嘉善县的人才公寓怎么申请？", idf).startswith("嘉善县")
