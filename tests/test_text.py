"""HTML to text (sources/text.py): the same text as the standard library's ``html.parser``
on well-formed markup, and linear time on the markup that made that parser quadratic."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from sources.text import MAX_MARKUP, html_to_text, looks_like_html
from tests.conftest import fastest

# -- the oracle: html.parser, as sources/text.py used it before it had to be linear -----------

_BLOCK = {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}


class _Reference(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "template"):
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img" and dict(attrs).get("alt"):
            self.parts.append(dict(attrs)["alt"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self.skip:
            self.skip -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def reference(markup: str) -> str:
    if not looks_like_html(markup):
        return markup.strip()  # plain text is left as it is written
    parser = _Reference()
    parser.feed(markup)
    parser.close()
    text = re.sub(r"[^\S\n]+", " ", "".join(parser.parts))
    return re.sub(r"\s*\n\s*", "\n", text).strip()


TEXTS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8).map(html.escape)
PLAIN = st.sampled_from(["艾克美", "保温杯", "烫伤", "Acme", " ", "\n", "\u3000", "a < b", "x > y", "&amp;", "&#20013;", "&lt;p&gt;", "R&D"])


@st.composite
def fragments(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "plain", "block", "inline", "img", "br", "script", "comment"] if depth < 3 else ["text", "plain"]))
        if kind == "text":
            parts.append(draw(TEXTS))
        elif kind == "plain":
            parts.append(draw(PLAIN))
        elif kind in ("block", "inline"):
            tag = draw(st.sampled_from(["p", "div", "li", "blockquote"] if kind == "block" else ["a", "b", "span", "em"]))
            attr = draw(st.sampled_from(["", ' href="https://x.test/?a=1&amp;b=2"', " class='c'", ' title="a &gt; b"', ' title="a > b"', " data-x='<b>'"]))
            parts.append(f"<{tag}{attr}>{draw(fragments(depth + 1))}</{tag.upper() if draw(st.booleans()) else tag}>")
        elif kind == "img":
            parts.append(f'<img src="e.png" alt="{draw(TEXTS)}">')
        elif kind == "br":
            parts.append(draw(st.sampled_from(["<br>", "<br/>", "<br />"])))
        elif kind == "script":
            parts.append(draw(st.sampled_from(["<script>if (a < b) x()</script>", "<style>p{}</style>"])))
        else:
            parts.append("<!-- a comment -->")
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(fragments())
def test_well_formed_markup_gives_what_html_parser_gives(markup: str) -> None:
    assert html_to_text(markup) == reference(markup)


@given(st.text(max_size=300))
def test_any_text_gives_text_and_never_raises(text: str) -> None:
    out = html_to_text(text)
    assert isinstance(out, str) and out == out.strip()
    looks_like_html(text)


def test_real_markup_examples() -> None:
    assert html_to_text('<p>孩子被<a href="/tag">#艾克美#</a>保温杯烫伤<img alt="[怒]" src="x.png"></p><p>已投诉 &amp; 曝光</p>') == "孩子被#艾克美#保温杯烫伤[怒]\n已投诉 & 曝光"
    assert html_to_text("a < b and c > d") == "a < b and c > d"
    assert html_to_text("<p>kept</p><script>hidden()</script>after") == "kept\nafter"
    assert html_to_text("<p>truncated <a href=") == "truncated"
    assert html_to_text("<a<b>x") == "<ax"  # a "<" that never closes before the next one is text
    assert html_to_text("<p>质量对比</p>A<B 电池爆炸了") == "质量对比\nA<B 电池爆炸了"  # words after a "<" that never closes


def test_markup_is_capped_before_it_is_read() -> None:
    assert len(html_to_text("<b>x</b>" + "y" * (MAX_MARKUP * 2))) < MAX_MARKUP


def test_hostile_markup_costs_no_more_than_ordinary_markup_of_its_size() -> None:
    """Each worst case that made html.parser or a ``<[^>]*>`` regex quadratic, against
    ordinary HTML of the same length, timed in the same test: linear code keeps the ratio
    small (quadratic code was hundreds of times slower at this size)."""
    size = MAX_MARKUP
    baseline = fastest(html_to_text, ("<p>艾克美保温杯<b>烫伤</b>了孩子 &amp; 记者</p>" * size)[:size])
    worst = ["<a", "<a ", "</", "<!--", "&#", "<a href='", "<script>", "\u3000", " \n", '<a x="', "<a x='<", '<a x="a" <']
    for hostile in (piece * size for piece in worst):
        for work in (hostile[:size], hostile[: size - 1] + ">"):  # with no ">", and with one at the very end
            spent = fastest(html_to_text, work)
            assert spent < 10 * baseline, (work[:12], work[-4:], spent, baseline)
