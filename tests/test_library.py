"""Library API against a real server: uploads of real files (made here), jobs, replace,
delete, bad input of every kind from the issue, and a server killed in the middle of a job."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import httpx
import pytest

from doc_fixtures import (browser, docx_bytes, encrypted_pdf, html_page, huge_page_pdf, scanned_pdf, text_pdf,
                          zip_bomb_docx)
from index.backends.local.store import load
from index.text.english import load_glossary
from tests.conftest import stop_server
from tests.library_server import start_library_server

TOKEN = "library-test-token-91c2"
AUTH = {"X-Admin-Token": TOKEN}
# Policy texts that none of the seeds talk about, so a hit on them is a hit on the upload.
CARBON = ["碳普惠机制建设实施方案", "一、总体目标",
          "到二〇二六年，建成覆盖全市的碳普惠平台，居民低碳出行、垃圾分类和光盘行动可以兑换碳积分。",
          "坚持政府引导、市场运作、公众参与，建立统一的碳普惠核证标准和登记簿，实现与碳排放权交易市场的有序衔接，形成可复制推广的经验。",
          "二、重点任务", "（一）建立碳积分核算方法。对公交地铁出行、共享单车骑行按减排量折算碳积分，每千克二氧化碳折合十个积分。",
          "（二）拓展碳积分消费场景。碳积分可在合作商户兑换公交卡充值、景区门票和绿色家电优惠券。"]
QUANTUM = ["量子信息产业扶持办法", "第一条 为培育量子计算、量子通信和量子精密测量产业，制定本办法。",
           "第二条 对新建量子计算云平台的企业，按设备投资额的百分之二十给予补助，最高不超过三千万元。",
           "第三条 量子通信城域网建设项目优先纳入市重大项目库。"]
HEATWAVE = ["高温天气劳动保护规定", "用人单位在日最高气温达到三十五摄氏度以上时，应当向劳动者发放高温津贴，标准为每人每月三百元。",
            "日最高气温达到四十摄氏度以上，当日应当停止室外露天作业。"]


@pytest.fixture(scope="module")
def chromium_browser():
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def served(tmp_path_factory, encoder):
    server = start_library_server(tmp_path_factory.mktemp("library"), encoder, TOKEN)
    yield server
    stop_server(server["proc"])


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served["url"], timeout=120) as c:
        yield c


def upload(c, *files, headers=AUTH):
    if any(any(ord(ch) < 32 for ch in f[0]) for f in files):
        return raw_upload(c, files, headers)
    return c.post("/api/documents", headers=headers, files=[("files", f) for f in files])


def raw_upload(c, files, headers):
    """Multipart written by hand: httpx would percent-encode control characters in file names."""
    parts = b"".join(b"--b0undary\r\nContent-Disposition: form-data; name=\"files\"; filename=\"" + name.encode()
                     + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
                     for name, data, _ in files)
    return c.post("/api/documents", content=parts + b"--b0undary--\r\n",
                  headers={**headers, "content-type": "multipart/form-data; boundary=b0undary"})


def wait_job(c, job_id, timeout=300):
    deadline = time.monotonic() + timeout
    seen = set()
    job = None
    while time.monotonic() < deadline:
        try:
            job = c.get(f"/api/jobs/{job_id}").json()
        except httpx.TransportError:
            # a keep-alive connection the server closed just as this poll went out (a loaded machine): poll
            # again; a server that is gone fails the wait at its deadline
            time.sleep(0.5)
            continue
        seen.add(job.get("message"))
        if job["status"] in ("done", "failed"):
            job["seen"] = seen
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def state(c, settings):
    """What must not change when an upload is refused: the library and the serving build."""
    lib = settings.library_dir / "library.json"
    return (lib.read_text(encoding="utf-8") if lib.exists() else None, c.get("/api/health").json()["build_id"])


def top(c, query):
    return c.post("/api/query", json={"query": query, "top_k": 3}).json()["passages"]


def announce_huge_upload(url: str, length: int) -> tuple[int, str]:
    """Send only the headers of a `length`-byte upload (a raw socket: httpx will not lie about lengths)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((f"POST /api/documents HTTP/1.1\r\nHost: {host}\r\nX-Admin-Token: {TOKEN}\r\n"
                      f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n--x\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", "replace")


# ------------------------------------------------------------------ the happy path


def test_upload_pdf_docx_html_then_search_with_pages(client, served, chromium_browser):
    pdf = text_pdf(chromium_browser, CARBON, page_break_every=4)  # 二、重点任务 starts page 2
    r = upload(client, ("碳普惠.pdf", pdf, "application/pdf"),
               ("quantum.docx", docx_bytes(QUANTUM[0], QUANTUM[1:]), "application/octet-stream"),
               ("heat.html", html_page(HEATWAVE[0], HEATWAVE[1:]), "text/html"))
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "done", job
    assert any(m and m.startswith("parsing page") for m in job["seen"]) or job["result"]["changed"]
    hits = top(client, "共享单车骑行怎样折算碳积分？")
    assert hits[0]["source"] == "碳普惠.pdf" and hits[0]["page"] == 2
    hit = top(client, "新建量子计算云平台最高补助多少？")[0]
    assert hit["source"] == "quantum.docx" and hit["page"] is None
    hit = top(client, "高温津贴每月多少钱？")[0]
    assert hit["source"] == "heat.html"
    doc = client.get("/api/documents/heat.html").json()
    assert "SCRIPT" not in doc["text"] and "新闻中心" not in doc["text"]
    pdf_doc = client.get("/api/documents/碳普惠.pdf").json()
    assert pdf_doc["page_starts"][0] == 0 and len(pdf_doc["page_starts"]) == 2
    listed = {d["source"]: d for d in client.get("/api/documents").json()["documents"]}
    assert listed["碳普惠.pdf"]["format"] == "pdf" and listed["碳普惠.pdf"]["pages"] == 2
    assert listed["碳普惠.pdf"]["size"] == len(pdf) and listed["碳普惠.pdf"]["added"]
    assert listed["quantum.docx"]["format"] == "docx" and listed["quantum.docx"]["pages"] is None
    assert all(d["status"] == "ready" for d in listed.values())
    assert listed["100_ocean.txt"]["origin"] == "seed" and listed["heat.html"]["origin"] == "library"
    assert listed["碳普惠.pdf"]["passages"] >= 1


BEES = ("蜜蜂养殖扶持办法\n第一条 对新购置蜂箱的养蜂户，每个蜂箱补贴八十元。\n"
        "第二条 鼓励果园在花期租用蜜蜂授粉，蜂蜜产品可申请地理标志。\n")


def test_english_question_on_an_uploaded_document(client, served):
    """Words the hand-made glossary lacks reach the document through the build's own CC-CEDICT
    mapping: BM25 alone (no dense help) finds it from an English question."""
    glossary = load_glossary()
    assert not {"beehive", "beehives", "honey", "orchard"} & set(glossary)
    job = wait_job(client, upload(client, ("bees.txt", BEES.encode(), "text/plain")).json()["job_id"])
    assert job["status"] == "done", job
    mapping = load(served["settings"]).translation
    assert "蜂箱" in mapping["beehive"] and "蜂蜜" in mapping["honey"]
    for question in ("What is the subsidy for each new beehive?", "Can honey apply for a geographical indication?"):
        hits = client.post("/api/query", json={"query": question, "mode": "bm25", "top_k": 3}).json()["passages"]
        assert hits and hits[0]["source"] == "bees.txt", (question, hits[:1])


def test_same_content_is_no_work_and_new_content_replaces(client, served, chromium_browser):
    build_id = client.get("/api/health").json()["build_id"]
    html = html_page(HEATWAVE[0], HEATWAVE[1:])
    job = wait_job(client, upload(client, ("heat.html", html, "text/html")).json()["job_id"])
    assert job["status"] == "done" and job["result"]["changed"] is False
    assert client.get("/api/health").json()["build_id"] == build_id
    changed = html_page(HEATWAVE[0], ["用人单位应当为夜班劳动者每晚发放夜班津贴五十元，并提供热餐。"])
    job = wait_job(client, upload(client, ("heat.html", changed, "text/html")).json()["job_id"])
    assert job["status"] == "done" and job["result"]["changed"] is True
    text = client.get("/api/documents/heat.html").json()["text"]
    assert "夜班津贴" in text and "高温津贴" not in text


def test_delete_removes_passages(client, served):
    assert any(h["source"] == "quantum.docx" for h in top(client, "量子通信城域网"))
    r = client.delete("/api/documents/quantum.docx")
    assert r.status_code == 403
    job = wait_job(client, client.delete("/api/documents/quantum.docx", headers=AUTH).json()["job_id"])
    assert job["status"] == "done"
    assert all(h["source"] != "quantum.docx" for h in top(client, "量子通信城域网"))
    assert client.get("/api/documents/quantum.docx").status_code == 404
    assert client.delete("/api/documents/quantum.docx", headers=AUTH).status_code == 404
    seed = client.delete("/api/documents/100_ocean.txt", headers=AUTH)
    assert seed.status_code == 409 and "built-in" in seed.json()["detail"]


# ------------------------------------------------------------------ bad input: 4xx or a failed job, nothing changed


@pytest.mark.parametrize("name, data, status, words", [
    ("setup.pdf", b"MZ\x90\x00\x03" + b"\x00" * 4000, 415, "executable"),
    ("empty.pdf", b"", 422, "empty"),
    ("blank.txt", b"  \n\n ", 422, "empty"),
    ("report.docx", None, 422, "zip bomb"),
    ("a\x07b.txt", "第一条 正文。".encode(), 400, "control characters"),
    ("..", "第一条 正文。".encode(), 400, "name"),
    ("100_ocean.txt", "第一条 正文。".encode(), 409, "built-in"),
])
def test_bad_files_are_refused_plainly(client, served, name, data, status, words):
    data = zip_bomb_docx(300) if data is None else data
    before = state(client, served["settings"])
    r = upload(client, (name, data, "application/octet-stream"))
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and "Traceback" not in r.text
    assert state(client, served["settings"]) == before


@pytest.mark.parametrize("name, data, words", [
    ("secret.pdf", encrypted_pdf(), "encrypted"),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R", "damaged"),
    ("huge-page.pdf", huge_page_pdf(), "no text was found"),  # rendered within the pixel cap, OCR finds nothing
])
def test_unreadable_pdfs_fail_the_job_with_the_reason(client, served, name, data, words):
    before = state(client, served["settings"])
    r = upload(client, (name, data, "application/pdf"))
    assert r.status_code == 202
    job = wait_job(client, r.json()["job_id"])
    assert job["status"] == "failed" and words in job["reason"] and name in job["reason"]
    assert state(client, served["settings"]) == before
    assert name not in {d["source"] for d in client.get("/api/documents").json()["documents"]}


def test_path_in_file_name_is_dropped(client, served):
    job = wait_job(client, upload(client, ("../../etc/规定.txt", "第一条 本规定适用于屋顶光伏补贴申报。".encode(), "text/plain"))
                   .json()["job_id"])
    assert job["status"] == "done" and job["result"]["documents"] == ["规定.txt"]
    assert client.get("/api/documents/规定.txt").status_code == 200
    assert not (served["settings"].library_dir.parent / "etc").exists()


def test_token_and_content_type_and_size(client, served):
    before = state(client, served["settings"])
    for headers in ({}, {"X-Admin-Token": "wrong"}):
        r = upload(client, ("a.txt", "第一条 正文。".encode(), "text/plain"), headers=headers)
        assert r.status_code == 403 and "X-Admin-Token" in r.json()["detail"]
    r = client.post("/api/documents", headers={**AUTH, "content-type": "application/json"}, content=b"{}")
    assert r.status_code == 415
    # 300 MB announced: refused from the header, before the body is read
    status, body = announce_huge_upload(served["url"], 300 * 1024 * 1024)
    assert status == 413 and "50 MB" in body

    def chunks():  # 300 MB streamed without a length: refused once 50 MB have arrived
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n\r\n%PDF-1.7\n'
        block = b"\0" * (1 << 20)
        for _ in range(300):
            yield block

    try:
        r = client.post("/api/documents", headers={**AUTH, "content-type": "multipart/form-data; boundary=x"},
                        content=chunks())
        assert r.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection while the client is still sending
    assert state(client, served["settings"]) == before
    assert client.get("/api/health").status_code == 200


def test_twenty_uploads_at_once_queue_or_get_429(client, served):
    results = []

    def send(i):
        with httpx.Client(base_url=served["url"], timeout=120) as c:
            r = upload(c, (f"batch{i}.txt", f"第一条 第{i}批屋顶绿化补贴按每平方米{i + 10}元发放。".encode(), "text/plain"))
            results.append(r)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [r.status_code for r in results]
    assert set(codes) <= {202, 429} and 429 in codes and 202 in codes
    assert all("try again" in r.json()["detail"] for r in results if r.status_code == 429)
    jobs = [wait_job(client, r.json()["job_id"], timeout=600) for r in results if r.status_code == 202]
    assert all(j["status"] == "done" for j in jobs)
    listed = {d["source"] for d in client.get("/api/documents").json()["documents"]}
    assert {s for j in jobs for s in j["result"]["documents"]} <= listed


# ------------------------------------------------------------------ killed in the middle of a job


def test_kill_mid_job_keeps_the_previous_library_then_resumes(client, served, chromium_browser):
    settings = served["settings"]
    before = state(client, settings)
    scan = scanned_pdf(chromium_browser, CARBON * 3, pages=3)
    job_id = upload(client, ("scan.pdf", scan, "application/pdf")).json()["job_id"]
    deadline = time.monotonic() + 120
    while client.get(f"/api/jobs/{job_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(served["proc"].pid, signal.SIGKILL)
    served["proc"].wait(timeout=30)
    # Nothing half-done was committed: the library on disk is as it was before the job.
    lib = settings.library_dir / "library.json"
    assert (lib.read_text(encoding="utf-8") if lib.exists() else None) == before[0]
    served["restart"]()
    with httpx.Client(base_url=served["url"], timeout=120) as c:
        assert top(c, "海洋牧场人工鱼礁")[0]["source"] == "100_ocean.txt"  # serving from the start
        job = wait_job(c, job_id, timeout=600)  # the accepted upload is not lost: it runs again
        assert job["status"] == "done" and job["attempts"] == 2, job
        assert "scan.pdf" in {d["source"] for d in c.get("/api/documents").json()["documents"]}
    entries = json.loads((settings.library_dir / "library.json").read_text(encoding="utf-8"))["documents"]
    assert "scan.pdf" in {e["source"] for e in entries}
