"""Read: the reader picks the sentences (and the span) of the retrieved passages that answer the
question, or abstains. Today a feature-based logistic model (answer.py, weights in reader.json)."""
from .answer import (ANSWER_FEATURES, FEATURES, PASSAGES_CONSIDERED, READER_WEIGHTS, Answer, AnswerSentence,
                     Evidence, ReaderModel, Span, Verdict, candidate_answer, extract_span, gather, read)

__all__ = ["ANSWER_FEATURES", "FEATURES", "PASSAGES_CONSIDERED", "READER_WEIGHTS", "Answer", "AnswerSentence",
           "Evidence", "ReaderModel", "Span", "Verdict", "candidate_answer", "extract_span", "gather", "read"]
