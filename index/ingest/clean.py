"""Turn one noisy seed file into one clean text that citations point into.

Each rule is a small function of str -> str, applied in order by `clean_text`.
The rules were written against what is really in the seeds: OCR output with one
character per line, PDF text whose line breaks became spaces, Kangxi-radical
look-alike characters, symbol garbage from PDF extraction, page markers and web
boilerplate.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field

from index.text.tokenize import jieba_for

# Characters after which a line break is a real paragraph/sentence end.
TERMINATORS = "。！？!?；;：:…”’」』)）】"
CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{CJK}]")

# Numbered-part markers that start a section: 第X章/条/节, 一、, (一), 1. / 1、
_NUM = "一二三四五六七八九十百零〇"
HEADING_PATTERNS = [
    (1, re.compile(rf"第[{_NUM}\d]+[章编部]")),
    (1, re.compile(rf"[{_NUM}]{{1,3}}、")),
    (2, re.compile(rf"[(（][{_NUM}]{{1,3}}[)）]")),
    (2, re.compile(rf"第[{_NUM}\d]+[条节]")),
    (3, re.compile(r"\d{1,2}[.、](?!\d)")),
]

# Whole lines that are web/page boilerplate, never content.
BOILERPLATE_LINES = [
    re.compile(r"^您的位置"),
    re.compile(r"^免责声明"),
    re.compile(r"联系QQ"),
    re.compile(r"^[•·]\s*(来源|\||\d{4}-\d{2}-\d{2}|\d+\s*条评论|T小字|$)"),
    re.compile(r"^-\s*(格式|大小|文档页数)\s*:"),
]
# Page markers such as "—2—" or "— 28 —" standing between whitespace.
PAGE_MARKER = re.compile(r"(?:(?<=\s)|^)[—－–-]\s?\d{1,3}\s?[—－–-](?=\s|$)", re.M)
# Candidate garbage: runs of printable ASCII without CJK; judged by symbol density.
_ASCII_RUN = re.compile(r"[!-~](?:[!-~ ]*[!-~])?")
# Two or more blank lines never fall inside a sentence in the seeds: a hard paragraph end.
HARD_BREAK = "\n\n\n"
_FILENAME = re.compile(r"^(.{2,80})\.(docx?|pdf|txt|wps)$", re.I)


@dataclass
class CleanDocument:
    source: str
    title: str
    text: str
    # (char offset of a heading line in `text`, heading level, heading text)
    headings: list[tuple[int, int, str]] = field(default_factory=list)
    # Where each original page starts in `text` (PDFs and images); None for sources without pages.
    page_starts: list[int] | None = None

    def page_at(self, offset: int) -> int | None:
        """1-based page that the character at `offset` came from; None without pages."""
        if not self.page_starts:
            return None
        return max(1, bisect_right(self.page_starts, offset))

    def section_at(self, offset: int) -> str:
        """The nearest heading at or before `offset`, with its parent when nested."""
        path: dict[int, str] = {}
        for start, level, text in self.headings:
            if start > offset:
                break
            path = {lvl: t for lvl, t in path.items() if lvl < level}
            path[level] = text
        return " / ".join(path[lvl] for lvl in sorted(path)[-2:]) if path else ""


# CJK Radicals Supplement forms have no NFKC mapping; these are the ones that stand in
# for common simplified characters in PDF text (after Unicode's EquivalentUnifiedIdeograph).
RADICAL_SUPPLEMENT = str.maketrans({
    "⻓": "长", "⻅": "见", "⻔": "门", "⻋": "车", "⻢": "马", "⻛": "风", "⻜": "飞", "⻉": "贝",
    "⻘": "青", "⻝": "食", "⻥": "鱼", "⻦": "鸟", "⻩": "黄", "⻬": "齐", "⻮": "齿", "⻰": "龙",
    "⻄": "西", "⻆": "角", "⻁": "虎", "⻈": "讠", "⻊": "足", "⻚": "页", "⻙": "韦", "⻖": "阝",
})


def normalize_unicode(text: str) -> str:
    """NFKC folds Kangxi radicals (⼀⾓) to ordinary ideographs and full-width ASCII to ASCII;
    the radical-supplement look-alikes (⻓) that NFKC leaves alone are mapped explicitly."""
    text = unicodedata.normalize("NFKC", text).translate(RADICAL_SUPPLEMENT)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").replace("\ufeff", "")


def drop_boilerplate_lines(text: str) -> str:
    keep = [ln for ln in text.split("\n") if not any(p.search(ln.strip()) for p in BOILERPLATE_LINES)]
    return "\n".join(keep)


def drop_page_markers(text: str) -> str:
    return PAGE_MARKER.sub(" ", text)


def _is_garbage(run: str) -> bool:
    if len(run) < 6:
        return False
    symbols = sum(1 for c in run if not c.isalnum() and c != " ")
    return symbols / len(run) >= 0.35 and symbols >= 4


def drop_symbol_garbage(text: str) -> str:
    """Remove runs like `!"*+*+,+-!"!#$%` left by PDF font extraction, and U+FFFD."""
    text = _ASCII_RUN.sub(lambda m: " " if _is_garbage(m.group()) else m.group(), text)
    return text.replace("\ufffd", "").replace("■", " ")


# In some PDF text the font's punctuation came out as ASCII symbols between ideographs
# (`外籍人才&外国技能型人才…#可以适当放宽`), with characters lost around them.
_GARBLED = re.compile(rf"(?<=[{CJK}])[#$%&!\"*+<=>@\\^_`|~'](?=[{CJK}])|[{CJK}][#$%&!\"*+<=>@\\^_`|~']{{2,}}")


def drop_garbled_lines(text: str) -> str:
    """Drop lines so damaged by symbol-for-punctuation garbling that they can't be quoted."""
    def damaged(line: str) -> bool:
        n = len(_GARBLED.findall(line))
        return n >= 5 and n >= 0.02 * len(line)

    return "\n".join(ln for ln in text.split("\n") if not damaged(ln))


def split_inline_headings(text: str) -> str:
    """PDF text flattened to one line keeps headings after a space: put them on their own line."""
    markers = "|".join(p.pattern for _, p in HEADING_PATTERNS[:4])
    return re.sub(rf"[ \t]+(?=(?:{markers})\S)", "\n", text)


def collapse_spaces(text: str) -> str:
    """Drop spaces that were line breaks inside Chinese text; keep them between Latin words/numbers."""
    text = re.sub(r"[ \t]+", lambda m: "\t" if "\t" in m.group() else " ", text)
    text = re.sub(r"(?<![A-Za-z0-9%]) (?=\S)|(?<=\S) (?![A-Za-z0-9])", "", text)
    return "\n".join(ln.strip() for ln in text.split("\n"))


def join_char_per_line(text: str) -> str:
    """OCR output with one character per line: rejoin each run of one-character lines.

    Such runs are headlines set vertically, so each ends in a hard break."""
    lines = text.split("\n")
    out: list[str] = []
    run: list[str] = []
    for ln in lines:
        s = ln.strip()
        if len(s) == 1:
            run.append(s)
            continue
        if run:
            out.append("".join(run) + HARD_BREAK)
            run = []
        out.append(ln)
    if run:
        out.append("".join(run) + HARD_BREAK)
    return "\n".join(out)


def heading_level(line: str) -> int | None:
    for level, pattern in HEADING_PATTERNS:
        if pattern.match(line):
            return level
    return None


def _word_crosses(left: str, right: str) -> bool:
    """True when jieba reads a word across the break, as in `这些文件规` / `定了`."""
    a, b = left[-3:], right[:3]
    if not (a and b and _CJK_CHAR.match(a[-1]) and _CJK_CHAR.match(b[0])):
        return False
    pos = 0
    for word in jieba_for().cut(a + b, HMM=False):
        if pos < len(a) < pos + len(word):
            return True
        pos += len(word)
    return False


def reflow(text: str) -> str:
    """Join lines broken in the middle of a sentence; keep headings and paragraph ends.

    A break (even across blank lines: OCR columns and page breaks make those) is joined
    when the line before it has no sentence end and either is as wide as the document's
    typical line, or a word runs across the break, or punctuation says it continues.
    """
    lines = [ln.strip() for ln in text.split("\n")]
    widths = sorted(len(ln) for ln in lines if ln)
    if not widths:
        return ""
    typical = widths[int(len(widths) * 0.75)]
    paragraphs: list[str] = []
    blanks = 0
    for ln in lines:
        if not ln:
            blanks += 1
            continue
        if paragraphs and blanks < 2 and _continues(paragraphs[-1], ln, typical):
            paragraphs[-1] += ln
        else:
            paragraphs.append(ln)
        blanks = 0
    return "\n".join(paragraphs)


_CAPTION_LINE = re.compile(r"表\s*(?:\d+|[一二三四五六七八九十]+(?=[\s.:：、]))")


def _continues(prev: str, line: str, typical: int) -> bool:
    if prev[-1] in TERMINATORS or "\t" in prev or "\t" in line or _CAPTION_LINE.match(line):
        return False  # a table row, or a table's caption (表1 …), stands on its own line
    if heading_level(line) is not None or heading_level(prev) is not None:
        return False
    if line[0] in "，,、。；;：:”’)）" or prev[-1] in "，,、“‘(（《":
        return True
    if prev.count("(") > prev.count(")") or prev.count("“") > prev.count("”"):
        return True  # an open bracket or quote: the sentence goes on
    return len(prev) >= max(8, 0.6 * typical) or _word_crosses(prev, line)


def tidy(text: str) -> str:
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{2,}", "\n", text).strip()


def clean_text(raw: str) -> str:
    text = normalize_unicode(raw)
    text = drop_boilerplate_lines(text)
    text = drop_page_markers(text)
    text = drop_symbol_garbage(text)
    text = drop_garbled_lines(text)
    text = join_char_per_line(text)
    text = split_inline_headings(text)
    text = collapse_spaces(text)
    text = reflow(text)
    return tidy(text)


_INLINE_HEADING = re.compile(rf"(?:(?<=^)|(?<=[。)）]))(?:{'|'.join(p.pattern for _, p in HEADING_PATTERNS[:4])})", re.M)


def find_headings(text: str) -> list[tuple[int, int, str]]:
    """Headings: numbered-part markers at a line start (or right after a sentence end),
    and short stand-alone title lines."""
    found: dict[int, tuple[int, int, str]] = {}
    for m in _INLINE_HEADING.finditer(text):
        line_end = text.find("\n", m.start())
        line_end = len(text) if line_end < 0 else line_end
        label = _heading_label(text[m.start() : line_end])
        found[m.start()] = (m.start(), heading_level(text[m.start() :]) or 1, label)
    pos = 0
    for ln in text.split("\n"):
        if 2 <= len(ln) <= 30 and ln[-1] not in TERMINATORS and pos not in found and "\t" not in ln:
            found[pos] = (pos, 1, ln)
        pos += len(ln) + 1
    return sorted(found.values())


def _heading_label(line: str) -> str:
    """A heading's words: up to the first sentence punctuation or quote, at most 24 characters."""
    m = re.match(r"(.{2,24}?)(?=[。，,;；:：!?！？]|(?<=..)“|$)", line)
    return (m.group(1) if m else line[:24]).strip()


def split_filename_title(raw: str) -> tuple[str | None, str]:
    """Exported files start with their file name (`xx规划.doc`): that is the title, not text."""
    first = next((ln.strip() for ln in raw.split("\n") if ln.strip()), "")
    m = _FILENAME.match(unicodedata.normalize("NFKC", first))
    if not m:
        return None, raw
    return m.group(1), "\n".join(ln for ln in raw.split("\n") if ln.strip() != first)


def clean_document(source: str, raw: str) -> CleanDocument:
    title, raw = split_filename_title(raw)
    text = clean_text(raw)
    if title is None:
        title = text.split("\n", 1)[0][:80]
    return CleanDocument(source=source, title=title, text=text, headings=find_headings(text))
