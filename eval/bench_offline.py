"""The offline bundle, proved: in a fresh folder, inside a network namespace whose only interface is loopback,
extract dist/policyqa-offline.tar.gz, run its install.sh and run.sh, and ask the golden question over HTTP.

    python -m eval.bench_offline [--archive dist/policyqa-offline.tar.gz] [--keep]   (make bundle-check, make bench)

This process starts `unshare -n` (as root; `unshare -rn`, a user namespace, otherwise) running itself with
`--inside`. Inside, `lo` is brought up and the check refuses to go on unless it is the only interface and there
is no route; the scripts run with a bare environment (PATH, HOME in the fresh folder, PYTHON = this venv's base
interpreter, and this machine's OPENBLAS_* processor settings), so nothing of this machine's pip configuration or
local wheel folders can stand in for the bundle.
Figures: the archive's size, extraction, install.sh (venv from wheels, model, index build), run.sh's start to the
first answer, and the installed folder's size. The section is written into eval/reports/bench.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from index.config import REPO_ROOT

from .bench_encode import OUT, write_section
from .tables import md_table

ARCHIVE = REPO_ROOT / "dist" / "policyqa-offline.tar.gz"
BEGIN, END = "<!-- offline:begin -->", "<!-- offline:end -->"
GOLDEN = "示范区要加快建设哪些新一代信息基础设施？"
GOLDEN_SOURCE = "001_bac9d13cc5f2f8b2.txt"
GOLDEN_MUST_CONTAIN = ("5G", "千兆光纤")
START_TIMEOUT = 300.0


class CheckFailed(RuntimeError):
    pass


# ----------------------------------------------------------------- inside the namespace


def isolate() -> str:
    """Bring loopback up and prove there is nothing else: one interface, `lo`, and no IPv4 or IPv6 route off it."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    links = [line.split(":")[1].strip().split("@")[0]
             for line in subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True,
                                        text=True).stdout.splitlines()]
    routes = subprocess.run(["ip", "-4", "route", "show"], check=True, capture_output=True, text=True).stdout.strip()
    routes6 = [r for r in subprocess.run(["ip", "-6", "route", "show"], check=True, capture_output=True,
                                         text=True).stdout.splitlines() if not r.startswith("::1 ")]
    if links != ["lo"] or routes or routes6:
        raise CheckFailed(f"not an isolated namespace: interfaces {links}, routes {routes!r} {routes6!r}")
    return "interfaces: lo only; no route"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_logged(cmd: list[str], cwd: Path, env: dict, log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        code = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise CheckFailed(f"{' '.join(cmd)} exited with {code}; the end of its output:\n{tail}")
    return time.perf_counter() - t0


def _disk_usage(folder: Path) -> int:
    seen, total = set(), 0
    for path in folder.rglob("*"):
        st = path.lstat()
        if path.is_file() and not path.is_symlink() and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_blocks * 512
    return total


def check_golden(client: httpx.Client) -> str:
    """The golden question over HTTP: the 5G / gigabit-fibre passage in the top 3, an answer that names it, and
    every answer sentence's offsets cutting exactly its text out of the document. Returns the answer's text."""
    r = client.post("/api/query", json={"query": GOLDEN, "top_k": 5, "mode": "hybrid"})
    if r.status_code != 200:
        raise CheckFailed(f"POST /api/query answered {r.status_code}: {r.text[:500]}")
    body = r.json()
    top3 = body["passages"][:3]
    if not any(p["source"] == GOLDEN_SOURCE and all(w in p["text"] for w in GOLDEN_MUST_CONTAIN) for p in top3):
        raise CheckFailed(f"the golden passage is not in the top 3: {[(p['source'], p['text'][:40]) for p in top3]}")
    answer = body["answer"]
    if not answer or not all(w in answer["text"] for w in GOLDEN_MUST_CONTAIN):
        raise CheckFailed(f"the answer does not name {GOLDEN_MUST_CONTAIN}: {answer}")
    for sentence in answer["sentences"]:
        doc = client.get(f"/api/documents/{sentence['source']}").json()["text"]
        if doc[sentence["char_start"]:sentence["char_end"]] != sentence["text"]:
            raise CheckFailed(f"the answer's citation does not match the document: {sentence}")
    for path in ("/", "/docs"):  # the chat page and Swagger UI, both served from local files
        if client.get(path).status_code != 200:
            raise CheckFailed(f"GET {path} failed offline")
    return answer["text"]


def inside(archive: Path, python: str, keep: bool) -> dict:
    figures = {"isolation": isolate(), "load_before": os.getloadavg()[0]}
    work = Path(tempfile.mkdtemp(prefix="policyqa-offline-check-"))
    figures["folder"] = str(work)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(work / "home"),
           "LANG": "C.UTF-8", "PYTHON": python}
    # this machine's OpenBLAS settings describe its processor (older OpenBLAS builds misbehave without them)
    env |= {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    (work / "home").mkdir()
    server = None
    try:
        figures["extract_s"] = _run_logged(["tar", "-xzf", str(archive)], work, env, work / "extract.log")
        bundle = work / "policyqa-offline"
        figures["install_s"] = _run_logged(["./install.sh"], bundle, env, work / "install.log")
        install_log = (work / "install.log").read_text(encoding="utf-8", errors="replace")
        figures["install_log"] = install_log[-1500:]
        figures["install_steps"] = re.findall(r"^install\.sh: (.+): done in (\d+) s$", install_log, re.M)
        figures["installed_bytes"] = _disk_usage(bundle)
        port = _free_port()
        t0 = time.perf_counter()
        log = open(work / "run.log", "wb")
        server = subprocess.Popen(["./run.sh"], cwd=bundle, env={**env, "PORT": str(port)}, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, trust_env=False) as client:
            while True:
                if server.poll() is not None:
                    raise CheckFailed(f"run.sh exited with {server.returncode}: "
                                      + (work / "run.log").read_text(errors="replace")[-2000:])
                if time.perf_counter() - t0 > START_TIMEOUT:
                    raise CheckFailed(f"run.sh did not answer /api/health within {START_TIMEOUT:.0f} s")
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            figures["answer"] = check_golden(client)
        figures["first_answer_s"] = time.perf_counter() - t0
        figures["load_after"] = os.getloadavg()[0]
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # run.sh exec'd uvicorn: its own session, started here
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return figures


# ----------------------------------------------------------------- outside: start the namespace, report


def section(archive: Path, f: dict) -> str:
    mib = lambda n: f"{n / 2**20:,.0f} MiB"  # noqa: E731
    row = [mib(archive.stat().st_size), f"{f['extract_s']:.0f}", f"{f['install_s']:.0f}",
           f"{f['first_answer_s']:.0f}", mib(f["installed_bytes"])]
    return "\n".join([
        BEGIN, "## Offline bundle: install and serve with no network (make bundle-check)", "",
        md_table(["archive", "extract (s)", "install.sh (s)", "run.sh to first answer (s)", "installed folder"], [row]),
        "", f"In a fresh folder inside a network namespace ({f['isolation']}), measured "
            f"{time.strftime('%Y-%m-%d', time.gmtime())} on this 2-core machine: `tar xzf`, `./install.sh` (checks and "
            "file checksums, venv from wheels/ alone, model placed, index built), `PORT=… ./run.sh`, then the golden "
            "question over HTTP on loopback: the 5G / 千兆光纤 passage in the top 3, an answer naming it with exact "
            "citations, and the chat page and /docs served. Answer: " + f["answer"][:60] + "…", "",
        "install.sh's steps: " + "; ".join(f"{what} {s} s" for what, s in f["install_steps"]) + ".", "",
        f"The machine's 1-minute load average was {f['load_before']:.1f} before and {f['load_after']:.1f} after "
        "(2 cores; other jobs share them): the times scale with it (an idle machine builds this index in about 30 s).",
        END, ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_offline", description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--keep", action="store_true", help="keep the fresh folder (its path is printed)")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    archive = args.archive.resolve()
    if args.inside:
        try:
            print(json.dumps(inside(archive, args.python, args.keep), ensure_ascii=False))
        except CheckFailed as err:
            print(f"bundle-check FAILED: {err}", file=sys.stderr)
            return 1
        return 0
    if not archive.is_file():
        print(f"bundle-check: {archive} is missing: run `make bundle` first", file=sys.stderr)
        return 1
    unshare = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    cmd = [*unshare, sys.executable, "-m", "eval.bench_offline", "--inside", "--archive", str(archive),
           "--python", args.python] + (["--keep"] if args.keep else [])
    result = subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        print(f"bundle-check: failed ({' '.join(unshare)} exited with {result.returncode})", file=sys.stderr)
        return 1
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    text = section(archive, figures)
    print(text)
    print(f"install.sh's last lines:\n{figures['install_log']}")
    write_section(text, OUT, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
