"""The reader on documents it never saw: the held-out invented documents (eval/train/invented/
heldout/), indexed beside the seeds as a user's uploads would be, and their questions scored
like the eval split's. Nothing here is trained or tuned on.

    python -m eval heldout
"""
from __future__ import annotations

from .qa import QAItem
from .run import in_process, run_mode, summarize
from .trainset import load_records, question_files


def heldout_items() -> list[QAItem]:
    files = [p for p in question_files() if "heldout" in p.parts]
    return [QAItem(r.id, r.question, r.answer, r.evidence, r.source,
                   "english" if r.lang == "en" else ("unanswerable" if not r.answerable else r.answer_type), "heldout")
            for r in load_records(files)]


def run(encoder=None):
    """(results, summary) of the hybrid mode with answers, on the held-out documents' index."""
    from index.build import chunk_corpus
    from index.ingest import load_corpus

    from .reader_examples import corpus_settings, open_searcher
    from .run import relevant_counter

    items = heldout_items()
    searcher = open_searcher("heldout", encoder, trained=True)
    docs, _ = load_corpus(corpus_settings("heldout").seeds_dir)
    results = run_mode(in_process(searcher), items, "hybrid", relevant_counter(chunk_corpus(docs, searcher.settings.chunk)))
    return results, summarize(results)
