"""Train the reader: LoRA adapters over e5-small's first layers plus an answer head and a span
head, on the training data of eval/train/ (never the eval test split, never the held-out
invented documents), selected on the eval dev split.

    python -m eval train-reader [--epochs 1] [--seed 13] [--layers 6] [--lr 5e-4]

Writes index/reader_weights/ (adapter + config with the thresholds chosen on dev) and
exports the ONNX reader. Seeded: the same data, seed and settings give the same weights.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.read.neural import (ADAPTER, CONFIG, MAX_TOKENS, WEIGHTS_DIR, PairEncoder, ReaderConfig, best_span,
                                 build_net, lora_config, second_text, trainable_state)

from .qa import load_qa
from .reader_examples import (Example, collect, fit_shortlist, from_qa, from_records, open_searcher, positives_found,
                              shortlist_candidates)
from .trainset import load_records, part_of

TRAIN_DEPTH = 5  # candidates per question in training (the shortlist the service reads is chosen on dev)
MIN_ANSWERED = 0.95  # share of answerable dev questions that must still be answered
BATCH = 16
CANDIDATE_GRID = (4, 6, 8, 10)


def training_records() -> list:
    """Every record the reader may learn from: seeds, invented/train and generated."""
    return [r for r in load_records() if part_of(Path("/x") / r.file, Path("/x")) != "invented-heldout"]


def gather_examples(log=print) -> tuple[list[Example], list[Example]]:
    """(training examples, dev examples). Training questions run on the index of the seeds plus
    the invented training documents; dev (the eval dev split) on the seeds' index."""
    records = training_records()
    by_part: dict[str, list] = {}
    for r in records:
        by_part.setdefault("train" if r.file.startswith("invented") else "seeds", []).append(r)
    train: list[Example] = []
    encoder = None
    for part in ("seeds", "train"):
        if not by_part.get(part):
            continue
        t0 = time.perf_counter()
        searcher = open_searcher(part, encoder)
        encoder = searcher.encoder
        train += cached_collect(searcher, part, from_records(by_part[part]))
        log(f"[train-reader] {part}: {len(by_part[part])} questions collected in {time.perf_counter() - t0:.0f}s")
    dev_searcher = open_searcher("seeds", encoder)
    dev = cached_collect(dev_searcher, "dev", from_qa(load_qa(split="dev")))
    return train, dev


def cached_collect(searcher, name: str, questions: list[tuple]) -> list[Example]:
    """collect(), reusing the examples of questions already collected on the same index build
    with the same code (a cache in .var/reader-train/; the candidates do not change)."""
    import hashlib
    import pickle

    from index.config import REPO_ROOT

    build = searcher.backend.info().build_id
    code = hashlib.sha256(b"".join(Path(m).read_bytes() for m in (__file__, _examples_file()))).hexdigest()[:12]
    path = REPO_ROOT / ".var" / "reader-train" / f"examples-{name}.pkl"
    try:
        cache = pickle.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, ImportError, AttributeError):  # a cache of older code
        cache = {}
    key = (build, code)
    known = cache.get(key, {})
    todo = [q for q in questions if q not in known]
    for q, e in zip(todo, collect(searcher, todo)):
        known[q] = e
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps({key: known}))
    tmp.replace(path)
    return [known[q] for q in questions]


def _examples_file() -> str:
    from . import reader_examples

    return reader_examples.__file__


# ---------------------------------------------------------------- batches


def _pairs(examples: list[Example]) -> list[tuple]:
    """(question, second text, sentence length, label, span) for every candidate."""
    out = []
    for e in examples:
        for c in e.candidates:
            out.append((e.question, second_text(c.sentence, c.title, c.section), len(c.sentence), c.label, c.span))
    return out


def _token_span(encoding, span: tuple[int, int], sentence_len: int) -> tuple[int, int] | None:
    """The first and last token of the answer's characters (second segment), if both survived truncation."""
    a, b = span
    first = last = None
    for t, (seq, (s, e)) in enumerate(zip(encoding.sequence_ids, encoding.offsets)):
        if seq != 1 or e <= s or e > sentence_len:
            continue
        if first is None and e > a:
            first = t
        if s < b:
            last = t
    return (first, last) if first is not None and last is not None and last >= first else None


def make_batches(pairs: list[tuple], encoder: PairEncoder, rng: random.Random) -> list[dict]:
    """Batches of similar length (little padding), in random order."""
    import torch

    encoded = []
    for question, second, slen, y, span in pairs:
        enc = encoder.tokenizer.encode(question, second)
        tok_span = _token_span(enc, span, slen) if span else None
        allowed = PairEncoder.sentence_tokens(enc, slen)
        encoded.append((enc.ids, y, tok_span, allowed))
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), rng.random()))
    batches = []
    for k in range(0, len(order), BATCH):
        chunk = [encoded[i] for i in order[k:k + BATCH]]
        width = max(len(c[0]) for c in chunk)
        ids = torch.ones((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        allowed = torch.zeros((len(chunk), width), dtype=torch.bool)
        starts, ends, has_span = [], [], []
        for i, (tids, y, tspan, allow) in enumerate(chunk):
            ids[i, :len(tids)] = torch.tensor(tids)
            mask[i, :len(tids)] = 1
            allowed[i, torch.as_tensor(allow, dtype=torch.long)] = True
            starts.append(tspan[0] if tspan else 0)
            ends.append(tspan[1] if tspan else 0)
            has_span.append(tspan is not None)
        batches.append({"ids": ids, "mask": mask, "allowed": allowed,
                        "y": torch.tensor([c[1] for c in chunk], dtype=torch.float32),
                        "start": torch.tensor(starts), "end": torch.tensor(ends),
                        "has_span": torch.tensor(has_span)})
    rng.shuffle(batches)
    return batches


def shortlist_weights(model) -> dict:
    from index.read import FEATURES

    return {"weights": dict(zip(FEATURES, map(float, model.weights))), "bias": float(model.bias)}


NEARNESS_GRID = (0.0, 0.5, 1.0, 2.0, 4.0)
CLAUSE_GRID = (0.0, 0.5, 1.0, 3.0)


def choose_span_nearness(folder: Path = WEIGHTS_DIR, log=print) -> float:
    """The span binding's penalty for distance from the question's words, then its bonus for the
    question's words in the value's own clause, chosen on the eval dev split through the service's
    own query path (bold span right on typed questions, then char F1; among equals the middle one).
    Written into the reader's config."""
    from index.backends.local.store import load
    from index.build import Encoder, chunk_corpus
    from index.config import Settings
    from index.ingest import load_corpus
    from index.read.neural import NeuralReader
    from index.search import Searcher

    from .run import in_process, relevant_counter, run_mode, summarize

    settings = Settings()
    reader = NeuralReader(settings.model_dir, folder)
    searcher = Searcher(load(settings), Encoder.of(settings), settings, neural=reader)
    relevant = relevant_counter(chunk_corpus(load_corpus(settings.seeds_dir)[0], settings.chunk))
    dev = load_qa(split="dev")

    def pick(field: str, grid: tuple[float, ...]) -> tuple[float, dict]:
        scores = {}
        for value in grid:
            reader.config = replace(reader.config, **{field: value})
            s = summarize(run_mode(in_process(searcher), dev, "hybrid", relevant))
            scores[value] = (round(s["span_typed"], 4), round(s["char_f1"], 4))
        tied = [v for v in grid if scores[v] == max(scores.values())]
        reader.config = replace(reader.config, **{field: tied[len(tied) // 2]})
        return tied[len(tied) // 2], scores

    chosen, scores = pick("span_nearness", NEARNESS_GRID)
    clause, clause_scores = pick("span_clause", CLAUSE_GRID)
    path = folder / CONFIG
    info = json.loads(path.read_text(encoding="utf-8"))
    info.update(span_nearness=chosen, span_clause=clause, span_nearness_dev={str(k): v for k, v in scores.items()},
                span_clause_dev={str(k): v for k, v in clause_scores.items()})
    path.write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    log(f"[train-reader] span binding on dev (bold span right, char F1): nearness {scores} -> {chosen}; "
        f"clause {clause_scores} -> {clause}")
    return chosen


def _bucket(group: str, buckets: int = 12) -> int:
    import hashlib

    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % buckets


def loss_of(net, batch, pos_weight: float):
    import torch
    import torch.nn.functional as F

    answer, start, end = net(batch["ids"], batch["mask"])
    loss = F.binary_cross_entropy_with_logits(answer, batch["y"], pos_weight=torch.tensor(pos_weight))
    has = batch["has_span"]
    if has.any():
        neg = torch.finfo(start.dtype).min
        s = start[has].masked_fill(~batch["allowed"][has], neg)
        e = end[has].masked_fill(~batch["allowed"][has], neg)
        loss = loss + 0.5 * (F.cross_entropy(s, batch["start"][has]) + F.cross_entropy(e, batch["end"][has]))
    return loss


# ---------------------------------------------------------------- scoring on dev


def read_dev(net, encoder: PairEncoder, examples: list[Example]) -> None:
    """Each candidate's reader logit and span (the candidates are the deepest shortlist)."""
    import torch

    net.eval()
    with torch.inference_mode():
        for e in examples:
            if e.refused_early or not e.candidates:
                continue
            seconds = [second_text(c.sentence, c.title, c.section) for c in e.candidates]
            ids, mask, encs = encoder.encode(e.question, seconds)
            answer, start, end = net(torch.from_numpy(ids), torch.from_numpy(mask))
            for c, a, st, en, enc in zip(e.candidates, answer.numpy(), start.numpy(), end.numpy(), encs):
                c.reader_logit = float(a)
                c.reader_span, _ = best_span(st, en, PairEncoder.sentence_tokens(enc, len(c.sentence)), enc.offsets)
    net.train()


def fit_stack(examples: list[Example]) -> tuple[float, float, float]:
    """Weights of reader logit and feature logit (and a bias) for the answer probability, fitted on
    the candidates of dev: the feature model's evidence is kept where the reader adds nothing."""
    from sklearn.linear_model import LogisticRegression

    rows = [(c.reader_logit, c.feature_logit, c.label) for e in examples for c in e.candidates
            if getattr(c, "reader_logit", None) is not None]
    X = np.array([r[:2] for r in rows])
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(X, np.array([r[2] for r in rows]))
    return float(clf.coef_[0][0]), float(clf.coef_[0][1]), float(clf.intercept_[0])


def score_examples(examples: list[Example], depth: int, stack: tuple[float, float, float],
                   span_source: str = "reader") -> list[dict]:
    """For each question: the best of its first `depth` candidates by stacked probability, that
    probability, and whether the bold span holds the answer."""
    from index.read.answer import Span, extract_span  # noqa: F401

    a, b, c0 = stack
    out = []
    for e in examples:
        cands = e.candidates[:depth]
        if e.refused_early or not cands:
            out.append({"p": 0.0, "label": 0, "span_ok": False, "example": e})
            continue
        probs = [1 / (1 + np.exp(-(a * c.reader_logit + b * c.feature_logit + c0))) for c in cands]
        best = int(np.argmax(probs))
        c = cands[best]
        if span_source == "reader" and c.reader_span:
            span_text = c.sentence[c.reader_span[0]:c.reader_span[1]].strip()
        else:
            found = extract_span(e.evidence.sentences[c.index], e.analysis, e.evidence.match_terms)
            span_text = found.text if found else ""
        out.append({"p": float(probs[best]), "label": c.label, "example": e,
                    "span_ok": bool(e.answer) and c.label == 1 and bool(span_text) and _norm(e.answer) in _norm(span_text)
                    and len(_norm(span_text)) <= len(_norm(e.answer)) + 4})
    return out


def _norm(text: str) -> str:
    from .metrics import norm

    return norm(text)


def threshold_for(scored: list[dict], min_answered: float = MIN_ANSWERED) -> float:
    answerable = sorted(s["p"] for s in scored if s["example"].answerable)
    if not answerable:
        return 0.5
    allowed = int(np.floor(len(answerable) * (1 - min_answered) + 1e-9))
    return float(answerable[allowed]) - 1e-6 if allowed < len(answerable) else 0.0


def summary(scored: list[dict], threshold: float, threshold_foreign: float | None = None) -> dict:
    def answered(x) -> bool:
        zh = x["example"].lang == "zh" or threshold_foreign is None
        return x["p"] >= (threshold if zh else threshold_foreign)

    ans = [x for x in scored if x["example"].answerable]
    una = [x for x in scored if not x["example"].answerable]
    short = [x["span_ok"] for x in ans if len(x["example"].answer or "") <= 40]
    return {
        "questions": len(scored),
        "right_sentence": round(float(np.mean([x["label"] == 1 for x in ans])), 4) if ans else None,
        "answered_right": round(float(np.mean([x["label"] == 1 and answered(x) for x in ans])), 4) if ans else None,
        "answered": round(float(np.mean([answered(x) for x in ans])), 4) if ans else None,
        "refused_unanswerable": round(float(np.mean([not answered(x) for x in una])), 4) if una else None,
        "span_ok": round(float(np.mean(short)), 4) if short else None,
    }


# ---------------------------------------------------------------- training


def train(epochs: float = 1.0, seed: int = 13, layers: int = 6, lr: float = 5e-4, log=print,
          out_dir: Path = WEIGHTS_DIR) -> dict:
    import torch
    from peft import get_peft_model
    from safetensors.torch import save_file

    from index.config import Settings

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    t_start = time.perf_counter()
    collected, dev_split = gather_examples(log=log)
    # A slice of the training data (whole groups: a near miss goes with its original) joins the
    # eval dev split for model selection and thresholds; the rest is trained on.
    held = {e.group for e in collected if _bucket(e.group) == 0}
    train_examples = [e for e in collected if e.group not in held]
    dev = dev_split + [e for e in collected if e.group in held]
    # The shortlist (what the reader reads): the feature model refitted on the training questions,
    # kept if it puts the answer sentence among the first candidates more often on dev.
    from index.read import ReaderModel

    base = ReaderModel.load()
    refit = fit_shortlist(train_examples, base)
    recall = {name: {d: round(positives_found(dev, m, d), 4) for d in CANDIDATE_GRID}
              for name, m in (("dev-fitted", base), ("train-fitted", refit))}
    log(f"[train-reader] answer sentence among the shortlist on dev: {recall}")
    use_refit = sum(recall["train-fitted"].values()) > sum(recall["dev-fitted"].values())
    shortlister = refit if use_refit else base
    shortlist_candidates(train_examples, shortlister, TRAIN_DEPTH, keep_positives=True)
    shortlist_candidates(dev, shortlister, max(CANDIDATE_GRID), keep_positives=False)
    t_collected = time.perf_counter()
    log(f"[train-reader] {len(train_examples)} training questions, {len(dev)} dev questions")
    settings = Settings()
    cfg = ReaderConfig(layers=layers)
    net = get_peft_model(build_net(settings.model_dir, layers), lora_config(cfg))
    net.train()
    encoder = PairEncoder.of(settings)
    pairs = _pairs([e for e in train_examples if not e.refused_early])
    positives = sum(p[3] for p in pairs)
    pos_weight = max(1.0, (len(pairs) - positives) / max(positives, 1) / 2)
    rng = random.Random(seed)
    batches_per_epoch = (len(pairs) + BATCH - 1) // BATCH
    total_steps = int(batches_per_epoch * epochs)
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total_steps, 1), pct_start=0.06,
                                                anneal_strategy="linear")
    log(f"[train-reader] {len(pairs)} pairs ({positives} positive), {total_steps} steps of {BATCH}, layers {layers}")
    step, history = 0, []
    while step < total_steps:
        for batch in make_batches(pairs, encoder, rng):
            if step >= total_steps:
                break
            loss = loss_of(net, batch, pos_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 200 == 0:
                log(f"[train-reader] step {step}/{total_steps} loss {loss.item():.4f} "
                    f"({time.perf_counter() - t_collected:.0f}s)")
    t_trained = time.perf_counter()
    state = trainable_state(net)
    # On dev: how to stack the reader with the feature model, how many candidates to read, which
    # spans to bold, and the thresholds (95% of answerable dev questions answered).
    read_dev(net, encoder, dev)
    stack = fit_stack(dev)
    choice = {}
    for depth in CANDIDATE_GRID:
        for span_source in ("reader", "rule"):
            scored = score_examples(dev, depth, stack, span_source)
            zh = [x for x in scored if x["example"].lang == "zh"]
            en = [x for x in scored if x["example"].lang != "zh"]
            th, th_en = threshold_for(zh), threshold_for(en)
            choice[(depth, span_source)] = (th, th_en, summary(scored, th, th_en))
    def key(k):
        s_ = choice[k][2]
        return (s_["answered_right"] or 0) + (s_["refused_unanswerable"] or 0) + (s_["span_ok"] or 0), -k[0]
    depth, span_source = max(choice, key=key)
    th, th_en, s_all = choice[(depth, span_source)]
    history.append({"stack": stack, "by_choice": {f"{d}-{src}": v[2] for (d, src), v in choice.items()}})
    log(f"[train-reader] dev: {depth} candidates, {span_source} spans, stack {stack}: {s_all}")
    cfg = replace(cfg, candidates=depth, threshold=round(th, 6), threshold_foreign=round(th_en, 6),
                  shortlist=shortlist_weights(refit) if use_refit else None,
                  stack=[round(x, 6) for x in stack], span_source=span_source)
    best = (None, total_steps, state)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(best[2], str(out_dir / ADAPTER))
    info = {
        **asdict(cfg),
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m eval train-reader --epochs {epochs} --seed {seed} --layers {layers} --lr {lr}",
        "seed": seed, "epochs": epochs, "lr": lr, "best_step": best[1], "steps": total_steps,
        "data": {"training_questions": len(train_examples), "pairs": len(pairs), "positives": positives,
                 "dev_questions": len(dev), "dev_split_questions": len(dev_split), "max_tokens": MAX_TOKENS,
                 "never_used": "eval test split; eval/train/invented/heldout"},
        "shortlist_recall_dev": recall,
        "dev": {"chosen_candidates": depth, "span_source": span_source, **s_all},
        "history": history,
        "seconds": {"collect": round(t_collected - t_start), "train": round(t_trained - t_collected),
                    "total": round(time.perf_counter() - t_start)},
    }
    (out_dir / CONFIG).write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    from index.read.neural import export

    path = export(settings.model_dir, out_dir, force=True)
    choose_span_nearness(out_dir, log)
    log(f"[train-reader] wrote {out_dir} and {path}; {info['seconds']}")
    return info
