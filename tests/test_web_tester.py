"""The keyword tester runs only from its own form (a POST with the CSRF token), and stops at
its time limit (issue 14, item 5)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from monitor.tuning.replay import replay
from monitor.tuning.tryout import Deadline, TimeLimit
from tests.webkit import client_for, crisis, csrf_of, sign_in


@pytest.fixture
def world(tmp_path, loopback, make_app, clock, tokenizers):
    return crisis(tmp_path, loopback, make_app, clock, tokenizers)


def test_a_link_fills_in_the_form_but_does_not_run_it(world):
    client = client_for(world.console)
    sign_in(client)
    page = client.get("/tester", params={"brand": "艾克美", "words": "保温杯 杯子", "days": 3})
    assert page.status_code == 200
    assert "保温杯 杯子</textarea>" in page.text and 'value="3"' in page.text  # prefilled
    assert 'id="matches"' not in page.text and "漏水" not in page.text  # not run
    assert 'method="post" action="/tester"' in page.text and csrf_of(page.text)


def test_running_a_test_needs_the_forms_csrf_token(world):
    client = client_for(world.console)
    sign_in(client)
    client.get("/tester")
    fields = {"brand": "艾克美", "words": "保温杯", "days": "7"}
    assert client.post("/tester", data=fields).status_code == 403  # another site's form
    assert client.post("/tester", data={**fields, "csrf": "forged"}).status_code == 403
    ran = client.post("/tester", data={**fields, "csrf": csrf_of(client.get("/tester").text)})
    assert ran.status_code == 200 and 'id="matches"' in ran.text and "漏水" in ran.text
    signed_out = client_for(world.console).post("/tester", data=fields)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login?next=%2Ftester"  # back to the tester after sign-in


def test_a_test_that_runs_out_of_time_stops_and_says_so(world):
    ticks = itertools.count()
    world.console.monotonic = lambda: float(next(ticks))  # one second per look at the clock
    world.console.tester_time_limit = timedelta(seconds=3)
    client = client_for(world.console)
    sign_in(client)
    token = csrf_of(client.get("/tester").text)
    answer = client.post("/tester", data={"csrf": token, "brand": "艾克美", "words": "艾克美", "days": "7"}, headers={"accept-language": "en"})
    assert answer.status_code == 200
    assert "Stopped after" in answer.text and "time limit" in answer.text and 'id="matches"' not in answer.text
    zh = client.post("/tester", data={"csrf": token, "brand": "艾克美", "words": "艾克美", "days": "7"}, headers={"accept-language": "zh-CN"})
    assert "已到时间上限" in zh.text
    # and the next test starts with a fresh limit (the lock was released)
    world.console.monotonic = lambda: 0.0
    again = client.post("/tester", data={"csrf": token, "brand": "艾克美", "words": "艾克美", "days": "7"})
    assert 'id="matches"' in again.text


def test_the_replay_checks_its_deadline_between_posts(world):
    config, now, tokenizers = world.app.config, world.console.now(), world.console.tokenizers
    clock = itertools.chain([0.0, 0.0], itertools.repeat(100.0))  # made, one post fed, then late
    with world.app.read_sessions() as session:
        assert replay(session, config, now - timedelta(days=1), now, tokenizers, deadline=Deadline(10, lambda: 0.0))
        with pytest.raises(TimeLimit) as stopped:
            replay(session, config, now - timedelta(days=1), now, tokenizers, deadline=Deadline(10, lambda: next(clock)))
    assert stopped.value.posts >= 1
    assert str(stopped.value).startswith(f"stopped after {stopped.value.posts} posts: time limit")
