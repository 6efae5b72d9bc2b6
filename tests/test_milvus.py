"""The Milvus backend against a real Milvus-protocol server: `milvus-lite server` started here
(a separate process on a loopback port, one data folder), reached by URI as a cluster would be.

One server and one small build are shared by the module; tests that stop the server restart it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from index.backends.base import BackendUnavailable, BadFilter, validate_sources
from index.build.chunk import chunk_document
from index.ingest.clean import CleanDocument
from index.config import REPO_ROOT, Settings
from index.ingest.library import Library
from index.backends.milvus.store import WRITE_LEASE_SECONDS, BuildReplaced, Collections, MilvusConfig, MilvusStore, analyzer_params
from index.backends.milvus.backend import DELETE_ROUNDS, MilvusBackend
from index.backends.milvus.rows import passage_rows
from index.backends.milvus.build import build as build_milvus, up_to_date
from index.search import Searcher
from index.backends.local.store import build as build_local, load
from index.build.plan import index_text
from tests.conftest import free_port, start_server, stop_server
from tests.sample_docs import DRONES, FOREST_NEW, FOREST_OLD, OCEAN

pytestmark = pytest.mark.slow
REAL_SMALL = "004_add29a2c5c193579.txt"


class MilvusServer:
    """`milvus-lite server` in its own process: it can be stopped and started again on the same data."""

    def __init__(self, data_dir: Path, port: int):
        self.data_dir, self.port = data_dir, port
        self.uri = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from pymilvus import MilvusClient

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "milvus-lite server exited at start"
            try:
                client = MilvusClient(uri=self.uri, timeout=2, dedicated=True)  # closed with it
                client.list_collections(timeout=2)
                client.close()
                return
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.3)
        raise RuntimeError("milvus-lite server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # as a crash would: no clean shutdown
            self.proc.wait(30)
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = MilvusServer(tmp_path_factory.mktemp("milvus") / "data", free_port())
    srv.start()
    yield srv
    srv.kill()


def make_seeds(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "seeds" / REAL_SMALL, folder)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, server, encoder):
    """Three small documents built both into Milvus and into a local index folder."""
    root = tmp_path_factory.mktemp("corpus")
    seeds = make_seeds(root / "seeds", {"100_ocean.txt": OCEAN, "200_forest.txt": FOREST_OLD, "300_drones.txt": DRONES})
    settings = Settings(seeds_dir=seeds, var_dir=root / "var")
    cfg = MilvusConfig(uri=server.uri, prefix="t_main", timeout=5)
    build_milvus(settings, cfg, encoder=encoder, progress=False)
    build_local(settings, encoder=encoder, progress=False)
    return settings, cfg


def milvus_searcher(corpus, encoder) -> Searcher:
    settings, cfg = corpus
    return Searcher(MilvusBackend.open(cfg, settings), encoder, settings)


QUERIES = ["海洋牧场 人工鱼礁", "森林防火隔离带和瞭望塔", "无人机快递进社区", "How are drones used for delivery?"]


def test_collections_use_the_documented_analyzer_shape(corpus, server):
    settings, cfg = corpus
    store = MilvusStore(cfg)
    current = store.get_meta("current")
    fields = {f["name"]: f for f in store.call("describe_collection", f"{cfg.prefix}_{current['build']}_passages")["fields"]}
    params = fields["index_text"]["params"]
    analyzer = params["analyzer_params"]
    analyzer = json.loads(analyzer) if isinstance(analyzer, str) else analyzer
    tok = analyzer["tokenizer"]
    assert tok["type"] == "jieba" and tok["mode"] == "search" and tok["dict"][0] == "_default_"
    stop = [f for f in analyzer["filter"] if isinstance(f, dict) and f["type"] == "stop"][0]
    assert "的" in stop["stop_words"] and "，" in stop["stop_words"]
    assert analyzer == analyzer_params(tok["dict"][1:])
    assert {"sparse", "dense", "source", "title", "section", "char_start", "char_end", "page", "chunk_id"} <= set(fields)
    store.close()


def test_milvus_and_local_agree_on_the_best_passage(corpus, encoder):
    settings, _ = corpus
    remote = milvus_searcher(corpus, encoder)
    local = Searcher(load(settings), encoder, settings)
    assert remote.backend.name == "milvus" and local.backend.name == "local"
    for q in QUERIES:
        for mode in ("hybrid", "bm25", "dense"):
            r, l = remote.search(q, top_k=3, mode=mode), local.search(q, top_k=3, mode=mode)
            if mode == "bm25" and not l.hits:
                assert not r.hits  # an English question: no Chinese tokens for BM25 either side
                continue
            assert r.hits[0].passage.chunk_id == l.hits[0].passage.chunk_id, (q, mode)
            if mode == "dense":  # the same vectors, exact search on both: the same ranking and cosines
                assert [h.passage.chunk_id for h in r.hits] == [h.passage.chunk_id for h in l.hits]
                assert np.allclose([h.dense for h in r.hits], [h.dense for h in l.hits], atol=1e-5)
    doc = remote.backend.document("100_ocean.txt")
    hit = remote.search("海洋牧场 人工鱼礁", top_k=1).hits[0].passage
    assert doc.text[hit.char_start:hit.char_end] == hit.text  # offsets index into the stored clean text
    assert doc.text == local.backend.document("100_ocean.txt").text
    assert {d.source: d.passages for d in remote.backend.list_documents()} == \
           {d.source: d.passages for d in local.backend.list_documents()}
    tokens = ["海洋", "zzzz"]
    assert remote.backend.coverage(tokens) == local.backend.coverage(tokens) == 0.5
    assert remote.backend.term_idf("海洋") == pytest.approx(local.backend.term_idf("海洋"), abs=1e-6)
    assert remote.backend.term_idf("zzzz") == pytest.approx(local.backend.term_idf("zzzz"), abs=1e-6)
    remote.backend.close()


def test_sentence_evidence_matches_the_local_table(corpus, encoder):
    settings, _ = corpus
    remote = milvus_searcher(corpus, encoder)
    local = Searcher(load(settings), encoder, settings)
    for q in ("海洋牧场 人工鱼礁", "无人机快递进社区"):
        r_hits, l_hits = remote.search(q, top_k=3, with_answer=False).hits, local.search(q, top_k=3, with_answer=False).hits
        assert [h.passage.chunk_id for h in r_hits] == [h.passage.chunk_id for h in l_hits]
        rt, rd, rh = remote.backend.sentence_evidence(r_hits)
        lt, ld, lh = local.backend.sentence_evidence(l_hits)
        for a, b in zip(rh, lh):
            r_ids = rt.ids[rt.ptr[a.passage_id]:rt.ptr[a.passage_id + 1]]
            l_ids = lt.ids[lt.ptr[b.passage_id]:lt.ptr[b.passage_id + 1]]
            rs, ls = [rt.sentence(i, rd) for i in r_ids], [lt.sentence(i, ld) for i in l_ids]
            assert [(s.source, s.char_start, s.char_end, s.text, s.kinds) for s in rs] == \
                   [(s.source, s.char_start, s.char_end, s.text, s.kinds) for s in ls]
            assert [rt.previous(i, rd) for i in r_ids] == [lt.previous(i, ld) for i in l_ids]
            assert np.allclose(np.asarray(rt.vectors)[r_ids], np.asarray(lt.vectors)[l_ids], atol=1e-5)
        r, l = remote.search(q, top_k=3), local.search(q, top_k=3)
        assert (r.answer.text if r.answer else None) == (l.answer.text if l.answer else None)
        assert r.abstain_reason == l.abstain_reason
    remote.backend.close()


@pytest.mark.parametrize("backend_name", ["milvus", "local"])
def test_sources_filter_restricts_results_on_both_backends(corpus, encoder, backend_name):
    settings, _ = corpus
    searcher = milvus_searcher(corpus, encoder) if backend_name == "milvus" else Searcher(load(settings), encoder, settings)
    wanted = ["200_forest.txt"]
    for mode in ("hybrid", "bm25", "dense"):
        hits = searcher.search("海洋牧场 人工鱼礁 森林", top_k=5, mode=mode, sources=wanted).hits
        assert hits and {h.passage.source for h in hits} == set(wanted), mode
    unfiltered = searcher.search("海洋牧场 人工鱼礁", top_k=5).hits
    assert unfiltered[0].passage.source == "100_ocean.txt"
    assert validate_sources(["200_forest.txt", "200_forest.txt"], searcher.backend) == ["200_forest.txt"]
    with pytest.raises(BadFilter, match="nope.txt"):
        validate_sources(["nope.txt"], searcher.backend)
    searcher.backend.close()


def test_add_replace_delete_a_document(corpus, encoder, server):
    settings, cfg = corpus
    backend = MilvusBackend.open(cfg, settings)
    searcher = Searcher(backend, encoder, settings)

    def write(source, text):
        doc = CleanDocument(source, text.split("\n")[0], text)
        passages = chunk_document(doc, settings.chunk)
        texts = [index_text(p, settings.index_context) for p in passages]
        backend.add_document(doc, passages, texts, encoder.encode_passages(texts), encode=encoder.encode_passages)
        return passages

    n0 = backend.info().passages
    added = write("400_garbage.txt", FOREST_NEW)
    assert searcher.search("厨余垃圾 厌氧发酵", top_k=1).hits[0].passage.source == "400_garbage.txt"
    assert backend.passage_count("400_garbage.txt") == len(added) and backend.info().passages == n0 + len(added)
    replaced = write("400_garbage.txt", OCEAN)  # replace: none of the old text may remain findable
    rows = backend.store.call("query", backend.cols.passages, filter='source == "400_garbage.txt"',
                              output_fields=["pid", "text"])
    assert len(rows) == len(replaced) and all("厨余" not in r["text"] for r in rows)
    assert backend.document("400_garbage.txt").text == OCEAN
    assert backend.delete_document("400_garbage.txt") == len(replaced)
    for table in (backend.cols.passages, backend.cols.documents):
        assert backend.store.call("query", table, filter='source == "400_garbage.txt"', output_fields=["source"]) == []
    assert backend.document("400_garbage.txt") is None and backend.info().passages == n0
    assert all(h.passage.source != "400_garbage.txt" for h in searcher.search("海洋牧场", top_k=10).hits)
    backend.close()


def test_write_interrupted_by_a_server_crash_is_rolled_back(corpus, encoder, server):
    settings, cfg = corpus
    backend = MilvusBackend.open(cfg, settings)
    big = "\n\n".join(f"第{i}部分。{FOREST_NEW}" for i in range(12))  # several passages, written in batches of 2
    doc = CleanDocument("500_big.txt", "城市生活垃圾分类实施办法", big)
    passages = chunk_document(doc, settings.chunk)
    texts = [index_text(p, settings.index_context) for p in passages]
    vectors = encoder.encode_passages(texts)
    assert len(passages) >= 4
    backend.cfg = backend.store.cfg = MilvusConfig(**{**vars(cfg), "batch": 2})
    real_call, upserts = backend.store.call, []

    def crash_after_first_batch(method, *args, **kwargs):
        out = real_call(method, *args, **kwargs)
        if method == "upsert" and args and args[0] == backend.cols.passages:
            upserts.append(len(args[1]))
            server.kill()  # Milvus dies mid-write: one batch of the new document is stored
        return out

    backend.store.call = crash_after_first_batch
    with pytest.raises(BackendUnavailable, match=server.uri.replace(".", r"\.")):
        backend.add_document(doc, passages, texts, vectors, encode=encoder.encode_passages)
    assert upserts == [2]
    backend.close()
    server.start()
    reopened = MilvusBackend.open(cfg, settings)  # finds the job row and undoes the half write
    store = reopened.store
    assert reopened.pending_writes() == []
    assert store.call("query", reopened.cols.passages, filter='source == "500_big.txt"', output_fields=["pid"]) == []
    assert reopened.document("500_big.txt") is None
    # BM25 and dense agree on which passages exist: every id either side returns has a row.
    searcher = Searcher(reopened, encoder, settings)
    q = "厨余垃圾由专用车辆收运至餐厨处理厂"
    ids = np.concatenate([reopened.bm25_search(q, reopened.tokenizer.tokenize(q), 50).ids,
                          reopened.dense_search(encoder.encode_query(q), 50).ids])
    assert len(reopened.get_passages(np.unique(ids))) == len(np.unique(ids))
    assert reopened.info().passages == sum(d.passages for d in reopened.list_documents())
    assert searcher.search(q, top_k=1).hits
    reopened.close()


def test_rows_a_delete_did_not_see_are_deleted_again_before_the_write_record_goes(corpus, encoder):
    settings, cfg = corpus
    backend = MilvusBackend.open(cfg, settings)
    doc = CleanDocument("600_missed.txt", "城市生活垃圾分类实施办法", FOREST_NEW)
    passages = chunk_document(doc, settings.chunk)
    texts = [index_text(p, settings.index_context) for p in passages]
    backend.add_document(doc, passages, texts, encoder.encode_passages(texts), encode=encoder.encode_passages)
    real_call, deletes = backend.store.call, []

    def deletes_missing(missed: int):
        def call(method, *args, **kwargs):
            if method == "delete" and args[0] == backend.cols.passages:
                deletes.append(kwargs["filter"])
                if len(deletes) <= missed:  # as a server still opening its data: the rows go unseen
                    return {"delete_count": 0}
            return real_call(method, *args, **kwargs)
        return call

    def left() -> list:
        return real_call("query", backend.cols.passages, filter='source == "600_missed.txt"', output_fields=["pid"],
                         consistency_level="Strong")

    backend.store.call = deletes_missing(1)
    assert backend.delete_document("600_missed.txt") == len(passages)
    assert len(deletes) == 2 and left() == [] and backend.pending_writes() == []

    # A delete that never takes: the write fails, and its record stays for the next recovery to finish.
    backend.store.call = real_call
    backend.add_document(doc, passages, texts, encoder.encode_passages(texts), encode=encoder.encode_passages)
    deletes.clear()
    backend.store.call = deletes_missing(DELETE_ROUNDS)
    with pytest.raises(BackendUnavailable, match="still holds rows"):
        backend.delete_document("600_missed.txt")
    assert len(deletes) == DELETE_ROUNDS and left() and [j["op"] for j in backend.pending_writes()] == ["delete"]
    backend.store.call = real_call
    backend.recover()
    assert left() == [] and backend.pending_writes() == [] and backend.document("600_missed.txt") is None
    backend.close()


def test_a_replica_leaves_another_replicas_write_alone_until_its_lease_runs_out(corpus, encoder):
    settings, cfg = corpus
    other = Settings(seeds_dir=settings.seeds_dir, var_dir=settings.var_dir.parent / "replica-b")
    a = MilvusBackend.open(cfg, settings)
    doc = CleanDocument("600_inflight.txt", "在写的文件", FOREST_NEW)
    passages = chunk_document(doc, settings.chunk)
    texts = [index_text(p, settings.index_context) for p in passages]
    gen = 42
    # replica A is in the middle of writing: its record is there, one passage row of the new generation too
    a._start_write({"op": "add", "source": doc.source, "gen": gen})
    a.store.call("upsert", a.cols.passages, passage_rows(passages[:1], texts[:1], encoder.encode_passages(texts[:1]),
                                                         gen, [[]]))
    a.store.flush(a.cols.passages)
    inflight = f'source == "{doc.source}"'
    b = MilvusBackend.open(cfg, other)  # another replica starting now must not undo A's live write
    assert b.owner != a.owner and [w["source"] for w in b.pending_writes()] == [doc.source]
    assert len(b.store.call("query", b.cols.passages, filter=inflight, output_fields=["pid"])) == 1
    # A dies and its record is not renewed: past the lease, any replica rolls the write back
    record = b.pending_writes()[0]
    b.store.put_meta(b._job_key(doc.source), {**record, "beat": time.time() - WRITE_LEASE_SECONDS - 1})
    b.recover()
    assert b.pending_writes() == []
    assert b.store.call("query", b.cols.passages, filter=inflight, output_fields=["pid"]) == []
    # and a replica restarted on its own machine and folder recovers its own writes at once
    a._start_write({"op": "delete", "source": doc.source})
    b.recover()
    assert len(b.pending_writes()) == 1
    again = MilvusBackend.open(cfg, settings)
    assert again.owner == a.owner and again.pending_writes() == []
    for backend in (a, b, again):
        backend.close()


def test_killed_build_resumes_where_it_stopped(tmp_path, server):
    seeds = make_seeds(tmp_path / "seeds", {"100_ocean.txt": OCEAN, "300_drones.txt": DRONES})
    shutil.copy(REPO_ROOT / "seeds" / "000_0bf3d725d3d5bf69.txt", seeds)
    env = {**os.environ, "POLICYQA_BACKEND": "milvus", "POLICYQA_MILVUS_URI": server.uri,
           "POLICYQA_MILVUS_PREFIX": "t_resume", "POLICYQA_BUILD_BATCH": "4", "POLICYQA_SEEDS_DIR": str(seeds),
           "POLICYQA_VAR_DIR": str(tmp_path / "var"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "index", "ensure"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:  # kill it once two batches are recorded
            seen.append(line)
            if line.startswith("[build] encoded 8/"):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]
    total = int(seen[-1].split("/")[1].split()[0])
    assert total > 8
    done = subprocess.run([sys.executable, "-m", "index", "ensure"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming the encode stage at passage 8 of" in done.stderr
    assert f"encoded 12/{total}" in done.stderr and "encoded 4/" not in done.stderr  # batches 1-2 not redone
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    backend = MilvusBackend.open(MilvusConfig(uri=server.uri, prefix="t_resume"), settings)
    assert backend.info().passages == total
    assert backend.store.call("query", backend.cols.passages, filter="", output_fields=["count(*)"])[0]["count(*)"] == total
    # a finished build is current and up to date: `ensure` would do nothing now
    current, reasons = up_to_date(backend.store, settings)
    assert current["build"] == backend.cols.tag and reasons == []
    assert not (tmp_path / "var" / "milvus-build").exists() or not any((tmp_path / "var" / "milvus-build").iterdir())
    # a build dropped under a running backend (a newer one replaced it) reads as BuildReplaced, a 503 that reloads
    backend.store.call("drop_collection", backend.cols.passages)
    with pytest.raises(BuildReplaced, match="newer build"):
        backend.dense_search(np.ones(384, dtype=np.float32) / np.sqrt(384), 5)
    backend.close()


def test_service_on_milvus_survives_the_store_going_away(corpus, server):
    settings, cfg = corpus
    env = {"POLICYQA_BACKEND": "milvus", "POLICYQA_MILVUS_URI": server.uri, "POLICYQA_MILVUS_PREFIX": cfg.prefix,
           "POLICYQA_MILVUS_TIMEOUT": "3", "POLICYQA_SEEDS_DIR": str(settings.seeds_dir),
           "POLICYQA_VAR_DIR": str(settings.var_dir)}
    server.kill()  # unreachable at start
    proc, url = start_server(env)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    body = {"query": "海洋牧场 人工鱼礁", "top_k": 3}
    try:
        r = httpx.post(f"{url}/api/query", json=body, timeout=30)
        assert r.status_code == 503 and server.uri not in r.text and "not reachable" in r.json()["detail"] and "Traceback" not in r.text
        h = httpx.get(f"{url}/api/health", timeout=30)
        assert h.status_code == 503 and h.json()["backend"] == "milvus" and server.uri not in h.text and "not reachable" in h.json()["detail"]
        server.start()  # it comes back: the service recovers without a restart
        _wait_for(lambda: _status(url, body) == 200)
        h = httpx.get(f"{url}/api/health", timeout=30).json()
        assert h["status"] == "ok" and h["backend"] == "milvus" and h["passages"] > 0
        r = httpx.post(f"{url}/api/query", json={**body, "sources": ["300_drones.txt"]}, timeout=30)
        assert r.status_code == 200 and {p["source"] for p in r.json()["passages"]} == {"300_drones.txt"}
        r = httpx.post(f"{url}/api/query", json={**body, "sources": ["nope.txt"]}, timeout=30)
        assert r.status_code == 422 and "nope.txt" in r.json()["detail"]
        server.kill()  # lost while serving
        r = httpx.post(f"{url}/api/query", json=body, timeout=60)
        assert r.status_code == 503 and server.uri not in r.text and "not reachable" in r.json()["detail"] and "Traceback" not in r.text
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 503
        server.start()
        _wait_for(lambda: _status(url, body) == 200)
        assert httpx.post(f"{url}/api/query", json=body, timeout=30).json()["passages"][0]["source"] == "100_ocean.txt"
        server.proc.send_signal(signal.SIGSTOP)  # alive but answering nothing: too slow
        try:
            t0 = time.monotonic()
            r = httpx.post(f"{url}/api/query", json=body, timeout=60)
            assert r.status_code == 503 and server.uri not in r.text and "not reachable" in r.json()["detail"] and "Traceback" not in r.text
            assert time.monotonic() - t0 < 30  # bounded by POLICYQA_MILVUS_TIMEOUT, not hanging
        finally:
            server.proc.send_signal(signal.SIGCONT)
        _wait_for(lambda: _status(url, body) == 200)
    finally:
        stop_server(proc)
        if server.proc is None:
            server.start()


def _status(url: str, body: dict) -> int:
    try:
        return httpx.post(f"{url}/api/query", json=body, timeout=120).status_code
    except httpx.TimeoutException:  # still reloading on a busy machine
        return 0


def _wait_for(check, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError("the service did not recover in time")


# ---------------------------------------------------------------- the document library on Milvus

ADMIN = {"X-Admin-Token": "milvus-library-token-5e1f"}
CARBON = ["碳普惠机制建设实施方案", "一、总体目标",
          "到二〇二六年，建成覆盖全市的碳普惠平台，居民低碳出行、垃圾分类和光盘行动可以兑换碳积分。",
          "坚持政府引导、市场运作、公众参与，建立统一的碳普惠核证标准和登记簿，形成可复制推广的经验。",
          "二、重点任务", "（一）建立碳积分核算方法。对公交地铁出行、共享单车骑行按减排量折算碳积分，每千克二氧化碳折合十个积分。",
          "（二）拓展碳积分消费场景。碳积分可在合作商户兑换公交卡充值、景区门票和绿色家电优惠券。"]


def _job(c: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_uploads_and_deletes_on_milvus_go_into_milvus_and_survive_a_rebuild(tmp_path, server, encoder):
    from doc_fixtures import browser, text_pdf

    with browser() as b:
        pdf = text_pdf(b, CARBON, page_break_every=4)  # 二、重点任务 starts page 2
    seeds = make_seeds(tmp_path / "seeds", {"100_ocean.txt": OCEAN})
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    cfg = MilvusConfig(uri=server.uri, prefix="t_lib", timeout=10)
    build_milvus(settings, cfg, encoder=encoder, progress=False)
    env = {"POLICYQA_BACKEND": "milvus", "POLICYQA_MILVUS_URI": server.uri, "POLICYQA_MILVUS_PREFIX": cfg.prefix,
           "POLICYQA_SEEDS_DIR": str(seeds), "POLICYQA_VAR_DIR": str(tmp_path / "var"),
           "POLICYQA_ADMIN_TOKEN": ADMIN["X-Admin-Token"], "POLICYQA_BUILD_BATCH": "2"}
    proc, url = start_server(env)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    question = {"query": "碳积分可以兑换什么", "top_k": 3}
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            before = c.get("/api/health").json()["passages"]
            job = _job(c, c.post("/api/documents", headers=ADMIN,
                                 files=[("files", ("carbon.pdf", pdf, "application/pdf")),
                                        ("files", ("drones.md", DRONES.encode(), "text/markdown"))]))
            assert job["status"] == "done" and sorted(job["result"]["documents"]) == ["carbon.pdf", "drones.md"], job
            # retrieval's order: what the uploads put into Milvus (the reader reorders what it read)
            top = c.post("/api/query", json={**question, "answer": False}).json()["passages"][0]
            assert top["source"] == "carbon.pdf" and top["page"] == 2 and "兑换" in top["text"]
            only = c.post("/api/query", json={**question, "sources": ["drones.md"]}).json()["passages"]
            assert only and {p["source"] for p in only} == {"drones.md"}
            listed = {d["source"]: d for d in c.get("/api/documents").json()["documents"]}
            assert listed["carbon.pdf"]["origin"] == "library" and listed["carbon.pdf"]["format"] == "pdf"
            assert listed["carbon.pdf"]["pages"] == 2 and listed["100_ocean.txt"]["origin"] == "seed"
            health = c.get("/api/health").json()
            assert health["backend"] == "milvus" and health["passages"] == before + sum(
                listed[s]["passages"] for s in ("carbon.pdf", "drones.md"))
            again = _job(c, c.post("/api/documents", headers=ADMIN,
                                   files=[("files", ("drones.md", DRONES.encode(), "text/markdown"))]))
            assert again["status"] == "done" and again["result"]["changed"] is False  # same content: no work

            # Another replica needs only the URI: it lists and serves the same library.
            replica = MilvusBackend.open(cfg, Settings(seeds_dir=seeds, var_dir=tmp_path / "other-replica"))
            assert [e["source"] for e in replica.library_entries()] == ["carbon.pdf", "drones.md"]
            served_text = replica.document("carbon.pdf").text
            replica.close()

            # A full rebuild (as after a settings change) carries the uploads, pages included.
            old_tag = health["build_id"]
            build_milvus(settings, cfg, encoder=encoder, force=True, progress=False)
            rebuilt = MilvusBackend.open(cfg, settings)
            assert rebuilt.cols.tag != old_tag
            assert [e["source"] for e in rebuilt.library_entries()] == ["carbon.pdf", "drones.md"]
            assert rebuilt.document("carbon.pdf").text == served_text
            hit = Searcher(rebuilt, encoder, settings).search(question["query"], top_k=1).hits[0]
            assert hit.passage.source == "carbon.pdf" and hit.passage.page == 2
            rebuilt.close()

            # The service still holds the old build: its delete is redone on the new one.
            job = _job(c, c.delete("/api/documents/drones.md", headers=ADMIN))
            assert job["status"] == "done", job
            assert c.get("/api/health").json()["build_id"] != old_tag
            current = MilvusBackend.open(cfg, settings)
            for table in (current.cols.passages, current.cols.documents, current.cols.sentences):
                assert current.store.call("query", table, filter='source == "drones.md"', output_fields=["source"]) == []
            current.close()
            gone = c.post("/api/query", json={"query": "无人机快递进社区", "top_k": 10}).json()["passages"]
            assert all(p["source"] != "drones.md" for p in gone)
            assert c.delete("/api/documents/drones.md", headers=ADMIN).status_code == 404
            assert c.delete("/api/documents/100_ocean.txt", headers=ADMIN).status_code == 409

            # Milvus is killed while a replacement of plan.md is being written: the old version stays whole.
            assert _job(c, c.post("/api/documents", headers=ADMIN, files=[("files", ("plan.md", FOREST_OLD.encode(),
                                                                                     "text/markdown"))]))["status"] == "done"
            old_doc = c.get("/api/documents/plan.md").json()
            # the new version begins as the old one: rows the two share must not be overwritten
            big = FOREST_OLD + "\n\n" + "\n\n".join(f"第{i}部分 {FOREST_NEW}" for i in range(30))
            r = c.post("/api/documents", headers=ADMIN, files=[("files", ("plan.md", big.encode(), "text/markdown"))])
            job_id = r.json()["job_id"]
            deadline = time.monotonic() + 300
            while (running := c.get(f"/api/jobs/{job_id}").json())["stage"] != "writing":
                assert running["status"] in ("queued", "running") and time.monotonic() < deadline, running
                time.sleep(0.05)
            time.sleep(0.5)  # some batches of the new version are in
            server.kill()
            job = _job(c, r)
            assert job["status"] == "failed" and server.uri in job["reason"] and "Traceback" not in job["reason"]
            server.start()  # the service rolls the half write back by itself once Milvus answers
            _wait_for(lambda: _status(url, question) == 200)
            store = MilvusStore(cfg)
            tag = store.get_meta("current")["build"]
            _wait_for(lambda: store.meta_keys(f"job:{tag}:") == [], timeout=120)
            cols = Collections(cfg.prefix, tag)
            # read as written (the collections read Bounded: a delete may take a moment to show)
            def plan_rows() -> list[dict]:
                return store.call("query", cols.passages, filter='source == "plan.md"',
                                  output_fields=["gen", "text", "sentence_ids"], consistency_level="Strong")

            # milvus-lite, just restarted, has once shown rows after its delete: the old version alone, in time
            _wait_for(lambda: len({r["gen"] for r in plan_rows()}) == 1, timeout=60)
            rows = plan_rows()
            assert rows and len({r["gen"] for r in rows}) == 1 and all("第" not in r["text"] for r in rows)
            sids = {sid for r in rows for sid in json.loads(r["sentence_ids"])}
            def sentence_ids() -> set[int]:
                return {r["sid"] for r in store.call("query", cols.sentences, filter='source == "plan.md"',
                                                     output_fields=["sid"], consistency_level="Strong")}

            _wait_for(lambda: sentence_ids() == sids, timeout=60)  # the old version's evidence, nothing more
            store.close()
            assert c.get("/api/documents/plan.md").json()["text"] == old_doc["text"]
            listed = {d["source"]: d for d in c.get("/api/documents").json()["documents"]}
            assert listed["plan.md"]["passages"] == len(rows)
            hit = c.post("/api/query", json={"query": "森林防火隔离带和瞭望塔", "top_k": 1}).json()["passages"][0]
            assert hit["source"] == "plan.md"

            # Originals kept here: a failed upload's goes once it is an hour old, a listed document's stays.
            library = Library(settings.library_dir)
            failed = library.blob_path(hashlib.sha256(big.encode()).hexdigest())
            kept = library.blob_path(hashlib.sha256(pdf).hexdigest())
            assert failed.exists() and kept.exists()
            for path in (failed, kept):
                os.utime(path, (time.time() - 2 * 3600,) * 2)
            assert _job(c, c.delete("/api/documents/plan.md", headers=ADMIN))["status"] == "done"
            assert not failed.exists() and kept.exists()
    finally:
        stop_server(proc)
        if server.proc is None:
            server.start()


TABLE_DOC = ("海宁市人才公寓租金指导价格公告\n海宁市人才公寓实行政府指导租金,按区域和户型分档。入住人才按指导价的五折缴纳租金。\n"
             "表1 海宁市人才公寓月租金指导价\n片区\t一室户(元/月)\t两室户(元/月)\n海洲街道\t1200\t1800\n硖石街道\t1100\t1650\n"
             "长安镇\t900\t1400\n")


def test_table_passages_keep_their_table_in_milvus(tmp_path, server, encoder):
    seeds = make_seeds(tmp_path / "seeds", {"100_ocean.txt": OCEAN, "500_rent.txt": TABLE_DOC})
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    cfg = MilvusConfig(uri=server.uri, prefix="t_table", timeout=5)
    build_milvus(settings, cfg, encoder=encoder, progress=False)
    build_local(settings, encoder=encoder, progress=False)
    remote = Searcher(MilvusBackend.open(cfg, settings), encoder, settings)
    local = Searcher(load(settings), encoder, settings)
    q = "海宁市硖石街道人才公寓两室户的租金是多少？"
    r, l = remote.search(q, top_k=3), local.search(q, top_k=3)
    rows = [h.passage.table for h in r.hits if h.passage.table]
    assert rows and rows == [h.passage.table for h in l.hits if h.passage.table]
    assert r.answer.span.text == l.answer.span.text == "1650"
    assert r.answer.table["column"] == "两室户(元/月)" and r.answer.table["unit"] == "元/月"
    remote.backend.close()
