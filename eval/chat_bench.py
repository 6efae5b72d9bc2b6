"""Chat-path benchmark against the stub LLM (tests/stub_llm.py, a TEST DOUBLE; no real LLM runs here).

    python -m eval.chat_bench [--seconds 60] [--clients 8]   (also a section of `make bench`)

Measures, over loopback on the real index:
- time to the `passages` event of a streamed POST /api/chat (p50, p95);
- the chat path's own overhead: total minus retrieval minus the LLM's time, as the server reports it;
- a load check: N concurrent streaming chat clients for S seconds against the stub (errors counted:
  non-200, a missing `answer`, an `error` event or an `llm_error`), while POST /api/query is timed
  alongside; its p50 is compared with its unloaded p50 on the same server.
Writes eval/reports/chat_bench.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import httpx

from index.config import REPO_ROOT

OUT = REPO_ROOT / "eval" / "reports" / "chat_bench.md"
QUESTIONS = ["示范区要加快建设哪些新一代信息基础设施？", "在示范区买房能享受户籍待遇吗？", "嘉善县的人才政策有哪些？",
             "秀洲区到2025年人才资源总量的目标是多少？", "汾湖高新区面向全国招聘总规划师有多少名应聘者？",
             "长三角生态绿色一体化发展示范区执委会主任是谁？", "示范区先行启动区财政专项资金3年累计不少于多少？",
             "What is the maximum turnover period for construction land quotas?"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] if xs else float("nan")


def stream_turn(client: httpx.Client, question: str) -> dict:
    """One streamed chat turn: ms to the passages event, the answer, the server's timings."""
    t0 = time.perf_counter()
    out: dict = {"status": None, "passages_ms": None, "answer": None, "timings": None, "error": None}
    with client.stream("POST", "/api/chat", json={"messages": [{"role": "user", "content": question}], "stream": True}) as r:
        out["status"] = r.status_code
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                if name == "passages" and out["passages_ms"] is None:
                    out["passages_ms"] = (time.perf_counter() - t0) * 1000
                elif name == "answer":
                    out["answer"] = json.loads(line[6:])
                elif name == "done":
                    out["timings"] = json.loads(line[6:])["timings_ms"]
                elif name == "error":
                    out["error"] = line[6:]
    return out


def query_p50(client: httpx.Client, n: int) -> list[float]:
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post("/api/query", json={"query": QUESTIONS[i % len(QUESTIONS)], "top_k": 5})
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[:200]
    return lat


def run(seconds: float = 60, clients: int = 8, n_latency: int = 40, token_delay: float = 0.05) -> dict:
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from tests.conftest import start_server, stop_server
    from tests.stub_llm import StubLLM

    stub = StubLLM(token_delay=token_delay).start()
    proc, url = start_server({"POLICYQA_LLM_BASE_URL": stub.base_url, "POLICYQA_LLM_MODEL": "stub-model",
                              "POLICYQA_LOG_LEVEL": "WARNING", "POLICYQA_LLM_CONCURRENCY": str(clients),
                              "POLICYQA_LLM_TIMEOUT": "20"}, timeout=300)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            for q in QUESTIONS:  # warm-up: first calls load the SDK and jieba's caches
                stream_turn(c, q)
                c.post("/api/query", json={"query": q})
            turns = [stream_turn(c, QUESTIONS[i % len(QUESTIONS)]) for i in range(n_latency)]
            unloaded = query_p50(c, n_latency)
        res = {"passages_ms": [t["passages_ms"] for t in turns],
               "overhead_ms": [t["timings"]["overhead"] for t in turns],
               "retrieval_ms": [t["timings"]["retrieval"] for t in turns],
               "reader_ms": [t["timings"]["reader"] for t in turns],
               "llm_ms": [t["timings"]["llm"] for t in turns],
               "unloaded_query_ms": unloaded}
        stop_at = time.perf_counter() + seconds
        done, errors, problems = [0] * clients, [0] * clients, []

        def chatter(k: int) -> None:
            with httpx.Client(base_url=url, timeout=120) as cc:
                i = k
                while time.perf_counter() < stop_at:
                    try:
                        t = stream_turn(cc, QUESTIONS[i % len(QUESTIONS)])
                        bad = t["status"] != 200 or t["answer"] is None or t["error"] or t["answer"].get("llm_error")
                    except httpx.HTTPError as err:
                        t, bad = {"error": repr(err)}, True
                    if bad:
                        errors[k] += 1
                        problems.append(str(t)[:300])
                    else:
                        done[k] += 1
                    i += clients

        loaded: list[float] = []

        def querier() -> None:
            with httpx.Client(base_url=url, timeout=120) as cq:
                time.sleep(2)  # let the chat clients get going
                i = 0
                while time.perf_counter() < stop_at - 1:
                    t0 = time.perf_counter()
                    r = cq.post("/api/query", json={"query": QUESTIONS[i % len(QUESTIONS)], "top_k": 5})
                    loaded.append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        problems.append(f"/api/query {r.status_code}")
                    i += 1
                    time.sleep(0.2)

        threads = [threading.Thread(target=chatter, args=(k,)) for k in range(clients)] + [threading.Thread(target=querier)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res.update(turns_done=sum(done), errors=sum(errors), problems=problems[:5], loaded_query_ms=loaded,
                   seconds=seconds, clients=clients, token_delay=token_delay, stub_requests=len(stub.requests))
        # Isolate "an LLM wait must not starve retrieval": the same clients each wait on a silent LLM
        # (no tokens to relay, so almost no CPU) while /api/query is timed again.
        stub.mode = "stall"
        waiting = [threading.Thread(target=lambda k=k: stream_turn(httpx.Client(base_url=url, timeout=120), QUESTIONS[k % 8]))
                   for k in range(clients)]
        for t in waiting:
            t.start()
        while sum(1 for _ in stub.requests) < res["stub_requests"] + clients:
            time.sleep(0.1)  # every client is now waiting on the LLM
        with httpx.Client(base_url=url, timeout=120) as cq:
            res["stalled_query_ms"] = [query_p50(cq, 1)[0] for _ in range(min(n_latency, 20))]
        stub.mode = "normal"
        for t in waiting:
            t.join()  # each ends at the LLM timeout with the extractive answer
        return res
    finally:
        stop_server(proc)
        stub.stop()


def rows(res: dict) -> list[list]:
    med = statistics.median
    ratio = med(res["loaded_query_ms"]) / med(res["unloaded_query_ms"])
    return [
        ["time to `passages` event, p50 / p95 (target p50 <= 30 ms)", f"{med(res['passages_ms']):.1f} / {pct(res['passages_ms'], 95):.1f} ms"],
        ["retrieval (ranking, before the event; reading, after it), p50",
         f"{med(res['retrieval_ms']) - med(res['reader_ms']):.1f} + {med(res['reader_ms']):.1f} ms"],
        ["chat-path overhead beyond retrieval and the LLM, p50 / p95 (target p50 <= 5 ms)",
         f"{med(res['overhead_ms']):.2f} / {pct(res['overhead_ms'], 95):.2f} ms"],
        ["stub LLM time per answer, p50", f"{med(res['llm_ms']):.0f} ms"],
        [f"load: {res['clients']} streaming chat clients for {res['seconds']:.0f} s", f"{res['turns_done']} answers, {res['errors']} errors"],
        ["/api/query p50 unloaded -> under that load (target <= 1.5x)",
         f"{med(res['unloaded_query_ms']):.1f} -> {med(res['loaded_query_ms']):.1f} ms ({ratio:.2f}x, {len(res['loaded_query_ms'])} queries)"],
        [f"/api/query p50 while {res['clients']} chats wait on a silent LLM",
         f"{med(res['stalled_query_ms']):.1f} ms ({med(res['stalled_query_ms']) / med(res['unloaded_query_ms']):.2f}x unloaded)"],
    ]


def markdown(res: dict) -> str:
    lines = ["# Chat path (stub LLM)", "",
             "`python -m eval.chat_bench` (also run by `make bench`). Loopback, 1 uvicorn worker, real index; the LLM is "
             f"the stub test double (tests/stub_llm.py) streaming 4-character pieces every {res['token_delay'] * 1000:.0f} ms. "
             "The machine is a shared 2-core box, so absolute times are noisy.", "",
             "| measure | value |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows(res)]
    if res["problems"]:
        lines += ["", "First problems seen: " + "; ".join(res["problems"])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--token-delay", type=float, default=0.05)
    args = ap.parse_args(argv)
    res = run(args.seconds, args.clients, token_delay=args.token_delay)
    text = markdown(res)
    OUT.write_text(text, encoding="utf-8")
    print(text)
    return 0 if res["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
