"""Plain text and Markdown: decoded as the seeds are (UTF-8, GB18030, UTF-16 with BOM)."""
from __future__ import annotations

import re

from index.ingest.seeds import SeedError, decode
from index.ingest.parse.base import ParsedDocument, ParseError
from index.ingest.parse.grid import pipe_tables

_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M)


def parse_text(data: bytes, markdown: bool = False) -> ParsedDocument:
    try:
        text = decode(data)
    except SeedError as err:
        raise ParseError(str(err)) from err
    if markdown:  # markup out, words kept: a heading stays a line of its own
        text = _MD_RULE.sub("", text)
        text = _MD_HEADING.sub("\n", text)
        text = _MD_LINK.sub(r"\1", text)
        text = _MD_EMPHASIS.sub("", text)
        text = pipe_tables(text)
    return ParsedDocument("markdown" if markdown else "text", [text])
