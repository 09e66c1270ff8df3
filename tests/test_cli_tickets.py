"""The tickets commands as a user or a script sees them."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner

from monitor.cli.commands import cli
from tests.conftest import BASE_CONFIG, mastodon_source, real_now, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"


def run(config, *args):
    result = CliRunner().invoke(cli, ["-c", str(config), *args])
    return result.exit_code, result.output


def test_list_show_ack_resolve(tmp_path, loopback, make_app):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    app = make_app(config)
    loopback.json(TIMELINE, [status("1", "艾克美保温杯漏水，客服不管"), status("2", "孩子被艾克美杯子烫伤", who="mom")])
    app.poll("masto")

    code, out = run(config, "tickets", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [t["id"] for t in listed] == [2, 1] or [t["id"] for t in listed] == [1, 2]
    for t in listed:
        assert {"id", "status", "severity", "brand", "title", "categories", "post_count", "opened_at", "due_at", "urls"} <= set(t)
        assert isinstance(t["id"], int) and t["status"] == "open" and t["brand"] == "艾克美"
        assert datetime.fromisoformat(t["due_at"]).utcoffset() is not None
        assert datetime.fromisoformat(t["opened_at"]).utcoffset() is not None
    by_sev = {t["severity"]: t for t in listed}
    assert by_sev["urgent"]["categories"] == ["safety"] and by_sev["urgent"]["urls"] == ["http://127.0.0.1/@mom/2"]
    assert by_sev["normal"]["categories"] == ["quality"]
    urgent_id = by_sev["urgent"]["id"]

    code, out = run(config, "tickets", "list")
    assert code == 0 and f"#{urgent_id}" in out and "urgent" in out

    code, out = run(config, "tickets", "ack", str(urgent_id))
    assert code == 0 and "acknowledged" in out
    code, out = run(config, "tickets", "resolve", str(urgent_id), "--note", "已致电用户并退款")
    assert code == 0 and "resolved" in out

    code, out = run(config, "tickets", "list", "--status", "open", "--json")
    assert [t["id"] for t in json.loads(out)] == [by_sev["normal"]["id"]]

    code, out = run(config, "tickets", "show", str(urgent_id), "--json")
    detail = json.loads(out)
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[0] == "opened" and "acknowledged" in kinds and kinds[-1] == "resolved"
    assert detail["timeline"][-1]["detail"] == "已致电用户并退款"
    assert detail["posts"][0]["text"] == "孩子被艾克美杯子烫伤"

    code, out = run(config, "tickets", "show", str(urgent_id))
    assert code == 0 and "timeline" in out and "烫伤" in out


def test_unknown_ticket_is_one_clear_line(tmp_path):
    config = write_config(tmp_path)
    code, out = run(config, "tickets", "ack", "99")
    assert code == 1
    assert out.strip() == "monitor: no ticket #99 / 没有工单 #99"


def test_unreachable_database_is_one_clear_line(tmp_path):
    config = write_config(tmp_path, base=BASE_CONFIG.replace("sqlite:///monitor.db", "sqlite:////proc/nope/x.db"))
    code, out = run(config, "tickets", "list")
    assert code == 1
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_poll_command_runs_one_round_and_delivers(tmp_path, loopback):
    config = write_config(tmp_path, mastodon_source(loopback.base))
    loopback.json(TIMELINE, [status("1", "艾克美被记者曝光", created=real_now())])  # `monitor poll` reads the real clock
    code, out = run(config, "poll")
    assert code == 0, out
    assert "masto: 1 posts (1 new), 1 mentions, 1 ticket(s)" in out
    assert "messages sent / 已发送: 2" in out
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    code, out = run(config, "poll")
    assert "messages sent / 已发送: 0" in out


def test_database_server_not_answering_is_one_clear_line(tmp_path):
    from tests.conftest import free_port

    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    config = write_config(tmp_path, base=BASE_CONFIG.replace("sqlite:///monitor.db", url))
    code, out = run(config, "tickets", "list")
    assert code == 1
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert "127.0.0.1" in out


def test_log_format_json_writes_one_object_per_line(tmp_path):
    import subprocess
    import sys

    from tests.conftest import free_port, rss_source

    config = write_config(tmp_path, rss_source(f"http://127.0.0.1:{free_port()}/feed.xml", "down"))
    done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "--log-format", "json", "poll"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]  # every line is JSON
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in lines)
    [failure] = [e for e in lines if "poll failed" in e["message"]]
    assert failure["level"] == "warning" and failure["logger"] == "monitor.sources" and "source down" in failure["message"]
