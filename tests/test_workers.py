"""Many workers on one data folder (issue 18): a real uvicorn server with 4 workers, 10 uploads at the
same moment, the job runner's worker killed mid-job, and a restart. Every request goes on a new
connection, so the kernel spreads them over the workers; /api/health names the worker that answered."""
from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import psutil
import pytest

from tests.conftest import stop_server
from tests.library_server import start_library_server

TOKEN = "workers-test-token-5d1e"
AUTH = {"X-Admin-Token": TOKEN}
WORKERS = 4
# Ten made-up policies, each with a word no seed and no other upload has, so a search finds exactly it.
TOPICS = ["珊瑚礁修复", "冰川监测站", "蜂蜜溯源码", "竹林碳汇", "盐碱地改良", "古树名木挂牌", "萤火虫栖息地",
          "候鸟迁徙通道", "沙漠光伏治沙", "湿地观鸟屋"]


def doc(i: int) -> bytes:
    topic = TOPICS[i]
    return (f"{topic}专项扶持办法\n第一条 为推进{topic}工作，制定本办法。\n"
            f"第二条 对开展{topic}的单位，按项目投资额的百分之{i + 11}给予补助，最高不超过{i + 2}百万元。\n"
            f"第三条 {topic}项目由市生态环境局会同财政局组织验收。\n").encode("utf-8")


def fresh(url: str, method: str, path: str, **kw) -> httpx.Response:
    """One request on its own connection (a kept-alive connection would stay with one worker)."""
    with httpx.Client(base_url=url, timeout=120) as c:
        return c.request(method, path, **kw)


def workers_on_build(url: str, want: int, timeout: float = 180) -> tuple[set[int], str]:
    """Poll /api/health until `want` distinct workers answered 200 on one and the same build."""
    deadline = time.monotonic() + timeout
    builds: dict[int, str] = {}
    while time.monotonic() < deadline:
        r = fresh(url, "GET", "/api/health")
        if r.status_code == 200:
            builds[r.json()["worker"]] = r.json()["build_id"]
            latest = max(builds.values())
            on_latest = {w for w, b in builds.items() if b == latest}
            if len(on_latest) >= want:
                return on_latest, latest
        time.sleep(0.05)
    raise AssertionError(f"not {want} workers on one build within {timeout}s: {builds}")


def wait_jobs(url: str, job_ids: list[str], timeout: float = 600) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [fresh(url, "GET", f"/api/jobs/{j}").json() for j in job_ids]
        if all(j["status"] in ("done", "failed") for j in jobs):
            return jobs
        time.sleep(0.3)
    raise AssertionError(f"jobs did not finish: {jobs}")


def assert_everywhere(url: str, sources: list[str], build: str) -> None:
    """Listed by every worker, and each upload found by its own word, on the same build, many times over."""
    for _ in range(3 * WORKERS):
        listed = {d["source"] for d in fresh(url, "GET", "/api/documents").json()["documents"]}
        assert set(sources) <= listed
    for i, source in enumerate(sources):
        for _ in range(2):
            r = fresh(url, "POST", "/api/query", json={"query": f"{TOPICS[i]}项目补助比例", "top_k": 3})
            assert r.status_code == 200 and r.headers["X-Index-Build"] == build
            assert r.json()["passages"][0]["source"] == source


def runner_pid(server: dict) -> int:
    """The worker holding the job runner lease: the only process keeping runner.lock open."""
    lock = str(server["settings"].library_dir / "jobs" / "runner.lock")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in psutil.Process(server["proc"].pid).children():
            try:
                if any(f.path == lock for f in child.open_files()):
                    return child.pid
            except psutil.Error:
                continue
        time.sleep(0.1)
    raise AssertionError("no worker holds the job runner lease")


@pytest.fixture(scope="module")
def server(tmp_path_factory, encoder):
    s = start_library_server(tmp_path_factory.mktemp("workers"), encoder, TOKEN, workers=WORKERS,
                             env_extra={"POLICYQA_TORCH_THREADS": "1", "POLICYQA_READER": "features",
                                        "POLICYQA_QUERY_ENCODER": "onnx"})  # lighter workers: one ONNX model each
    yield s
    stop_server(s["proc"])


def test_ten_uploads_at_once_on_four_workers_then_a_restart(server):
    url = server["url"]
    workers_on_build(url, WORKERS)
    results: list[httpx.Response] = [None] * 10  # type: ignore[list-item]
    barrier = threading.Barrier(10)

    def send(i: int) -> None:
        barrier.wait()
        results[i] = fresh(url, "POST", "/api/documents", headers=AUTH,
                           files=[("files", (f"policy{i}.txt", doc(i), "text/plain"))])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [202] * 10, [r.text for r in results]
    job_ids = [r.json()["job_id"] for r in results]
    jobs = wait_jobs(url, job_ids)  # any worker answers for any job
    assert [j["status"] for j in jobs] == ["done"] * 10, [j["reason"] for j in jobs]
    done_at = time.monotonic()
    sources = [f"policy{i}.txt" for i in range(10)]
    seen, build = workers_on_build(url, WORKERS, timeout=30)
    assert time.monotonic() - done_at < 10  # every worker switched within seconds
    assert_everywhere(url, sources, build)
    library = server["settings"].library_dir / "library.json"
    assert all(s in library.read_text(encoding="utf-8") for s in sources)

    stop_server(server["proc"])
    server["restart"]()
    _, build_after = workers_on_build(url := server["url"], WORKERS)
    assert build_after == build  # nothing was rebuilt or lost: the same build, all ten in it
    assert_everywhere(url, sources, build)


def test_runner_worker_killed_mid_job_another_takes_over(server):
    url = server["url"]
    workers_on_build(url, WORKERS)
    leader = runner_pid(server)
    extra = [f"{t}补充" for t in TOPICS[:3]]
    r = fresh(url, "POST", "/api/documents", headers=AUTH,
              files=[("files", (f"extra{i}.txt", doc(i) + extra[i].encode() * 50, "text/plain")) for i in range(3)])
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 60
    while fresh(url, "GET", f"/api/jobs/{job_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(leader, signal.SIGKILL)  # the lease goes with the process; the job was cut short
    job = wait_jobs(url, [job_id])[0]
    assert job["status"] == "done" and job["attempts"] == 2, job  # resumed by the next lease holder
    assert runner_pid(server) != leader
    _, build = workers_on_build(url, WORKERS - 1)  # uvicorn replaces the killed worker in its own time
    listed = {d["source"] for d in fresh(url, "GET", "/api/documents").json()["documents"]}
    assert {f"extra{i}.txt" for i in range(3)} | {f"policy{i}.txt" for i in range(10)} <= listed
