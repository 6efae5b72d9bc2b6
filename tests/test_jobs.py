"""The job records and the runner lease (service/jobs.py) on a real folder with real file locks: two
runners share one folder as two workers would; only one runs jobs, in submission order, uploads
waiting together in one batch; a job cut short is run again once, then failed with the reason."""
from __future__ import annotations

import json
import time

from service.jobs import INTERRUPTED, JobRunner


def wait(check, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_one_runner_batches_uploads_and_every_runner_reads_every_job(tmp_path):
    calls: list[tuple[str, list[str]]] = []

    def runner(name):
        def run(jobs, reports):
            calls.append((name, [j["kind"] for j in jobs]))
            time.sleep(0.3)
            return [{"changed": True, "documents": [f["source"] for f in j["files"]]} for j in jobs]
        return JobRunner(tmp_path / "jobs", run)

    a, b = runner("a"), runner("b")
    files = lambda i: [{"source": f"doc{i}.txt", "sha256": f"{i:064x}", "size": 1}]  # noqa: E731
    ids = [a.submit("upload", files=files(0)), b.submit("upload", files=files(1)), a.submit("upload", files=files(2)),
           b.submit("delete", source="doc0.txt"), a.submit("upload", files=files(3))]
    a.start()
    b.start()
    wait(lambda: all(b.get(i)["status"] == "done" for i in ids))
    assert len({name for name, _ in calls}) == 1  # exactly one runner ran jobs
    assert [kinds for _, kinds in calls] == [["upload"] * 3, ["delete"], ["upload"]]
    assert a.get(ids[4])["result"]["documents"] == ["doc3.txt"] and a.get("../../etc") is None
    a.stop()
    b.stop()


def test_a_job_cut_short_runs_again_once_then_fails_plainly(tmp_path):
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir()
    for job_id, attempts in (("a" * 16, 1), ("b" * 16, 2)):  # left running by a worker that died
        (jobs_dir / f"{job_id}.json").write_text(json.dumps(
            {"id": job_id, "kind": "upload", "status": "running", "stage": "encoding", "message": "", "progress": None,
             "files": [], "source": None, "created": "2026-01-01T00:00:00+00:00", "finished": None, "reason": None,
             "result": None, "attempts": attempts, "order": attempts}))
    ran = []
    r = JobRunner(jobs_dir, lambda jobs, reports: [ran.append(j["id"]) or {"changed": False} for j in jobs])
    r.start()
    wait(lambda: r.get("a" * 16)["status"] == "done" and r.get("b" * 16)["status"] == "failed")
    assert ran == ["a" * 16] and r.get("a" * 16)["attempts"] == 2
    assert r.get("b" * 16)["reason"] == INTERRUPTED
    r.stop()


def test_every_stage_is_seen_at_once_while_progress_within_a_stage_is_throttled(tmp_path):
    seen: list[tuple[str, int | None]] = []

    def run(jobs, reports):
        for stage in ("parsing", "encoding", "writing"):
            for done in range(3):  # well inside the progress throttle
                reports[0].progress(stage, done, 3)
                job = reader.get(jobs[0]["id"])
                seen.append((job["stage"], (job["progress"] or {}).get("done")))
        return [{"changed": True}]

    r = JobRunner(tmp_path / "jobs", run)
    reader = JobRunner(tmp_path / "jobs", run)  # another worker reading the records
    job_id = r.submit("upload", files=[])
    r.start()
    wait(lambda: r.get(job_id)["status"] == "done")
    assert [stage for stage, _ in seen] == ["parsing"] * 3 + ["encoding"] * 3 + ["writing"] * 3
    assert [done for _, done in seen] == [0, 0, 0] * 3  # a new stage is written; its next steps wait
    r.stop()
