"""The Reddit source against real Listing bodies (shared/fixtures/real/reddit, recorded by
PRAW's test cassettes; see SOURCES.md) served through respx, plus hostile bodies.

Whatever the body, only a ``SourceError`` may leave ``fetch`` or ``refresh``."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, ResponseError, SourceContext, SourceError, validate_options
from sources.reddit import RedditSource

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
REDDIT = FIXTURES / "reddit"
BASE = "https://reddit.test"
UTC = UTC

FILES = {
    "praw_r_askreddit_new.json": 100,
    "praw_r_all_search_praw_oauth_search.json": 6,
    "praw_r_all_new_before_small.json": 4,
}


def fixture_bytes(name: str) -> bytes:
    path = REDDIT / name
    if not path.is_file():
        pytest.skip(f"real Reddit fixture {name} not found in {REDDIT} (expected the shared checkout next to the repo)")
    return path.read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def reddit(client: httpx.Client, **raw) -> RedditSource:
    raw.setdefault("base_url", BASE)
    values, problems = validate_options(RedditSource.options, raw)
    assert problems == []
    return RedditSource("r", values, SourceContext(http=PoliteHttp(client, rng=random.Random(0))))


def check_against_listing(posts: list[Post], listing: dict) -> None:
    """Every child became the Post it should, in listing order."""
    children = [c["data"] for c in listing["data"]["children"]]
    assert [p.id for p in posts] == [c["name"] for c in children]
    for post, raw in zip(posts, children, strict=True):
        assert post.platform == "reddit"
        assert post.id.startswith("t3_") and post.id == "t3_" + raw["id"]
        assert post.ref == post.id  # the fullname is what /api/info takes
        assert post.url == "https://www.reddit.com" + raw["permalink"]
        assert post.title == raw["title"]
        expected = raw["title"] + ("\n" + raw["selftext"].strip() if raw["selftext"].strip() else "")
        assert post.text == expected
        assert post.author == raw["author"]
        assert post.created_at == datetime.fromtimestamp(raw["created_utc"], tz=UTC)
        assert post.created_at != datetime.fromtimestamp(raw["created"], tz=UTC)  # the legacy field is 8 h off
        assert post.engagement.likes == raw["score"]
        assert post.engagement.comments == raw["num_comments"]
        assert post.engagement.reposts is None and post.engagement.views is None


# -- real listings --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), sorted(FILES.items()), ids=sorted(FILES))
def test_real_listing_becomes_posts(router, client, name, count):
    route = router.get(f"{BASE}/r/all/new.json").respond(200, content=fixture_bytes(name))
    posts = reddit(client, subreddit="all").fetch()
    assert len(posts) == count
    check_against_listing(posts, fixture_json(name))
    assert route.call_count == 1


def test_askreddit_new_first_post_exactly(router, client):
    router.get(f"{BASE}/r/AskReddit/new.json").respond(200, content=fixture_bytes("praw_r_askreddit_new.json"))
    posts = reddit(client, subreddit="AskReddit").fetch()
    first = posts[0]
    assert first.id == "t3_48fbm9"
    assert first.ref == "t3_48fbm9"
    assert first.url == "https://www.reddit.com/r/AskReddit/comments/48fbm9/serious_parents_of_reddit_whats_the_biggest_lie/"
    assert first.title == "[Serious] Parents of Reddit, what's the biggest lie about yourself you've told your kids?"
    assert first.text == first.title  # a question with no body: no trailing newline
    assert first.author == "RedHeadQc"
    # created_utc 1456821458.0; `created` (1456850258.0) would put it at 16:37:38
    assert first.created_at == datetime(2016, 3, 1, 8, 37, 38, tzinfo=UTC)
    assert (first.engagement.likes, first.engagement.comments) == (1, 1)
    short = next(p for p in posts if p.id == "t3_48fax4")
    assert short.text == short.title + "\n."  # a one-character selftext is kept


def test_search_listing_keeps_markdown_and_unicode(router, client):
    router.get(f"{BASE}/search.json").respond(200, content=fixture_bytes("praw_r_all_search_praw_oauth_search.json"))
    posts = reddit(client, query="praw oauth").fetch()
    by_id = {p.id: p for p in posts}
    banned = by_id["t3_3gpbiu"]
    assert banned.author == "dClauzel"
    assert banned.title == "[PRAW][OAuth2Util] Problem using get_banned() : raise Forbidden(_raw=response)"
    assert banned.text.startswith(banned.title + "\n# solved\n\nProblem solved with this: /r/redditdev/comments/3gpbiu/")
    assert banned.created_at == datetime(2015, 8, 12, 9, 8, 34, tzinfo=UTC)
    assert (banned.engagement.likes, banned.engagement.comments) == (0, 21)
    assert banned.url == "https://www.reddit.com/r/redditdev/comments/3gpbiu/prawoauth2util_problem_using_get_banned_raise/?ref=search_posts"
    japanese = by_id["t3_4at068"]
    assert japanese.title == "たびたび話題になるサイドバーの閲覧中ユーザ数について（また）調べた"
    assert japanese.text.endswith("r2/controllers/reddit_base.py はとても重要")  # trailing blank lines dropped
    assert "## tl;dr" in japanese.text  # markdown kept as it is
    assert japanese.author == "nmtake"
    assert (japanese.engagement.likes, japanese.engagement.comments) == (15, 0)


def test_new_before_small_selftext_post(router, client):
    router.get(f"{BASE}/r/all/new.json").respond(200, content=fixture_bytes("praw_r_all_new_before_small.json"))
    posts = reddit(client, subreddit="all").fetch()
    trade = next(p for p in posts if p.id == "t3_5jo141")
    assert trade.author == "ddrsquirrelz"
    assert trade.text.startswith("LF: Lure Ball Gible and Friend Ball Snorlax/Munchlax, FT: A list of rare ball'd Pokemons + HA\n[casual] I have the following:\n\n* HA Mareanie")
    assert trade.created_at == datetime(2016, 12, 22, 2, 17, 31, tzinfo=UTC)
    assert trade.url == "https://www.reddit.com/r/pokemontrades/comments/5jo141/lf_lure_ball_gible_and_friend_ball/"


# -- the request ----------------------------------------------------------------------------


def test_query_searches_site_wide_newest_first(router, client):
    route = router.get(f"{BASE}/search.json").respond(200, content=fixture_bytes("praw_r_all_search_praw_oauth_search.json"))
    assert len(reddit(client, query="praw oauth").fetch()) == 6
    assert route.call_count == 1
    request = route.calls.last.request
    assert dict(request.url.params) == {"q": "praw oauth", "sort": "new", "limit": "50", "raw_json": "1"}
    assert request.headers["Accept"] == "application/json"
    assert "brand-monitor" in request.headers["User-Agent"]


def test_query_with_subreddit_is_restricted_to_it(router, client):
    route = router.get(f"{BASE}/r/redditdev/search.json").respond(200, content=fixture_bytes("praw_r_all_search_praw_oauth_search.json"))
    assert len(reddit(client, query="praw", subreddit="r/redditdev/", limit=10).fetch()) == 6
    assert route.call_count == 1
    params = dict(route.calls.last.request.url.params)
    assert params == {"q": "praw", "restrict_sr": "1", "sort": "new", "limit": "10", "raw_json": "1"}


def test_subreddit_alone_lists_its_newest_posts(router, client):
    route = router.get(f"{BASE}/r/AskReddit/new.json").respond(200, content=fixture_bytes("praw_r_askreddit_new.json"))
    assert len(reddit(client, subreddit="AskReddit", limit=500).fetch()) == 100
    assert route.call_count == 1
    assert dict(route.calls.last.request.url.params) == {"limit": "100", "raw_json": "1"}  # capped at Reddit's 100


def test_default_base_url_is_reddit(router, client):
    route = router.get("https://www.reddit.com/r/AskReddit/new.json").respond(200, json={"kind": "Listing", "data": {"children": []}})
    values, problems = validate_options(RedditSource.options, {"subreddit": "AskReddit"})
    assert problems == []
    source = RedditSource("r", values, SourceContext(http=PoliteHttp(client, rng=random.Random(0))))
    assert source.fetch() == []
    assert route.call_count == 1


def test_neither_query_nor_subreddit_is_an_error_without_a_request(router, client):
    route = router.route().respond(200, json={})
    with pytest.raises(ResponseError, match="needs query or subreddit"):
        reddit(client).fetch()
    assert route.call_count == 0


@pytest.mark.parametrize("name", ["../admin", "a/b", "r/", "x y", "foo?bar=1"])
def test_a_subreddit_that_is_not_a_name_is_an_error_without_a_request(router, client, name):
    route = router.route().respond(200, json={})
    with pytest.raises(ResponseError):
        reddit(client, subreddit=name).fetch()
    assert route.call_count == 0


# -- odd children ---------------------------------------------------------------------------


def listing(*children) -> dict:
    return {"kind": "Listing", "data": {"children": list(children), "after": None, "before": None}}


def t3(**data) -> dict:
    base = {"name": "t3_abc", "id": "abc", "title": "t", "selftext": "", "author": "a", "created_utc": 1456821458.0,
            "score": 3, "num_comments": 2, "permalink": "/r/x/comments/abc/t/"}
    base.update(data)
    return {"kind": "t3", "data": base}


def test_negative_score_is_zero_likes_and_missing_counters_are_unknown(router, client):
    body = listing(t3(score=-7), t3(name="t3_def", id="def", score=None, num_comments="many"))
    router.get(f"{BASE}/r/x/new.json").respond(200, json=body)
    downvoted, bare = reddit(client, subreddit="x").fetch()
    assert downvoted.engagement.likes == 0
    assert bare.engagement.likes is None and bare.engagement.comments is None


def test_unusable_children_are_skipped_and_the_rest_kept(router, client):
    body = listing(
        "not a child",
        {"kind": "t1", "data": {"name": "t1_zzz", "body": "a comment"}},
        {"kind": "t5", "data": {"name": "t5_2qh1i", "display_name": "AskReddit"}},
        {"kind": "t3", "data": "oops"},
        t3(name=None, id=None),
        t3(name="t3_abc"),
        t3(name="t3_abc", title="duplicate"),
        t3(name="garbage", id="q1w2", permalink=None, created_utc="soon", author=None, title=None, selftext=["x"]),
    )
    router.get(f"{BASE}/r/x/new.json").respond(200, json=body)
    first, fallback = reddit(client, subreddit="x").fetch()
    assert first.id == "t3_abc" and first.title == "t"
    assert fallback.id == "t3_q1w2"  # built from `id` when `name` is unusable
    assert fallback.url == "https://www.reddit.com/comments/q1w2/"  # the short link works without a permalink
    assert (fallback.author, fallback.title, fallback.text, fallback.created_at) == ("", "", "", None)


def test_search_answered_with_an_array_of_listings(router, client):
    subreddits = listing({"kind": "t5", "data": {"name": "t5_2qh1i", "display_name": "AskReddit"}})
    posts = fixture_json("praw_r_all_new_before_small.json")
    router.get(f"{BASE}/search.json").respond(200, json=[subreddits, posts])
    assert [p.id for p in reddit(client, query="x").fetch()] == [c["data"]["name"] for c in posts["data"]["children"]]


# -- refresh --------------------------------------------------------------------------------


def test_refresh_is_one_request_for_many_refs(router, client):
    listing_body = fixture_json("praw_r_askreddit_new.json")
    names = [c["data"]["name"] for c in listing_body["data"]["children"]]
    route = router.get(f"{BASE}/api/info.json").respond(200, json=listing_body)
    refs = names[:60] + ["t3_48fbm9", "../x", "", "t1_abc", "T3_ABC", "t3_abc\n"] + names[60:]
    posts = reddit(client, query="x").refresh(refs)
    assert route.call_count == 1
    params = route.calls.last.request.url.params
    assert params["id"] == ",".join(names)  # unusable refs and the duplicate left out, order kept
    assert params["raw_json"] == "1"
    assert [p.id for p in posts] == names
    check_against_listing(posts, listing_body)


def test_refresh_sends_at_most_one_batch(router, client):
    route = router.get(f"{BASE}/api/info.json").respond(200, json=listing())
    refs = [f"t3_{n:x}" for n in range(1000, 1150)]
    assert RedditSource.refresh_batch == 100
    assert reddit(client, query="x").refresh(refs) == []
    assert route.call_count == 1
    assert route.calls.last.request.url.params["id"].split(",") == refs[:100]


def test_refresh_keeps_only_the_posts_asked_for(router, client):
    listing_body = fixture_json("praw_r_all_new_before_small.json")
    router.get(f"{BASE}/api/info.json").respond(200, json=listing_body)
    (post,) = reddit(client, query="x").refresh(["t3_5jo141"])
    assert post.id == "t3_5jo141" and post.author == "ddrsquirrelz"


def test_refresh_without_usable_refs_sends_nothing(router, client):
    route = router.route().respond(200, json=listing())
    assert reddit(client, query="x").refresh(["", "abc", "t3_", "t3_ABC", "t3_a/b"]) == []
    assert route.call_count == 0


# -- broken bodies --------------------------------------------------------------------------


BROKEN = [
    b"",
    b"<html><body>Our CDN was unable to reach our servers</body></html>",
    b'{"data": 5}',
    b'{"kind": "Listing", "data": 5}',
    b'{"kind": "Listing", "data": {"children": {"kind": "t3"}}}',
    b'{"kind": "Listing"}',
    b'{"data": {"children": []}}',  # no kind: not a Listing
    b'{"kind": "t3", "data": {"children": []}}',
    b'{"error": 429, "message": "Too Many Requests"}',
    b"[]",
    b"[5]",
    b"null",
    b'"Listing"',
    b"5",
    b"\xff\xfe\x00garbage",
]


@pytest.mark.parametrize("body", BROKEN, ids=[repr(b[:30]) for b in BROKEN])
def test_broken_body_is_a_parse_error(router, client, body):
    router.get(f"{BASE}/r/x/new.json").respond(200, content=body)
    router.get(f"{BASE}/api/info.json").respond(200, content=body)
    source = reddit(client, subreddit="x")
    with pytest.raises(ParseError):
        source.fetch()
    with pytest.raises(ParseError):
        source.refresh(["t3_abc"])


@pytest.mark.parametrize("name", sorted(FILES))
def test_truncated_real_body_is_a_parse_error(router, client, name):
    body = fixture_bytes(name)
    router.get(f"{BASE}/r/x/new.json").respond(200, content=body[: len(body) // 2])
    router.get(f"{BASE}/api/info.json").respond(200, content=body[: len(body) // 3])
    source = reddit(client, subreddit="x")
    with pytest.raises(ParseError) as excinfo:
        source.fetch()
    assert isinstance(excinfo.value, SourceError) and excinfo.value.retryable is False
    with pytest.raises(ParseError):
        source.refresh(["t3_48fbm9"])


def test_http_error_is_a_source_error(router, client):
    router.get(f"{BASE}/r/x/new.json").respond(403, json={"reason": "private", "message": "Forbidden", "error": 403})
    with pytest.raises(ResponseError):
        reddit(client, subreddit="x").fetch()


# -- anything at all ------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_FIELDS = ["name", "id", "title", "selftext", "author", "created_utc", "score", "num_comments", "permalink"]
_PLAUSIBLE = (
    JSON
    | st.sampled_from(["t3_abc", "abc", "/r/x/comments/abc/", "//evil.test/x", "[deleted]", "", "1456821458.0", "1e400", "-5"])
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(min_value=-1e12, max_value=1e12)
)
_CHILD_FIELDS = st.fixed_dictionaries(
    {"name": st.sampled_from(["t3_abc", "t3_48fbm9"]) | _PLAUSIBLE}, optional={f: _PLAUSIBLE for f in _FIELDS[1:]}
)
CHILD_DATA = st.one_of(_CHILD_FIELDS, _CHILD_FIELDS, _CHILD_FIELDS, JSON)  # mostly submission-shaped
LISTINGS = st.builds(
    lambda items: {"kind": "Listing", "data": {"children": items}},
    st.lists(st.builds(lambda kind, data: {"kind": kind, "data": data}, st.one_of(st.just("t3"), st.just("t3"), st.just("t3"), JSON), CHILD_DATA), min_size=1, max_size=5),
)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
REFS = st.lists(st.text(max_size=12) | st.sampled_from(["t3_abc", "t3_48fbm9"]), max_size=5)


def only_source_errors(client: httpx.Client, body: bytes, refs: list[str]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{BASE}/r/x/search.json").respond(200, content=body)
        mock.get(f"{BASE}/api/info.json").respond(200, content=body)
        source = reddit(client, query="q", subreddit="x")
        for call in (source.fetch, lambda: source.refresh(["t3_abc", *refs])):
            try:
                posts = call()
            except SourceError:
                continue
            assert all(isinstance(p, Post) and p.platform == "reddit" and p.id for p in posts)
            assert all(p.created_at is None or p.created_at.utcoffset().total_seconds() == 0 for p in posts)


@FUZZ
@given(payload=JSON | LISTINGS, refs=REFS)
def test_any_json_gives_posts_or_a_source_error(client, payload, refs):
    only_source_errors(client, json.dumps(payload).encode(), refs)


@FUZZ
@given(body=st.binary(max_size=200), refs=REFS)
def test_any_bytes_give_posts_or_a_source_error(client, body, refs):
    only_source_errors(client, body, refs)
