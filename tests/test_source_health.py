"""`monitor sources`, and the ticket that says "we are blind on X"."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner

from monitor.cli.commands import cli
from monitor.tickets.actions import list_tickets, ticket_summary
from tests.conftest import mastodon_source, rss_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"


def test_sources_command_shows_each_sources_state(tmp_path, loopback, make_app):
    config = write_config(tmp_path, mastodon_source(loopback.base), rss_source(f"{loopback.base}/gone.xml", "gone"), rss_source(f"{loopback.base}/later.xml", "later"))
    app = make_app(config)
    loopback.json(TIMELINE, [status("1", "艾克美不错"), status("2", "路过")])
    app.poll("masto")
    app.poll("gone")  # 404

    result = CliRunner().invoke(cli, ["-c", str(config), "sources", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["masto"]["state"] == "ok" and rows["masto"]["posts_seen"] == 2 and rows["masto"]["last_success"]
    assert rows["gone"]["state"] == "failing" and rows["gone"]["failures"] == 1 and "HTTP 404" in rows["gone"]["last_error"]
    assert rows["later"]["state"] == "never polled"

    table = CliRunner().invoke(cli, ["-c", str(config), "sources"]).output
    assert "masto" in table and "failing" in table and "HTTP 404" in table


def test_a_source_failing_for_blind_after_raises_a_ticket_and_recovery_resolves_it(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nblind_after = "30m"'))
    app = make_app(config)
    loopback.routes[TIMELINE] = (500, {}, b"down")
    app.poll("masto")
    clock.advance(minutes=29)
    app.poll("masto")

    def system_tickets():
        with app.sessions() as s:
            return [ticket_summary(t) for t in list_tickets(s) if t.brand == "monitor"]

    assert system_tickets() == []
    clock.advance(minutes=2)
    app.poll("masto")
    [ticket] = system_tickets()
    assert ticket["severity"] == "normal" and ticket["status"] == "open"
    assert "blind on masto" in ticket["title"] and "HTTP 500" in ticket["reasons"][0]

    loopback.json(TIMELINE, [])
    clock.advance(hours=2)  # past the backoff window
    app.poll("masto")
    [ticket] = system_tickets()
    assert ticket["status"] == "resolved"
    assert app.deliver().sent == 1  # PR was told once (normal: management is not)


def test_429_with_retry_after_delays_that_source_only(tmp_path, loopback, make_app, clock):
    from tests.conftest import Loopback

    other = Loopback()
    other.start()
    try:
        config = write_config(tmp_path, mastodon_source(loopback.base), mastodon_source(other.base, name="other"))
        app = make_app(config)
        loopback.routes[TIMELINE] = (429, {"Retry-After": "120"}, b"slow down")
        other.json(TIMELINE, [status("1", "艾克美不错")])
        for _ in range(5):  # a minute of 12-second polls
            app.poll("masto")
            app.poll("other")
            clock.advance(seconds=12)
        assert loopback.hits[TIMELINE] == 1  # asked once, then waited as told
        assert other.hits[TIMELINE] == 5  # the other source never noticed
        assert app.health["masto"].failures == 1 and "rate limited" in app.health["masto"].last_error
        clock.advance(seconds=61)  # 120 s after the 429
        loopback.json(TIMELINE, [])
        app.poll("masto")
        assert loopback.hits[TIMELINE] == 2 and app.health["masto"].failures == 0
    finally:
        other.stop()


def test_blind_ticket_is_not_reopened_after_a_manual_resolve_and_closes_when_the_source_is_removed(tmp_path, loopback, make_app, clock):
    from monitor.tickets.actions import resolve

    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nblind_after = "10m"'))
    app = make_app(config)
    loopback.routes[TIMELINE] = (500, {}, b"down")

    def poll_for(minutes):
        for _ in range(minutes // 5):
            clock.advance(minutes=5)
            app.poll("masto")

    def system():
        with app.sessions() as s:
            return [(t.id, t.status) for t in list_tickets(s) if t.brand == "monitor"]

    app.poll("masto")
    poll_for(20)
    assert system() == [(1, "open")]
    with app.sessions() as s:
        resolve(s, 1, clock.now, "pr-lead", "we know, RSSHub is down")
        s.commit()
    poll_for(120)  # still failing: no new ticket, no new mail
    assert system() == [(1, "resolved")]

    loopback.json(TIMELINE, [])
    poll_for(120)  # recovers …
    loopback.routes[TIMELINE] = (500, {}, b"down again")
    poll_for(60)  # … and fails again: a new outage is news
    assert system() == [(2, "open"), (1, "resolved")]

    from monitor.config import load_config
    from sources import source_kinds

    config.write_text(config.read_text().replace(mastodon_source(loopback.base), ""))
    app.apply(load_config(config, source_kinds()))
    assert system() == [(2, "resolved"), (1, "resolved")]


def test_retry_after_is_honoured_across_a_restart(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    loopback.routes[TIMELINE] = (429, {"Retry-After": "3600"}, b"slow down")
    make_app(config).poll("masto")
    assert loopback.hits[TIMELINE] == 1

    restarted = make_app(config)  # a new process: fresh HTTP client, same database
    clock.advance(minutes=30)
    restarted.poll("masto")
    assert loopback.hits[TIMELINE] == 1
    result = CliRunner().invoke(cli, ["-c", str(config), "sources", "--json"])
    assert json.loads(result.output)[0]["retry_at"] == (clock.now + timedelta(minutes=30)).isoformat()

    clock.advance(minutes=31)
    loopback.json(TIMELINE, [])
    restarted.poll("masto")
    assert loopback.hits[TIMELINE] == 2 and restarted.health["masto"].failures == 0


def _system_tickets(app):
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s) if t.brand == "monitor"]


def test_a_retry_after_of_a_year_waits_an_hour(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    app = make_app(config)
    for absurd in ("31536000", "999999999999"):
        loopback.routes[TIMELINE] = (429, {"Retry-After": absurd}, b"slow down")
        hits = loopback.hits.get(TIMELINE, 0)
        app.poll("masto")  # one clean failure, no traceback, no overflow
        assert loopback.hits[TIMELINE] == hits + 1 and "rate limited" in app.health["masto"].last_error
        assert app.health["masto"].retry_at == clock.now + timedelta(hours=1)  # [monitor] max_retry_after
        clock.advance(minutes=59)
        app.poll("masto")
        assert loopback.hits[TIMELINE] == hits + 1
        clock.advance(minutes=1, seconds=1)


def test_the_cap_is_configurable_and_a_waiting_source_goes_blind(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nblind_after = "30m"\nmax_retry_after = "3h"'))
    app = make_app(config)
    loopback.routes[TIMELINE] = (429, {"Retry-After": "86400"}, b"slow down")
    app.poll("masto")
    assert app.health["masto"].retry_at == clock.now + timedelta(hours=3)
    clock.advance(minutes=31)
    app.poll("masto")  # may not ask: still failing, and blind after 30 minutes of it
    assert loopback.hits[TIMELINE] == 1
    [ticket] = _system_tickets(app)
    assert "blind on masto" in ticket["title"] and "rate limited" in ticket["reasons"][0]


def test_a_source_pointed_elsewhere_does_not_wait_for_what_the_old_address_said(tmp_path, loopback, make_app, clock):
    from monitor.config import load_config
    from sources import source_kinds
    from tests.conftest import Loopback

    other = Loopback()
    other.start()
    try:
        config = write_config(tmp_path, mastodon_source(loopback.base))
        app = make_app(config)
        loopback.routes[TIMELINE] = (429, {"Retry-After": "3600"}, b"slow down")
        app.poll("masto")
        assert app.health["masto"].retry_at is not None

        config.write_text(config.read_text().replace(loopback.base, other.base))
        other.json(TIMELINE, [status("1", "艾克美不错")])
        app.apply(load_config(config, source_kinds()))  # the daemon's reload
        clock.advance(seconds=30)
        app.poll("masto")
        assert other.hits[TIMELINE] == 1 and app.health["masto"].failures == 0

        restarted = make_app(config)  # and the stored wait is not the new address's either
        assert restarted.health["masto"].retry_at is None
    finally:
        other.stop()


def test_a_wait_stored_longer_than_the_cap_is_cut_after_a_restart(tmp_path, loopback, make_app, clock):
    from monitor.storage.models import SourceStateRow

    config = write_config(tmp_path, mastodon_source(loopback.base))
    loopback.routes[TIMELINE] = (429, {"Retry-After": "600"}, b"slow down")
    app = make_app(config)
    app.poll("masto")
    with app.sessions() as s:  # as an older version stored a year-long wait
        s.get(SourceStateRow, "masto").retry_at = clock.now + timedelta(days=365)
        s.commit()
    restarted = make_app(config)
    clock.advance(minutes=61)
    loopback.json(TIMELINE, [])
    restarted.poll("masto")
    assert loopback.hits[TIMELINE] == 2 and restarted.health["masto"].failures == 0


def test_a_source_kept_waiting_by_its_hosts_429_goes_blind_too(tmp_path, loopback, make_app, clock):
    config = write_config(tmp_path, mastodon_source(loopback.base), mastodon_source(loopback.base, name="other", tag="other"))
    config.write_text(config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\nblind_after = "30m"\nmax_retry_after = "3h"'))
    app = make_app(config)
    loopback.routes[TIMELINE] = (429, {"Retry-After": "7200"}, b"slow down")
    app.poll("masto")
    for _ in range(4):
        clock.advance(minutes=11)
        app.poll("other")  # never asks: the host said wait
    assert loopback.hits.get("/api/v1/timelines/tag/other", 0) == 0
    assert {t["title"].split("blind on ")[-1].split()[0] for t in _system_tickets(app)} >= {"other"}


def test_per_source_state_follows_the_config_through_renames(tmp_path, loopback, make_app):
    """What the app keeps per source name is for the configured sources only: a source
    renamed at every reload leaves nothing behind (issue 14, item 11)."""
    from monitor.config import load_config
    from sources import source_kinds

    config = write_config(tmp_path, mastodon_source(loopback.base, name="s0"))
    app = make_app(config)
    text = config.read_text()
    for n in range(12):
        loopback.json(TIMELINE, [status(str(n + 1), "路过")])  # a post of its own, so the name has posts
        if n:
            config.write_text(text.replace('name = "s0"', f'name = "s{n}"'))
            app.apply(load_config(config, source_kinds()))
        app.poll(f"s{n}")
        assert app.poller._has_posts(f"s{n}")
        assert set(app.health) == set(app.poller._blind_checked) == app.poller._known_sources == {f"s{n}"}
