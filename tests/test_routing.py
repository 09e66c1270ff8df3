"""The route table and pacing as pure functions: who is told, and when."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from conftest import BASE_CONFIG, write_config
from hypothesis import given
from hypothesis import strategies as st

from alerts import Route, Severity, routes_for
from alerts.pacing import WorkingHours, news_due, repeat_due
from monitor.cli.commands import cli
from monitor.config import parse_config
from sources import source_kinds

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")

PR = Route("pr", ("pr@example.com",))
MGMT = Route("management", ("ceo@example.com",), Severity.urgent, continue_=False)
LEGAL = Route("legal", ("law@example.com",), Severity.normal, frozenset({"legal"}))
OTHER_BRAND = Route("b-team", ("b@example.com",), brands=frozenset({"Beta"}))
TABLE = [OTHER_BRAND, PR, MGMT, LEGAL]


def test_every_matching_route_is_told_in_order():
    assert routes_for(Severity.normal, ("quality",), "艾克美", TABLE) == [PR]
    assert routes_for(Severity.important, ("legal",), "艾克美", TABLE) == [PR, LEGAL]


def test_continue_false_stops_the_walk_at_that_route():
    # management matches urgent tickets and says continue = false: legal is not reached
    assert routes_for(Severity.urgent, ("legal",), "艾克美", TABLE) == [PR, MGMT]


def test_brand_and_category_filters():
    assert routes_for(Severity.normal, (), "Beta", TABLE) == [OTHER_BRAND, PR]
    assert routes_for(Severity.normal, ("media",), "艾克美", [LEGAL]) == []


def test_group_key_keeps_severities_apart():
    route = Route("pr", ("pr@example.com",), group_by=("brand", "category"))
    assert route.group_key(Severity.urgent, "艾克美", ["safety"]) != route.group_key(Severity.normal, "艾克美", ["safety"])
    assert route.group_key(Severity.normal, "艾克美", ["b", "a"]) == route.group_key(Severity.normal, "艾克美", ["a", "b"])


def test_urgent_goes_at_once_and_is_never_held_by_group_interval():
    assert news_due(PR, Severity.urgent, T0, last_flush=T0 - timedelta(seconds=1)) == T0


def test_normal_news_waits_group_wait_then_group_interval_after_a_flush():
    route = Route("pr", ("pr@example.com",), group_wait={Severity.normal: timedelta(minutes=5)}, group_interval=timedelta(minutes=15))
    assert news_due(route, Severity.normal, T0, None) == T0 + timedelta(minutes=5)
    assert news_due(route, Severity.normal, T0, T0 - timedelta(minutes=2)) == T0 + timedelta(minutes=13)


def test_urgent_is_exempt_from_group_interval_by_its_severity_even_with_a_group_wait():
    # a user who gathers urgent tickets for 30 s still never waits out group_interval
    route = Route("pr", ("pr@example.com",), group_wait={Severity.urgent: timedelta(seconds=30)}, group_interval=timedelta(minutes=15))
    assert news_due(route, Severity.urgent, T0, last_flush=T0 - timedelta(seconds=1)) == T0 + timedelta(seconds=30)


def test_a_zero_group_wait_does_not_exempt_other_severities_from_group_interval():
    route = Route("pr", ("pr@example.com",), group_wait={sev: timedelta(0) for sev in Severity}, group_interval=timedelta(minutes=15))
    assert news_due(route, Severity.normal, T0, None) == T0  # the group's first message: at once
    assert news_due(route, Severity.normal, T0, T0 - timedelta(minutes=2)) == T0 + timedelta(minutes=13)
    assert news_due(route, Severity.important, T0, T0 - timedelta(minutes=2)) == T0 + timedelta(minutes=13)
    assert news_due(route, Severity.urgent, T0, T0 - timedelta(minutes=2)) == T0


def test_urgent_repeats_follow_repeat_interval_and_are_never_held_by_group_interval():
    route = Route(
        "pr", ("pr@example.com",), group_interval=timedelta(minutes=15),
        repeat_interval={Severity.urgent: timedelta(seconds=8), Severity.important: timedelta(minutes=1), Severity.normal: timedelta(hours=24)},
    )
    assert repeat_due(route, Severity.urgent, T0, last_flush=T0) == T0 + timedelta(seconds=8)
    # the others wait for group_interval after their group's last message, repeats too
    assert repeat_due(route, Severity.important, T0, last_flush=T0) == T0 + timedelta(minutes=15)
    assert repeat_due(route, Severity.important, T0, last_flush=None) == T0 + timedelta(minutes=1)


def test_repeat_follows_repeat_interval_per_severity():
    assert repeat_due(PR, Severity.urgent, T0, None) == T0 + timedelta(hours=1)
    assert repeat_due(PR, Severity.normal, T0, None) == T0 + timedelta(hours=24)


@given(st.lists(st.floats(min_value=0, max_value=9.999), min_size=1, max_size=60), st.sampled_from([1.0, 2.0, 2.5, 5.0]))
def test_a_burst_makes_at_most_one_message_per_group_wait(arrivals, wait):
    """Simulate a group fed by arrivals within 10 s: each flush takes everything pending,
    the next arrival waits group_wait (and group_interval = group_wait) after that flush."""
    route = Route("pr", ("pr@example.com",), group_wait={Severity.normal: timedelta(seconds=wait)}, group_interval=timedelta(seconds=wait))
    flushes: list[datetime] = []
    due: datetime | None = None
    for offset in sorted(arrivals):
        now = T0 + timedelta(seconds=offset)
        if due is not None and due <= now:
            flushes.append(due)
            due = None
        if due is None:
            due = news_due(route, Severity.normal, now, flushes[-1] if flushes else None)
    within = [f for f in flushes if f <= T0 + timedelta(seconds=10)]
    assert len(within) <= math.ceil(10 / wait)


def test_working_hours_hold_a_normal_message_until_nine():
    hours = WorkingHours()
    night = datetime(2026, 11, 24, 19, 30, tzinfo=UTC)  # Wednesday 03:30 in Shanghai
    assert hours.defer(night, Severity.normal, SHANGHAI) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert hours.defer(night, Severity.urgent, SHANGHAI) == night  # urgent never waits
    friday_evening = datetime(2026, 11, 27, 11, 0, tzinfo=UTC)  # Friday 19:00
    assert hours.defer(friday_evening, Severity.normal, SHANGHAI) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00
    assert hours.defer(T0, Severity.normal, SHANGHAI) == T0  # inside: no wait


ROUTES = """
[alerts.chat.pr-ding]
kind = "dingtalk"
url = "http://127.0.0.1:9/robot/send?access_token=x"

[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
chat = ["pr-ding"]
group_wait = { normal = "2m", important = "30s" }
repeat_interval = "4h"
escalate_to = [
  { after = "0s", to = ["pr-lead@example.com"] },
  { after = "1h", to = ["ceo@example.com"] },
]

[[alerts.routes]]
name = "management"
to = ["ceo@example.com"]
min_severity = "urgent"
continue = false

[[alerts.routes]]
name = "legal"
to = ["law@example.com"]
categories = ["media"]
brands = ["艾克美"]
"""


def _config(tmp_path, extra=ROUTES):
    import tomllib

    base = BASE_CONFIG.split("# detection tests want")[0]
    text = base + extra
    return parse_config(tomllib.loads(text), tmp_path / "config.toml", source_kinds())


def test_route_keys_are_read_with_their_defaults(tmp_path):
    pr, mgmt, legal = _config(tmp_path).routes
    assert pr.chat == ("pr-ding",)
    assert pr.group_wait[Severity.normal] == timedelta(minutes=2)
    assert pr.group_wait[Severity.urgent] == timedelta(0)  # the default: urgent goes at once
    assert set(pr.repeat_interval.values()) == {timedelta(hours=4)}
    assert [s.after for s in pr.escalate_to] == [timedelta(0), timedelta(hours=1)]
    assert mgmt.continue_ is False and legal.brands == frozenset({"艾克美"})


def test_route_mistakes_name_their_keys(tmp_path):
    import pytest

    from monitor.config import ConfigError

    bad = """
[[alerts.routes]]
name = "pr"
chat = ["nope"]
group_by = ["weather"]
brands = ["Nobody"]
repeat_interval = "0s"
escalate_to = [{ after = "2h", to = ["a@example.com"] }, { after = "1h", to = ["not-an-address"] }]
"""
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, bad)
    text = "\n".join(err.value.problems)
    for key in ("alerts.routes[0].chat[0]", "alerts.routes[0].group_by[0]", "alerts.routes[0].brands[0]", "alerts.routes[0].repeat_interval",
                "alerts.routes[0].escalate_to[1].after", "alerts.routes[0].escalate_to[1].to[0]"):
        assert key in text, key


def test_routes_test_command_shows_who_would_be_told(tmp_path):
    path = write_config(tmp_path, ROUTES, base=BASE_CONFIG.split("# detection tests want")[0])
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(path), "routes", "test", "--severity", "urgent", "--category", "media", "--brand", "艾克美"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("✓" in line and "pr " in line and "pr-team@example.com" in line and "chat:pr-ding" in line for line in lines)
    assert any("escalation 2: 1h after due → ceo@example.com" in line for line in lines)
    assert any("✓" in line and "management" in line for line in lines)
    assert any("legal" in line and "not reached" in line for line in lines)  # management stops the walk

    as_json = runner.invoke(cli, ["-c", str(path), "routes", "test", "--severity", "normal", "--brand", "艾克美", "--json"])
    assert [r["route"] for r in json.loads(as_json.output)] == ["pr"]
    assert json.loads(as_json.output)[0]["group_wait"] == "2m"

    unknown = runner.invoke(cli, ["-c", str(path), "routes", "test", "--severity", "urgent", "--category", "weather"])
    assert unknown.exit_code == 2 and "weather" in unknown.output


PACED = """
[[alerts.routes]]
name = "pr"
to = ["pr-team@example.com"]
group_wait = "0s"
repeat_interval = { urgent = "8s", important = "1m" }
"""


def test_routes_test_says_what_pacing_really_does_for_the_severity(tmp_path):
    path = write_config(tmp_path, PACED, base=BASE_CONFIG.split("# detection tests want")[0])
    runner = CliRunner()

    def facts(severity):
        text = runner.invoke(cli, ["-c", str(path), "routes", "test", "--severity", severity])
        data = runner.invoke(cli, ["-c", str(path), "routes", "test", "--severity", severity, "--json"])
        assert text.exit_code == 0 and data.exit_code == 0, text.output + data.output
        return text.output, json.loads(data.output)[0]

    text, urgent = facts("urgent")
    assert "updates are not held by group_interval (urgent); repeated every 8s until acknowledged" in text
    assert "后续更新不受 group_interval 限制" in text
    assert (urgent["held_by_group_interval"], urgent["repeat_interval"], urgent["repeats_every"]) == (False, "8s", "8s")

    text, important = facts("important")  # group_wait "0s" does not lift group_interval
    assert "first message after 0s; updates at most every 15m per group (group_interval)" in text
    assert "repeated every 15m until acknowledged (repeat_interval 1m, but not sooner than group_interval)" in text
    assert "同组后续消息每 15m 至多一条" in text
    assert (important["held_by_group_interval"], important["repeat_interval"], important["repeats_every"]) == (True, "1m", "15m")

    text, normal = facts("normal")
    assert "repeated every 24h until acknowledged" in text and "but not sooner" not in text
    assert (normal["held_by_group_interval"], normal["repeats_every"]) == (True, "24h")
