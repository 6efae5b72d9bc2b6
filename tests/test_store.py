"""The index folder: damage is detected at load, a killed build changes nothing, and
adding, replacing or deleting a document updates BM25 and FAISS together.

Every index here is built for real (real model, real FAISS) from a few small seed files
in a tmp folder; the session encoder is shared and unchanged passages reuse their vectors.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.config import BUILD_COMMAND, REPO_ROOT, Settings
from index.search import Searcher
from index.build.plan import IndexUnavailable, index_text
from index.backends.local.store import build, current_build, load, manifest_checksum
from tests.sample_docs import DRONES, FOREST_NEW, FOREST_OLD, OCEAN

REAL_SMALL = "004_add29a2c5c193579.txt"


def make_seeds(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    shutil.copy(REPO_ROOT / "seeds" / REAL_SMALL, folder)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def small_build(tmp_path_factory, encoder):
    """A good index of three small documents: (settings, build folder)."""
    root = tmp_path_factory.mktemp("store")
    seeds = make_seeds(root / "seeds", {"100_ocean.txt": OCEAN, "200_forest.txt": FOREST_OLD})
    settings = Settings(seeds_dir=seeds, var_dir=root / "var")
    folder = build(settings, encoder=encoder, progress=False)
    return settings, folder


def copy_index(small_build, dest: Path) -> Settings:
    """A private copy of the small index (builds and the `current` link) to damage."""
    settings, _ = small_build
    shutil.copytree(settings.index_root, dest / "index", symlinks=True)
    return Settings(seeds_dir=settings.seeds_dir, var_dir=dest)


# ---------------------------------------------------------------- damaged files


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


DAMAGED = ["dense.faiss", "dense_vectors.npy", "passages.jsonl", "bm25_weights.npz", "documents.json", "manifest.json",
           "bm25_vocab.json", "index_texts.json", "userdict.txt"]


@pytest.mark.parametrize("damage", [truncate, flip, delete], ids=["truncate", "flip", "delete"])
@pytest.mark.parametrize("name", DAMAGED)
def test_damaged_file_is_detected_at_load(small_build, tmp_path, name, damage):
    settings = copy_index(small_build, tmp_path)
    assert load(settings).passages  # the copy is good before the damage
    damage(current_build(settings) / name)
    with pytest.raises(IndexUnavailable) as err:
        load(settings)
    message = str(err.value)
    assert name in message, message
    assert BUILD_COMMAND in message


def _resign(folder: Path) -> None:
    """Update the manifest's checksums to match the files, as a buggy writer would."""
    from index.build.plan import sha256 as _sha256

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {n: _sha256(folder / n) for n in manifest["files"]}
    manifest["manifest_sha256"] = manifest_checksum(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize("name", ["passages.jsonl", "documents.json", "dense_vectors.npy", "bm25_vocab.json"])
def test_bad_file_with_a_matching_checksum_is_still_named(small_build, tmp_path, name):
    settings = copy_index(small_build, tmp_path)
    folder = current_build(settings)
    truncate(folder / name)
    _resign(folder)
    with pytest.raises(IndexUnavailable) as err:
        load(settings)
    assert name in str(err.value) and BUILD_COMMAND in str(err.value)


def test_manifest_edit_is_detected(small_build, tmp_path):
    settings = copy_index(small_build, tmp_path)
    path = current_build(settings) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["counts"]["passages"] += 1  # still valid JSON, still lists every file
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="manifest.json.*checksum"):
        load(settings)
    del manifest["files"]["dense.faiss"]
    manifest["manifest_sha256"] = manifest_checksum(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="does not list dense.faiss"):
        load(settings)


def test_missing_index_names_the_build_command(tmp_path):
    with pytest.raises(IndexUnavailable) as err:
        load(Settings(seeds_dir=tmp_path, var_dir=tmp_path / "empty"))
    assert BUILD_COMMAND in str(err.value)


def test_stale_index_is_refused(small_build, tmp_path):
    settings = copy_index(small_build, tmp_path)
    seeds = tmp_path / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    (seeds / "200_forest.txt").write_text(FOREST_NEW, encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="stale.*seed files"):
        load(Settings(seeds_dir=seeds, var_dir=tmp_path))


# ---------------------------------------------------------------- interrupted build


def test_killed_build_leaves_the_previous_index_intact(small_build, tmp_path, encoder):
    settings = copy_index(small_build, tmp_path)
    old = current_build(settings)
    seeds = tmp_path / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    # New documents, so the build spends seconds encoding when it is killed.
    shutil.copy(REPO_ROOT / "seeds" / "000_0bf3d725d3d5bf69.txt", seeds)
    (seeds / "300_drones.txt").write_text(DRONES, encoding="utf-8")
    env = {**os.environ, "POLICYQA_VAR_DIR": str(tmp_path), "POLICYQA_SEEDS_DIR": str(seeds), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "index", "build"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("[build] encode") and "..." in line:
                break
            assert time.monotonic() < deadline, seen
        assert any(line.startswith("[build] encode") for line in seen), seen
        temps = list((settings.index_root / "builds").glob(".tmp-*"))
        assert len(temps) == 1 and temps[0].name.endswith(f"-{proc.pid}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The killed build changed nothing: `current` still names the old build, which loads and answers.
    assert current_build(settings) == old
    assert temps[0].exists()  # its half-written folder is left behind ...
    index = load(settings)  # `settings` still points at the old seeds, which the old build matches
    hits = Searcher(index, encoder, settings).search("海洋牧场 人工鱼礁", top_k=3, with_answer=False).hits
    assert hits[0].passage.source == "100_ocean.txt"
    # ... and the next build cleans it up.
    new = build(Settings(seeds_dir=seeds, var_dir=tmp_path), encoder=encoder, progress=False)
    assert not temps[0].exists()
    assert list((settings.index_root / "builds").glob(".tmp-*")) == []
    assert current_build(settings) == new != old
    assert "300_drones.txt" in load(Settings(seeds_dir=seeds, var_dir=tmp_path)).documents


def test_failed_build_removes_its_temp_folder(small_build, tmp_path, encoder):
    settings = copy_index(small_build, tmp_path)
    old = current_build(settings)

    class Exploding:
        model_id = encoder.model_id

        def encode_passages(self, texts, **kwargs):
            raise RuntimeError("encoder crashed")

    seeds = tmp_path / "seeds"
    shutil.copytree(settings.seeds_dir, seeds)
    (seeds / "300_drones.txt").write_text(DRONES, encoding="utf-8")
    with pytest.raises(RuntimeError, match="encoder crashed"):
        build(Settings(seeds_dir=seeds, var_dir=tmp_path), encoder=Exploding(), progress=False)
    assert current_build(settings) == old
    assert list((settings.index_root / "builds").glob(".tmp-*")) == []
    assert load(settings).passages


# ---------------------------------------------------------------- add, replace, delete


def sources_for(searcher: Searcher, query: str, mode: str, k: int = 5) -> list[str]:
    return [h.passage.source for h in searcher.search(query, top_k=k, mode=mode, with_answer=False).hits]


def assert_consistent(index, encoder, settings) -> None:
    """BM25 rows, FAISS vectors and passages line up, and reused vectors are the right ones."""
    assert len(index.passages) == index.bm25.size == index.dense.size == len(index.dense.vectors)
    texts = [index_text(p, settings.index_context) for p in index.passages]
    # Re-encode a sample (every small synthetic passage, a couple of the real document's):
    # a reused vector attached to the wrong passage would not match.
    sample = [i for i, p in enumerate(index.passages) if p.source != REAL_SMALL]
    sample += [i for i, p in enumerate(index.passages) if p.source == REAL_SMALL][:2]
    fresh = encoder.encode_passages([texts[i] for i in sample])
    assert np.allclose(fresh, np.asarray(index.dense.vectors)[sample], atol=1e-4)
    rows = index.bm25.weights.tocsr()
    for i, text in enumerate(texts):  # each BM25 row holds exactly the terms of its own passage
        terms = {index.bm25.vocab[t] for t in index.tokenizer.tokenize(text)}
        assert terms == set(rows.indices[rows.indptr[i]:rows.indptr[i + 1]].tolist()), index.passages[i].chunk_id


def searcher_for(settings, encoder) -> Searcher:
    index = load(settings)
    assert_consistent(index, encoder, settings)
    return Searcher(index, encoder, settings)


def test_add_replace_delete_update_both_sides(tmp_path, encoder):
    seeds = make_seeds(tmp_path / "seeds", {"100_ocean.txt": OCEAN, "200_forest.txt": FOREST_OLD})
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    build(settings, encoder=encoder, progress=False)
    s = searcher_for(settings, encoder)
    ocean_q, forest_q, trash_q, drone_q = "海洋牧场人工鱼礁", "森林防火隔离带瞭望塔", "厨余垃圾分类投放", "无人机低空物流"
    for mode in ("bm25", "dense", "hybrid"):
        assert sources_for(s, ocean_q, mode)[0] == "100_ocean.txt"
        assert sources_for(s, forest_q, mode)[0] == "200_forest.txt"
        assert "300_drones.txt" not in sources_for(s, drone_q, mode)

    # add
    (seeds / "300_drones.txt").write_text(DRONES, encoding="utf-8")
    folder = build(settings, encoder=encoder, progress=False)
    assert "encode" in " ".join(json.loads((folder / "manifest.json").read_text())["timings_s"])
    s = searcher_for(settings, encoder)
    for mode in ("bm25", "dense", "hybrid"):
        assert sources_for(s, drone_q, mode)[0] == "300_drones.txt", mode
    assert s.index.bm25.scores(s.index.tokenizer.tokenize("无人机")).max() > 0

    # replace: same file name, new text
    (seeds / "200_forest.txt").write_text(FOREST_NEW, encoding="utf-8")
    build(settings, encoder=encoder, progress=False)
    s = searcher_for(settings, encoder)
    all_text = "".join(p.text for p in s.index.passages) + s.index.documents["200_forest.txt"].text
    assert "瞭望塔" not in all_text and "森林防火" not in all_text
    assert "瞭望塔" not in s.index.bm25.vocab or s.index.bm25.scores(["瞭望塔"]).max() == 0
    for mode in ("bm25", "dense", "hybrid"):
        assert sources_for(s, trash_q, mode)[0] == "200_forest.txt", mode
        hits = s.search(forest_q, top_k=10, mode=mode, with_answer=False).hits
        assert not any("防火" in h.passage.text for h in hits)

    # delete
    (seeds / "100_ocean.txt").unlink()
    build(settings, encoder=encoder, progress=False)
    s = searcher_for(settings, encoder)
    assert "100_ocean.txt" not in s.index.documents
    assert not any(p.source == "100_ocean.txt" for p in s.index.passages)
    assert s.index.bm25.scores(s.index.tokenizer.tokenize("人工鱼礁")).max() == 0
    for mode in ("bm25", "dense", "hybrid"):
        assert "100_ocean.txt" not in sources_for(s, ocean_q, mode, k=50), mode
    assert len({p.chunk_id for p in s.index.passages}) == len(s.index.passages)
