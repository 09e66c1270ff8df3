"""The Bluesky source against real AppView answers (shared/fixtures/real/bluesky, see
SOURCES.md there) served through respx, plus hostile bodies: every answer becomes Posts
or a ``SourceError``, never another exception."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sources import ParseError, PoliteHttp, Post, ResponseError, SourceContext, SourceError, TransportError, validate_options
from sources.bluesky import BlueskySource, post_view_to_post

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
BLUESKY = FIXTURES / "bluesky"

API = "https://public.api.bsky.app"
SEARCH = f"{API}/xrpc/app.bsky.feed.searchPosts"
GET_POSTS = f"{API}/xrpc/app.bsky.feed.getPosts"
UTC = UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")

SEARCH_2025 = "bskyr_searchPosts_redistricting_2025-05.json"
SEARCH_2023 = "bskyr_searchPosts_redistricting_2023-12.json"
THREAD = "atproto_getPostThread_embed_media.json"


def fixture_bytes(name: str) -> bytes:
    path = BLUESKY / name
    if not path.is_file():
        pytest.skip(
            f"real-world fixture bluesky/{name} not found under {BLUESKY} "
            "(expected the shared checkout next to the repo: <parent>/shared/fixtures/real/bluesky)"
        )
    return path.read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_bytes(name))


def bluesky(client: httpx.Client, **raw: Any) -> BlueskySource:
    settings_, problems = validate_options(BlueskySource.options, {"query": "redistricting", **raw})
    assert problems == []
    return BlueskySource("b", settings_, SourceContext(http=PoliteHttp(client, rng=random.Random(0)), timezone=SHANGHAI))


def check_posts(posts: list[Post], views: list[dict]) -> None:
    """Every Post against the postView it came from."""
    by_uri = {v["uri"]: v for v in views}
    assert len(posts) == len({p.id for p in posts}) == len(by_uri)
    for post in posts:
        view = by_uri[post.id]
        did, collection, rkey = view["uri"].removeprefix("at://").split("/")
        assert collection == "app.bsky.feed.post"
        assert post.platform == "bluesky"
        assert post.ref == post.id == view["uri"]
        assert post.author == view["author"]["handle"]
        assert post.url == f"https://bsky.app/profile/{view['author']['handle']}/post/{rkey}"
        assert post.text == view["record"]["text"].replace("\r\n", "\n").strip()
        assert post.created_at is not None and post.created_at.utcoffset().total_seconds() == 0
        assert post.engagement.likes == view["likeCount"]
        assert post.engagement.comments == view["replyCount"]
        assert post.engagement.reposts == view["repostCount"] + view.get("quoteCount", 0)
        assert post.engagement.views is None


# -- searchPosts: the real answers ---------------------------------------------------------


def test_search_2025_gives_every_post(router, client):
    payload = fixture_json(SEARCH_2025)
    route = router.get(SEARCH).respond(200, content=fixture_bytes(SEARCH_2025), headers={"Content-Type": "application/json"})
    posts = bluesky(client).fetch()
    assert route.call_count == 1
    assert len(posts) == 25
    check_posts(posts, payload["posts"])
    assert [p.id for p in posts] == [v["uri"] for v in payload["posts"]]  # search order kept
    first = posts[0]
    assert first.id == "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    assert first.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert first.author == "socpaperbot.bsky.social"
    assert first.text.startswith("Ends Versus Means: Public Opinion on Congressional Redistricting")
    # createdAt 2025-05-19T17:10:09.561858Z: microseconds kept
    assert first.created_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)


def test_search_2025_timestamps_and_counters(router, client):
    router.get(SEARCH).respond(200, content=fixture_bytes(SEARCH_2025))
    posts = {p.id.rsplit("/", 1)[1]: p for p in bluesky(client).fetch()}
    # createdAt "2025-05-19T02:03:20.286393+00:00": an offset instead of Z, with microseconds
    offset = posts["3lpii6nwbyt2m"]
    assert offset.created_at == datetime(2025, 5, 19, 2, 3, 20, 286393, tzinfo=UTC)
    assert offset.author == "humanbeinghuman.bsky.social"
    assert offset.text.startswith("Automated disqualification from services\n\n\n118.")  # CRLF made LF
    # createdAt 02:52:19.333Z is *after* indexedAt 02:52:17.916Z (a client clock running fast):
    # the server's time is taken, as Bluesky's own sortAt does
    assert posts["3lpikwarowc2o"].created_at == datetime(2025, 5, 19, 2, 52, 17, 916000, tzinfo=UTC)
    # reposts include quote posts: repostCount 5 + quoteCount 1
    nyhan = posts["3lpjneeyp6c2w"]
    assert (nyhan.engagement.reposts, nyhan.engagement.comments, nyhan.engagement.likes) == (6, 2, 20)
    mcpli = posts["3lpica7sxmk2u"]
    assert (mcpli.engagement.reposts, mcpli.engagement.comments, mcpli.engagement.likes) == (14, 0, 58)


def test_search_2023_without_quote_count(router, client):
    payload = fixture_json(SEARCH_2023)
    assert all("quoteCount" not in v for v in payload["posts"])
    router.get(SEARCH).respond(200, content=fixture_bytes(SEARCH_2023))
    posts = bluesky(client).fetch()
    # SOURCES.md says 25 posts; the file holds 23 (hitsTotal 908, cursor "25")
    assert len(posts) == len(payload["posts"]) == 23
    check_posts(posts, payload["posts"])
    by_rkey = {p.id.rsplit("/", 1)[1]: p for p in posts}
    takei = by_rkey["3kghcs4a2by23"]
    assert takei.author == "georgetakei.bsky.social"
    assert takei.url == "https://bsky.app/profile/georgetakei.bsky.social/post/3kghcs4a2by23"
    assert (takei.engagement.reposts, takei.engagement.comments, takei.engagement.likes) == (19, 3, 130)
    assert takei.created_at == datetime(2023, 12, 13, 20, 41, 13, 826000, tzinfo=UTC)
    # createdAt "2023-12-13T20:37:03Z": no milliseconds at all
    assert by_rkey["3kghckngg4a22"].created_at == datetime(2023, 12, 13, 20, 37, 3, tzinfo=UTC)
    # a non-breaking space in the text survives
    assert by_rkey["3kggz36iptv2p"].text.startswith("NY redistricting, GOP primary surprises, and endorsements.\xa0")


def test_search_request(router, client):
    route = router.get(SEARCH).respond(200, json={"posts": []})
    assert bluesky(client).fetch() == []
    request = route.calls.last.request
    assert dict(request.url.params) == {"q": "redistricting", "limit": "50", "sort": "latest"}
    assert request.headers["Accept"] == "application/json"


def test_search_request_options(router, client):
    route = router.get("https://appview.test/xrpc/app.bsky.feed.searchPosts").respond(200, json={"posts": []})
    source = bluesky(client, query="艾克美 OR acme", limit=500, sort="top", base_url="https://appview.test/")
    assert source.fetch() == []
    params = route.calls.last.request.url.params
    assert params["q"] == "艾克美 OR acme"
    assert params["limit"] == "100"  # the API's maximum
    assert params["sort"] == "top"


def test_unknown_sort_is_refused_before_any_request(router, client):
    route = router.get(SEARCH).respond(200, json={"posts": []})
    with pytest.raises(ResponseError, match="sort"):
        bluesky(client, sort="newest").fetch()
    assert route.call_count == 0
    assert BlueskySource.check({"sort": "newest"}) == [("sort", "must be one of latest, top, not 'newest'")]
    assert BlueskySource.check({"sort": "top"}) == BlueskySource.check({"sort": "latest"}) == []


# -- getPosts: re-reading ------------------------------------------------------------------


def uri(n: int) -> str:
    return f"at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo{n:03d}"


def test_refresh_is_one_request_for_many_uris(router, client):
    thread_post = fixture_json(THREAD)["thread"]["post"]
    route = router.get(GET_POSTS).respond(200, json={"posts": [thread_post]})
    refs = [uri(n) for n in range(30)]
    posts = bluesky(client).refresh(refs)
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url.params.get_list("uris") == refs[:25]  # the repeated parameter, refresh_batch at most
    assert str(request.url).count("uris=") == 25
    (post,) = posts
    assert post.id == post.ref == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheyt6vpc22"
    assert post.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert post.author == "test.marshal.dev"
    assert post.text == ""  # an image-and-quote post with no text of its own
    assert post.created_at == datetime(2023, 9, 28, 12, 49, 36, 735000, tzinfo=UTC)
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (0, 0, 0)


def test_refresh_of_search_results(router, client):
    payload = fixture_json(SEARCH_2025)
    route = router.get(GET_POSTS).respond(200, content=fixture_bytes(SEARCH_2025))
    refs = [v["uri"] for v in payload["posts"]]
    posts = bluesky(client).refresh(refs)
    assert route.call_count == 1
    assert route.calls.last.request.url.params.get_list("uris") == refs[:25]
    check_posts(posts, payload["posts"])


def test_refresh_never_sends_what_is_not_a_post_uri(router, client):
    route = router.get(GET_POSTS).respond(200, json={"posts": []})
    source = bluesky(client)
    assert source.refresh([]) == []
    assert source.refresh(["", "3lpk2u6qo222m", "https://bsky.app/profile/x/post/y", "at://did:plc:x/app.bsky.feed.like/abc"]) == []
    assert route.call_count == 0
    source.refresh(["nonsense", uri(1), uri(1), f"{uri(2)}\n", uri(3)])
    assert route.call_count == 1
    assert route.calls.last.request.url.params.get_list("uris") == [uri(1), uri(3)]


def test_refresh_of_deleted_posts_is_empty(router, client):
    router.get(GET_POSTS).respond(200, json={"posts": []})
    assert bluesky(client).refresh([uri(1), uri(2)]) == []


@pytest.mark.parametrize(("status", "error"), [(400, ResponseError), (403, ResponseError), (502, TransportError)])
def test_refresh_http_errors_are_source_errors(router, client, status, error):
    router.get(GET_POSTS).respond(status, json={"error": "InvalidRequest"})
    with pytest.raises(error):
        bluesky(client).refresh([uri(1)])


# -- shapes --------------------------------------------------------------------------------


def view(**overrides: Any) -> dict:
    base = {
        "uri": "at://did:plc:abc/app.bsky.feed.post/3kxyz",
        "author": {"did": "did:plc:abc", "handle": "someone.bsky.social"},
        "record": {"text": "hello", "createdAt": "2025-05-19T17:10:09Z"},
        "indexedAt": "2025-05-19T17:10:10.000Z",
        "likeCount": 1,
        "repostCount": 2,
        "replyCount": 3,
    }
    base.update(overrides)
    return base


def test_invalid_handle_links_by_did():
    post = post_view_to_post(view(author={"did": "did:plc:abc", "handle": "handle.invalid"}))
    assert post is not None
    assert post.url == "https://bsky.app/profile/did:plc:abc/post/3kxyz"
    post = post_view_to_post(view(author={}))
    assert post is not None
    assert post.url == "https://bsky.app/profile/did:plc:abc/post/3kxyz"  # from the uri
    assert post.author == "did:plc:abc"


def test_missing_created_at_falls_back_to_indexed_at():
    post = post_view_to_post(view(record={"text": "x"}))
    assert post is not None and post.created_at == datetime(2025, 5, 19, 17, 10, 10, tzinfo=UTC)
    post = post_view_to_post(view(record={"text": "x", "createdAt": "garbage"}, indexedAt=None))
    assert post is not None and post.created_at is None


def test_counters_missing_or_odd_are_unknown():
    post = post_view_to_post(view(likeCount=None, repostCount="many", replyCount=-1, quoteCount=4))
    assert post is not None
    assert (post.engagement.reposts, post.engagement.comments, post.engagement.likes) == (None, None, None)
    post = post_view_to_post(view(quoteCount="x"))
    assert post is not None and post.engagement.reposts == 2


@pytest.mark.parametrize(
    "bad",
    [None, [], "x", {}, {"uri": 5}, {"uri": "at://did:plc:abc/app.bsky.feed.repost/3k"}, {"uri": "https://bsky.app/x"}],
)
def test_views_without_a_post_uri_are_dropped(bad):
    assert post_view_to_post(bad) is None


def test_duplicate_and_junk_views_in_a_search_answer(router, client):
    router.get(SEARCH).respond(200, json={"posts": [view(), view(), None, 3, "x", {"uri": None}, view(uri="at://did:plc:abc/app.bsky.feed.post/other")]})
    posts = bluesky(client).fetch()
    assert [p.id for p in posts] == ["at://did:plc:abc/app.bsky.feed.post/3kxyz", "at://did:plc:abc/app.bsky.feed.post/other"]


def test_hostile_strings_do_not_break_a_post(router, client):
    # lone surrogates and an offset at the end of the calendar, as JSON escapes
    body = (
        b'{"posts":[{"uri":"at://did:plc:abc/app.bsky.feed.post/3kxyz","author":{"handle":"\\ud800","did":"\\udfff"},'
        b'"record":{"text":"\\ud83d","createdAt":"9999-12-31T23:59:59-01:00"},"indexedAt":"0001-01-01T00:00:00+01:00"}]}'
    )
    router.get(SEARCH).respond(200, content=body)
    (post,) = bluesky(client).fetch()
    assert post.url == "https://bsky.app/profile/did:plc:abc/post/3kxyz"
    assert post.created_at is None


# -- broken answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><title>403 Forbidden</title></html>",
        b'{"posts": [',
        b"null",
        b"[]",
        b'{"posts": null}',
        b'{"posts": {"uri": "at://did:plc:abc/app.bsky.feed.post/3kxyz"}}',
        b'{"error": "AuthMissing", "message": "Authentication Required"}',
        b"\xff\xfe\x00",
    ],
)
def test_broken_search_answer_is_a_parse_error(router, client, body):
    router.get(SEARCH).respond(200, content=body)
    with pytest.raises(ParseError):
        bluesky(client).fetch()


@pytest.mark.parametrize("name", [SEARCH_2025, SEARCH_2023])
@pytest.mark.parametrize("fraction", [0.01, 0.5, 0.99])
def test_truncated_real_answer_is_a_parse_error(router, client, name, fraction):
    body = fixture_bytes(name)
    router.get(SEARCH).respond(200, content=body[: int(len(body) * fraction)])
    with pytest.raises(ParseError):
        bluesky(client).fetch()
    router.get(GET_POSTS).respond(200, content=body[: int(len(body) * fraction)])
    with pytest.raises(ParseError):
        bluesky(client).refresh([uri(1)])


def test_thread_answer_is_not_a_search_answer(router, client):
    router.get(SEARCH).respond(200, content=fixture_bytes(THREAD))
    with pytest.raises(ParseError, match="no list of posts"):
        bluesky(client).fetch()


def test_search_closed_to_anonymous_callers_is_a_response_error(router, client):
    router.get(SEARCH).respond(403, json={"error": "AuthMissing", "message": "Authentication Required"})
    with pytest.raises(ResponseError) as caught:
        bluesky(client).fetch()
    assert caught.value.retryable is False


# -- properties ----------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
post_uris = st.sampled_from(["at://did:plc:abc/app.bsky.feed.post/3kxyz", "at://x/app.bsky.feed.post/y", uri(7)]) | json_values
timestamps = st.sampled_from(["2025-05-19T17:10:09.561858Z", "2025-05-19T02:03:20+00:00", "9999-12-31T23:59:59-01:00", ""]) | json_values
post_views = st.fixed_dictionaries(
    {},
    optional={
        "uri": post_uris,
        "author": st.fixed_dictionaries({}, optional={"handle": json_values, "did": json_values}) | json_values,
        "record": st.fixed_dictionaries({}, optional={"text": json_values, "createdAt": timestamps}) | json_values,
        "indexedAt": timestamps,
        "likeCount": json_values,
        "repostCount": json_values,
        "replyCount": json_values,
        "quoteCount": json_values,
    },
)
answers = json_values | st.fixed_dictionaries({"posts": st.lists(post_views | json_values, max_size=5)}, optional={"cursor": json_values})

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_source_errors(body: bytes, *calls) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(SEARCH).respond(200, content=body)
        mock.get(GET_POSTS).respond(200, content=body)
        for call in calls:
            try:
                posts = call()
            except SourceError:
                continue
            assert isinstance(posts, list)
            for post in posts:
                assert isinstance(post, Post) and post.platform == "bluesky" and post.id.startswith("at://")
                assert post.created_at is None or post.created_at.utcoffset().total_seconds() == 0


@PROPERTY
@given(payload=answers)
def test_any_json_answer_gives_posts_or_a_source_error(client, payload):
    source = bluesky(client)
    only_source_errors(json.dumps(payload).encode(), source.fetch, lambda: source.refresh([uri(1), uri(2)]))


@PROPERTY
@given(body=st.binary(max_size=300))
def test_any_bytes_give_posts_or_a_source_error(client, body):
    source = bluesky(client)
    only_source_errors(body, source.fetch, lambda: source.refresh([uri(1)]))
