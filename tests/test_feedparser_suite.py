"""feedparser's own test suite as the oracle for the RSS source (shared/fixtures/real/feeds/
feedparser-suite, 1,825 files; see SOURCES.md).

Two checks on every file:

1. **Differential.** ``RssSource.parse`` with the fast path (sources/rssfast.py, falling back
   to feedparser when unsure) gives exactly the posts it gives with feedparser alone: same
   ids, links, titles, texts, authors, dates, counters; or the same ParseError.
2. **feedparser's ``Expect:``.** Each file's comment says, as a Python expression over
   feedparser's result, what a field must be (``entries[0]['link'] == '...'``). Where it
   names an entry field a post carries, our post made from that entry must agree: its url
   is the link, its id is the id, its title and author are the (markup-free) title and
   author, its text holds the body, its time is the parsed date.

Deliberate differences (counted, not failed; see ``DELIBERATE``):

- ``link``: a post's url is always an absolute http(s) address; an expected link that is
  not one (relative with no base, ``javascript:``, a ``tag:`` id) is not followed.
- ``id``: an id that is not a URL (``"1"``, ``tag:…``) is namespaced by its feed
  (``<feed url>#<id>``): only unique within its feed, and kept that way so that posts
  stored by earlier versions are not seen as new.
- body: a post keeps the longest of an entry's bodies (content or summary); an expected
  shorter one may be left out.
- dates: a post's time is ``published``, else ``updated``; an expected ``updated`` of an
  entry that also has ``published`` is not its time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest

from sources import ParseError, SourceContext
from sources.fields import is_web_url
from sources.rss import RssSource
from sources.text import html_to_text

SUITE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "feeds" / "feedparser-suite"
FILES = sorted(SUITE.rglob("*.xml")) if SUITE.is_dir() else []
IDS = [p.relative_to(SUITE).as_posix() for p in FILES]
UTC = UTC

pytestmark = pytest.mark.skipif(not FILES, reason=f"feedparser's suite not found under {SUITE} (see shared/fixtures/real/SOURCES.md)")


@dataclass(frozen=True)
class Case:
    """One file of feedparser's suite: its bytes and what its comment says."""

    body: bytes
    description: str
    expect: str
    headers: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> Case:
        body = path.read_bytes()
        head = body[:4096].decode("utf-8", "replace")
        fields: dict[str, str] = {}
        headers: dict[str, str] = {}
        for line in head.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "Header":
                name, _, val = value.strip().partition(":")
                headers[name.strip().lower()] = val.strip()
            elif key in ("Description", "Expect") and key not in fields:
                fields[key] = value.strip()
        return cls(body, fields.get("Description", ""), fields.get("Expect", ""), headers)

    @property
    def url(self) -> str:
        return self.headers.get("content-location") or "https://feeds.test/suite.xml"


def source(fast: bool) -> RssSource:
    made = RssSource("suite", {"url": "https://feeds.test/suite.xml"}, SourceContext(http=None, timezone=ZoneInfo("UTC")))  # type: ignore[arg-type]
    made.fast = fast  # an instance attribute: the class default stays as it is
    return made


FAST, SLOW = source(True), source(False)


def parse(src: RssSource, case: Case) -> Any:
    try:
        return src.parse(case.body, case.headers.get("content-type"), case.url)
    except ParseError as exc:
        return f"ParseError: {exc}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_fast_path_and_fallback_give_what_feedparser_alone_gives(path: Path) -> None:
    case = Case.read(path)
    assert parse(FAST, case) == parse(SLOW, case)


# -- feedparser's Expect: --------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """``entries[index][field](...) == value``, one conjunct of an Expect expression."""

    index: int
    path: tuple[Any, ...]
    value: Any


def claims(expect: str) -> Iterator[Claim]:
    """The conjuncts of ``expect`` that pin an entry field to a literal."""
    try:
        tree = ast.parse(expect, mode="eval").body
    except SyntaxError:
        return
    conjuncts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    for node in conjuncts:
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
            continue
        keys: list[Any] = []
        left: ast.expr = node.left
        while isinstance(left, ast.Subscript):
            try:
                keys.append(ast.literal_eval(left.slice))
            except ValueError:
                break
            left = left.value
        if not (isinstance(left, ast.Name) and left.id == "entries" and keys and isinstance(keys[-1], int)):
            continue
        right = node.comparators[0]
        if isinstance(right, ast.Call) and getattr(right.func, "attr", "") == "struct_time" and right.args:
            right = right.args[0]
        try:
            value = ast.literal_eval(right)
        except ValueError:
            continue
        keys.reverse()
        yield Claim(keys[0], tuple(keys[1:]), value)


def dig(entry: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        entry = entry[key]
    return entry


def squash(text: str) -> str:
    return " ".join(text.split())


DELIBERATE = {"link not a web address", "id namespaced by its feed", "shorter body left out", "updated is not the time"}


def aspect(claim: Claim) -> str | None:
    """Which part of a post the claim is about, or None for what a post does not carry
    (contributors, enclosures, geo, the entry's source feed …)."""
    field, rest, value = claim.path[0], claim.path[1:], claim.value
    if isinstance(value, str):
        if field in ("title", "title_detail") and rest in ((), ("value",)):
            return "title"
        if field in ("link", "id", "author") and rest == ():
            return field
        if (field in ("description", "summary") and rest == ()) or (field == "summary_detail" and rest == ("value",)) or (field == "content" and len(rest) == 2 and rest[1] == "value"):
            return "body"
    if field in ("published_parsed", "updated_parsed") and rest == () and isinstance(value, tuple) and len(value) == 9:
        return "time"
    return None


def verdict(post: Any, entry: Any, claim: Claim, url: str) -> str | None:
    """None when the post agrees with the claim, else a DELIBERATE reason or the disagreement."""
    what, value = aspect(claim), claim.value
    if what == "title":
        expected = html_to_text(value)
        return None if post.title == expected else f"title {post.title!r} != {expected!r}"
    if what == "link":
        if not is_web_url(value):
            return "link not a web address"
        return None if post.url == value else f"url {post.url!r} != link {value!r}"
    if what == "id" and value:
        if "://" in value:
            return None if post.id == value else f"id {post.id!r} != {value!r}"
        return "id namespaced by its feed" if post.id == f"{url}#{value}" else f"id {post.id!r} != {url}#{value}"
    if what == "author":
        expected = html_to_text(value)
        return None if post.author == expected else f"author {post.author!r} != {expected!r}"
    if what == "body":
        expected = squash(html_to_text(value))
        if expected in squash(post.text):
            return None
        longest = max([c.get("value", "") for c in entry.get("content") or []] + [entry.get("summary") or ""], key=len)
        return "shorter body left out" if len(longest) > len(value) else f"text {post.text!r} lacks {expected!r}"
    if what == "time":
        if claim.path[0] == "updated_parsed" and dict.get(entry, "published_parsed"):
            return "updated is not the time"
        expected_at = datetime(*value[:6], tzinfo=UTC)  # feedparser's parsed times are UTC
        return None if post.created_at == expected_at else f"time {post.created_at} != {expected_at}"
    return None


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_posts_agree_with_what_feedparser_expects(path: Path) -> None:
    case = Case.read(path)
    entry_claims = [claim for claim in claims(case.expect) if aspect(claim) is not None]
    if not entry_claims:
        return
    parsed = feedparser.parse(case.body, response_headers={"content-location": case.url, "content-type": case.headers.get("content-type") or "application/xml"})
    for claim in entry_claims:
        try:
            entry = parsed.entries[claim.index]
            actual = dig(entry, claim.path)
        except (IndexError, KeyError, TypeError, AttributeError):
            continue  # feedparser itself does not give the field under our headers: nothing to agree with
        if actual != claim.value:
            continue  # this feedparser no longer says what its old test expects
        post = SLOW._post(case.url, entry)
        if post is None:  # no id, no link, no text: nothing to alert on, so no post
            assert aspect(claim) not in ("title", "body") or not html_to_text(claim.value), f"{case.description}: entry {claim.index} gave no post"
            continue
        problem = verdict(post, entry, claim, case.url)
        assert problem is None or problem in DELIBERATE, f"{case.description}\n  Expect: {case.expect}\n  {problem}"


def test_the_suite_pins_links_ids_titles_bodies_and_dates() -> None:
    """The Expect check is not vacuous: it reaches every kind of field it knows."""
    seen: dict[str, int] = {}
    for path in FILES:
        for claim in claims(Case.read(path).expect):
            seen[str(claim.path[0])] = seen.get(str(claim.path[0]), 0) + 1
    for field in ("link", "id", "title", "description", "content", "author", "published_parsed", "updated_parsed"):
        assert seen.get(field, 0) >= 3, (field, seen)

