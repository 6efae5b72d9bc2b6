"""HTML with trafilatura: the main text, boilerplate (menus, footers) and scripts dropped.

Nothing in the page is run: lxml parses the markup and only text nodes are kept."""
from __future__ import annotations

from index.ingest.seeds import SeedError, decode
from index.ingest.parse.base import ParsedDocument, ParseError
from index.ingest.parse.grid import pipe_tables


def parse_html(data: bytes) -> ParsedDocument:
    try:
        import trafilatura
    except ImportError as err:
        raise ParseError("HTML pages need the package trafilatura (pip install trafilatura==2.3.1)") from err
    try:
        html = decode(data)
    except SeedError as err:
        raise ParseError(str(err)) from err
    # Precision first (menus and link lists out); a page it finds nothing in gets the default pass.
    text = None
    for favor in ({"favor_precision": True}, {}):
        text = trafilatura.extract(html, include_tables=True, include_comments=False, include_links=False,
                                   deduplicate=False, **favor)
        if text and text.strip():
            break
    if not text or not text.strip():
        raise ParseError("no main text was found in the HTML page")
    meta = trafilatura.extract_metadata(html)
    title = (meta.title or "").strip() if meta is not None else ""
    # trafilatura writes a <table> as a pipe table, its first row the header (<th> or not)
    return ParsedDocument("html", [pipe_tables(text)], title=title or None)
