"""Query: what a question asks (question), and the retrieval that finds its passages (retrieve:
BM25 and dense search over a backend, small-to-big, fusion, and an optional rerank server)."""
from .fusion import bm25_weight, fuse, rrf
from .question import ANSWER_TYPES, TYPED, QuestionAnalysis, analyze, answer_type
from .rerank import RerankConfig, Reranker, RerankError
from .retrieve import MODES, Hit, Mode, QueryContext, Retriever, Timer

__all__ = ["ANSWER_TYPES", "MODES", "TYPED", "Hit", "Mode", "QueryContext", "QuestionAnalysis", "RerankConfig", "RerankError", "Reranker", "Retriever", "Timer",
           "analyze", "answer_type", "bm25_weight", "fuse", "rrf"]
