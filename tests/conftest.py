"""Shared fixtures: the real index (built once if missing or stale), the real encoder,
and a real uvicorn server on a free loopback port."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from index.config import REPO_ROOT, Settings  # noqa: E402
from index.backends.local.store import current_build, read_manifest  # noqa: E402
from index.build.plan import stale_reasons


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Default settings, with the index brought up to date (a no-op after `make index`)."""
    s = Settings()
    try:
        fresh = not stale_reasons(read_manifest(current_build(s)), s)
    except Exception:
        fresh = False
    if not fresh:
        from index.backends.local.store import build

        build(s, progress=False)
    return s


@pytest.fixture(scope="session")
def encoder(settings):
    from index.build.dense import Encoder

    return Encoder.of(settings)


@pytest.fixture(scope="session")
def loaded_index(settings):
    from index.backends.local.store import load

    return load(settings)


@pytest.fixture(scope="session")
def searcher(loaded_index, encoder, settings):
    from index.search import Searcher

    return Searcher(loaded_index, encoder, settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env_extra: dict | None = None, workers: int = 1, timeout: float = 240.0):
    """Start `uvicorn service.app:app` on a free port; returns (process, base_url)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "service.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--timeout-worker-healthcheck", "120"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code in (200, 503):
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    stop_server(proc)  # terminate first: uvicorn then stops its workers too (a kill would orphan them)
    raise RuntimeError("server did not start in time")


def stop_server(proc) -> None:
    """Terminate uvicorn (it stops its workers), and kill whatever worker outlives it: a supervisor that had to
    be killed, or one that had replaced a killed worker, would otherwise leave ~2 GB orphans to later tests."""
    try:
        workers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        workers = []
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
    _, alive = psutil.wait_procs(workers, timeout=10)
    for worker in alive:
        with contextlib.suppress(psutil.Error):
            worker.kill()


@pytest.fixture(scope="session")
def live_server(settings) -> str:
    """Base URL of a real uvicorn server answering from the real index."""
    proc, url = start_server()
    # Drain the server's log pipe: left unread it fills up and blocks the server.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def loaded_corpus():
    """The five real seeds, cleaned (no index or model needed)."""
    from index.ingest.seeds import load_corpus

    docs, skipped = load_corpus(REPO_ROOT / "seeds")
    assert not skipped
    return docs


@pytest.fixture(scope="session")
def stub_llm():
    """TEST DOUBLE: the stub OpenAI-compatible LLM server (tests/stub_llm.py) on a free port."""
    from tests.stub_llm import StubLLM

    stub = StubLLM().start()
    yield stub
    stub.stop()


STUB_API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def llm_server(settings, stub_llm) -> str:
    """A real uvicorn server answering with the stub LLM behind it (short LLM timeouts so a
    stalled stub fails fast) and the /v1 API behind a bearer key."""
    proc, url = start_server({"POLICYQA_LLM_BASE_URL": stub_llm.base_url, "POLICYQA_LLM_MODEL": "stub-model",
                              "POLICYQA_LLM_TIMEOUT": "4", "POLICYQA_LLM_TOTAL_TIMEOUT": "20",
                              "POLICYQA_API_KEY": STUB_API_KEY})
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    yield url
    stop_server(proc)
