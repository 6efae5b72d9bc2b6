"""Load test of the real service: uvicorn on a free loopback port, N concurrent clients.

    python -m eval.loadtest                      # 1-worker and 2-worker runs, 8 clients, 30 s / 2000 requests each
    python -m eval.loadtest --workers 1 --clients 4 --duration 10

Each run starts `uvicorn service.app:app` on 127.0.0.1 (never anything else), waits until
every worker has loaded the index, then runs `--clients` threads of httpx clients sending
a mix of realistic queries (Chinese, English, paraphrases, keyword-style, the three modes)
until `--duration` seconds pass or `--requests` requests are done. It reports throughput,
p50/p95/p99 latency, errors, spot-checks the golden query's answer during the run (its top
passages must still contain 千兆光纤), pings /api/health throughout (the event loop must stay
responsive while queries run in the threadpool) and samples the RSS/PSS of the server and
its worker processes at start, middle and end. Results: a table on stdout and
eval/reports/loadtest.md.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORT = REPO_ROOT / "eval" / "reports" / "loadtest.md"
GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
GOLDEN_MUST_CONTAIN = "千兆光纤"
GIB = 1024 ** 3

# (query, mode): what people ask, in the ways they ask it.
QUERIES: list[tuple[str, str]] = [
    (GOLDEN, "hybrid"),
    ("示范区新一代信息基础设施建设包括哪些内容", "hybrid"),  # paraphrase
    ("5G和千兆光纤网络", "bm25"),  # keywords
    ("拿到示范区人才绿卡的人,买自己住的房子能不能按本地户口对待?", "hybrid"),
    ("青浦区金泽镇和汾湖高新区在人才方面签署了什么协议", "hybrid"),
    ("吴江区支持先行启动区建设的12条举措有哪些", "hybrid"),
    ("秀洲区人才发展十四五规划的主要目标是什么", "dense"),
    ("总规划师是怎么招聘的", "hybrid"),
    ("人才公寓和住房补贴政策", "bm25"),
    ("长三角一体化示范区如何推动人才同城化", "hybrid"),
    ("What new information infrastructure should the demonstration zone build?", "hybrid"),
    ("How are high-level talents supported with housing?", "dense"),
    ("talent policy research in Zhejiang", "hybrid"),
    ("示范区 跨域 人才流动 政策", "hybrid"),
    ("对引进的高层次人才给予哪些奖励和补贴？", "hybrid"),
    ("数字经济和智慧城市建设", "dense"),
]


@dataclass
class RunResult:
    workers: int
    clients: int
    duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    spot_checks: int = 0
    spot_failures: list[str] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    memory: dict[str, list[dict]] = field(default_factory=dict)  # phase -> one row per process
    torch_threads: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + len(self.errors)

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        k = min(len(data) - 1, max(0, round(p / 100 * len(data) + 0.5) - 1))  # nearest rank
        return data[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_processes(proc: psutil.Process) -> list[psutil.Process]:
    """The uvicorn process and its worker children (spawned multiprocessing processes)."""
    try:
        return [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def sample_memory(pid: int) -> list[dict]:
    rows = []
    for p in server_processes(psutil.Process(pid)):
        try:
            info = p.memory_full_info()
            rows.append({"pid": p.pid, "rss": info.rss, "pss": getattr(info, "pss", info.rss), "uss": info.uss,
                         "cmd": " ".join(p.cmdline()[-3:])[:60]})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return rows


def worker_rows(rows: list[dict], workers: int) -> list[dict]:
    """With 1 worker uvicorn serves in-process; with more, the big children are the workers."""
    if workers == 1:
        return rows[:1]
    return sorted(rows[1:], key=lambda r: -r["rss"])[:workers]


def start(workers: int, port: int, log_path: Path, env_extra: dict) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WEB_CONCURRENCY": str(workers), **env_extra}
    log = log_path.open("wb")  # a file, not a pipe: a full pipe would stall the server
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--timeout-worker-healthcheck", "120"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
    )


def wait_ready(proc: subprocess.Popen, url: str, workers: int, timeout: float = 300) -> None:
    """Until every worker has loaded the index (each logs 'index loaded'), then warm each up."""
    deadline = time.monotonic() + timeout
    ok_in_a_row = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            ok_in_a_row = ok_in_a_row + 1 if httpx.get(f"{url}/api/health", timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            ok_in_a_row = 0
        # Consecutive connections land on different workers; 4 * workers OKs in a row means all are up.
        if ok_in_a_row >= 4 * workers:
            break
        time.sleep(0.25)
    else:
        raise RuntimeError("server did not become ready")
    with httpx.Client(base_url=url, timeout=120) as c:
        for q, mode in QUERIES[: 2 * workers]:
            c.post("/api/query", json={"query": q, "mode": mode}, headers={"Connection": "close"})


def run(workers: int, clients: int, duration: float, max_requests: int, env_extra: dict) -> RunResult:
    result = RunResult(workers, clients, torch_threads=env_extra.get("POLICYQA_TORCH_THREADS", "auto"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.mkstemp(prefix=f"loadtest-{workers}w-", suffix=".log")[1])
    proc = start(workers, port, log_path, env_extra)
    print(f"[loadtest] {workers} worker(s) on {url}, log {log_path}", file=sys.stderr, flush=True)
    try:
        wait_ready(proc, url, workers)
        result.memory["start"] = sample_memory(proc.pid)
        lock = threading.Lock()
        issued = 0
        stop = threading.Event()
        t0 = time.perf_counter()

        def take() -> int | None:
            nonlocal issued
            with lock:
                if stop.is_set() or issued >= max_requests or time.perf_counter() - t0 > duration:
                    return None
                issued += 1
                return issued

        def client(cid: int) -> None:
            with httpx.Client(base_url=url, timeout=120) as c:
                while (n := take()) is not None:
                    spot = n % 10 == 0
                    q, mode = (GOLDEN, "hybrid") if spot else QUERIES[(n * 7 + cid) % len(QUERIES)]
                    t = time.perf_counter()
                    try:
                        r = c.post("/api/query", json={"query": q, "mode": mode, "top_k": 5})
                        ms = (time.perf_counter() - t) * 1000
                        if r.status_code != 200:
                            with lock:
                                result.errors.append(f"HTTP {r.status_code}: {r.text[:100]}")
                            continue
                        body = r.json()
                    except (httpx.HTTPError, ValueError) as err:
                        with lock:
                            result.errors.append(repr(err)[:150])
                        continue
                    with lock:
                        result.latencies_ms.append(ms)
                        if spot:
                            result.spot_checks += 1
                            top = body["passages"][:3]
                            if not any(GOLDEN_MUST_CONTAIN in p["text"] for p in top):
                                result.spot_failures.append(", ".join(p["source"] for p in top))

        def health_pinger() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    t = time.perf_counter()
                    try:
                        c.get("/api/health")
                        result.health_ms.append((time.perf_counter() - t) * 1000)
                    except httpx.HTTPError as err:
                        result.errors.append(f"health: {err!r}"[:150])
                    stop.wait(0.25)

        def memory_midpoint() -> None:
            if not stop.wait(duration / 2):
                result.memory["middle"] = sample_memory(proc.pid)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        side = [threading.Thread(target=health_pinger), threading.Thread(target=memory_midpoint)]
        for t in threads + side:
            t.start()
        for t in threads:
            t.join()
        result.duration_s = time.perf_counter() - t0
        if "middle" not in result.memory:  # the request cap came first
            result.memory["middle"] = sample_memory(proc.pid)
        stop.set()
        for t in side:
            t.join()
        result.memory["end"] = sample_memory(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return result


# ---------------------------------------------------------------- report


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def summary_rows(results: list[RunResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rps = len(r.latencies_ms) / r.duration_s if r.duration_s else 0
        per_worker = [w["rss"] for w in worker_rows(r.memory.get("end", []), r.workers)]
        total = {ph: sum(x["rss"] for x in r.memory.get(ph, [])) for ph in ("start", "middle", "end")}
        health = sorted(r.health_ms) or [float("nan")]
        rows.append([
            str(r.workers), r.torch_threads, str(r.clients), str(r.requests), f"{r.duration_s:.1f}", f"{rps:.2f}",
            f"{r.pct(50):.0f}", f"{r.pct(95):.0f}", f"{r.pct(99):.0f}", str(len(r.errors)),
            f"{r.spot_checks - len(r.spot_failures)}/{r.spot_checks}",
            f"{statistics.median(health):.1f} / {max(health):.0f}",
            " / ".join(mib(total[ph]) for ph in ("start", "middle", "end")),
            ", ".join(mib(x) for x in per_worker),
        ])
    return rows


HEADER = ["workers", "torch thr", "clients", "requests", "secs", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
          "golden ok", "health p50/max ms", "server RSS start/mid/end MiB", "RSS per worker MiB"]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(HEADER), line(["-" * w for w in widths])] + [line(r) for r in rows])


def capacity(results: list[RunResult]) -> tuple[str, list[str]]:
    """How many workers fit in memory, from the measured per-worker footprint."""
    total = psutil.virtual_memory().total
    notes = []
    per_rss, per_pss, base = [], [], 0
    for r in results:
        end = r.memory.get("end", [])
        ws = worker_rows(end, r.workers)
        per_rss += [w["rss"] for w in ws]
        per_pss += [w["pss"] for w in ws]
        if r.workers > 1:
            base = max(base, sum(x["rss"] for x in end) - sum(w["rss"] for w in ws))
    if not per_rss:
        return "no memory samples", notes
    rss, pss = max(per_rss), max(per_pss)
    headroom = 2 * GIB  # the OS, page cache for the mmapped index, a build running next to the service
    fit_rss = int((total - headroom - base) // rss)
    fit_pss = int((total - headroom - base) // pss)
    notes.append(f"Machine memory: {total / GIB:.1f} GiB; {os.cpu_count()} CPUs.")
    notes.append(f"Per worker: RSS up to {mib(rss)} MiB, PSS up to {mib(pss)} MiB (PSS splits shared pages: "
                 f"the mmapped FAISS index and vectors, shared libraries); supervisor process {mib(base)} MiB.")
    notes.append(f"Workers that fit in memory with {headroom / GIB:.0f} GiB headroom: {fit_rss} counting full RSS "
                 f"(conservative), {fit_pss} counting PSS. CPU, not memory, is the limit: query encoding is "
                 f"CPU-bound, so more workers than cores adds latency, not throughput.")
    return f"~{fit_rss} workers by RSS", notes


def memory_detail(results: list[RunResult]) -> list[str]:
    out = []
    for r in results:
        out.append(f"\n{r.workers} worker(s):\n")
        out.append("| phase | pid | RSS MiB | PSS MiB | USS MiB | process |")
        out.append("|---|---|---|---|---|---|")
        for phase in ("start", "middle", "end"):
            for row in r.memory.get(phase, []):
                out.append(f"| {phase} | {row['pid']} | {mib(row['rss'])} | {mib(row['pss'])} | {mib(row['uss'])} | "
                           f"`{row['cmd']}` |")
    return out


def write_report(results: list[RunResult], args) -> str:
    rows = summary_rows(results)
    verdict, notes = capacity(results)
    lines = [
        "# Load test",
        "",
        f"Run {datetime.now(timezone.utc).isoformat(timespec='seconds')} with `python -m eval.loadtest "
        f"--workers {args.workers} --clients {args.clients} --duration {args.duration:g} --requests {args.requests}`: "
        f"real uvicorn on 127.0.0.1, real index and model, {len(QUERIES)} mixed queries (Chinese, English, "
        f"paraphrases, keyword-style; hybrid, bm25 and dense). Every 10th request is the golden query, whose top 3 "
        f"passages must contain {GOLDEN_MUST_CONTAIN}. /api/health is pinged every 0.25 s during the run.",
        "",
        "```",
        table(rows),
        "```",
        "",
        "Latency is client-side wall time per request (includes queueing behind the other clients). "
        "`torch thr` is the intra-op thread count per worker (POLICYQA_TORCH_THREADS, or CPUs / WEB_CONCURRENCY).",
        "",
        "## Memory",
        "",
        *[f"- {n}" for n in notes],
        *memory_detail(results),
        "",
        "## Errors",
        "",
    ]
    errs = [f"- {r.workers} worker(s): {e}" for r in results for e in r.errors[:10]]
    errs += [f"- {r.workers} worker(s): golden query top 3 without {GOLDEN_MUST_CONTAIN}: {f}"
             for r in results for f in r.spot_failures[:10]]
    lines += errs or ["None."]
    text = "\n".join(lines) + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text, encoding="utf-8")
    print(table(rows))
    print(f"\n{verdict}")
    for n in notes:
        print(n)
    print(f"\nreport: {REPORT}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, one run each (default 1,2)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run (default 30)")
    parser.add_argument("--requests", type=int, default=2000, help="request cap per run (default 2000)")
    parser.add_argument("--torch-threads", default="", help="POLICYQA_TORCH_THREADS for the server (default: auto)")
    args = parser.parse_args(argv)
    env_extra = {"POLICYQA_TORCH_THREADS": args.torch_threads} if args.torch_threads else {}
    results = []
    for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
        results.append(run(workers, args.clients, args.duration, args.requests, env_extra))
    write_report(results, args)
    failed = any(r.errors or r.spot_failures for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
