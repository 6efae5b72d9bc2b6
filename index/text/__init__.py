"""Shared text tools, low enough that build and query code both use them: the jieba tokenizer and
stop words, the part-of-speech tagger and the name tests, the English glossary and pinyin spellings."""
from .english import GLOSSARY, MAX_PHRASE, has_chinese, load_glossary, pinyin_places, spelt_in, to_chinese_terms
from .names import is_org_name, is_place_name, name_variants, tag
from .tokenize import STOPWORDS, Tokenizer, build_userdict

__all__ = ["GLOSSARY", "MAX_PHRASE", "STOPWORDS", "Tokenizer", "build_userdict", "has_chinese", "is_org_name",
           "is_place_name", "load_glossary", "name_variants", "pinyin_places", "spelt_in", "tag", "to_chinese_terms"]
