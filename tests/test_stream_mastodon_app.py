"""``kind = "mastodon_stream"`` through the App exactly as the daemon builds it (real SQLite,
fake clock, a Mastodon on 127.0.0.1 speaking Server-Sent Events): a brand post on the
stream is a ticket, an edit re-scores it, a deletion ends its tracking, the timeline read
while the stream is down loses nothing and tells nobody twice, the stream's health shows,
and a stream with no way in for ``blind_after`` is a "blind" ticket."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from monitor.storage.models import MentionRow, NoticeRow, PostRow
from monitor.tickets.actions import list_tickets, ticket_summary
from tests.conftest import wait_until, write_config
from tests.mastodon_server import MastodonServer
from tests.test_source_mastodon_stream import mastodon, real_statuses

__all__ = ["mastodon"]  # the fixture

VENETO = '\n[[brands]]\nname = "Veneto"\nkeywords = ["Venice"]\n'


def stream_app(tmp_path: Any, make_app: Any, server: MastodonServer, monitor_extra: str = "") -> Any:
    source = f'\n[[sources]]\nname = "live"\nkind = "mastodon_stream"\ninstance = "{server.base}"\nevery = "1m"\n'
    config = write_config(tmp_path, source, VENETO)
    if monitor_extra:
        config.write_text(config.read_text().replace('outbox = "outbox"', f'outbox = "outbox"\n{monitor_extra}'))
    return make_app(config)


def tickets(app: Any, brand: str = "Veneto") -> list[dict[str, Any]]:
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s) if t.brand == brand]


def notices(app: Any) -> list[str]:
    with app.sessions() as s:
        return sorted(s.scalars(select(NoticeRow.key)))


def injured(status: dict[str, Any]) -> dict[str, Any]:
    """The real status with a crisis term (the base config's safety terms) added."""
    return {**status, "content": status["content"] + "<p>A tourist's injury was reported.</p>"}


def test_a_brand_post_on_the_stream_is_a_ticket_and_an_edit_rescores_it(tmp_path: Any, make_app: Any, clock: Any, mastodon: MastodonServer) -> None:
    venice = real_statuses()[1]
    app = stream_app(tmp_path, make_app, mastodon)
    app.poll("live")  # connects
    mastodon.send("update", json.dumps(venice))
    wait_until(lambda: app.sources["live"].status().events == 1)
    app.poll("live")
    assert tickets(app) == []  # a mention of Venice, nothing alarming yet
    with app.sessions() as s:
        assert s.scalar(select(MentionRow.brand)) == "Veneto"

    clock.advance(minutes=1)
    mastodon.send("status.update", json.dumps(injured(venice)))
    wait_until(lambda: app.sources["live"].status().events == 2)
    app.poll("live")
    [ticket] = tickets(app)
    assert ticket["severity"] == "urgent" and ticket["categories"] == ["safety"]
    assert ticket["urls"] == [venice["url"]]
    assert app.health["live"].stream is not None and app.health["live"].stream["connected"] is True


def test_a_deletion_on_the_stream_ends_the_posts_tracking(tmp_path: Any, make_app: Any, clock: Any, mastodon: MastodonServer) -> None:
    venice = injured(real_statuses()[1])
    mastodon.post(venice)
    app = stream_app(tmp_path, make_app, mastodon)
    app.poll("live")  # the timeline's newest page: the post
    assert len(tickets(app)) == 1

    def ref() -> str:
        with app.sessions() as s:
            return str(s.scalar(select(PostRow.ref).where(PostRow.platform_id == venice["uri"])))

    clock.advance(minutes=2)
    app.poll("live")  # tracked: re-read from the instance
    assert ref() == venice["id"] and (f"/api/v1/statuses/{venice['id']}", {}) in mastodon.rest_requests
    mastodon.send("delete", venice["id"])
    wait_until(lambda: app.sources["live"].status().events == 1)
    clock.advance(minutes=2)
    app.poll("live")
    assert ref() == ""  # no longer re-read
    assert mastodon.rest_requests.count((f"/api/v1/statuses/{venice['id']}", {})) == 1


def test_the_timeline_read_while_the_stream_is_down_loses_nothing_and_tells_nobody_twice(tmp_path: Any, make_app: Any, clock: Any, mastodon: MastodonServer) -> None:
    one, two, three, *_ = [injured(s) for s in real_statuses()]
    three = {**three, "content": three["content"] + "<p>Venice too.</p>"}
    one = {**one, "content": one["content"] + "<p>Venice.</p>"}
    app = stream_app(tmp_path, make_app, mastodon)
    app.poll("live")
    mastodon.post(one)
    mastodon.send("update", json.dumps(one))
    wait_until(lambda: app.sources["live"].status().events == 1)
    app.poll("live")
    assert [t["urls"] for t in tickets(app)] == [[one["url"]]]

    mastodon.stream_status = 503
    mastodon.drop()
    wait_until(lambda: not app.sources["live"].status().connected)
    clock.advance(minutes=1)
    app.poll("live")  # the poll it dropped after
    mastodon.post(two)
    clock.advance(minutes=1)
    app.poll("live")  # down: the timeline instead
    assert sorted(u for t in tickets(app) for u in t["urls"]) == sorted([one["url"], two["url"]])
    assert app.health["live"].failing_since is None  # seeing, though not live

    mastodon.post(three)  # in the gap before the stream comes back, and on it again after
    mastodon.stream_status = 200
    wait_until(lambda: app.sources["live"].status().connected)
    mastodon.send("update", json.dumps(three))
    mastodon.send("update", json.dumps(two))
    wait_until(lambda: app.sources["live"].status().events == 3)
    clock.advance(minutes=1)
    app.poll("live")
    clock.advance(minutes=1)
    app.poll("live")
    urls = sorted(u for t in tickets(app) for u in t["urls"])
    assert urls == sorted([one["url"], two["url"], three["url"]])  # each once
    with app.sessions() as s:
        assert len(s.scalars(select(PostRow.id)).all()) == 3
    told = notices(app)
    assert len(told) == len(set(told))


def test_a_stream_with_no_way_in_for_blind_after_is_a_blind_ticket(tmp_path: Any, make_app: Any, clock: Any, mastodon: MastodonServer) -> None:
    mastodon.stream_status = 500
    mastodon.timeline_status = 502
    app = stream_app(tmp_path, make_app, mastodon, 'blind_after = "30m"')
    app.poll("live")
    clock.advance(minutes=29)
    app.poll("live")
    assert tickets(app, "monitor") == []
    clock.advance(minutes=2)
    app.poll("live")
    [ticket] = tickets(app, "monitor")
    assert "blind on live" in ticket["title"]
    assert "stream disconnected" in ticket["reasons"][0] and "timeline could not be read either" in ticket["reasons"][0]
    assert app.health["live"].stream is not None and app.health["live"].stream["connected"] is False

    mastodon.stream_status = 200
    mastodon.timeline_status = 200
    wait_until(lambda: app.sources["live"].status().connected)
    clock.advance(hours=2)  # past the timeline's backoff
    app.poll("live")
    [ticket] = tickets(app, "monitor")
    assert ticket["status"] == "resolved"


def test_a_restart_reads_what_was_posted_while_the_daemon_was_away(tmp_path: Any, make_app: Any, clock: Any, mastodon: MastodonServer) -> None:
    one, two, *_ = [injured(s) for s in real_statuses()]
    one = {**one, "content": one["content"] + "<p>Venice.</p>"}
    two = {**two, "created_at": one["created_at"]}
    app = stream_app(tmp_path, make_app, mastodon)
    app.poll("live")
    mastodon.post(one)
    mastodon.send("update", json.dumps(one))
    wait_until(lambda: app.sources["live"].status().events == 1)
    app.poll("live")
    app.close()  # the daemon stops; its position (the newest status seen) is in the database
    mastodon.post(two)
    clock.advance(minutes=3)
    again = make_app(tmp_path / "config.toml")
    again.poll("live")
    assert ("/api/v1/timelines/public", {"limit": "40", "min_id": one["id"]}) in mastodon.rest_requests  # from where it was
    assert sorted(u for t in tickets(again) for u in t["urls"]) == sorted([one["url"], two["url"]])
    told = notices(again)
    assert len(told) == len(set(told))
