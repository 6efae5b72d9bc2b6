"""Parsing in a child process, so a hostile or broken file cannot take the server down.

`parse_isolated` runs `parse` (and so OCR) in a fresh Python process (`python -c CHILD`:
nothing of the server's threads or models is inherited) with an address-space limit (RLIMIT_AS,
POLICYQA_PARSE_MEMORY_MB) and a time limit per document (POLICYQA_PARSE_TIMEOUT). A file that breaks
a limit, or a child that dies (the OOM killer, a crash in a C library, a kill), ends in a ParseError
with a reason a person understands; the server process is never touched.
"""
from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict

from index.config import REPO_ROOT
from index.ingest.parse import ParsedDocument, ParseError, Progress, UnsupportedFormat, parse
from index.ingest.parse.base import ParseLimits, report


CHILD = "import sys; from index.ingest.parse.sandbox import _child; _child(sys.argv[1], sys.argv[2])"


def parse_isolated(data: bytes, name: str = "", progress: Progress | None = None,
                   limits: ParseLimits = ParseLimits()) -> ParsedDocument:
    """`parse(data, name, progress, limits)` in a child process under the memory and time of `limits`."""
    # The child imports this same code (this checkout first on its path), reads the file from stdin and
    # answers in JSON lines on stdout: progress steps, then the parsed document or the reason it failed.
    child = subprocess.Popen([sys.executable, "-c", CHILD, name, json.dumps(asdict(limits))], cwd=REPO_ROOT,
                             env=_child_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, start_new_session=True)
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=_feed, args=(child, data), daemon=True).start()
    threading.Thread(target=lambda: [lines.put(line) for line in child.stdout] + [lines.put(b"")], daemon=True).start()
    deadline = time.monotonic() + limits.timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ParseError(f"reading the file took longer than {limits.timeout_s:g} s, the limit per document "
                                 "(POLICYQA_PARSE_TIMEOUT); it was stopped and not added")
            try:
                line = lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if not line:  # EOF: the child is gone without an answer
                raise ParseError(_death(child.wait(5), limits))
            message = json.loads(line)
            kind = message["kind"]
            if kind == "progress":
                report(progress, message["stage"], message["done"], message["total"])
            elif kind == "done":
                return ParsedDocument.from_dict(message["parsed"])
            elif kind == "memory":
                raise ParseError(_over_memory(limits))
            else:  # "error": the parser's own plain reason
                raise (UnsupportedFormat if message["unsupported"] else ParseError)(message["reason"])
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(5)
        child.stdout.close()


def _child_env() -> dict[str, str]:
    """The server's environment passed on whole (the limits come as an argument), with this checkout
    first on the import path."""
    inherited = dict(os.environ)
    inherited["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), inherited.get("PYTHONPATH")) if p)
    return inherited


def _feed(child: subprocess.Popen, data: bytes) -> None:
    try:
        child.stdin.write(data)
        child.stdin.close()
    except OSError:  # the child died or was killed before it read everything
        pass


def _over_memory(limits: ParseLimits) -> str:
    return (f"reading the file needed more than {limits.memory_mb} MB of memory, the limit per document "
            "(POLICYQA_PARSE_MEMORY_MB); it was stopped and not added")


def _death(exitcode: int | None, limits: ParseLimits) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    if exitcode in (-signal.SIGABRT, -signal.SIGSEGV):  # a C library failing to allocate under the limit
        return _over_memory(limits) + f" ({how})"
    return (f"the parser stopped while reading the file ({how}); the file was not added. If this happens again "
            "the file is damaged or needs more memory than the server may give it (POLICYQA_PARSE_MEMORY_MB)")


def _child(name: str, limits_json: str) -> None:
    limits = ParseLimits(**json.loads(limits_json))
    data = sys.stdin.buffer.read()
    limit = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout

    def send(**message) -> None:
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.flush()

    try:
        parsed = parse(data, name, lambda stage, done, total: send(kind="progress", stage=stage, done=done, total=total),
                       limits)
        send(kind="done", parsed=parsed.to_dict())
    except MemoryError:
        send(kind="memory")
    except ParseError as err:
        send(kind="error", unsupported=isinstance(err, UnsupportedFormat), reason=str(err))
    except Exception as err:  # a parser library's own failure: the file is not usable, say so plainly
        if "alloc" in str(err).lower():  # onnxruntime and pdfium report a failed allocation in their own words
            send(kind="memory")
        else:
            send(kind="error", unsupported=False, reason=f"the file could not be read ({type(err).__name__})")

