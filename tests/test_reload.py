"""Reloading a real server while it answers: no failed request, no response mixing two
index builds, and the new document is searchable afterwards."""
from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest

from index.config import REPO_ROOT, Settings
from index.backends.local.store import build, current_build, load
from tests.conftest import start_server, stop_server
from tests.sample_docs import DRONES, FOREST_NEW, FOREST_OLD, OCEAN

TOKEN = "reload-test-token-7f3a"
QUERIES = ["海洋牧场人工鱼礁", "森林防火瞭望塔", "厨余垃圾分类", "无人机低空物流", "先行启动区组织保障", "talent policy"]


def passage_keys(index) -> set[tuple]:
    return {(p.source, p.char_start, p.char_end, p.text) for p in index.passages}


@pytest.fixture(scope="module")
def served(tmp_path_factory, encoder):
    """One server for the module; the token test runs first and leaves the index as it was."""
    tmp_path = tmp_path_factory.mktemp("reload")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPO_ROOT / "seeds" / "004_add29a2c5c193579.txt", seeds)
    (seeds / "100_ocean.txt").write_text(OCEAN, encoding="utf-8")
    (seeds / "200_forest.txt").write_text(FOREST_OLD, encoding="utf-8")
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    build(settings, encoder=encoder, progress=False)
    # The model stays the default one although the var dir moved (converted_model_dir does
    # not follow POLICYQA_VAR_DIR); passing it makes that explicit.
    env = {"POLICYQA_VAR_DIR": str(settings.var_dir), "POLICYQA_SEEDS_DIR": str(seeds),
           "POLICYQA_MODEL_DIR": str(settings.converted_model_dir), "POLICYQA_ADMIN_TOKEN": TOKEN}
    proc, url = start_server(env)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain logs
    yield settings, url
    stop_server(proc)


def test_reload_token_is_required(served):
    settings, url = served
    build_id = current_build(settings).name
    with httpx.Client(base_url=url, timeout=60) as c:
        for headers in ({}, {"X-Admin-Token": ""}, {"X-Admin-Token": "wrong"}, {"X-Admin-Token": TOKEN + "x"},
                        {"Authorization": f"Bearer {TOKEN}"}):
            r = c.post("/api/admin/reload", headers=headers)
            assert r.status_code == 403, headers
            assert "X-Admin-Token" in r.json()["detail"] and TOKEN not in r.text
        assert c.get("/api/health").json()["build_id"] == build_id
        ok = c.post("/api/admin/reload", headers={"X-Admin-Token": TOKEN})
        assert ok.status_code == 200 and ok.json()["build_id"] == build_id


def test_reload_while_serving(served, encoder):
    settings, url = served
    old_index = load(settings)
    old_build = old_index.manifest["build_id"]
    corpora = {old_build: passage_keys(old_index)}
    assert httpx.get(f"{url}/api/health").json()["build_id"] == old_build

    stop = threading.Event()
    results: list[tuple[int, str, list[tuple]]] = []
    errors: list[str] = []

    def client(offset: int):
        i = offset
        with httpx.Client(base_url=url, timeout=120) as c:
            while not stop.is_set():
                q = QUERIES[i % len(QUERIES)]
                i += 1
                try:
                    r = c.post("/api/query", json={"query": q, "top_k": 5})
                except httpx.HTTPError as err:
                    errors.append(repr(err))
                    continue
                keys = [(p["source"], p["char_start"], p["char_end"], p["text"]) for p in r.json().get("passages", [])]
                results.append((r.status_code, r.headers.get("x-index-build", ""), keys))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        # Seeds change but are not rebuilt yet: a reload refuses the stale index and keeps serving (409: the
        # documents and the built index disagree until the rebuild, no server fault)
        (settings.seeds_dir / "300_drones.txt").write_text(DRONES, encoding="utf-8")
        (settings.seeds_dir / "200_forest.txt").write_text(FOREST_NEW, encoding="utf-8")
        r = httpx.post(f"{url}/api/admin/reload", headers={"X-Admin-Token": TOKEN}, timeout=120)
        assert r.status_code == 409 and "still serving the previous index" in r.json()["detail"]
        assert r.headers["retry-after"] == "30"
        assert "stale" in r.json()["detail"]
        # Rebuild (while the server keeps answering), then reload.
        build(settings, encoder=encoder, progress=False)
        new_index = load(settings)
        new_build = new_index.manifest["build_id"]
        assert new_build != old_build
        corpora[new_build] = passage_keys(new_index)
        n_before = len(results)
        r = httpx.post(f"{url}/api/admin/reload", headers={"X-Admin-Token": TOKEN}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["build_id"] == new_build
        deadline = time.monotonic() + 60
        while sum(1 for _, b, _ in results[n_before:] if b == new_build) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(120)

    assert not errors, errors[:3]
    assert results and all(status == 200 for status, _, _ in results), {s for s, _, _ in results}
    builds_seen = {b for _, b, _ in results}
    assert builds_seen == {old_build, new_build}
    for _, build_id, keys in results:
        # Every passage of a response comes from the build that answered it: never a mix.
        assert set(keys) <= corpora[build_id], (build_id, [k[:3] for k in keys if k not in corpora[build_id]])
    only_old = corpora[old_build] - corpora[new_build]
    only_new = corpora[new_build] - corpora[old_build]
    assert only_old and only_new
    for _, _, keys in results:
        assert not (set(keys) & only_old and set(keys) & only_new)
    # Once swapped, the engine stays swapped: no old-build answer after the first new one.
    first_new = next(i for i, (_, b, _) in enumerate(results) if b == new_build)
    late_old = [i for i, (_, b, _) in enumerate(results[first_new:]) if b == old_build]
    assert len(late_old) <= len(threads)  # at most the requests already in flight at the swap

    with httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/api/health").json()["build_id"] == new_build
        hits = c.post("/api/query", json={"query": "无人机低空物流配送", "top_k": 3}).json()["passages"]
        assert hits[0]["source"] == "300_drones.txt"
        doc = c.get("/api/documents/300_drones.txt").json()
        assert doc["text"][hits[0]["char_start"]:hits[0]["char_end"]] == hits[0]["text"]
        for mode in ("bm25", "dense", "hybrid"):
            old_hits = c.post("/api/query", json={"query": "森林防火瞭望塔", "top_k": 10, "mode": mode}).json()["passages"]
            assert not any("瞭望塔" in p["text"] for p in old_hits), mode
