"""`monitor replay --posts FILE`: a candidate config scored on a JSON Lines file of posts,
with nothing of the live database opened, printing the tickets it would raise."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli.commands import cli
from tests.conftest import BASE_CONFIG, write_config

POSTS = [
    {"platform": "weibo", "id": "1", "url": "https://m.weibo.cn/status/A1", "text": "艾克美保温杯的盖子一拧就弹开，太吓人了", "author": "顾客A",
     "created_at": "2026-01-05T10:00:00+08:00",
     "readings": [{"at": "2026-01-05T10:01:00+08:00", "reposts": 3}, {"at": "2026-01-05T10:10:00+08:00", "reposts": 70, "comments": 20, "likes": 30}]},
    {"platform": "weibo", "id": "2", "text": "艾克美杯子漏水，杯盖密封圈不行", "created_at": "2026-01-05T11:00:00"},  # local time (Asia/Shanghai)
    {"platform": "weibo", "id": "3", "text": "转发微博 //转发: 艾克美杯子漏水，杯盖密封圈不行", "repost_of": "2", "created_at": "2026-01-05T11:05:00+08:00"},
    {"platform": "weibo", "id": "4", "text": "艾克美的保温杯真好用", "created_at": "2026-01-05T09:00:00+08:00", "seen_at": "2026-01-05T12:00:00+08:00", "likes": 5000},
]


def run(tmp_path, lines, *args):
    config = write_config(tmp_path, base=BASE_CONFIG.replace("sqlite:///monitor.db", "sqlite:///no/such/folder/live.db"))
    path = tmp_path / "posts.jsonl"
    path.write_text("# exported from the old tool\n" + "\n".join(json.dumps(p, ensure_ascii=False) for p in lines) + "\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["-c", str(config), "replay", "--posts", str(path), *args])


def test_replay_of_a_posts_file_prints_the_tickets_it_would_raise_without_the_live_database(tmp_path):
    result = run(tmp_path, POSTS)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("urgent" in line and "艾克美保温杯的盖子" in line for line in lines)
    assert any("engagement velocity +120 in 30m (≥ 100) → urgent" in line for line in lines)
    assert any("normal" in line and "艾克美杯子漏水" in line and "(2 post(s)" in line for line in lines)  # the repost joined it
    assert lines[-1].startswith("4 post(s) from posts.jsonl: 2 ticket(s) would be raised")
    assert not (tmp_path / "no").exists()


def test_replay_of_a_posts_file_as_json(tmp_path):
    result = run(tmp_path, POSTS, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [(t["severity"], t["post_count"]) for t in found] == [("urgent", 1), ("normal", 2)]
    assert found[1]["opened_at"] == "2026-01-05T03:00:00+00:00" and found[1]["issue"].startswith("cat:quality:")


def test_a_bad_line_is_named(tmp_path):
    result = run(tmp_path, [*POSTS[:2], {"platform": "weibo", "text": "no id"}])
    assert result.exit_code == 2
    assert "posts.jsonl:4: not a post (id is required" in result.output
    bad_time = run(tmp_path, [{"platform": "x", "id": "1", "text": "t", "created_at": "yesterday"}])
    assert bad_time.exit_code == 2 and "created_at: 'yesterday' is not an ISO 8601 time" in bad_time.output


def test_replay_of_hot_list_readings_tries_the_rank_thresholds(tmp_path):
    """A topic's rank and heat readings, as the hotlist source stores them: entering
    微博热搜 at 30 is important, reaching 5 urgent; with hotlist_urgent = 3 only important."""
    topic = {"platform": "weibo-hot", "id": "艾克美保温杯盖子弹开", "text": "艾克美保温杯盖子弹开", "url": "https://s.weibo.com/weibo?q=%23x%23",
             "readings": [{"at": "2026-01-05T10:00:00+08:00", "rank": 30, "heat": 312345}, {"at": "2026-01-05T10:05:00+08:00", "rank": 5, "heat": 1234567},
                          {"at": "2026-01-05T10:40:00+08:00", "off_list": True}]}
    result = run(tmp_path, [topic], "--json")
    assert result.exit_code == 0, result.output
    [ticket] = json.loads(result.output)
    assert ticket["severity"] == "urgent" and ticket["issue"] == "hot:lists"
    assert "on 微博热搜 at rank 5 (≤ 10), heat 1,234,567, up from rank 30 in 5m 上升, climbing fast 快速上升: up 25 places (≥ 25) and heat +295 % (≥ 200 %) in 5m → urgent" in ticket["reasons"]
    config = write_config(tmp_path, base=BASE_CONFIG.replace('track_for = "48h"', 'track_for = "48h"\nhotlist_urgent = 3').replace("sqlite:///monitor.db", "sqlite:///no/such/folder/live.db"))
    path = tmp_path / "posts.jsonl"
    strict = CliRunner().invoke(cli, ["-c", str(config), "replay", "--posts", str(path), "--json"])
    assert strict.exit_code == 0, strict.output
    assert [t["severity"] for t in json.loads(strict.output)] == ["important"]
    calm = write_config(tmp_path, base=BASE_CONFIG.replace('track_for = "48h"', 'track_for = "48h"\nhotlist_climb_ranks = 26\nhotlist_heat_growth = 0'))
    tried = CliRunner().invoke(cli, ["-c", str(calm), "replay", "--posts", str(path), "--json"])
    assert tried.exit_code == 0 and not any("climbing fast" in r for r in json.loads(tried.output)[0]["reasons"])  # a candidate threshold, tried
    bad = run(tmp_path, [{**topic, "readings": [{"at": "2026-01-05T10:00:00+08:00", "rank": 0}]}])
    assert bad.exit_code == 2 and "rank: 0 is not a rank" in bad.output
