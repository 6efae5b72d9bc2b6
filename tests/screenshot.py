"""Screenshot of the chat page answering an example question with the document panel open.

    .venv/bin/python tests/screenshot.py                 # starts a server, writes docs/screenshot.png
    .venv/bin/python tests/screenshot.py --url http://127.0.0.1:8000 --out /tmp/shot.png

Also imported by tests/test_browser.py (browser launch settings and `capture`).
Needs Debian's chromium (/usr/bin/chromium) and fonts-wqy-zenhei for the Chinese text.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EXAMPLE = "示范区要加快建设哪些新一代信息基础设施？"
SIZE = {"width": 1280, "height": 900}


def launch(playwright):
    """Headless Debian chromium (Playwright's own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium fonts-wqy-zenhei")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def ask(page, question: str, timeout: float = 60_000):
    """Type `question`, press Enter and wait until the reply (answer or error) replaced the loading state."""
    from playwright.sync_api import expect

    turns = page.locator("#conversation .turn")
    before = turns.count()
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    turn = turns.nth(before)
    turn.locator(".msg.bot:not(.loading)").wait_for(timeout=timeout)
    # the reply is drawn before its stream has ended; the page takes the next question once Send is back
    expect(page.locator("#send")).to_be_enabled(timeout=timeout)
    return turn


def capture(browser, base_url: str, out: Path, question: str = EXAMPLE) -> Path:
    """1280x900 screenshot: `question` answered, its answer citation open in the document panel."""
    context = browser.new_context(viewport=SIZE, device_scale_factor=1, locale="zh-CN",
                                  color_scheme="light", reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(base_url.rstrip("/") + "/")
        turn = ask(page, question)
        cite = turn.locator(".answer .cite").first
        cite.click()
        mark = page.locator("#doc-panel mark.cited")
        mark.wait_for()
        page.wait_for_function("() => { const r = document.querySelector('#doc-panel mark.cited').getBoundingClientRect();"
                               " return r.top >= 0 && r.bottom <= window.innerHeight; }")
        page.evaluate("document.fonts.ready")
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        return out
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server; by default one is started from this checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    proc = None
    url = args.url
    if not url:
        sys.path.insert(0, str(ROOT))
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import start_server

        proc, url = start_server()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            try:
                path = capture(browser, url, args.out)
            finally:
                browser.close()
        print(f"wrote {path}")
    finally:
        if proc is not None:
            from conftest import stop_server

            stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
