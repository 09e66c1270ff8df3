"""HTML to plain text, shared by every source whose platform sends markup."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
_SKIP = {"script", "style", "template"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\s*\n\s*")
_LOOKS_LIKE_HTML = re.compile(r"<[a-zA-Z!/][^>]*>|&[a-zA-Z#][a-zA-Z0-9]*;")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:  # Weibo and others put emoji names like [送花花] in alt
                self.parts.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip_depth:
            self._skip_depth -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML fragment; never raises, whatever the input."""
    if not markup:
        return ""
    if not _LOOKS_LIKE_HTML.search(markup):
        return markup.strip()
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        # What feed() could not parse is an unterminated tag or comment at the end
        # (truncated HTML): close() would emit it verbatim as text, so drop it instead.
        tail = parser.rawdata
        parser.rawdata = ""
        if tail and not tail.lstrip().startswith("<"):
            parser.parts.append(html.unescape(tail))
        parser.close()
    except Exception:  # html.parser is lenient, but hostile input must never crash a poll
        return _LOOKS_LIKE_HTML.sub(" ", markup).strip()
    text = "".join(parser.parts)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def looks_like_html(text: str) -> bool:
    return bool(_LOOKS_LIKE_HTML.search(text))
