"""``monitor demo`` as a newcomer runs it: the crisis reaches PR and management offline,
and with ``--web`` the console shows it and the mailed link acknowledges it."""

from __future__ import annotations

import re

import httpx

from monitor.cli.demo import DemoConsole, run_demo
from tests.conftest import free_port


def test_the_demo_raises_the_urgent_alert_and_the_console_acknowledges_it_from_the_mail(tmp_path):
    lines: list[str] = []
    seen: dict[str, object] = {}

    def look_around(console: DemoConsole) -> None:
        with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as browser:
            page = browser.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            signed = browser.post("/login", data={"name": console.user, "password": console.password, "csrf": csrf, "next": "/"})
            seen["sign_in"] = signed.status_code
            seen["inbox"] = browser.get("/").text
        assert console.ack_link and console.ack_link.startswith(f"{console.url}/l/")
        seen["confirm"] = httpx.get(console.ack_link, timeout=10).text
        seen["ack"] = httpx.post(console.ack_link, timeout=10).status_code
        seen["again"] = httpx.post(console.ack_link, timeout=10).status_code

    result = run_demo(tmp_path / "demo", echo=lines.append, timeout=60, web_port=free_port(), hold=look_around)
    assert result.ok and result.latency is not None
    assert {p.name for p in result.emails} >= {"ticket-1-opened-important-pr.eml", "ticket-1-raised-urgent-pr.eml", "ticket-1-raised-urgent-management.eml"}
    assert seen["sign_in"] == 303 and "urgent" in str(seen["inbox"])
    assert 'id="confirm-ack"' in str(seen["confirm"]) and seen["ack"] == 200 and seen["again"] == 410
    text = "\n".join(lines)
    assert "urgent ticket raised" in text and "password / 密码:" in text


def test_demo_web_on_a_taken_port_says_so_in_one_line(tmp_path):
    import socket

    from click.testing import CliRunner

    from monitor.cli.commands import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--web", str(port)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.stderr.splitlines() if line.startswith("monitor: ")]
    assert f"cannot listen on 127.0.0.1:{port}" in line and "端口被占用" in line  # the words of `monitor run`


def test_demo_into_a_folder_it_cannot_write_says_so_in_one_line(tmp_path):
    from click.testing import CliRunner

    from monitor.cli.commands import cli

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["demo", "--out", str(blocker / "demo")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and "monitor: demo / 演示: " in result.stderr
