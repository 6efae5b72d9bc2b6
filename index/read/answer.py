"""The reader: picks the sentence(s) of the top passages that answer the question, the exact
span inside them for typed questions, or abstains with a reason a person understands.

Each candidate sentence gets a feature vector (dense similarity to the query, idf-weighted
overlap, answer-type match and its nearness to the question's words, constraint coverage,
passage rank); gradient-boosted trees fitted on the training questions (`python -m eval fit-reader`;
model.py) turn it into the log-odds that the sentence holds the answer. From the chosen answer an
answerability model fitted on dev gives the answer's confidence: below the calibrated threshold the
answer is null.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from index.backends import SentenceEvidence
from index.build.sentences import DATE, QUANTITY, TITLE, Sentence
from index.query import QueryContext
from index.query.question import GENERIC_NOUNS, TYPED, QuestionAnalysis
from index.text.names import name_variants

from .articles import move_to_bound
from .measures import figure_kind, measure_instead
from .neighbours import (aligned_instead, bracket_instead, count_instead, figure_instead, figure_start, item_instead,
                         label_instead, limit_instead, manner_instead, modifier_instead, name_like_quoted,
                         narrower_instead, object_instead, opposite_instead, period_instead, pinyin_place_instead,
                         role_absent, rung_instead, scope_instead)
from .qualifiers import (beyond_count, binds_another, class_instead, compound_taken, english_frame, head_taken, labels_in,
                         listed_instead, missing_qualifier, named_class_instead, ordinal_instead, parallel_instead,
                         period_conflict, period_refusal, place_instead, qualifier_features, quoted_absent,
                         schedule_instead, siblings, slot_taken, subject_instead)
from .model import (ANSWER_FEATURES, FEATURES, NEAR_MISS_FEATURES, READER_WEIGHTS, NearMissModel, ReaderModel,
                    SentenceTrees, _sigmoid)
from .binding import (bounded_as_asked, changed_as_asked, counted_item, label_words, labelled_item, named_after,
                      named_by_question, own_clause, places_another, qualified, reach, respective_value)
from .spans import ASKS_SEVERAL, coordinated, span_candidates, with_label

PASSAGES_CONSIDERED = 5
MULTI_SENTENCE_TYPES = frozenset({"list", "reason", "method"})
MAX_SENTENCES = 3
NAMED = frozenset({"person", "organization", "place", "title"})
_DASH_HEADING = re.compile(r"(?:——|--)[^，,。；;:：]{2,24}[。；;]?")
# Words of a question's frame, never the qualifier a refusal names (叫什么名字, 哪一部分, 经历了哪几个阶段).
FRAME_WORDS = GENERIC_NOUNS | {"名字", "一个", "部分", "一部分", "表格", "经历", "文件", "文中", "报道", "文章", "篇文章"}
# Words that point into the question's own frame: a demonstrative (这份, 那场), a count of the thing asked
# (一条, 第三个, 第几名); never what a document lacks.
_FRAME_PATTERN = re.compile(r"[这那该此][个份篇项条场次位届]?.*|第?[几一二两三四五六七八九十]+[个条项份篇名位]?")
# Words that introduce a cause or purpose: a why-question's answer usually carries one.
REASON_CUE = re.compile(r"因为|由于|原因|因此|所以|为了|旨在|动因|得益于|在于|目的")

_TYPE_WORDS = {  # how an abstain reason names the missing kind of answer
    "quantity": ("具体数额", "figure"), "date": ("具体时间", "date"), "person": ("具体人员", "person"),
    "organization": ("具体机构", "organisation"), "place": ("具体地点", "place"), "title": ("文件名称", "document title"),
}


@dataclass
class AnswerSentence:
    text: str
    source: str
    char_start: int
    char_end: int
    passage_rank: int


@dataclass
class Span:
    text: str
    char_start: int
    char_end: int


@dataclass
class Answer:
    text: str
    passage_rank: int
    source: str
    char_start: int  # of the first sentence
    char_end: int
    score: float  # the reader's confidence, 0-1
    sentences: list[AnswerSentence] = field(default_factory=list)
    span: Span | None = None
    answer_type: str = "other"


@dataclass
class Verdict:
    answer: Answer | None
    abstain_reason: str | None
    confidence: float = 0.0  # of the best sentence, also when it was too low (0 when a constraint ruled it out)



@dataclass
class Evidence:
    """The candidate sentences of one question, with their passage ranks and features."""

    sentences: list[Sentence]
    ranks: np.ndarray  # best passage rank holding each sentence
    X: np.ndarray  # [n, len(FEATURES)]
    missing: list[str]  # constraints no candidate mentions on topic
    match_terms: list[str]  # the question's words as they can appear in the documents
    term_idf: dict[str, float] = field(default_factory=dict)
    contexts: list[str] = field(default_factory=list)  # title, section and text of each sentence's passage
    on_constraint: np.ndarray | None = None  # sentences whose passages meet the most constraints, on topic
    headers: list[tuple[str, str]] = field(default_factory=list)  # (title, section) of each sentence's passage


def gather(context: QueryContext, found: SentenceEvidence, analysis: QuestionAnalysis, idf,
           passages_considered: int = PASSAGES_CONSIDERED) -> Evidence:
    """Candidate sentences of the top passages and their features. (Texts are lower-cased once
    here; the helpers below take lower-cased text.)"""
    table, documents = found.table, found.documents
    qvec, tokens, match_text = context.qvec, context.tokens, context.match_text
    top = found.hits[:passages_considered]
    ids, ranks, passage_of = [], [], []
    seen: set[int] = set()
    for hit in top:
        for sid in table.ids[table.ptr[hit.passage_id]:table.ptr[hit.passage_id + 1]].tolist():
            if sid not in seen:
                seen.add(sid)
                ids.append(sid)
                ranks.append(hit.rank)
                passage_of.append(hit)
    sentences = [table.sentence(i, documents) for i in ids]
    lowered = [s.text.lower() for s in sentences]
    previous = [table.previous(i, documents).lower() for i in ids]
    terms = sorted(set(tokens), key=len, reverse=True)
    term_idf = {t: idf(t) for t in terms}
    context_of = {h.rank: _context(h) for h in top}
    contexts = [context_of[h.rank] for h in passage_of]
    lowered_context = {rank: c.lower() for rank, c in context_of.items()}
    windows = [lowered_context[h.rank] for h in passage_of]
    # A constraint (a place, a year) must be met near the answer: in the passage the sentence
    # comes from (with its title and section), and that passage must also hold another word of
    # the question (a table naming 成都 among fifty cities does not make 成都's policy "found").
    constraints = analysis.constraints
    variants = {c: [v.lower() for v in name_variants(c)] for c in analysis.names}
    topic = [t for t in terms if not any(t in c.lower() or c.lower() in t for c in constraints)]
    on_topic = {rank: not topic or any(t in w for t in topic) for rank, w in lowered_context.items()}
    met_in = {rank: {c for c in constraints if on_topic[rank] and _mentions(w, variants[c])}
              for rank, w in lowered_context.items()}
    missing = [c for c in constraints if not any(c in m for m in met_in.values())]
    # Answers come from the passages that meet the most constraints (all of them, usually).
    count = np.array([len(met_in[h.rank]) for h in passage_of])
    on_constraint = count == count.max() if len(count) else np.zeros(0, dtype=bool)
    if not sentences:
        return Evidence([], np.zeros(0), np.zeros((0, len(FEATURES))), missing, terms, term_idf)
    dense = np.asarray(table.vectors[ids] @ qvec, dtype=np.float64)
    lexical = np.array([_coverage(t, term_idf) for t in lowered])
    grams = _bigrams(match_text.lower())
    bigram = np.array([sum(g in t for g in grams) / len(grams) if grams else 0.0 for t in lowered])
    typed = analysis.answer_type in TYPED
    has_type = np.array([typed and s.has(analysis.answer_type) for s in sentences], dtype=np.float64)
    near = np.array([_type_nearness(s.text, analysis, terms) if typed and has_type[i] else 0.0
                     for i, s in enumerate(sentences)])
    names = [variants[c] for c in analysis.names]
    share_in = {rank: _share(w, names) for rank, w in lowered_context.items()}
    X = np.column_stack([
        dense, dense - dense.max(), lexical, lexical - lexical.max(), bigram, has_type,
        np.full(len(sentences), float(typed)) - has_type, near, [_share(t, names) for t in lowered],
        [share_in[h.rank] for h in passage_of],
        1.0 / np.array(ranks, dtype=np.float64), [float(s.is_heading) for s in sentences],
        [math.log(len(s.text)) for s in sentences],
        [float(analysis.answer_type == "reason" and REASON_CUE.search(s.text) is not None) for s in sentences],
        bigram - bigram.max(), _is_top(dense), _is_top(lexical),
        # an answer often follows the sentence that names the question's subject ("…的动因主要有三:")
        [_coverage(p, term_idf) for p in previous],
    ])
    headers = [(h.passage.title, h.passage.section) for h in passage_of]
    return Evidence(sentences, np.array(ranks), X, missing, terms, term_idf, contexts, on_constraint, headers)


def read(analysis: QuestionAnalysis, evidence: Evidence, model: ReaderModel, trained=None) -> Verdict:
    """The answer, or None and why. `trained`: the fine-tuned reader (index.read.neural), which
    reads the feature model's shortlist and decides; without it the feature model decides."""
    zh = analysis.is_chinese
    if evidence.missing:
        name = evidence.missing[0]
        return Verdict(None, f"文件中未找到“{name}”的相关内容" if zh else f"The documents say nothing about \"{name}\".")
    if not evidence.sentences:
        return Verdict(None, "文件中没有找到相关内容" if zh else "The documents don't cover this.")
    if trained is not None and trained.config.role == "decide":
        return read_trained(analysis, evidence, model, trained)
    chosen, span, features = candidate_answer(analysis, evidence, model)
    sents = [evidence.sentences[i] for i in chosen]
    first = sents[0]
    confidence = model.answerability(features)
    near_miss = model.near_miss is not None and \
        not model.near_miss.answers(near_miss_features(analysis, evidence, chosen[0], features), zh)
    if confidence < (model.threshold if zh else model.threshold_foreign) or near_miss:
        reason = refusal_reason(analysis, evidence, chosen[0], span) if trained is not None else \
            _weak_reason(analysis, evidence, span)
        return Verdict(None, reason, confidence)
    refusal = bound_refusal(analysis, evidence, chosen[0])
    if refusal:
        return Verdict(None, refusal, confidence)
    if trained is not None and analysis.answer_type in TYPED:
        # the trained reader's span head binds the value to the asked qualifier (dev: bold span
        # right 0.34 of answerable questions against 0.13 for the nearest-pattern rule)
        span = trained_span(analysis, first, evidence.headers[chosen[0]], evidence.match_terms, trained) or span
        # the figure's label counts another thing (护士数 for 护理员数), its bound is the other way (最高 for 最低)
        at = (span.char_start - first.char_start, span.char_end - first.char_start) if span is not None else None
        figure = figure_start(first.text, *at) if at else None
        instead = ((label_instead(analysis.question, first.text, figure) or
                    modifier_instead(analysis.question, first.text, figure, at[1]) if zh else None) or
                   limit_instead(analysis.question, first.text, *at) or measure_instead(analysis.question, span.text)) \
            if at and analysis.answer_type == "quantity" else None
        if not instead and at and zh and analysis.answer_type == "quantity":  # 4200余名工作人员 for 女性工作人员
            instead = narrower_instead(analysis.question, first.text, figure, at[1], " ".join(evidence.contexts))
        if at and zh and analysis.answer_type == "person":  # 建设局局长姚俊 for 规划局局长是谁
            instead = modifier_instead(analysis.question, first.text, at[0])
        if instead and measure_instead(analysis.question, span.text) == instead:
            # the next sentence may give the asked kind, saying more of the question (撬动民间资本17.2亿元)
            after = _next_sentence(evidence.sentences, first)
            moved = trained_span(analysis, evidence.sentences[after], evidence.headers[after], evidence.match_terms,
                                 trained) if after is not None else None
            if moved and any(t in evidence.sentences[after].text and t not in first.text for t in analysis.terms) \
                    and figure_kind(moved.text) and not measure_instead(analysis.question, moved.text) \
                    and not bound_refusal(analysis, evidence, after):
                instead, span, chosen = None, moved, [chosen[0], after]
                sents = [first, evidence.sentences[after]]
        if instead:
            return Verdict(None, _listed_reason(*instead, zh), confidence)
    elif span is None and analysis.answer_type == "person":  # a body answers "who" where no person is named
        span = extract_span(first, analysis, evidence.match_terms)
    return Verdict(Answer(
        text="".join(s.text for s in sents), passage_rank=int(evidence.ranks[chosen[0]]), source=first.source,
        char_start=first.char_start, char_end=first.char_end, score=round(confidence, 4),
        sentences=[AnswerSentence(s.text, s.source, s.char_start, s.char_end, int(evidence.ranks[i]))
                   for s, i in zip(sents, chosen)],
        span=span, answer_type=analysis.answer_type), None, confidence)


def read_trained(analysis: QuestionAnalysis, evidence: Evidence, model: ReaderModel, trained) -> Verdict:
    """The trained reader's verdict over the feature model's shortlist: the most probable answer
    sentence, refused below the threshold chosen on dev, with the span its span head bound."""
    zh = analysis.is_chinese
    order, logits = shortlist(analysis, evidence, trained.shortlist_model(model), trained.config.candidates)
    if not order:
        return Verdict(None, "文件中没有找到相关内容" if zh else "The documents don't cover this.")
    readings = trained.read(analysis.question, [(evidence.sentences[i].text, *evidence.headers[i]) for i in order])
    probs = np.zeros(len(evidence.sentences))
    for i, r in zip(order, readings):
        probs[i] = trained.answer_probability(r, float(logits[i]))
    pick = int(np.argmax([probs[i] for i in order]))
    best, confidence = order[pick], float(probs[order[pick]])
    if confidence < (trained.config.threshold if zh else trained.config.threshold_foreign):
        return Verdict(None, refusal_reason(analysis, evidence, best), confidence)
    refusal = bound_refusal(analysis, evidence, best)
    if refusal:
        return Verdict(None, refusal, confidence)
    multi = analysis.answer_type in MULTI_SENTENCE_TYPES
    chosen = _extend(evidence, probs, best, model.extend_ratio) if multi else [best]
    sentence = evidence.sentences[best]
    span = None
    if analysis.answer_type in TYPED:
        if trained.config.span_source == "rule":
            span = extract_span(sentence, analysis, evidence.match_terms)
        elif readings[pick].span is not None:
            span = _bound_span(sentence, readings[pick].span, analysis.answer_type)
    sents = [evidence.sentences[i] for i in chosen]
    return Verdict(Answer(
        text="".join(s.text for s in sents), passage_rank=int(evidence.ranks[chosen[0]]), source=sents[0].source,
        char_start=sents[0].char_start, char_end=sents[0].char_end, score=round(float(confidence), 4),
        sentences=[AnswerSentence(s.text, s.source, s.char_start, s.char_end, int(evidence.ranks[i]))
                   for s, i in zip(sents, chosen)],
        span=span, answer_type=analysis.answer_type), None, float(confidence))


def trained_span(analysis: QuestionAnalysis, sentence: Sentence, header: tuple[str, str], terms: list[str],
                 trained) -> Span | None:
    """The candidate of the asked type that the trained span head scores highest, less a penalty
    for its distance from the question's words (trained.config.span_nearness per 10 characters)."""
    found = span_candidates(sentence.text, analysis)
    if not found:
        return None
    # an English question's classes and editions in the documents' Chinese (Class D: D类)
    framed = analysis.question if analysis.is_chinese else english_frame(analysis.question)
    terms = terms + [label.lower() for label in labels_in(framed)]
    scores = trained.span_scores(analysis.question, (sentence.text, *header), found)
    anchors = [i for t in terms for i in _find_all(sentence.text.lower(), t)]
    penalty, clause = trained.config.span_nearness, trained.config.span_clause
    lowered = sentence.text.lower()

    def score(k: int) -> float:
        # the clause that holds a value names what it is for (本科…5000元,硕士…1万元): the question's
        # words in the value's own clause bind it to the asked qualifier, and, by half, those it alone reaches
        own, near = own_clause(lowered, found, k) + qualified(lowered, found, k), reach(lowered, found, k)
        bound = sum(len(t) for t in terms if t in own) + sum(len(t) for t in terms if t not in own and t in near) / 2
        return scores[k] - penalty * _distance(found[k], anchors) / 10.0 + clause * bound

    # a value whose clause names another label of the asked kind (第一层次…30名 for 第二层次) is not a candidate,
    # nor a name the question's own words spell out
    kept = [k for k in range(len(found)) if not binds_another(framed, own_clause(sentence.text, found, k))
            and not places_another(own_clause(sentence.text, found, k), analysis.places)
            and not (analysis.answer_type in NAMED and named_by_question(lowered, found[k], terms))] \
        or list(range(len(found)))
    if analysis.answer_type == "quantity":
        kept = changed_as_asked(analysis.question, sentence.text, found,
                                bounded_as_asked(analysis.question, sentence.text, found, kept))
    nouns = label_words(terms)
    pick = respective_value(sentence.text, found, " ".join([analysis.question, framed, *terms]))  # 硕士、博士分别…
    if pick is None and analysis.answer_type == "quantity":
        pick = counted_item(lowered, found, kept, framed.lower())  # 9项|青年科学家总统奖
    if pick is None and analysis.answer_type == "quantity":
        pick = named_after(lowered, found, kept, nouns, framed.lower())  # 80%|高端数控机床和90%|数控系统
    if pick is None:
        pick = labelled_item(lowered, found, kept, nouns)
    if pick is None:
        pick = max(kept, key=score)
    if analysis.answer_type == "quantity":
        return _as_span(sentence, *with_label(lowered, found, pick, nouns))
    if analysis.answer_type in ("organization", "person") and ASKS_SEVERAL.search(analysis.question):
        return _as_span(sentence, *coordinated(sentence.text, *found[pick], found, analysis.question))
    return _as_span(sentence, *found[pick])


def _bound_span(sentence: Sentence, span: tuple[int, int], kind: str) -> Span | None:
    """The span the reader bound, as exact offsets; an amount, date or title it cut short or
    overshot is snapped to the pattern match it overlaps most (2万 -> 2万元)."""
    start, end = span
    pattern = {"quantity": QUANTITY, "date": DATE, "title": TITLE}.get(kind)
    if pattern is not None:
        overlaps = [(min(end, m.end()) - max(start, m.start()), m.start(), m.end()) for m in pattern.finditer(sentence.text)]
        overlaps = [o for o in overlaps if o[0] > 0]
        if overlaps:
            _, start, end = max(overlaps)
    return _as_span(sentence, start, end)


def bound_refusal(analysis: QuestionAnalysis, evidence: Evidence, best: int) -> str | None:
    """Why the best sentence, however confident, answers a neighbouring question: it gives the
    figure for another period (每月 where 每年 is asked), its passage gives other editions (首次 for
    第二次), it lists the asked qualifier's slot without it (本科、硕士、博士 for 博士后), or another
    value stands in the qualifier's place (三甲医院 for 二甲医院, 大学生 for 留学生). None when it
    binds them all."""
    conflict = period_conflict(analysis.question, evidence.sentences[best].text)
    if conflict:
        return period_refusal(conflict, analysis.is_chinese)
    everywhere, context = " ".join(evidence.contexts), _context_of(evidence, best)
    name = quoted_absent(analysis.question, everywhere)
    if name:
        return f"文件中没有关于“{name}”的内容。"
    labels = analysis.question if analysis.is_chinese else english_frame(analysis.question)  # 第四届, E类
    instead = ordinal_instead(labels, everywhere) or beyond_count(analysis.question, everywhere) or \
        schedule_instead(analysis.question, context) or \
        class_instead(labels, context) or named_class_instead(analysis.question, context)
    if analysis.answer_type in TYPED:  # one value, from a sentence of other classes (A类、B类人才… for C类)
        instead = instead or class_instead(labels, evidence.sentences[best].text)
    # the slot may be listed by another sentence of the same passage (a title answering 大专 while
    # the article lists 本科、硕士、博士)
    same_passage = [best] + [i for i in range(len(evidence.sentences))
                             if i != best and evidence.ranks[i] == evidence.ranks[best]]
    word = missing_qualifier(analysis, context, everywhere)
    for i in same_passage if word else []:
        instead = instead or listed_instead(analysis, word, evidence.sentences[i].text)
    instead = instead or subject_instead(analysis, word, evidence.sentences[best].text)
    instead = instead or parallel_instead(analysis.question, evidence.sentences[best].text,
                                          [evidence.sentences[i].text for i in same_passage[1:]])
    instead = instead or place_instead(analysis, evidence.sentences[best].text, context) or \
        pinyin_place_instead(analysis.question, evidence.sentences[best].text, context, everywhere)
    instead = instead or object_instead(analysis, context, evidence.sentences[best].text)
    instead = instead or figure_instead(analysis.question, context, evidence.sentences[best].text)
    instead = instead or role_absent(analysis, context, evidence.sentences[best].text)
    instead = instead or name_like_quoted(analysis.question, context, everywhere)
    instead = instead or scope_instead(analysis.question, context, evidence.sentences[best].text)
    instead = instead or manner_instead(analysis, everywhere, evidence.sentences[best].text)
    instead = instead or count_instead(analysis, evidence.sentences[best].text, context)
    instead = instead or rung_instead(analysis.question, context, evidence.sentences[best].text)
    instead = instead or period_instead(analysis.question, evidence.sentences[best].text, context, everywhere)
    instead = instead or opposite_instead(analysis.question, evidence.sentences[best].text)
    instead = instead or item_instead(analysis, evidence.sentences[best].text, context)
    instead = instead or bracket_instead(analysis.question, evidence.sentences[best].text, context)
    if analysis.answer_type in TYPED:
        instead = instead or aligned_instead(analysis.question, evidence.sentences[best].text, context, everywhere)
    instead = instead or slot_taken(analysis, context, evidence.sentences[best].text, everywhere) or \
        head_taken(analysis, context, everywhere) or \
        compound_taken(analysis, evidence.sentences[best].text, context, everywhere)
    return _listed_reason(*instead, analysis.is_chinese) if instead else None


def _listed_reason(word: str, others: list[str], zh: bool) -> str:
    if not others:
        return f"文件中没有关于“{word}”的内容。" if zh else f"The documents say nothing about \"{word}\"."
    listed = "、".join(others[:-1]) + "和" + others[-1] if len(others) > 1 else others[0]
    return (f"文件只提到{listed},未提到“{word}”。" if zh
            else f"The documents only give {', '.join(others)}; they say nothing about \"{word}\".")


def refusal_reason(analysis: QuestionAnalysis, evidence: Evidence, best: int, span: Span | None = None) -> str:
    """A refusal that names what is missing, and what the documents give instead when they list it
    (without a missing word: the kind of answer the best sentence lacks)."""
    zh = analysis.is_chinese
    word = missing_qualifier(analysis, _context_of(evidence, best), " ".join(evidence.contexts))
    # "文件中没有关于“名字”的内容" would mislead: say what kind is missing
    if word is None or word in FRAME_WORDS or _FRAME_PATTERN.fullmatch(word):
        return _weak_reason(analysis, evidence, span)
    others = siblings(word, evidence.sentences[best].text)
    if others:
        return _listed_reason(word, others, zh)
    if not zh and word.isascii() and not word.isdigit():
        return _weak_reason(analysis, evidence, span)  # an English word is absent from Chinese text whatever it asks
    return f"文件中没有关于“{word}”的内容。" if zh else f"The documents say nothing about \"{word}\"."


def candidate_answer(analysis: QuestionAnalysis, evidence: Evidence,
                     model: ReaderModel) -> tuple[list[int], Span | None, np.ndarray]:
    """The sentences the reader would answer with, the typed span in the first, and the
    answer's ANSWER_FEATURES (what the answerability model judges)."""
    best, chosen, logits = select(analysis, evidence, model)
    first = evidence.sentences[chosen[0]]
    # the answerability model was fitted on a person's name as what a "who" question's sentence holds
    span = extract_span(first, analysis, evidence.match_terms, strict=True) if analysis.answer_type in TYPED else None
    return chosen, span, answer_features(analysis, evidence, best, chosen, logits, span)


def select(analysis: QuestionAnalysis, evidence: Evidence, model: ReaderModel) -> tuple[int, list[int], np.ndarray]:
    """The best sentence, the sentences of the answer (in document order) and every candidate's logit."""
    logits = model.sentence_logits(evidence.X)
    multi = analysis.answer_type in MULTI_SENTENCE_TYPES
    # the document's title line names its topic as a heading does (白鹭湾新区召开2026年人才工作会议)
    # and so does a dash-led line over a paragraph (——做精科技孵化人才平台。)
    headings = np.array([s.is_heading or bool(_DASH_HEADING.fullmatch(s.text.strip()))
                         or (bool(h[0]) and s.text.strip("。 ") == h[0].strip("。 "))
                         for s, h in zip(evidence.sentences, evidence.headers or [("", "")] * len(evidence.sentences))])
    best = int(np.argmax(logits))
    if multi and headings[best]:
        # A heading that matches a list/how question best introduces its answer: the
        # sentences under it answer, with the heading's score.
        after = _next_sentence(evidence.sentences, evidence.sentences[best])
        if after is not None and not headings[after]:
            logits[after] = max(logits[after], logits[best])
    # Only where the question's place and year are met, and not a bare heading (it names a
    # topic; it never answers by itself) unless nothing else is left.
    allowed = evidence.on_constraint & ~headings
    logits[~(allowed if allowed.any() else evidence.on_constraint)] = -np.inf
    best = move_to_bound(analysis, evidence, logits, int(np.argmax(logits)))
    chosen = _extend(evidence, _sigmoid(logits), best, model.extend_ratio) if multi else [best]
    return best, chosen, logits


def shortlist(analysis: QuestionAnalysis, evidence: Evidence, model: ReaderModel, k: int) -> tuple[list[int], np.ndarray]:
    """The k candidates the feature model ranks best among those `select` allows, best first,
    and every candidate's logit (-inf where not allowed): what the trained reader reads."""
    _, _, logits = select(analysis, evidence, model)
    order = [int(i) for i in np.argsort(-logits, kind="stable") if np.isfinite(logits[i])]
    return order[:k], logits


def answer_features(analysis: QuestionAnalysis, evidence: Evidence, best: int, chosen: list[int],
                    logits: np.ndarray, span: Span | None) -> np.ndarray:
    """ANSWER_FEATURES of the chosen answer."""
    finite = np.sort(logits[np.isfinite(logits)])[::-1]
    top = float(finite[0]) if len(finite) else 0.0
    margin = top - float(finite[1]) if len(finite) > 1 else 0.0
    answer_text = "".join(evidence.sentences[i].text for i in chosen).lower()
    context = evidence.contexts[best].lower()
    absent = [v for t, v in evidence.term_idf.items() if t not in context]
    max_idf = max(evidence.term_idf.values(), default=0.0) or 1.0
    i = FEATURES.index
    return np.array([
        top, margin, _coverage(answer_text, evidence.term_idf), _coverage(context, evidence.term_idf),
        max(absent, default=0.0) / max_idf, evidence.X[best, i("type_missing")], evidence.X[best, i("type_near")],
        evidence.X[best, i("constraints_passage")], evidence.X[best, i("dense")], float(analysis.is_chinese),
        # a typed question whose answer holds no amount/date/name beyond what the question says
        float(analysis.answer_type in TYPED and span is None),
    ])


def near_miss_features(analysis: QuestionAnalysis, evidence: Evidence, best: int, features: np.ndarray) -> np.ndarray:
    """NEAR_MISS_FEATURES of the chosen answer: its ANSWER_FEATURES and QUALIFIER_FEATURES."""
    return np.concatenate([features, qualifier_features(analysis, _context_of(evidence, best), " ".join(evidence.contexts),
                                                        evidence.sentences[best].text)])


def _weak_reason(analysis: QuestionAnalysis, evidence: Evidence, span: Span | None) -> str:
    zh = analysis.is_chinese
    kind = analysis.answer_type
    if kind in _TYPE_WORDS and span is None:
        word_zh, word_en = _TYPE_WORDS[kind]
        return f"文件中没有给出相关的{word_zh}" if zh else f"The documents give no {word_en} for this."
    return "文件中没有足以回答这个问题的内容" if zh else "The documents don't say."


def _extend(evidence: Evidence, conf: np.ndarray, best: int, ratio: float) -> list[int]:
    """The best sentence and its neighbours in the same document, the more confident side
    first, while they score close enough to it: a list or an explanation often runs over
    two or three sentences, and the best-matching one is not always the first."""
    sents = evidence.sentences
    chosen = [best]
    while len(chosen) < MAX_SENTENCES:
        sides = [i for i in (_previous_sentence(sents, sents[chosen[0]]), _next_sentence(sents, sents[chosen[-1]]))
                 if i is not None and not sents[i].is_heading and conf[i] >= ratio * conf[best]]
        if not sides:
            break
        pick = max(sides, key=lambda i: conf[i])
        chosen = [pick] + chosen if sents[pick].char_start < sents[chosen[0]].char_start else chosen + [pick]
    return chosen


def _next_sentence(sentences: list[Sentence], current: Sentence) -> int | None:
    """The candidate that starts right after `current` ends (only whitespace between)."""
    for i, s in enumerate(sentences):
        if s.source == current.source and current.char_end <= s.char_start <= current.char_end + 2:
            return i
    return None


def _previous_sentence(sentences: list[Sentence], current: Sentence) -> int | None:
    for i, s in enumerate(sentences):
        if s.source == current.source and s.char_end <= current.char_start <= s.char_end + 2:
            return i
    return None


def extract_span(sentence: Sentence, analysis: QuestionAnalysis, terms: list[str], strict: bool = False) -> Span | None:
    """The exact answer inside the sentence: the candidate nearest the question's words."""
    found = span_candidates(sentence.text, analysis, strict)
    if not found:
        return None
    anchors = [i for t in terms for i in _find_all(sentence.text.lower(), t)]
    return _as_span(sentence, *min(found, key=lambda se: _distance(se, anchors)))


def _as_span(sentence: Sentence, start: int, end: int) -> Span | None:
    text = sentence.text[start:end]
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    if not text:
        return None
    return Span(text, sentence.char_start + start + lead, sentence.char_start + start + lead + len(text))


# ---------------------------------------------------------------- helpers


def _context_of(evidence: Evidence, best: int) -> str:
    return evidence.contexts[best] if evidence.contexts else evidence.sentences[best].text


def _is_top(values: np.ndarray) -> np.ndarray:
    return (values >= values.max() - 1e-9).astype(np.float64)


def _context(hit) -> str:
    p = hit.passage
    return f"{p.title}\n{p.section}\n{p.text}"


def _mentions(lowered: str, variants: list[str]) -> bool:
    return any(v in lowered for v in variants)


def _coverage(lowered: str, term_idf: dict[str, float]) -> float:
    """Share of the question's idf mass whose terms occur in `lowered` (lower-cased text)."""
    total = sum(term_idf.values())
    return sum(v for t, v in term_idf.items() if t in lowered) / total if total else 0.0


def _share(lowered: str, names: list[list[str]]) -> float:
    """Share of the names (each as its variants) that `lowered` mentions."""
    return sum(_mentions(lowered, n) for n in names) / len(names) if names else 1.0


@lru_cache(maxsize=1024)
def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1)) - {"  "}


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0 and needle:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def _distance(span: tuple[int, int], anchors: list[int]) -> float:
    if not anchors:
        return span[0]
    return min(abs(a - span[0]) if a < span[0] else abs(a - span[1]) for a in anchors)


def _type_nearness(text: str, analysis: QuestionAnalysis, terms: list[str]) -> float:
    """How close the sentence's entity of the wanted type sits to the question's words:
    1 when adjacent, falling with distance (a figure three clauses away answers less)."""
    pattern = {"quantity": QUANTITY, "date": DATE, "title": TITLE}.get(analysis.answer_type)
    if pattern is None:
        return 1.0
    lowered = text.lower()
    anchors = [i for t in terms for i in _find_all(lowered, t)]
    spans = [(m.start(), m.end()) for m in pattern.finditer(text)]
    if not spans or not anchors:
        return 0.0
    return max(1.0 / (1.0 + _distance(s, anchors) / 10.0) for s in spans)
