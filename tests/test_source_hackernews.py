"""The Hacker News source against real hn.algolia.com answers (shared/fixtures/real/
hackernews: a 2014 wrapper array of ``{url, reply}``; see SOURCES.md) served through
respx, plus hostile bodies.

Whatever the body, only a ``SourceError`` may leave ``fetch`` or ``refresh``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, SourceContext, SourceError, TransportError, html_to_text, validate_options
from sources.hackernews import HackerNewsSource

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
WRAPPER = FIXTURES / "hackernews" / "nodehnapi_algolia_fixtures_2014.json"
BASE = "https://hn.test"
SEARCH_BY_DATE = f"{BASE}/api/v1/search_by_date"
SEARCH = f"{BASE}/api/v1/search"
UTC = UTC


def _load_entries() -> list[dict]:
    if not WRAPPER.is_file():
        return []
    return json.loads(WRAPPER.read_text(encoding="utf-8"))


ENTRIES = _load_entries()
ENTRY_IDS = [e["url"] for e in ENTRIES] or ["missing"]


def entries() -> list[dict]:
    if not ENTRIES:
        pytest.skip(f"real Hacker News fixture not found at {WRAPPER} (expected the shared checkout next to the repo)")
    return ENTRIES


def reply(url: str) -> dict:
    """The recorded Algolia body for one request path of the wrapper file."""
    for entry in entries():
        if entry["url"] == url:
            return entry["reply"]
    pytest.skip(f"no entry for {url} in {WRAPPER}")


def hit(url: str) -> dict:
    (only,) = reply(url)["hits"]
    return only


def hn(client: httpx.Client, **raw) -> HackerNewsSource:
    raw.setdefault("base_url", BASE)
    raw.setdefault("query", "apple")
    values, problems = validate_options(HackerNewsSource.options, raw)
    assert problems == []
    return HackerNewsSource("h", values, SourceContext(http=PoliteHttp(client, rng=random.Random(0))))


def check_hit(post: Post, raw: dict) -> None:
    """What every hit must become, derived from the raw hit independently."""
    assert post.platform == "hackernews"
    assert post.id == raw["objectID"]
    assert post.url == f"https://news.ycombinator.com/item?id={raw['objectID']}"
    assert post.author == raw["author"]
    assert post.title == (raw["title"] or raw["story_title"]).strip()  # one story_title ends in a space
    body = html_to_text(raw["story_text"] or raw["comment_text"] or "")
    assert post.text == "\n".join(p for p in ((raw["title"] or "").strip(), body) if p)
    assert "<p>" not in post.text and "&#x27;" not in post.text
    assert post.created_at == datetime.fromtimestamp(raw["created_at_i"], tz=UTC)
    assert post.created_at == datetime.fromisoformat(raw["created_at"].replace("Z", "+00:00"))
    assert post.engagement.likes == raw["points"]
    assert post.engagement.comments == raw["num_comments"]
    assert post.engagement.reposts is None
    is_comment = "comment" in raw["_tags"]
    assert post.ref == ("" if is_comment else raw["objectID"])


# -- every recorded answer ------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(ENTRIES) or 1), ids=ENTRY_IDS)
def test_every_recorded_answer_gives_its_hit_or_a_parse_error(router, client, index):
    entry = entries()[index]
    recorded = dict(parse_qsl(urlsplit(entry["url"]).query))
    route = router.get(SEARCH_BY_DATE).respond(200, json=entry["reply"])
    source = hn(client, query=recorded.get("query", "apple"), tags=recorded.get("tags", "(story,comment)"), limit=7)
    if "hits" not in entry["reply"]:  # /items/17 and /users/pg: not search answers
        with pytest.raises(ParseError, match="not an Algolia search result"):
            source.fetch()
        return
    (post,) = source.fetch()
    check_hit(post, entry["reply"]["hits"][0])
    assert route.call_count == 1
    sent = route.calls.last.request.url.params
    assert dict(sent) == {"query": recorded.get("query", "apple"), "tags": recorded["tags"], "hitsPerPage": "7"}


def test_fixture_covers_all_the_kinds():
    urls = [e["url"] for e in entries()]
    assert len(urls) == 26
    assert sum("hits" in e["reply"] for e in entries()) == 24


def test_story_exactly(router, client):
    router.get(SEARCH_BY_DATE).respond(200, json=reply("/api/v1/search_by_date?hitsPerPage=1&tags=(story)&query=apple"))
    (post,) = hn(client, tags="(story)").fetch()
    assert post.id == "7919424"
    assert post.ref == "7919424"
    assert post.url == "https://news.ycombinator.com/item?id=7919424"  # the discussion, not the article
    assert post.title == "Judge says concerned about Apple, Google hiring settlement"
    assert post.text == post.title  # a link post: story_text is ""
    assert post.author == "bradleyjg"
    assert post.created_at == datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)
    assert (post.engagement.likes, post.engagement.comments) == (1, 0)


def test_comment_is_its_own_text_titled_by_its_story(router, client):
    router.get(SEARCH_BY_DATE).respond(200, json=reply("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)"))
    (post,) = hn(client).fetch()
    assert post.id == "7919431"
    assert post.author == "gohrt"
    assert post.title == "Fibonacci Flim-Flam"  # story_title
    assert post.text.startswith("A perennial HN favorite\nhttps://hn.algolia.com/?q=Fibonacci+Flim-Flam#!/all/forever/...\n")
    assert post.text.endswith("the reposts come at intervals that approximates the Fibonacci sequence.")
    assert "Fibonacci Flim-Flam\n" not in post.text[:20]  # the story title is not part of the comment's text
    assert post.created_at == datetime(2014, 6, 20, 3, 39, 55, tzinfo=UTC)
    assert post.engagement.likes == 1
    assert post.engagement.comments is None  # Algolia gives comments no count: unknown, not 0
    assert post.ref == ""  # a comment cannot be re-read by the batched story_<id> lookup


def test_comment_entities_are_decoded(router, client):
    router.get(SEARCH_BY_DATE).respond(200, json=reply("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)%2Cauthor_pg"))
    (post,) = hn(client, tags="(comment),author_pg").fetch()
    assert post.text == "Is there a forum that doesn't ban people?"
    assert post.title == "Meet the People Taking over Hacker News"
    assert post.author == "pg"


def test_comment_with_empty_title_takes_the_story_title(router, client):
    router.get(SEARCH_BY_DATE).respond(200, json=reply("/api/v1/search?hitsPerPage=1&tags=(comment)%2Cauthor_pg"))
    (post,) = hn(client).fetch()
    assert post.title.startswith("Patent war goes nuclear: Microsoft, Apple-owned Rockstar")
    assert post.text.startswith("It's a little early to say for sure, but I predict this will do more to hurt Apple's reputation")
    assert post.engagement.likes == 293


def test_poll_has_title_then_its_text(router, client):
    router.get(SEARCH_BY_DATE).respond(200, json=reply("/api/v1/search?hitsPerPage=1&tags=(poll)"))
    (post,) = hn(client).fetch()
    assert post.id == "3746692" and post.ref == "3746692"
    assert post.text.startswith("Poll: What's Your Favorite Programming Language?\nWhat's your favortie programming langauge?\nBelow are")
    assert post.created_at == datetime(2012, 3, 23, 19, 19, 37, tzinfo=UTC)
    assert (post.engagement.likes, post.engagement.comments) == (2321, 592)


def test_time_falls_back_to_the_iso_field(router, client):
    raw = dict(hit("/api/v1/search_by_date?hitsPerPage=1&tags=(story)"), created_at_i=None)
    router.get(SEARCH_BY_DATE).respond(200, json={"hits": [raw]})
    (post,) = hn(client).fetch()
    assert post.created_at == datetime(2014, 6, 20, 3, 35, 46, tzinfo=UTC)


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "yesterday", 5])
def test_unusable_times_are_unknown_not_a_crash(router, client, created_at):
    raw = dict(hit("/api/v1/search_by_date?hitsPerPage=1&tags=(story)"), created_at_i="never", created_at=created_at)
    router.get(SEARCH_BY_DATE).respond(200, json={"hits": [raw]})
    (post,) = hn(client).fetch()
    assert post.created_at is None


# -- the request ----------------------------------------------------------------------------


def test_fetch_request(router, client):
    route = router.get(SEARCH_BY_DATE).respond(200, json={"hits": []})
    assert hn(client, query="acme widgets").fetch() == []
    assert route.call_count == 1
    request = route.calls.last.request
    assert dict(request.url.params) == {"query": "acme widgets", "tags": "(story,comment)", "hitsPerPage": "50"}
    assert request.headers["Accept"] == "application/json"


def test_limit_is_capped_at_algolias_maximum(router, client):
    route = router.get(SEARCH_BY_DATE).respond(200, json={"hits": []})
    hn(client, limit=5000).fetch()
    assert route.calls.last.request.url.params["hitsPerPage"] == "1000"


def test_default_base_url_is_algolia(router, client):
    route = router.get("https://hn.algolia.com/api/v1/search_by_date").respond(200, json={"hits": []})
    values, problems = validate_options(HackerNewsSource.options, {"query": "x"})
    assert problems == []
    assert HackerNewsSource("h", values, SourceContext(http=PoliteHttp(client))).fetch() == []
    assert route.call_count == 1


def test_query_is_required():
    _, problems = validate_options(HackerNewsSource.options, {})
    assert ("query", "is required") in problems


def test_duplicate_and_unusable_hits_are_skipped(router, client):
    story = hit("/api/v1/search_by_date?hitsPerPage=1&tags=(story)")
    body = {"hits": [story, dict(story, title="again"), None, "x", {"objectID": None}, {"objectID": "abc"}, {"objectID": 42}]}
    router.get(SEARCH_BY_DATE).respond(200, json=body)
    first, numeric = hn(client).fetch()
    assert first.title == story["title"]
    assert numeric.id == "42" and numeric.ref == "42"  # an int objectID still names the item
    assert (numeric.text, numeric.author, numeric.created_at) == ("", "", None)


# -- refresh --------------------------------------------------------------------------------


def test_refresh_is_one_request_for_many_refs(router, client):
    stories = [
        hit("/api/v1/search?hitsPerPage=1&tags=(story)"),
        hit("/api/v1/search?hitsPerPage=1&tags=(poll)"),
        hit("/api/v1/search_by_date?hitsPerPage=1&tags=(story)%2Cauthor_pg"),
    ]
    stranger = hit("/api/v1/search?hitsPerPage=1&tags=(story)%2Cauthor_pg")  # answered but not asked for
    route = router.get(SEARCH).respond(200, json={"hits": [*stories, stranger], "nbHits": 4})
    refs = ["3078128", "3746692", "7493856", "3078128", "", "abc", "12 34", "1/../2", "7919999"]
    posts = hn(client).refresh(refs)
    assert route.call_count == 1
    params = route.calls.last.request.url.params
    assert params["tags"] == "(story,poll),(story_3078128,story_3746692,story_7493856,story_7919999)"
    assert params["hitsPerPage"] == "4"
    assert [p.id for p in posts] == ["3078128", "3746692", "7493856"]
    for post, raw in zip(posts, stories, strict=True):
        check_hit(post, raw)
    assert posts[0].engagement.likes == 4271 and posts[0].engagement.comments == 376


def test_refresh_sends_at_most_one_batch(router, client):
    route = router.get(SEARCH).respond(200, json={"hits": []})
    refs = [str(n) for n in range(1000, 1120)]
    assert HackerNewsSource.refresh_batch == 50
    assert hn(client).refresh(refs) == []
    assert route.call_count == 1
    tags = route.calls.last.request.url.params["tags"]
    assert tags == "(story,poll),(" + ",".join(f"story_{n}" for n in refs[:50]) + ")"


def test_refresh_without_usable_refs_sends_nothing(router, client):
    route = router.route().respond(200, json={"hits": []})
    assert hn(client).refresh(["", "x1", "-5", "1.5", "12\n"]) == []
    assert route.call_count == 0


def test_refresh_server_error_is_a_source_error(router, client):
    router.get(SEARCH).respond(502)
    with pytest.raises(TransportError):
        hn(client).refresh(["1"])


# -- broken bodies --------------------------------------------------------------------------

BROKEN = [
    b"",
    b"<html>502 Bad Gateway</html>",
    b'{"data": 5}',
    b'{"hits": 5}',
    b'{"hits": {"0": {}}}',
    b'{"message": "Invalid tags", "status": 400}',
    b"[]",
    b"null",
    b"5",
    b'"hits"',
    b"\x00\xff",
]


@pytest.mark.parametrize("body", BROKEN, ids=[repr(b[:30]) for b in BROKEN])
def test_broken_body_is_a_parse_error(router, client, body):
    router.get(SEARCH_BY_DATE).respond(200, content=body)
    router.get(SEARCH).respond(200, content=body)
    source = hn(client)
    with pytest.raises(ParseError):
        source.fetch()
    with pytest.raises(ParseError):
        source.refresh(["1"])


def test_truncated_real_body_is_a_parse_error(router, client):
    body = json.dumps(reply("/api/v1/search?hitsPerPage=1&tags=(poll)")).encode()
    router.get(SEARCH_BY_DATE).respond(200, content=body[: len(body) // 2])
    router.get(SEARCH).respond(200, content=body[: len(body) // 2])
    source = hn(client)
    with pytest.raises(ParseError) as excinfo:
        source.fetch()
    assert isinstance(excinfo.value, SourceError) and excinfo.value.retryable is False
    with pytest.raises(ParseError):
        source.refresh(["3746692"])


def test_truncated_wrapper_file_is_a_parse_error(router, client):
    entries()
    body = WRAPPER.read_bytes()
    router.get(SEARCH_BY_DATE).respond(200, content=body[: len(body) // 2])
    with pytest.raises(ParseError):
        hn(client).fetch()


# -- anything at all ------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_PLAUSIBLE = (
    JSON
    | st.sampled_from(["1", "7919424", "<p>x&#x27;y", "<a href='", "2014-06-20T03:35:46.000Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
    | st.lists(st.sampled_from(["story", "comment", "poll", "story_1"]), max_size=3)
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(min_value=-1e12, max_value=1e12)
)
_FIELDS = ["title", "story_title", "story_text", "comment_text", "author", "created_at", "created_at_i", "points", "num_comments", "_tags", "parent_id"]
_TIMES = st.sampled_from(["2014-06-20T03:35:46.000Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"]) | _PLAUSIBLE
_HIT = st.fixed_dictionaries(
    {"objectID": st.one_of(st.sampled_from(["1", "3746692"]), st.sampled_from(["1", "3746692"]), _PLAUSIBLE)},
    optional={f: _TIMES if f == "created_at" else _PLAUSIBLE for f in _FIELDS},
)
ANSWERS = st.builds(lambda hits: {"hits": hits}, st.lists(st.one_of(_HIT, _HIT, _HIT, JSON), min_size=1, max_size=5))
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
REFS = st.lists(st.text(max_size=12) | st.sampled_from(["1", "3746692"]), max_size=5)


def only_source_errors(client: httpx.Client, body: bytes, refs: list[str]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(SEARCH_BY_DATE).respond(200, content=body)
        mock.get(SEARCH).respond(200, content=body)
        source = hn(client)
        for call in (source.fetch, lambda: source.refresh(["1", *refs])):
            try:
                posts = call()
            except SourceError:
                continue
            assert all(isinstance(p, Post) and p.platform == "hackernews" and p.id.isdigit() for p in posts)
            assert all(p.created_at is None or p.created_at.utcoffset().total_seconds() == 0 for p in posts)


@FUZZ
@given(payload=JSON | ANSWERS, refs=REFS)
def test_any_json_gives_posts_or_a_source_error(client, payload, refs):
    only_source_errors(client, json.dumps(payload).encode(), refs)


@FUZZ
@given(body=st.binary(max_size=200), refs=REFS)
def test_any_bytes_give_posts_or_a_source_error(client, body, refs):
    only_source_errors(client, body, refs)
