"""The real daemon (`monitor run`, its own process) against a hostile server on 127.0.0.1,
every trick at once, beside a good source on another port: the daemon stays up and small,
the good source keeps its pace and raises its ticket, each hostile source shows failing
with one clear reason, and nothing logs a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import Loopback, mastodon_source, real_now, rss_source, status, wait_until, write_config
from tests.hostile import HostileServer, gzip_layers, mastodon_statuses

TIMELINE = "/api/v1/timelines/tag/acme"
MAX_RSS_MB = 300
MAX_GAP = 5.0


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sources_json(config: Path) -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "sources", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_the_daemon_outlives_a_hostile_server_and_keeps_the_good_source_going(tmp_path):
    # each trick on a host of its own, as on the internet: a host's four request slots
    # held by a hung answer are not what this test is about
    servers = {name: HostileServer() for name in ("bomb", "trickle", "hang", "endless", "limit", "markup")}
    servers["bomb"].default = HostileServer.respond(gzip_layers(128 << 20, 2), Content_Encoding="gzip, gzip", Content_Type="application/rss+xml")
    servers["trickle"].default = servers["trickle"].trickle(0.05)
    servers["hang"].default = servers["hang"].hang()
    servers["endless"].default = servers["endless"].endless()
    servers["limit"].default = HostileServer.respond(b"", "429 Too Many Requests", Retry_After="999999999999")
    servers["markup"].default = HostileServer.respond(
        mastodon_statuses(status("9", "艾克美" + "<a" * 150_000, base=servers["markup"].base)), Content_Type="application/json"
    )
    good = Loopback()
    good.start()
    hits: list[float] = []
    answer = (200, {"Content-Type": "application/json"}, json.dumps([status("1", "孩子用艾克美保温杯被烫伤了", created=real_now())]).encode())

    def counted():
        hits.append(time.monotonic())
        return answer

    good.routes[TIMELINE] = counted
    bad = [rss_source(f"{servers[name].base}/{name}.xml", name, every="1s") for name in ("bomb", "trickle", "hang", "endless", "limit")]
    config = write_config(tmp_path, mastodon_source(good.base, every="1s"), mastodon_source(servers["markup"].base, name="markup", every="1s", tag="markup"), *bad)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daemon = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(daemon.stdout or []), daemon=True).start()
    peak = 0.0
    seen: dict[str, dict] = {}
    try:
        def settled() -> bool:
            nonlocal peak
            assert daemon.poll() is None, "".join(output)
            peak = max(peak, resident_mb(daemon.pid))
            seen.update(sources_json(config) if len(hits) >= 3 else {})
            # the trickle is cut at the request deadline (30 s); the rest fail at once
            return bool(seen) and all(seen[name]["state"] == "failing" for name in ("bomb", "trickle", "limit", "endless"))

        try:
            wait_until(settled, timeout=90, interval=2.0)
        except AssertionError:
            raise AssertionError(json.dumps(seen, indent=1, ensure_ascii=False) + "".join(output)[-3000:]) from None
        wait_until(lambda: list((tmp_path / "outbox").glob("*.eml")), timeout=30)
        rows = sources_json(config)
        assert daemon.poll() is None
    finally:
        daemon.terminate()
        daemon.wait(30)
        for server in servers.values():
            server.close()
        good.stop()

    log = "".join(output)
    assert "Traceback" not in log, log
    assert peak < MAX_RSS_MB, f"resident memory peaked at {peak:.0f} MB"
    gaps = [b - a for a, b in zip(hits, hits[1:], strict=False)]
    assert len(hits) >= 10 and max(gaps) < MAX_GAP, gaps  # polled about every second throughout
    assert rows["masto"]["state"] == "ok" and rows["masto"]["failures"] == 0
    assert "cap" in rows["bomb"]["last_error"]
    assert "timed out" in rows["trickle"]["last_error"]
    assert "cap" in rows["endless"]["last_error"]
    assert "rate limited" in rows["limit"]["last_error"]
    assert rows["markup"]["state"] == "ok"  # hostile text, read in linear time
    for name in ("bomb", "trickle", "endless", "limit"):
        assert "\n" not in rows[name]["last_error"]  # one clear line
