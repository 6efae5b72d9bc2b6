"""The OpenAPI schema accepts exactly what the server accepts: schemathesis (`st run --checks all`)
over every operation of a real server, with the admin token, the API key and a real job id.

The run is bounded (ST_EXAMPLES examples per operation, deterministic) so it takes well under a
minute here; `make contract` runs the same with many more examples.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import stop_server
from tests.library_server import start_library_server

pytestmark = pytest.mark.slow

TOKEN = "contract-admin-token"
KEY = "contract-api-key"
ST_EXAMPLES = int(os.environ.get("ST_EXAMPLES", "12"))
UPLOADED = "contract-upload.md"
# Rules no JSON Schema keyword can state, written in the operations' descriptions instead; a
# request that breaks one is schema-valid and still refused with a plain 4xx:
NOT_IN_SCHEMA = {
    # the file's bytes must be a supported, non-empty document (415, 422), names unique within one upload (400)
    "POST /api/documents": [400, 415, 422],
    # sources must name documents of the index (GET /api/documents lists them)
    "POST /api/query": [422],
    # the last message must be the user's, with a question of 1-2000 characters after cleaning
    "POST /api/chat": [422],
    "POST /v1/chat/completions": [422],
}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, encoder):
    tmp = tmp_path_factory.mktemp("contract")
    served = start_library_server(tmp, encoder, TOKEN, env_extra={"POLICYQA_API_KEY": KEY})
    yield served, tmp
    stop_server(served["proc"])


def real_job(url: str) -> str:
    """Upload a document and wait for its job: the id schemathesis asks GET /api/jobs/{job_id} about."""
    headers = {"X-Admin-Token": TOKEN, "Authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{url}/api/documents", headers=headers, timeout=60,
                   files=[("files", (UPLOADED, "# 合同条款\n\n合同应当载明当事人的名称和住所。".encode(), "text/markdown"))])
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/jobs/{job_id}", headers=headers, timeout=120).json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            return job_id
        time.sleep(0.3)
    raise AssertionError("the upload job did not finish")


def config(job_id: str) -> str:
    """schemathesis.toml: real identifiers for the path parameters, the statuses a schema-valid
    request may still get where the schema cannot say the rule (NOT_IN_SCHEMA), and two more."""
    settings: dict[str, list[str]] = {
        "GET /api/jobs/{job_id}": [f'parameters = {{ job_id = "{job_id}" }}'],
        "GET /api/documents/{source}": ['parameters = { source = "004_add29a2c5c193579.txt" }'],
        "DELETE /api/documents/{source}": [f'parameters = {{ source = "{UPLOADED}" }}'],
        # a reload loads the whole index and warms it up: seconds, more on a busy machine
        "POST /api/admin/reload": ["checks.max_response_time = 60"],
    }
    for name, statuses in NOT_IN_SCHEMA.items():
        expected = json.dumps(ACCEPTED + [str(s) for s in statuses])
        settings.setdefault(name, []).append(f"checks.positive_data_acceptance.expected-statuses = {expected}")
    # On the wire a multipart part is bytes whatever the schema's type, so "a file that is not a
    # string" cannot be sent: any part is a (possibly odd) file, judged by its content.
    settings["POST /api/documents"].append("checks.negative_data_rejection.enabled = false")
    lines = []
    for name, entries in settings.items():
        lines += ["[[operations]]", f'include-name = "{name}"', *entries, ""]
    return "\n".join(lines)


def run_schemathesis(url: str, job_id: str, folder, examples: int) -> tuple[int, str]:
    (folder / "schemathesis.toml").write_text(config(job_id), encoding="utf-8")
    st = os.path.join(os.path.dirname(sys.executable), "st")
    cmd = [st, "--config-file", str(folder / "schemathesis.toml"), "run", f"{url}/openapi.json", "--checks", "all",
           "-H", f"X-Admin-Token: {TOKEN}", "-H", f"Authorization: Bearer {KEY}", "--max-examples", str(examples),
           "--generation-deterministic", "--no-color", "--workers", "1", "--request-timeout", "60",
           "--report", "json", "--report-json-path", str(folder / "st.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=folder)
    return done.returncode, done.stdout + done.stderr


def test_schemathesis_finds_no_contract_failure(server):
    served, tmp = server
    job_id = real_job(served["url"])
    t0 = time.monotonic()
    code, out = run_schemathesis(served["url"], job_id, tmp, ST_EXAMPLES)
    print(out[-3000:])
    assert served["proc"].poll() is None, "the server died during the run"
    print(f"schemathesis took {time.monotonic() - t0:.1f} s")
    assert code == 0, out[-8000:]
