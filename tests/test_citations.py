"""The citation check (index/generate/citations.py) on the real index's passages, tokenizer and idf."""
from __future__ import annotations

import pytest

from index.build.chunk import sentence_spans
from index.generate.citations import SUPPORT_THRESHOLD, SupportScorer, check, citations_in, split_sentences, strip_markers


@pytest.fixture(scope="module")
def scorer(loaded_index):
    return SupportScorer(loaded_index.tokenizer, loaded_index.bm25.term_idf)


@pytest.fixture(scope="module")
def passages(loaded_index):
    """Five real passages of different documents, each with a long first sentence."""
    chosen, seen = [], set()
    for p in loaded_index.passages:
        if p.source in seen:
            continue
        sentences = [p.text[s:e].strip() for s, e in sentence_spans(p.text, 400)]
        if any(len(s) >= 30 for s in sentences):
            chosen.append(p)
            seen.add(p.source)
    assert len(chosen) == 5
    return chosen


def long_sentence(passage) -> tuple[str, int, int]:
    for s, e in sentence_spans(passage.text, 400):
        text = passage.text[s:e].strip()
        if len(text) >= 30:
            start = passage.char_start + s + passage.text[s:e].index(text)
            return text, start, start + len(text)
    raise AssertionError("no long sentence")


def test_markers_are_parsed_in_every_written_form():
    assert citations_in("句子。[1]") == [1]
    assert citations_in("句子[1][3]。") == [1, 3]
    assert citations_in("句子【2】，还有［4］") == [2, 4]
    assert citations_in("句子 [1, 2]、[2，5]") == [1, 2, 5]
    assert citations_in("没有引用。") == []
    assert strip_markers("推动共建共享 [1]。") == "推动共建共享。"


def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    parts = split_sentences("第一句话说了一件事。[1]第二句话说了另一件事。[2][3]\n第三句没有引用。")
    assert [c for _, c in parts] == [[1], [2, 3], []]
    assert strip_markers(parts[1][0]) == "第二句话说了另一件事。"


def test_sentence_copied_from_a_passage_is_supported_at_its_exact_offsets(passages, scorer, loaded_index):
    text, start, end = long_sentence(passages[1])
    [checked] = check(f"{text}[2]", passages, scorer)
    assert checked.supported and checked.problem is None
    assert checked.citations == [2]
    assert checked.source == passages[1].source
    assert (checked.char_start, checked.char_end) == (start, end)
    doc = loaded_index.documents[checked.source].text
    assert doc[checked.char_start:checked.char_end] == text


def test_paraphrase_keeping_the_key_words_is_supported(passages, scorer):
    text, _, _ = long_sentence(passages[0])
    # drop the first few characters and the final punctuation, as a reworded answer would
    [checked] = check(f"根据文件，{text[4:-1]}。[1]", passages, scorer)
    assert checked.supported, checked


def test_true_sentence_citing_the_wrong_passage_is_not_supported(passages, scorer):
    text, _, _ = long_sentence(passages[0])
    [checked] = check(f"{text}[3]", passages, scorer)
    assert not checked.supported
    assert "does not say" in checked.problem
    assert checked.score < SUPPORT_THRESHOLD


def test_invented_claim_is_not_supported(passages, scorer):
    [checked] = check("申请人每月可领取十万元火星移民补贴。[1]", passages, scorer)
    assert not checked.supported and checked.score < SUPPORT_THRESHOLD


def test_citation_out_of_range_names_the_problem(passages, scorer):
    text, _, _ = long_sentence(passages[0])
    good, bad = check(f"{text}[1]这一点也有规定。[9]", passages, scorer)
    assert good.supported
    assert not bad.supported and bad.citations == [9]
    assert bad.problem == "cites [9], but only 5 passages were given"
    assert bad.source is None and bad.char_start is None


def test_uncited_sentence_is_not_supported(passages, scorer):
    text, _, _ = long_sentence(passages[0])
    first, second = check(f"{text}[1]另外还有一些别的情况。", passages, scorer)
    assert first.supported
    assert not second.supported and second.problem == "cites no passage"


def test_each_citation_resolves_to_its_own_passage_sentence(passages, scorer):
    a, a_start, a_end = long_sentence(passages[0])
    [checked] = check(f"{a}[1][2]", passages, scorer)
    assert checked.supported
    by_n = {ev.n: ev for ev in checked.evidence}
    assert set(by_n) == {1, 2}
    assert (by_n[1].char_start, by_n[1].char_end) == (a_start, a_end) and by_n[1].score == 1.0
    assert by_n[2].source == passages[1].source and by_n[2].score < by_n[1].score
    # the sentence as a whole points at its best support
    assert (checked.source, checked.char_start) == (passages[0].source, a_start)


def test_english_sentences_are_split_and_checked_through_the_glossary(loaded_index, scorer):
    parts = split_sentences("The turnover period is three years.[1] Talent cards give housing benefits. [2] Done")
    assert [c for _, c in parts] == [[1], [2], []]
    quota = next(p for p in loaded_index.passages if "周转期" in p.text and "用地指标" in p.text)
    other = next(p for p in loaded_index.passages if "周转" not in p.text and "用地" not in p.text and len(p.text) > 200)
    claim = "The turnover period for construction land quotas is limited.[1]"
    [right] = check(claim, [quota], scorer)
    [wrong] = check(claim, [other], scorer)
    assert right.score > wrong.score
    assert right.supported and not wrong.supported
