"""Values given respectively (index/read/respective.py): the n-th value of the list after 分别 belongs to
the n-th label of the list before it."""
import pytest

from index.query.question import analyze
from index.read.respective import respective_value
from index.read.spans import span_candidates

PATENTS = "发明专利授权量累计2447项,其中,新能源、智能家居、时尚纺织产业发明专利授权量分别为233项、321项和245项。"
SOCIAL = "到2025年,全区持高级、中级、初级社会工作者证分别达到2人、391人、2053人。"
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
