"""Generate: answers written by an LLM from the retrieved passages. The client and its prompts (llm,
prompts/), the citation check of what it wrote (citations), follow-up questions made standalone
(followup)."""
from .citations import SUPPORT_THRESHOLD, SupportScorer, check, citations_in, split_sentences, strip_markers
from .followup import facts, is_followup, rewrite, rewrite_conversation
from .llm import LLM, LLMConfig, LLMError

__all__ = ["LLM", "SUPPORT_THRESHOLD", "LLMConfig", "LLMError", "SupportScorer", "check", "citations_in", "facts",
           "is_followup", "rewrite", "rewrite_conversation", "split_sentences", "strip_markers"]
