from index.text.tokenize import STOPWORDS, Tokenizer, build_userdict


def test_userdict_takes_titles_and_recurring_quoted_terms():
    texts = ["发布《长三角科技创新共同体建设发展规划》。“人才绿卡”制度,“人才绿卡”。“一次性”"]
    terms = build_userdict(texts)
    assert "长三角科技创新共同体建设发展规划" in terms and "人才绿卡" in terms
    assert "一次性" not in terms  # quoted once only


def test_userdict_term_is_one_token_and_subwords_still_match():
    text = "推动实施示范区高峰人才共享卡制度"
    plain = Tokenizer([]).tokenize(text)
    with_dict = Tokenizer(["高峰人才共享卡"]).tokenize(text)
    assert "高峰人才共享卡" in with_dict and "高峰人才共享卡" not in plain
    assert "人才" in with_dict  # search mode also emits the parts, so partial queries match


def test_stopwords_and_punctuation_are_dropped_and_case_folded():
    tokens = Tokenizer([]).tokenize("示范区的IPv6、5G是什么？What is it")
    assert "的" not in tokens and "、" not in tokens and "？" not in tokens and "what" not in tokens
    assert "ipv6" in tokens and "5g" in tokens
    assert not set(tokens) & STOPWORDS


def test_query_and_index_are_cut_the_same_way(loaded_index):
    """The tokenizer loaded with the index reproduces the index's own vocabulary for its passages."""
    tok = loaded_index.tokenizer
    for p in loaded_index.passages[:40]:
        assert all(t in loaded_index.bm25.vocab for t in tok.tokenize(p.text))


def test_english_words_reach_their_chinese_terms_also_possessive():
    from index.text.english import to_chinese_terms
    # a possessive (master's, with a straight or a curly apostrophe) is the word it is made from
    assert "硕士" in to_chinese_terms("the monthly rent subsidy for a master's graduate")
    assert "硕士" in to_chinese_terms("the monthly rent subsidy for a master\u2019s graduate")
    assert "本科" in to_chinese_terms("a bachelor's degree")
    assert to_chinese_terms("政策") == []
