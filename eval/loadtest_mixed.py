"""Mixed load with faults (issue 18): queries, streaming chats and uploads on 2 workers, while a worker
and a parse child are killed. Nothing accepted may be lost, and the service must recover by itself.

    python -m eval.loadtest_mixed                  # 2 workers, 60 s, 4 query clients, 8 streaming chats
    python -m eval.loadtest_mixed --duration 30

The server is a real uvicorn on 127.0.0.1 over a copy of the real index in a temporary data folder
(the repository's .var is never written). The LLM is the stub TEST DOUBLE (tests/stub_llm.py), speaking
the OpenAI protocol over HTTP. During the run: a text upload every few seconds; at one third of the run
the worker holding the job runner lease is killed (SIGKILL); then a PDF of forty pages to OCR is
uploaded and its parse child killed mid-file. Afterwards: every upload that was accepted is
done and found by its own word on every worker, except the one whose parser was killed, which must fail
with the reason. Requests cut by the worker kill (connection reset) are counted apart from errors.
Report: stdout and eval/reports/loadtest_mixed.md.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from eval.chat_bench import QUESTIONS as CHAT_QUESTIONS, pct, stream_turn
from eval.loadtest import QUERIES, REPO_ROOT, free_port, start

REPORT = REPO_ROOT / "eval" / "reports" / "loadtest_mixed.md"
TOKEN = "loadtest-mixed-token"
WORDS = ["珊瑚礁修复", "冰川监测站", "蜂蜜溯源码", "竹林碳汇", "盐碱地改良", "古树名木挂牌", "萤火虫栖息地", "候鸟迁徙通道",
         "沙漠光伏治沙", "湿地观鸟屋", "海草床保护", "雪豹巡护队", "红树林补植", "江豚救护站", "梯田灌溉渠", "草原鼠害防治"]


def policy(i: int) -> bytes:
    w = WORDS[i % len(WORDS)] + ("" if i < len(WORDS) else f"{i}号")
    return (f"{w}专项扶持办法\n第一条 为推进{w}工作，制定本办法。\n第二条 对开展{w}的单位，按投资额的百分之{i + 11}"
            f"给予补助。\n第三条 {w}项目由市生态环境局组织验收。\n").encode("utf-8")


def slow_pdf(pages: int = 40) -> bytes:
    """Forty pages without a text layer: each is rendered and OCRed, so the parse child works for seconds
    (about 16 s on this machine), long enough to be killed mid-file."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(595, 842)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {"query": [], "chat": [], "upload": []}
        self.errors: list[str] = []
        self.cut: list[str] = []  # connections dropped by the killed worker

    def ok(self, kind: str, ms: float) -> None:
        with self.lock:
            self.ms[kind].append(ms)

    def bad(self, what: str, cut: bool = False) -> None:
        with self.lock:
            (self.cut if cut else self.errors).append(what[:200])


def runner_pid(server: psutil.Process, lock: Path) -> int | None:
    for child in server.children():
        try:
            if any(f.path == str(lock) for f in child.open_files()):
                return child.pid
        except psutil.Error:
            continue
    return None


def killed_plainly(reason: str | None) -> bool:
    """The job whose parse child was killed failed, saying the parser stopped (index/ingest/parse/sandbox.py)."""
    return bool(reason) and "parser stopped" in reason


def parse_children(server: psutil.Process) -> list[psutil.Process]:
    out = []
    for p in server.children(recursive=True):
        try:
            if "index.ingest.parse.sandbox" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


def wait_workers(url: str, workers: int, timeout: float = 600) -> str:
    """Until `workers` distinct workers answer 200 on one build; returns that build."""
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/api/health", timeout=5)
            if r.status_code == 200:
                seen[r.json()["worker"]] = r.json()["build_id"]
                latest = max(seen.values())
                if sum(b == latest for b in seen.values()) >= workers:
                    return latest
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not {workers} workers on one build: {seen}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.loadtest_mixed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--query-clients", type=int, default=4)
    parser.add_argument("--chats", type=int, default=8)
    parser.add_argument("--upload-every", type=float, default=15.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    from tests.stub_llm import StubLLM  # TEST DOUBLE: no real LLM runs here

    tmp = Path(tempfile.mkdtemp(prefix="loadtest-mixed-"))
    shutil.copytree(REPO_ROOT / ".var" / "index", tmp / "var" / "index", symlinks=True)
    stub = StubLLM(token_delay=0.02).start()
    port, workers = free_port(), 2
    url = f"http://127.0.0.1:{port}"
    env = {"POLICYQA_VAR_DIR": str(tmp / "var"), "POLICYQA_INDEX_DIR": str(tmp / "var" / "index"),
           "POLICYQA_ADMIN_TOKEN": TOKEN, "POLICYQA_LLM_BASE_URL": stub.base_url, "POLICYQA_LLM_MODEL": "stub-model",
           "POLICYQA_LLM_CONCURRENCY": str(args.chats), "POLICYQA_LOG_LEVEL": "WARNING"}
    proc = start(workers, port, tmp / "server.log", env)
    server = psutil.Process(proc.pid)
    tally, uploads, events = Tally(), [], []
    try:
        wait_workers(url, workers)
        t_start = time.monotonic()
        stop_at = t_start + args.duration

        def timed(kind: str, call) -> None:
            t0 = time.perf_counter()
            try:
                r = call()
            except httpx.TransportError as err:  # the worker holding this connection was killed
                tally.bad(f"{kind}: {type(err).__name__}", cut=True)
                return
            if r.status_code >= 400:
                tally.bad(f"{kind}: {r.status_code} {r.text[:120]}")
            else:
                tally.ok(kind, (time.perf_counter() - t0) * 1000)

        def querier(k: int) -> None:
            i = k
            while time.monotonic() < stop_at:
                q, mode = QUERIES[i % len(QUERIES)]
                with httpx.Client(base_url=url, timeout=120) as c:
                    timed("query", lambda: c.post("/api/query", json={"query": q, "mode": mode}))
                i += 1

        def chatter(k: int) -> None:
            i = k
            while time.monotonic() < stop_at:
                with httpx.Client(base_url=url, timeout=120) as c:
                    t0 = time.perf_counter()
                    try:
                        out = stream_turn(c, CHAT_QUESTIONS[i % len(CHAT_QUESTIONS)])
                    except httpx.TransportError as err:
                        tally.bad(f"chat: {type(err).__name__}", cut=True)
                    else:
                        if out["status"] != 200 or out["error"] or out["answer"] is None:
                            tally.bad(f"chat: {out['status']} {out['error']}")
                        else:
                            tally.ok("chat", (time.perf_counter() - t0) * 1000)
                i += 1

        def uploader() -> None:
            i = 0
            while time.monotonic() < stop_at:
                with httpx.Client(base_url=url, timeout=120) as c:
                    t0 = time.perf_counter()
                    try:
                        r = c.post("/api/documents", headers={"X-Admin-Token": TOKEN},
                                   files=[("files", (f"upload{i}.txt", policy(i), "text/plain"))])
                    except httpx.TransportError as err:
                        tally.bad(f"upload: {type(err).__name__}", cut=True)  # not accepted: not ours to keep
                    else:
                        if r.status_code == 202:
                            uploads.append((i, r.json()["job_id"]))
                            tally.ok("upload", (time.perf_counter() - t0) * 1000)
                        else:
                            tally.bad(f"upload: {r.status_code} {r.text[:120]}")
                i += 1
                time.sleep(args.upload_every)

        def faults() -> None:
            time.sleep(args.duration / 3)
            lease = tmp / "var" / "library" / "jobs" / "runner.lock"
            victim = runner_pid(server, lease)
            if victim:
                os.kill(victim, signal.SIGKILL)
                events.append(f"t={time.monotonic() - t_start:.0f}s killed worker {victim} (the job runner)")
            with httpx.Client(base_url=url, timeout=120) as c:
                for _ in range(5):
                    try:
                        r = c.post("/api/documents", headers={"X-Admin-Token": TOKEN},
                                   files=[("files", ("slow.pdf", slow_pdf(), "application/pdf"))])
                        break
                    except httpx.TransportError:
                        time.sleep(1)
            slow_job = r.json()["job_id"]
            events.append(f"t={time.monotonic() - t_start:.0f}s uploaded slow.pdf (job {slow_job})")
            deadline = time.monotonic() + 300
            while not parse_children(server) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
            for child in parse_children(server):
                child.kill()
                events.append(f"t={time.monotonic() - t_start:.0f}s killed parse child {child.pid} mid-file")
            uploads.append((-1, slow_job))

        threads = ([threading.Thread(target=querier, args=(k,)) for k in range(args.query_clients)]
                   + [threading.Thread(target=chatter, args=(k,)) for k in range(args.chats)]
                   + [threading.Thread(target=uploader), threading.Thread(target=faults)])
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t_start

        # Afterwards: every accepted upload done (the slow one failed with the reason) and found everywhere.
        lost, slow_reason = [], None
        with httpx.Client(base_url=url, timeout=120) as c:
            deadline = time.monotonic() + 900
            for i, job_id in uploads:
                while True:
                    try:
                        job = c.get(f"/api/jobs/{job_id}").json()
                    except httpx.TransportError:
                        time.sleep(1)
                        continue
                    if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                if i < 0:
                    slow_reason = job.get("reason")
                elif job["status"] != "done":
                    lost.append(f"upload{i}.txt: {job['status']} {job.get('reason')}")
        build = wait_workers(url, workers, timeout=300)  # the killed worker was replaced and follows the build
        for i, _ in [u for u in uploads if u[0] >= 0]:
            for _ in range(2 * workers):
                r = httpx.post(f"{url}/api/query", json={"query": f"{WORDS[i % len(WORDS)]}补助比例", "top_k": 3},
                               timeout=120)
                if r.status_code != 200 or r.json()["passages"][0]["source"] != f"upload{i}.txt":
                    lost.append(f"upload{i}.txt not found by a worker")
                    break
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
        stub.stop()
    total = sum(len(v) for v in tally.ms.values())
    rows = [f"| {k} | {len(v)} | {pct(v, 50):.0f} | {pct(v, 99):.0f} |" for k, v in tally.ms.items()]
    report = "\n".join([
        "# Mixed load with faults", "",
        f"`python -m eval.loadtest_mixed --duration {args.duration:g}` (part of `make loadtest`): 2 uvicorn workers, "
        f"{args.query_clients} query clients, {args.chats} streaming chats against the stub LLM (TEST DOUBLE, "
        f"tests/stub_llm.py), a text upload every {args.upload_every:g} s; a shared 2-core machine.", "",
        f"- {total} requests in {elapsed:.0f} s: **{total / elapsed:.1f} req/s**; errors: **{len(tally.errors)}**; "
        f"requests cut by the worker kill (connection reset): {len(tally.cut)}",
        "", "| kind | ok | p50 ms | p99 ms |", "|---|---|---|---|", *rows, "",
        "Faults:", *[f"- {e}" for e in events], "",
        f"- uploads accepted: {len([u for u in uploads if u[0] >= 0])}; lost or not found on every worker: "
        f"**{len(lost)}** {'; '.join(lost[:5])}",
        f"- slow.pdf (parse child killed): {slow_reason}",
        f"- every worker on build {build} at the end", "",
        *([f"Errors: {'; '.join(tally.errors[:5])}"] if tally.errors else []),
    ]) + "\n"
    REPORT.write_text(report, encoding="utf-8")
    print(report)
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if tally.errors or lost or not killed_plainly(slow_reason) else 0


if __name__ == "__main__":
    sys.exit(main())
