"""Read: the reader picks the sentences (and the span) of the retrieved passages that answer the
question, or abstains, naming what is missing. The feature model (answer.py; its fitted models in
model.py: reader.json and sentence_trees.txt) picks the answer sentence and decides whether to answer;
the trained reader (neural.py: e5-small layers with LoRA adapters, weights in weights/) binds the span. Qualifiers
are held against the answer (qualifiers.py), signs that it answers a neighbouring question too (neighbours.py: another
kind, label or bound; measures.py: a figure of another measure than the one asked), a
sentence is read under its own article heading (articles.py), values given 分别 are bound to their labels
(binding.py), and a table question is answered by its cell
(table_cell.py)."""
from .answer import (ANSWER_FEATURES, FEATURES, NEAR_MISS_FEATURES, PASSAGES_CONSIDERED, READER_WEIGHTS, Answer,
                     AnswerSentence, Evidence, NearMissModel, ReaderModel, Span, Verdict, candidate_answer, extract_span,
                     gather, near_miss_features, read, refusal_reason, shortlist)
from .model import SentenceTrees
from .qualifiers import QUALIFIER_FEATURES, missing_qualifier, qualifier_features, siblings
from .table_cell import TableAnswer, prefer as prefer_cell, read_table
from .neural import NeuralReader, ReaderConfig, ReaderWeightsMissing, Reading, best_span

__all__ = ["ANSWER_FEATURES", "FEATURES", "NEAR_MISS_FEATURES", "PASSAGES_CONSIDERED", "QUALIFIER_FEATURES",
           "READER_WEIGHTS", "Answer", "AnswerSentence", "Evidence", "NearMissModel", "NeuralReader", "ReaderConfig",
           "ReaderWeightsMissing", "Reading", "ReaderModel", "SentenceTrees", "Span", "TableAnswer", "Verdict", "best_span",
           "candidate_answer", "extract_span", "gather", "missing_qualifier", "near_miss_features", "prefer_cell",
           "qualifier_features", "read", "read_table", "refusal_reason", "shortlist", "siblings"]
