"""Library API: upload documents, delete them, follow the jobs that index them.

    POST   /api/documents          multipart, field `files` (one or more), header X-Admin-Token
    DELETE /api/documents/{source} header X-Admin-Token
    GET    /api/jobs/{job_id}      status queued/running/done/failed, stage, progress, reason

Upload bodies bypass the 16 KiB JSON limit of service/app.py's RequestLimits: `upload_gate`
checks them instead, before FastAPI reads a byte: the token (403), the content type (415),
the declared length and then the bytes actually received (413, POLICYQA_MAX_UPLOAD_MB).
"""
from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, File, Header, HTTPException, Request, UploadFile
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from index.config import Settings
from index.ingest.seeds import seed_paths
from index.ingest.library import sanitize_name
from index.ingest.parse import ParseError, sniff
from index.ingest.parse import ParseLimits
from index.ingest.parse.docx import check_archive

from .deps import SettingsDep
from .jobs import JobRunner, QueueFull
from .library_jobs import LibraryChanges
from .models import DocumentList, DocumentSummary, ErrorOut

UPLOAD_PATH = "/api/documents"
MAX_FILES_PER_UPLOAD = 20
router = APIRouter()


def max_upload_bytes(settings: Settings) -> int:
    return int(float(settings.max_upload_mb) * 1024 * 1024)


def token_ok(given: str | None, settings: Settings) -> bool:
    expected = settings.admin_token
    return bool(expected) and hmac.compare_digest((given or "").encode(), expected.encode())


TOKEN_MESSAGE = "Changing the library needs the X-Admin-Token header matching POLICYQA_ADMIN_TOKEN."


class JobCreated(BaseModel):
    job_id: str


class JobProgress(BaseModel):
    done: int
    total: int


class JobOut(BaseModel):
    id: str
    kind: Literal["upload", "delete"]
    status: Literal["queued", "running", "done", "failed"]
    stage: str
    message: str
    progress: JobProgress | None = None
    files: list[dict]
    source: str | None = None
    created: str
    finished: str | None = None
    reason: str | None = None
    result: dict | None = None
    attempts: int = 0  # 2: the worker running it stopped, and another ran it again from the start


# ---------------------------------------------------------------- the gate in front of uploads


def is_upload(scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == UPLOAD_PATH


async def upload_gate(app, scope, receive, send) -> None:
    headers = Headers(scope=scope)

    async def reject(status: int, detail: str) -> None:
        await JSONResponse({"detail": detail}, status)(scope, receive, send)

    settings: Settings = scope["app"].state.settings  # the app's own (service/deps.py app_settings)
    if not token_ok(headers.get("x-admin-token"), settings):
        return await reject(403, TOKEN_MESSAGE)
    if not headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await reject(415, "Send the files as multipart/form-data in the field `files`.")
    limit = max_upload_bytes(settings)
    too_large = f"The upload is too large; the limit is {limit // (1024 * 1024)} MB per request (POLICYQA_MAX_UPLOAD_MB)."
    length = headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            return await reject(400, "The Content-Length header is not a number.")
        if int(length) > limit:
            return await reject(413, too_large)
    received = 0

    async def counted():
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:  # a chunked body that lied about nothing but is still too big
            raise HTTPException(413, too_large)
        return message

    await app(scope, counted, send)


# ---------------------------------------------------------------- routes


def _runner(request: Request) -> JobRunner:
    return request.app.state.jobs


def _library(request: Request) -> LibraryChanges:
    return request.app.state.library


def _seed_names(request: Request) -> set[str]:
    """Names of the built-in documents (the seeds folder): the library API cannot replace or delete them."""
    return {p.name for p in seed_paths(request.app.state.holder.settings.seeds_dir)}


@router.post("/api/documents", status_code=202, response_model=JobCreated,
             responses={s: {"model": ErrorOut} for s in (400, 401, 403, 409, 413, 415, 422, 429)})
def upload(request: Request, settings: SettingsDep, files: Annotated[list[UploadFile], File(description=f"One to {MAX_FILES_PER_UPLOAD} documents",
                                                          json_schema_extra={"minItems": 1,
                                                                             "maxItems": MAX_FILES_PER_UPLOAD})],
           x_admin_token: Annotated[str | None, Header()] = None) -> JobCreated:
    """Add documents (PDF, scanned PDF, PNG/JPEG, DOCX, HTML, Markdown, text) to the library.
    Returns at once; GET /api/jobs/{job_id} follows the indexing. A file with the name of a
    library document replaces it (same content: nothing to do)."""
    if not token_ok(x_admin_token, settings):
        raise HTTPException(403, TOKEN_MESSAGE)
    if not files:
        raise HTTPException(400, "No file was sent; put the documents in the multipart field `files`.")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise HTTPException(400, f"At most {MAX_FILES_PER_UPLOAD} files per upload.")
    runner = _runner(request)
    seeds = _seed_names(request)
    staged, names = [], set()
    for upload_file in files:
        try:
            name = sanitize_name(upload_file.filename or "")
        except ValueError as err:
            raise HTTPException(400, f"{(upload_file.filename or '')[:80]!r}: {err}") from err
        if name in names:
            raise HTTPException(400, f"{name}: the same file name appears twice in this upload")
        if name in seeds:
            raise HTTPException(409, f"{name}: a built-in document has this name; rename the file")
        names.add(name)
        data = upload_file.file.read(max_upload_bytes(settings) + 1)
        if len(data) > max_upload_bytes(settings):
            raise HTTPException(413, f"{name}: the file is over the {max_upload_bytes(settings) // (1024 * 1024)} MB limit")
        try:
            kind = sniff(data)
            if kind == "docx":
                check_archive(data, ParseLimits.of(settings))  # a zip bomb is refused here, before anything unpacks it
        except ParseError as err:
            raise HTTPException(err.status, f"{name}: {err}") from err
        staged.append((name, kind, data))
    files_meta = [{"source": name, "format": kind, "sha256": _library(request).library.store_blob(data), "size": len(data)}
                  for name, kind, data in staged]
    try:
        return JobCreated(job_id=runner.submit("upload", files=files_meta))
    except QueueFull as err:
        raise HTTPException(429, str(err)) from err


@router.delete("/api/documents/{source}", status_code=202, response_model=JobCreated,
               responses={s: {"model": ErrorOut} for s in (401, 403, 404, 409, 429)})
def delete(source: str, request: Request, settings: SettingsDep, x_admin_token: Annotated[str | None, Header()] = None) -> JobCreated:
    """Remove a library document; the built-in seed documents cannot be removed."""
    if not token_ok(x_admin_token, settings):
        raise HTTPException(403, TOKEN_MESSAGE)
    runner = _runner(request)
    if source not in {e["source"] for e in _library(request).committed()}:
        if source in _seed_names(request):
            raise HTTPException(409, f"{source[:200]!r} is a built-in document (seeds/); it cannot be deleted here.")
        raise HTTPException(404, f"No library document named {source[:200]!r}. GET /api/documents lists them.")
    try:
        return JobCreated(job_id=runner.submit("delete", source=source))
    except QueueFull as err:
        raise HTTPException(429, str(err)) from err


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}})
def job(job_id: str, request: Request) -> JobOut:
    """Where an upload or delete job is: queued, running (stage, progress), done or failed (reason)."""
    found = _runner(request).get(job_id)
    if found is None:
        raise HTTPException(404, f"No job {job_id[:40]!r}.")
    return JobOut(**found)


def document_list(eng, runner: JobRunner) -> DocumentList:
    """The served documents with their library metadata, then documents still being indexed."""
    library = {e["source"]: e for e in eng.backend.library_entries()}
    out = []
    for d in eng.backend.list_documents():
        e = library.get(d.source)
        meta = ({"format": e.get("format", "text"), "pages": e.get("pages"), "size": e.get("size"),
                 "added": e.get("added"), "origin": "library"} if e else {"format": "text", "origin": "seed"})
        out.append(DocumentSummary(source=d.source, title=d.title, length=d.length, passages=d.passages, **meta))
    served = {d.source for d in out}
    for job in runner.pending():
        for f in job["files"]:
            if f["source"] not in served:
                out.append(DocumentSummary(source=f["source"], title=f["source"], length=0, passages=0,
                                           format=f.get("format", "text"), size=f["size"], status="processing",
                                           origin="library"))
    return DocumentList(documents=out)
