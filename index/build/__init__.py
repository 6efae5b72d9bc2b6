"""Build: clean documents into index parts. The build plan (plan.run_plan), one for every backend, runs
chunk -> tokenize -> encode passages -> sentences (one SentenceSplitter) -> encode sentences -> write; a
backend supplies only its BuildWriter (index/backends), make_index gathers the parts in memory.
`python -m index.build.e5_convert` prepares the encoder's model."""
from .bm25 import BM25Index
from .cedict import build_translation, same_sense
from .chunk import Passage, cell_unit, cells_as_read, chunk_corpus, chunk_document, sentence_spans, with_unit
from .dense import DenseIndex, Encoder, ModelMissing, model_fingerprint
from .embedder import EmbedConfig, EmbedderUnavailable, RemoteEncoder, embedder_id, open_encoder
from .encode import Checkpoint, VectorFileSink, encode_stream, read_records, write_records
from .plan import (FORMAT_VERSION, Batch, BuildWriter, IndexParts, IndexUnavailable, PartsWriter, Resume, build_config,
                   corpus_fingerprint, corpus_state, index_text, make_index, run_plan, stale_reasons)
from .sentences import KIND_BITS, NewSentence, Sentence, SentenceSplitter, SentenceTable, kinds_of, split_passage

__all__ = ["FORMAT_VERSION", "KIND_BITS", "BM25Index", "Batch", "BuildWriter", "Checkpoint", "DenseIndex", "EmbedConfig",
           "EmbedderUnavailable", "Encoder", "IndexParts", "IndexUnavailable", "ModelMissing", "NewSentence", "PartsWriter",
           "Passage", "RemoteEncoder", "Resume", "Sentence", "SentenceSplitter", "SentenceTable", "VectorFileSink",
           "build_config", "build_translation", "cell_unit", "cells_as_read", "chunk_corpus", "chunk_document", "corpus_fingerprint", "corpus_state",
           "embedder_id", "encode_stream", "index_text", "kinds_of", "make_index", "model_fingerprint", "open_encoder",
           "read_records", "run_plan", "same_sense", "sentence_spans", "split_passage", "stale_reasons", "with_unit", "write_records"]
