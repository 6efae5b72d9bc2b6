"""Query: what a question asks (question), and the retrieval that finds its passages (retrieve:
BM25 and dense search over a backend, small-to-big, fusion)."""
from .fusion import bm25_weight, fuse, rrf
from .question import ANSWER_TYPES, TYPED, QuestionAnalysis, analyze, answer_type
from .retrieve import MODES, Hit, Mode, QueryContext, Retriever, Timer

__all__ = ["ANSWER_TYPES", "MODES", "TYPED", "Hit", "Mode", "QueryContext", "QuestionAnalysis", "Retriever", "Timer",
           "analyze", "answer_type", "bm25_weight", "fuse", "rrf"]
