"""The daemon as users run it: real scheduler, real threads, loopback platforms."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.clock import utcnow
from monitor.daemon import Daemon
from monitor.tickets.actions import list_tickets, ticket_summary
from sources import HttpPolicy, PoliteHttp, source_kinds
from tests.conftest import BASE_CONFIG, Loopback, mastodon_source, rss_source, smtp_block, status, wait_until, write_config

TIMELINE = "/api/v1/timelines/tag/acme"
ROOT = Path(__file__).resolve().parents[1]


def _now() -> datetime:
    return datetime.now(UTC)


def _tickets(app):
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s)]


def _run(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], cwd=config.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _cli_json(config: Path, *args: str):
    out = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), *args, "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_kill_after_mail_and_restart_sends_nothing_twice(tmp_path, loopback, smtp):
    loopback.json(TIMELINE, [status("1", "孩子用艾克美保温杯被烫伤了", created=_now())])
    config = write_config(tmp_path, mastodon_source(loopback.base, every="1s"), smtp_block(smtp.port))
    # the killed process's lease on the source runs out (every + lease_grace) before the restart polls it
    config.write_text(config.read_text(encoding="utf-8").replace("[monitor]\n", '[monitor]\nlease_grace = "2s"\n', 1), encoding="utf-8")

    first = _run(config)
    try:
        wait_until(lambda: len(smtp.messages) >= 2, timeout=30)
    finally:
        first.kill()  # SIGKILL: no clean shutdown at all
        first.wait(10)
    hits_before = loopback.hits[TIMELINE]

    second = _run(config)
    try:
        wait_until(lambda: loopback.hits.get(TIMELINE, 0) >= hits_before + 3, timeout=30)
        second.send_signal(signal.SIGTERM)
        output, _ = second.communicate(timeout=15)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, output
    assert "monitor stopped" in output
    assert len(smtp.messages) == 2
    tickets = _cli_json(config, "tickets", "list")
    assert [(t["id"], t["severity"], t["post_count"]) for t in tickets] == [(1, "urgent", 1)]


def test_failing_sources_do_not_stop_or_slow_the_good_one(tmp_path, loopback, http, caplog):
    caplog.set_level(logging.INFO)
    loopback.json(TIMELINE, [status("1", "艾克美保温杯炸裂，孩子被烫伤", created=_now())])
    loopback.routes["/broken.xml"] = (200, {"Content-Type": "application/rss+xml"}, b"\x00\xff this is not <rss at all")
    loopback.routes["/500.xml"] = (500, {}, b"oops")
    loopback.routes["/hung.xml"] = (200, {"X-Test-Hang": "1"}, b"")
    loopback.routes["/huge.xml"] = (200, {"X-Test-Chunked": "1", "Connection": "close"}, b"<rss>" + b"x" * 5_000_000)
    config = write_config(
        tmp_path,
        mastodon_source(loopback.base, every="1s"),
        rss_source(f"{loopback.base}/broken.xml", "broken", "1s"),
        rss_source(f"{loopback.base}/500.xml", "err500", "1s"),
        rss_source(f"{loopback.base}/hung.xml", "hung", "1s"),
        rss_source(f"{loopback.base}/huge.xml", "huge", "1s"),
    )
    daemon = Daemon(config, http=http, deliver_every=0.5)
    app = daemon.start()
    try:
        wait_until(lambda: loopback.hits.get(TIMELINE, 0) >= 4, timeout=8)  # ~1 poll a second despite the others
        assert _tickets(app)[0]["severity"] == "urgent"
        wait_until(lambda: all(app.health[n].failures for n in ("broken", "err500", "hung", "huge")), timeout=10)
        assert app.health["masto"].failures == 0
        assert "ParseError" in app.health["broken"].last_error
        assert "HTTP 500" in app.health["err500"].last_error
        assert "timed out" in app.health["hung"].last_error
        assert "cap" in app.health["huge"].last_error
    finally:
        daemon.stop()
    failure_lines = [r for r in caplog.records if r.name == "monitor.sources" and "poll failed" in r.getMessage()]
    assert len([r for r in failure_lines if "source err500" in r.getMessage()]) == 1  # logged once, not every poll


def test_huge_body_is_cut_off_with_bounded_memory(tmp_path, loopback, http, make_app):
    loopback.routes["/huge.xml"] = (200, {"X-Test-Chunked": "1", "Connection": "close"}, b"<rss>" + b"x" * 20_000_000)
    app = make_app(write_config(tmp_path, rss_source(f"{loopback.base}/huge.xml", "huge")))
    app.http = http
    tracemalloc.start()
    try:
        source = app.sources["huge"]
        assert source.context.http.policy.max_bytes == 1_000_000  # the app's own polite client
        app.poll("huge")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "cap" in app.health["huge"].last_error
    assert peak < 8_000_000, f"peak {peak} bytes while reading a 20 MB body"


def test_saving_a_new_keyword_while_running_matches_it(tmp_path, loopback, http, caplog):
    caplog.set_level(logging.INFO)
    loopback.json(TIMELINE, [status("1", "Globex 保温杯把孩子烫伤了", created=_now())])
    config = write_config(tmp_path, mastodon_source(loopback.base, every="1s"))
    daemon = Daemon(config, http=http, watch_every=0.2)
    app = daemon.start()
    try:
        wait_until(lambda: loopback.hits.get(TIMELINE, 0) >= 1)
        assert _tickets(app) == []

        config.write_text(BASE_CONFIG.replace('"艾克美", "Acme"]', '"艾克美", "Acme", "Globex"]') + "oops = [\n", encoding="utf-8")
        wait_until(lambda: any("config reload refused" in r.getMessage() for r in caplog.records), timeout=10)
        assert _tickets(app) == []  # a broken save changes nothing; the old config stays

        config.write_text(BASE_CONFIG.replace('"艾克美", "Acme"]', '"艾克美", "Acme", "Globex"]') + mastodon_source(loopback.base, every="1s"), encoding="utf-8")
        tickets = wait_until(lambda: _tickets(app), timeout=10)
        assert tickets[0]["severity"] == "urgent"
        assert tickets[0]["brand"] == "艾克美"
    finally:
        daemon.stop()


def test_sources_are_found_through_the_entry_point_group():
    kinds = source_kinds()
    assert {"rss", "mastodon"} <= set(kinds)


def test_many_hung_sources_on_one_host_hold_up_neither_good_sources_nor_delivery(tmp_path, loopback):
    client = httpx.Client()
    http = PoliteHttp(client, HttpPolicy(read_timeout=30, connect_timeout=1, total_timeout=30))  # hung for the whole test
    good = Loopback()  # another host (say an RSSHub instance went down, Mastodon did not)
    good.start()
    good.json(TIMELINE, [status("1", "艾克美保温杯把孩子烫伤了", created=_now())])
    hung = [rss_source(f"{loopback.base}/hung{i}.xml", f"hung{i}", "1s") for i in range(10)]
    for i in range(10):
        loopback.routes[f"/hung{i}.xml"] = (200, {"X-Test-Hang": "1"}, b"")
    config = write_config(tmp_path, *hung, mastodon_source(good.base, every="1s"))
    daemon = Daemon(config, http=http, deliver_every=0.5, workers=8)
    app = daemon.start()
    try:
        wait_until(lambda: good.hits.get(TIMELINE, 0) >= 4, timeout=8)
        wait_until(lambda: len(list((tmp_path / "outbox").glob("*.eml"))) == 2, timeout=5)
        assert app.health["masto"].failures == 0
    finally:
        daemon.stop()
        loopback.release.set()  # the hung requests end now …
        wait_until(lambda: http.in_flight == 0, timeout=10)  # … and are done before the client closes
        good.stop()
        client.close()


def test_metrics_and_healthz(tmp_path, loopback, http):
    from tests.conftest import free_port

    port = free_port()
    loopback.json(TIMELINE, [status("1", "孩子用艾克美保温杯被烫伤了", created=_now())])
    config = write_config(tmp_path, mastodon_source(loopback.base, every="1s"), f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    daemon = Daemon(config, http=http, deliver_every=0.5)
    daemon.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len(list((tmp_path / "outbox").glob("*.eml"))) == 2)
        body = httpx.get(f"{base}/metrics").text
        assert 'monitor_source_polls_total{outcome="ok",source="masto"}' in body
        assert 'monitor_tickets{severity="urgent",status="open"} 1.0' in body
        assert 'monitor_messages{status="sent"} 2.0' in body
        assert "monitor_alert_latency_seconds_count 1.0" in body
        health = httpx.get(f"{base}/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        daemon.scheduler.shutdown(wait=False)  # a stuck daemon must say so
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 503 and "scheduler" in health.text
    finally:
        daemon.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz")


def test_an_alert_goes_out_right_after_the_poll_that_raised_it_not_at_the_next_delivery_tick(tmp_path, loopback, http, smtp):
    """deliver_every is an hour here: only the wake-up after the ingest can send it."""
    loopback.json(TIMELINE, [status("1", "孩子用艾克美保温杯被烫伤了", created=_now())])
    config = write_config(tmp_path, mastodon_source(loopback.base, every="1s"), smtp_block(smtp.port))
    daemon = Daemon(config, http=http, deliver_every=3600)
    daemon.start()
    try:
        first = _now()
        wait_until(lambda: len(smtp.messages) >= 2, timeout=20)
    finally:
        daemon.stop()
    assert (_now() - first).total_seconds() < 20


def test_a_repeat_interval_under_a_minute_is_looked_for_between_the_minute_clocks(tmp_path, http):
    head = BASE_CONFIG.split("# detection tests want")[0]
    route = '[[alerts.routes]]\nname = "pr"\nto = ["pr-team@example.com"]\nrepeat_interval = {{ urgent = "{urgent}" }}\n'
    config = write_config(tmp_path, route.format(urgent="8s"), base=head)
    daemon = Daemon(config, http=http)
    daemon.start()
    try:
        job = daemon.scheduler.get_job("repeat")
        assert job is not None and job.trigger.interval == timedelta(seconds=4)  # an 8 s repeat goes 8 to 12 s after the last message
        config.write_text(head + route.format(urgent="20s"), encoding="utf-8")
        assert daemon.reload()
        assert daemon.scheduler.get_job("repeat").trigger.interval == timedelta(seconds=10)
        config.write_text(head + route.format(urgent="1h"), encoding="utf-8")
        assert daemon.reload()
        assert daemon.scheduler.get_job("repeat") is None  # the minute's clocks are soon enough
    finally:
        daemon.stop()


def test_a_source_keeps_its_interval_with_its_spread():
    """Sources are spread over the first tenth of their interval once, not jittered at
    every run: APScheduler's jitter accumulated, polling every 63 s for ``every = "1m"``
    (issue 14, item 11)."""
    from datetime import timedelta

    from monitor.clock import utcnow
    from monitor.daemon import SpreadInterval

    trigger = SpreadInterval(60, 4.5)
    first = utcnow()  # the first poll runs at once, off the grid
    runs = [first]
    for _ in range(100):
        runs.append(trigger.get_next_fire_time(runs[-1], runs[-1]))
    assert timedelta(seconds=64) < runs[1] - first <= timedelta(seconds=65.5)  # then an interval and its phase
    assert {b - a for a, b in zip(runs[1:], runs[2:], strict=False)} == {timedelta(seconds=60)}
    late = runs[50] + timedelta(seconds=150)  # woke late: still the grid (APScheduler coalesces what was missed)
    assert trigger.get_next_fire_time(runs[50], late) == runs[51]


def test_a_changed_interval_counts_from_the_last_poll_not_from_the_reload():
    from monitor.daemon import changed_interval_start

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    hour, half = timedelta(hours=1), timedelta(minutes=30)
    last = now - timedelta(minutes=10)
    # shortened: one new interval after the last poll (20 minutes from now, not 30)
    assert changed_interval_start(last + hour, hour, half, now) == last + half
    # shortened below the time already waited: at once
    assert changed_interval_start(now + timedelta(minutes=10), hour, half, now) == now
    # lengthened: one new interval after the last poll as well
    assert changed_interval_start(last + half, half, hour, now) == last + hour


def test_reloading_a_shorter_interval_reschedules_on_the_source_s_last_poll(tmp_path, http):
    head = BASE_CONFIG.split("# detection tests want")[0]
    config = write_config(tmp_path, rss_source("http://127.0.0.1:9/feed.xml", "feed", every="1h"), base=head)
    daemon = Daemon(config, http=http)
    daemon.start()
    try:
        wait_until(lambda: daemon.scheduler.get_job("source:feed").next_run_time > utcnow() + timedelta(minutes=59), timeout=30)  # the first poll is done
        before = daemon.scheduler.get_job("source:feed").next_run_time
        config.write_text(config.read_text(encoding="utf-8").replace('every = "1h"', 'every = "30m"'), encoding="utf-8")
        assert daemon.reload()
        after = daemon.scheduler.get_job("source:feed")
        assert after.trigger.interval == timedelta(minutes=30)
        assert abs(after.next_run_time - (before - timedelta(minutes=30))) < timedelta(seconds=1)  # 30 minutes after the last poll, not after the reload
    finally:
        daemon.stop()
