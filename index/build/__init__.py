"""Build: clean documents into index parts. The build plan (plan.make_index) runs
chunk -> tokenize -> BM25 -> English mapping -> encode -> sentences; each backend writes its output
(index/backends). `python -m index.build.e5_convert` prepares the encoder's model."""
from .bm25 import BM25Index
from .cedict import build_translation
from .chunk import Passage, chunk_corpus, chunk_document, sentence_spans
from .dense import DenseIndex, Encoder, ModelMissing, model_fingerprint
from .embedder import EmbedConfig, EmbedderUnavailable, RemoteEncoder, embedder_id, open_encoder
from .encode import Checkpoint, VectorFileSink, encode_stream, read_records, write_records
from .plan import (FORMAT_VERSION, IndexParts, IndexUnavailable, build_config, corpus_fingerprint, corpus_state,
                   index_text, make_index, stale_reasons)
from .sentences import KIND_BITS, Sentence, SentenceTable, build_table, kinds_of, split_passage

__all__ = ["FORMAT_VERSION", "KIND_BITS", "BM25Index", "Checkpoint", "DenseIndex", "EmbedConfig", "EmbedderUnavailable", "Encoder", "IndexParts",
           "IndexUnavailable", "ModelMissing", "Passage", "Sentence", "SentenceTable", "VectorFileSink",
           "build_config", "build_table", "build_translation", "chunk_corpus", "chunk_document", "corpus_fingerprint",
           "corpus_state", "embedder_id", "encode_stream", "index_text", "kinds_of", "make_index", "model_fingerprint",
           "open_encoder", "read_records", "RemoteEncoder", "sentence_spans", "split_passage", "stale_reasons", "write_records"]
