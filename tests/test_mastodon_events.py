"""Mastodon streaming events as posts: real events captured from mastodon.social's federated
stream in 2019-2020 (flodgatt's test data) and a Mastodon 4.6 server's SSE body
(Mastodon.py's cassettes), see shared/fixtures/real/SOURCES.md; plus junk that must be
skipped, never raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.mastodon import status_to_posts
from sources.mastodon_events import StreamChange, newer, read_event, stream_for
from sources.sse import SseEvent, SseParser

STREAMS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "streams"
FLODGATT = STREAMS / "mastodon_flodgatt"


def flodgatt_events() -> list[dict[str, Any]]:
    """The six captured events, ``{"event": ..., "payload": ...}`` each, in order."""
    files = sorted(FLODGATT.glob("msg.event_txt_*.txt"))
    if not files:
        pytest.skip(f"real Mastodon stream events not found under {FLODGATT} (see shared/fixtures/real/SOURCES.md)")
    return [json.loads(f.read_text("utf-8")) for f in files]


def as_sse(captured: dict[str, Any]) -> bytes:
    """One captured event as the streaming server writes it on SSE: the status as JSON in
    ``data``, a deleted status's id as it is."""
    payload = captured["payload"]
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"event: {captured['event']}\ndata: {data}\n\n".encode()


def test_real_updates_become_the_posts_the_polled_kind_makes_and_the_delete_ends_one() -> None:
    captured = flodgatt_events()
    body = b":thump\n\n".join(as_sse(c) for c in captured)
    parser = SseParser()
    changes = [read_event(e) for chunk in (body[i : i + 512] for i in range(0, len(body), 512)) for e in parser.feed(chunk)]
    assert len(changes) == 6 and all(c is not None for c in changes)
    updates = [c for c in changes if c is not None and c.posts]
    assert [c.deleted for c in changes if c is not None and c.deleted] == ["104061222412800865"]
    assert len(updates) == 5
    for change, raw in zip(updates, [c for c in captured if c["event"] == "update"], strict=True):
        assert list(change.posts) == status_to_posts(raw["payload"])  # the same parsing as polling, not a copy
        assert change.timeline_id == raw["payload"]["id"]
    venice = updates[1].posts[0]
    assert venice.url == "https://newsbots.eu/@aljazeera_english/104072549673971025"
    assert venice.author == "aljazeera_english@newsbots.eu"
    assert "Venice lockdown" in venice.text and "<p>" not in venice.text
    assert venice.ref == "104072549781970698"  # the instance-local id: how it is re-read, and what a delete names


def test_status_update_is_the_same_post_with_its_new_text() -> None:
    raw = flodgatt_events()[1]["payload"]
    edited = {**raw, "content": "<p>Corrected: Venice lockdown lifted</p>", "edited_at": "2020-04-23T10:00:00.000Z"}
    first = read_event(SseEvent("update", json.dumps(raw), ""))
    second = read_event(SseEvent("status.update", json.dumps(edited), ""))
    assert first is not None and second is not None
    assert first.posts[0].id == second.posts[0].id
    assert second.posts[0].text == "Corrected: Venice lockdown lifted"


def test_a_boost_on_the_stream_is_the_original_and_its_spread() -> None:
    raw = flodgatt_events()[0]["payload"]
    boost = {"id": "200", "uri": "https://example.social/users/b/statuses/200/activity", "url": None, "account": {"acct": "b"}, "created_at": raw["created_at"], "reblog": raw}
    change = read_event(SseEvent("update", json.dumps(boost), ""))
    assert change is not None
    original, spread = change.posts
    assert original.id == raw["uri"] and spread.repost_of == raw["uri"]
    assert change.timeline_id == "200"  # the boost's own place in the timeline


def test_events_that_are_not_about_public_statuses_are_skipped() -> None:
    for event in [SseEvent("conversation", '{"id": "7"}', ""), SseEvent("notification", "{}", ""), SseEvent("filters_changed", "", ""), SseEvent("message", "{}", "")]:
        assert read_event(event) is None


@pytest.mark.parametrize("data", ["", "null", "[]", '"x"', "{", "[" * 100_000, '{"id": "1"}', '{"uri": 5}'])
def test_junk_updates_are_skipped(data: str) -> None:
    assert read_event(SseEvent("update", data, "")) is None


@pytest.mark.parametrize("data", ["", "12 34", "../../admin", "x" * 200, "１２３"])
def test_a_delete_must_name_a_status_id(data: str) -> None:
    assert read_event(SseEvent("delete", data, "")) is None


_KEYS = st.sampled_from(["id", "uri", "url", "content", "account", "reblog", "created_at", "favourites_count"])
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20), lambda c: st.lists(c, max_size=4) | st.dictionaries(_KEYS, c, max_size=6), max_leaves=30)


@given(st.sampled_from(["update", "status.update", "delete"]), _JSON)
@settings(max_examples=200, deadline=None)
def test_any_json_is_a_change_or_nothing(kind: str, payload: Any) -> None:
    change = read_event(SseEvent(kind, json.dumps(payload), ""))
    assert change is None or isinstance(change, StreamChange)


def test_streams_and_their_timelines() -> None:
    assert stream_for("public").timeline == "/api/v1/timelines/public"
    assert stream_for("public:local").params == (("local", "true"),)
    tag = stream_for("hashtag", "#咖啡 shop")
    assert tag.streaming == "/api/v1/streaming/hashtag?tag=%E5%92%96%E5%95%A1%20shop"
    assert tag.timeline == "/api/v1/timelines/tag/%E5%92%96%E5%95%A1%20shop"
    with pytest.raises(ValueError, match="without a tag"):
        stream_for("hashtag", "#")


def test_timeline_ids_order_by_length_then_characters() -> None:
    assert newer("104072557586605107", "99999999999999999")
    assert not newer("104072549781970698", "104072557586605107")
    assert not newer("5", "5")
