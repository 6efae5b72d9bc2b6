"""Upload benchmark (issue 11): how soon uploaded documents are searchable, what an upload
does to query latency meanwhile, and OCR character accuracy on pages rendered from known text.

    python -m eval.bench_upload            # prints the section, writes it into eval/reports/bench.md
`python -m eval.bench` runs it too (its "Uploads" section). Needs Chromium (make browser-deps):
the test PDFs are printed by Chromium from the seeds' clean text, the scans are screenshots.

Targets: a 50-page text PDF (about 150 passages) searchable in under 30 s; a 10-page scanned
PDF in under 60 s; query p50 during an upload within 2x of idle; OCR character accuracy >= 0.97.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import httpx  # noqa: E402

from index.config import REPO_ROOT, Settings  # noqa: E402
from index.ingest.seeds import load_corpus  # noqa: E402
from index.backends.local.store import current_build  # noqa: E402

from .tables import md_table  # noqa: E402

OUT = REPO_ROOT / "eval" / "reports" / "bench.md"
TOKEN = "bench-upload-token"
SECTION = "## Uploads"
BEGIN, END = "<!-- uploads:begin -->", "<!-- uploads:end -->"


def log(msg: str) -> None:
    print(f"[bench-upload] {msg}", file=sys.stderr, flush=True)


def char_accuracy(ocr: str, truth: str) -> float:
    """1 - (character edit distance / characters of the truth), whitespace and width ignored."""
    a = "".join(unicodedata.normalize("NFKC", ocr).split())
    b = "".join(unicodedata.normalize("NFKC", truth).split())
    prev = list(range(len(a) + 1))
    for j, cb in enumerate(b, 1):
        cur = [j] + [0] * len(a)
        for i, ca in enumerate(a, 1):
            cur[i] = min(prev[i] + 1, cur[i - 1] + 1, prev[i - 1] + (ca != cb))
        prev = cur
    return max(0.0, 1 - prev[len(a)] / max(1, len(b)))


def _paragraphs(docs, source_prefix: str, chars: int) -> list[str]:
    doc = next(d for d in docs if d.source.startswith(source_prefix))
    out, total = [], 0
    for p in doc.text.split("\n"):
        if len(p) >= 20:
            out.append(p)
            total += len(p)
            if total >= chars:
                break
    return out


def _serve_copy(tmp: Path, settings: Settings):
    """A server over a copy of the current build (so its vectors are reused) with an empty library."""
    from tests.conftest import start_server

    root = tmp / "var" / "index"
    (root / "builds").mkdir(parents=True)
    build = current_build(settings)
    shutil.copytree(build, root / "builds" / build.name)
    (root / "current").symlink_to(Path("builds") / build.name)
    env = {"POLICYQA_VAR_DIR": str(tmp / "var"), "POLICYQA_SEEDS_DIR": str(settings.seeds_dir),
           "POLICYQA_ADMIN_TOKEN": TOKEN}
    proc, url = start_server(env)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, url


def _upload_and_wait(c: httpx.Client, name: str, data: bytes) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = c.post("/api/documents", headers={"X-Admin-Token": TOKEN}, files=[("files", (name, data, "application/pdf"))])
    r.raise_for_status()
    job_id = r.json()["job_id"]
    while True:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return time.perf_counter() - t0, job
        time.sleep(0.1)


def run(rep=None) -> list[str]:
    """Measure; returns the markdown lines of the section (and adds tables to `rep`, a bench Report)."""
    from tests.conftest import stop_server
    from tests.doc_fixtures import browser, scan_images, scanned_pdf, text_pdf

    from index.ingest.parse import parse

    settings = Settings()
    docs, _ = load_corpus(settings.seeds_dir)
    questions = ["示范区要加快建设哪些新一代信息基础设施？", "在示范区买房能享受户籍待遇吗？", "人才公寓怎么申请？",
                 "What is the maximum turnover period for construction land quotas?", "长三角科技创新共同体的目标是什么？"]
    log("making the test files with Chromium")
    with browser() as b:
        text_paras = _paragraphs(docs, "002", 50 * 1000)
        per_page = max(1, len(text_paras) // 50)
        pdf50 = text_pdf(b, text_paras[: per_page * 50], page_break_every=per_page)
        scan_paras = _paragraphs(docs, "003", 10 * 700)
        scan10 = scanned_pdf(b, scan_paras, pages=10, dpi=200)
        ocr_truth = _paragraphs(docs, "001", 3 * 600)
        ocr_pages = scan_images(b, ocr_truth, pages=3, dpi=300)
    # OCR accuracy on 300 dpi renders of known text
    log("OCR accuracy at 300 dpi")
    from tests.doc_fixtures import png_bytes

    per = -(-len(ocr_truth) // 3)
    accuracies, ocr_seconds = [], []
    for k, image in enumerate(ocr_pages):
        truth = "\n".join(ocr_truth[k * per : (k + 1) * per])
        t0 = time.perf_counter()
        text = parse(png_bytes(image), "page.png").pages[0]
        ocr_seconds.append(time.perf_counter() - t0)
        accuracies.append(char_accuracy(text, truth))
    tmp = Path(tempfile.mkdtemp(prefix="policyqa-bench-upload-"))
    proc, url = _serve_copy(tmp, settings)
    rows, notes = [], []
    try:
        with httpx.Client(base_url=url, timeout=300) as c:
            log("idle query latency")
            for q in questions:  # warm-up
                c.post("/api/query", json={"query": q})
            idle = []
            for i in range(40):
                t0 = time.perf_counter()
                c.post("/api/query", json={"query": questions[i % len(questions)]}).raise_for_status()
                idle.append((time.perf_counter() - t0) * 1000)
            busy: list[float] = []
            stop = threading.Event()

            def query_loop():
                with httpx.Client(base_url=url, timeout=300) as qc:
                    i = 0
                    while not stop.is_set():
                        t0 = time.perf_counter()
                        qc.post("/api/query", json={"query": questions[i % len(questions)]})
                        busy.append((time.perf_counter() - t0) * 1000)
                        i += 1
                        time.sleep(0.05)  # a steady trickle of users, not a flood

            log("50-page text PDF")
            loop = threading.Thread(target=query_loop)
            loop.start()
            secs, job = _upload_and_wait(c, "bench-50-pages.pdf", pdf50)
            stop.set()
            loop.join()
            doc = {d["source"]: d for d in c.get("/api/documents").json()["documents"]}.get("bench-50-pages.pdf", {})
            rows.append(["text PDF", doc.get("pages"), doc.get("passages"), secs, 30, "yes" if secs < 30 else "no",
                         job["status"]])
            log("10-page scanned PDF")
            secs, job = _upload_and_wait(c, "bench-scan-10.pdf", scan10)
            doc = {d["source"]: d for d in c.get("/api/documents").json()["documents"]}.get("bench-scan-10.pdf", {})
            rows.append(["scanned PDF (OCR)", doc.get("pages"), doc.get("passages"), secs, 60,
                         "yes" if secs < 60 else "no", job["status"]])
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    p50_idle, p50_busy = statistics.median(idle), statistics.median(busy) if busy else float("nan")
    ratio = p50_busy / p50_idle
    acc = statistics.mean(accuracies)
    tables = [
        ("Uploads: from POST /api/documents to searchable (job done), real corpus + the upload",
         ["file", "pages", "passages", "seconds", "target s", "met", "job"], rows),
        ("Uploads: query latency (POST /api/query, hybrid) idle and during the 50-page upload",
         ["", "queries", "p50 ms", "p95 ms", "ratio to idle p50 (target <= 2)"],
         [["idle", len(idle), p50_idle, sorted(idle)[int(len(idle) * 0.95)], 1.0],
          ["during upload", len(busy), p50_busy, sorted(busy)[int(len(busy) * 0.95)] if busy else float("nan"), ratio]]),
        ("Uploads: OCR character accuracy (rapidocr PP-OCRv4, pages rendered at 300 dpi from seed 001's clean text)",
         ["pages", "characters", "accuracy (mean)", "worst page", "target", "OCR s/page"],
         [[len(accuracies), sum(len("".join(t.split())) for t in ocr_truth), acc, min(accuracies), 0.97,
           statistics.mean(ocr_seconds)]]),
    ]
    notes.append(f"machine: {os.cpu_count()} cores shared with other work; load average at the end "
                 f"{os.getloadavg()[0]:.1f}. OCR renders scanned PDF pages at POLICYQA_OCR_DPI "
                 f"(default 150) for recognition.")

    lines = [SECTION, "", "`python -m eval.bench_upload` " + time.strftime("(%Y-%m-%d %H:%M)"), ""]
    for title, header, body in tables:
        lines += [f"### {title}", "", md_table(header, body), ""]
        if rep is not None:
            rep.table(title, header, body)
    lines += [f"- {n}" for n in notes] + [""]
    return lines


def write_section(lines: list[str], path: Path = OUT) -> None:
    """Put the section into bench.md between its markers, replacing an earlier run of it."""
    from eval.bench_encode import write_section as replace_section

    replace_section("\n".join([BEGIN, *lines, END]) + "\n", path, BEGIN, END)


def main() -> int:
    lines = run()
    print("\n".join(lines))
    write_section(lines)
    log(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
