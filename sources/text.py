"""HTML to plain text, shared by every source whose platform sends markup.

Post text is hostile input: a platform can send hundreds of kilobytes of ``<a<a<a…``. The
standard library's ``html.parser`` and a regex like ``<[^>]*>`` rescan the rest of the text
from every ``<`` that never closes, which is quadratic and holds the GIL (a 300 kB post
froze the whole daemon for 23 s). So the markup is capped first, then read by a scanner
whose searches only ever move forward: every character is looked at a bounded number of
times, whatever the input.
"""

from __future__ import annotations

import html
import re

MAX_MARKUP = 200_000
"""Characters of markup read for one text: ten times a post's text cap (``MAX_TEXT``), room
for markup-heavy HTML, and a bound on the work one value can cause."""

_BLOCK = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})
_SKIP = frozenset({"script", "style", "template"})
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r" ?\n[\s]*")
_QUOTED_VALUE = re.compile(r"""=[ \t\n\r\f]*(["'])""")
_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ALT = re.compile(r"""\salt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.I)
# a tag or an entity; [^<>] keeps every attempt from running past the next "<" (linear)
_LOOKS_LIKE_HTML = re.compile(r"<[a-zA-Z!/][^<>]*>|&[a-zA-Z#][a-zA-Z0-9]{0,31};")


class _Forward:
    """``str.find`` for one needle over one text, for searches that only move forward: a
    found position is reused until passed, and "none after here" is remembered, so the
    text is scanned at most once per needle in all."""

    __slots__ = ("_text", "_needle", "_found", "_none_from")

    def __init__(self, text: str, needle: str) -> None:
        self._text, self._needle = text, needle
        self._found = -1
        self._none_from = len(text) + 1

    def find(self, start: int) -> int:
        if start >= self._none_from:
            return -1
        if self._found >= start:
            return self._found
        found = self._text.find(self._needle, start)
        if found < 0:
            self._none_from = start
        self._found = found
        return found


def _tag_end(markup: str, at: int, opens: _Forward, closes: _Forward, quotes: dict[str, _Forward]) -> int | None:
    """Where the tag opened at ``at`` ends (its ">"); ``None`` when the markup ends first;
    ``-k`` when a "<" at ``k`` comes before it, so that the "<" at ``at`` is text. A quoted
    attribute value may hold "<" and ">" (``title="a > b"``). Every search starts after the
    last, so this is linear in what it passes over, and the caller never passes it again."""
    start = at + 1
    while True:
        close = closes.find(start)
        if close < 0:
            return None
        reopened = opens.find(start)
        limit = close if reopened < 0 or reopened > close else reopened
        quote = _open_quote(markup, start, limit)
        if quote is None:
            return close if limit == close else -limit
        closing = quotes[quote].find(limit)
        if closing < 0:
            return None
        start = closing + 1


def _open_quote(markup: str, start: int, end: int) -> str | None:
    """The quote character of an attribute value opened in ``markup[start:end]`` and not
    closed there, if any."""
    while True:
        value = _QUOTED_VALUE.search(markup, start, end)
        if value is None:
            return None
        quote = value.group(1)
        closing = markup.find(quote, value.end(), end)
        if closing < 0:
            return quote
        start = closing + 1


def html_to_text(markup: str) -> str:
    """Readable text of an HTML fragment: tags dropped, entities decoded, block elements as
    line breaks, image alt texts kept (Weibo's emoji names like [送花花]), script and style
    left out. Linear in the input, never raises."""
    if not markup:
        return ""
    markup = markup[:MAX_MARKUP]
    if not _LOOKS_LIKE_HTML.search(markup):
        return markup.strip()
    parts: list[str] = []
    opens, closes, comment_ends = _Forward(markup, "<"), _Forward(markup, ">"), _Forward(markup, "-->")
    quotes = {'"': _Forward(markup, '"'), "'": _Forward(markup, "'")}
    end, i = len(markup), 0
    while i < end:
        at = opens.find(i)
        if at < 0:
            parts.append(html.unescape(markup[i:]))
            break
        if at > i:
            parts.append(html.unescape(markup[i:at]))
        if markup.startswith("<!--", at):
            close = comment_ends.find(at + 4)
            if close < 0:
                break  # an unterminated comment at the end (truncated HTML): dropped
            i = close + 3
            continue
        first = markup[at + 1 : at + 2]
        if not (first.isascii() and (first.isalpha() or first in "/!?")):
            parts.append("<")  # "a < b": text
            i = at + 1
            continue
        tag_end = _tag_end(markup, at, opens, closes, quotes)
        if tag_end is None:
            tail = markup[at:]
            if not any(c in tail for c in "=\"'") and any(c.isspace() for c in tail):
                parts.append(html.unescape(tail))  # "A<B 电池爆炸": words, not a tag cut short
            break  # an unterminated tag or quoted value at the end (truncated HTML): dropped
        if tag_end < 0:  # "<a<b>": the first "<" never closes before the next one: text
            parts.append(html.unescape(markup[at:-tag_end]))
            i = -tag_end
            continue
        i = tag_end + 1
        body = markup[at + 1 : tag_end]
        if first in "!?":
            continue  # a declaration or processing instruction
        if first == "/":
            name = _NAME.match(body, 1)
            if name and name.group().lower() in _BLOCK:
                parts.append("\n")
            continue
        name = _NAME.match(body)
        tag = name.group().lower() if name else ""
        if tag in _SKIP:
            skipped = re.compile(rf"</{tag}\s*>", re.I).search(markup, i)
            if skipped is None:
                break  # never closed: everything after it is its content
            i = skipped.end()
        elif tag in _BLOCK:
            parts.append("\n")
        elif tag == "img":
            alt = _ALT.search(body)
            if alt:
                parts.append(html.unescape(next(g for g in alt.groups() if g is not None)))
    text = _SPACES.sub(" ", "".join(parts))
    return _NEWLINES.sub("\n", text).strip()


def storable(text: str) -> str:
    """Text every database and mail library takes: no NUL (PostgreSQL refuses it in text)
    and no lone surrogate (JSON's "\\ud800" decodes to one; UTF-8 cannot encode it)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def looks_like_html(text: str) -> bool:
    """Has a tag or an entity (linear: see ``_LOOKS_LIKE_HTML``)."""
    return bool(_LOOKS_LIKE_HTML.search(text))
