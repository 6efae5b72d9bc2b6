"""/docs works without internet: Swagger UI from the installed package, a CSP allowing
nothing external, and an OpenAPI schema that says what the server accepts."""
from __future__ import annotations

import re

import httpx
import pytest

from screenshot import launch
from service.models import QUERY_PATTERN


def test_docs_page_and_assets_are_local(live_server):
    r = httpx.get(f"{live_server}/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        assert src.startswith("/"), src  # nothing from another host
        assert httpx.get(f"{live_server}{src}").status_code == 200
    assert httpx.get(f"{live_server}/redoc").status_code == 404  # ReDoc would need a CDN


def test_swagger_ui_renders_offline_in_chromium(live_server):
    from playwright.sync_api import sync_playwright

    outside, problems = [], []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

            def only_local(route):
                if route.request.url.startswith(live_server):
                    route.continue_()
                else:  # the machine is offline: anything external would fail
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(f"{live_server}/docs")
            page.locator(".opblock-summary-path", has_text="/api/query").first.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() >= 6
        finally:
            browser.close()
    assert outside == [] and problems == []


def test_schema_matches_what_the_server_accepts(live_server):
    schema = httpx.get(f"{live_server}/openapi.json").json()
    query = schema["components"]["schemas"]["QueryRequest"]["properties"]["query"]
    assert query["minLength"] == 1 and query["pattern"] == QUERY_PATTERN
    for text, ok in [("", False), ("   ", False), ("\x01\x02", False), ("\u3000\u2003", False), ("a", True),
                     (" 政策 ", True)]:
        assert (re.search(QUERY_PATTERN, text) is not None) == ok
        status = httpx.post(f"{live_server}/api/query", json={"query": text, "top_k": 1}, timeout=60).status_code
        assert (status == 200) == ok, (text, status)
    upload = schema["paths"]["/api/documents"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
