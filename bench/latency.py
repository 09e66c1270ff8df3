"""Detection latency: from a post's engagement crossing ``velocity_urgent`` on a loopback
Mastodon-like platform to the urgent email accepted by a real SMTP server (aiosmtpd on
127.0.0.1), through the real Daemon polling with ``every = "5s"``; p50 and p99 over many
trials, against the target "poll interval + 2 s".

    /work/venv/bin/python bench/latency.py [--trials 50] [--every 5] [--deliver-every 5] [--spacing 2.3]

Each trial is a fresh post with its own text (its own issue, so its own ticket) whose
counters grow from 0 and cross the threshold 1–5 s (random) after it appears; trials
start ``--spacing`` seconds apart, a spacing that is no divisor of the poll interval, so
crossings fall at every phase of the poll cycle. Only an urgent ticket is mailed (one
route, ``min_severity = "urgent"``, the default ``group_wait`` of 0 for urgent).
``--deliver-every`` defaults to the Daemon's own default, which is what ``monitor run``
uses. The baseline for the ratio is the poll interval itself: a poller that saw the
crossing on its very next poll would average half of it and never exceed it.
Each latency is split at the urgent notice being recorded (poll + ingest, "detect")
and the rest (dispatch, render and SMTP, "deliver").
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller
from sqlalchemy import select

from monitor.daemon import Daemon
from monitor.storage.models import NoticeRow, PostRow, TicketPostRow
from sources import HttpPolicy, PoliteHttp, new_client

URGENT = 100
CONFIG = """
[monitor]
database = "sqlite:///latency.db"
[[brands]]
name = "艾克美"
keywords = ["艾克美"]
[scoring]
velocity_window = "30m"
velocity_important = 50
velocity_urgent = {urgent}
[[sources]]
name = "sim"
kind = "mastodon"
instance = "{base}"
tag = "艾克美"
every = "{every}s"
[[alerts.routes]]
name = "pr"
to = ["pr@example.com"]
min_severity = "urgent"
[alerts.email]
host = "127.0.0.1"
port = {smtp}
starttls = false
from = "Brand monitor <monitor@example.com>"
timeout = "5s"
"""


@dataclass
class Trial:
    n: int
    appear: float  # monotonic
    cross: float  # monotonic: engagement reaches URGENT
    text: str
    accepted: float | None = None
    detected: float | None = None  # monotonic, from the urgent notice's created_at


class Platform:
    """A tag timeline whose posts' counters grow linearly from the moment they appear."""

    def __init__(self, trials: list[Trial], mono0: float, wall0: datetime) -> None:
        self.trials, self.mono0, self.wall0 = trials, mono0, wall0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wall(self, mono: float) -> datetime:
        return self.wall0 + timedelta(seconds=mono - self.mono0)

    def status(self, t: Trial, now: float) -> dict[str, Any]:
        total = int(URGENT * (now - t.appear) / (t.cross - t.appear))  # exactly URGENT at t.cross
        return {
            "id": str(1000 + t.n), "uri": f"{self.base}/users/trial{t.n}/statuses/{1000 + t.n}",
            "url": f"{self.base}/@trial{t.n}/{1000 + t.n}",
            "created_at": self.wall(t.appear).isoformat().replace("+00:00", "Z"), "content": f"<p>{t.text}</p>",
            "spoiler_text": "", "account": {"acct": f"trial{t.n}", "username": f"trial{t.n}"},
            "reblogs_count": total // 4, "replies_count": total // 4, "favourites_count": total - 2 * (total // 4),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:
                now = time.monotonic()
                path = self.path.split("?", 1)[0]
                visible = [t for t in platform.trials if t.appear <= now]
                if path.startswith("/api/v1/timelines/tag/"):
                    body = json.dumps([platform.status(t, now) for t in reversed(visible[-40:])]).encode()
                else:
                    found = [t for t in visible if path == f"/api/v1/statuses/{1000 + t.n}"]
                    body = json.dumps(platform.status(found[0], now)).encode() if found else b"{}"
                self.send_response(200 if body != b"{}" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


class Sink:
    """aiosmtpd on 127.0.0.1; notes when each trial's email is accepted (end of DATA)."""

    def __init__(self, trials: list[Trial]) -> None:
        with socket.socket() as s:  # aiosmtpd 1.4 cannot bind port 0
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.subjects: list[str] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                at = time.monotonic()
                msg = message_from_bytes(envelope.content, policy=policy.default)
                sink.subjects.append(str(msg["Subject"]))
                text = "".join(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")
                for t in trials:
                    if t.accepted is None and f"/@trial{t.n}/" in text:
                        t.accepted = at
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


def post_text(n: int, rng: random.Random) -> str:
    """Brand, no crisis terms, and 40 random CJK characters: no two trials are near-duplicates."""
    noise = "".join(chr(0x4E00 + rng.randrange(6000)) for _ in range(40))
    return f"第{n}号：【艾克美】的杯子 {noise}"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, no interpolation: with 50 trials p50 is the 25th value and
    p99 the largest, so the p99 reported is the worst trial seen."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--every", type=float, default=5.0, help="the source's poll interval, seconds")
    parser.add_argument("--deliver-every", type=float, default=None, help="the Daemon's delivery round (default: Daemon's own)")
    parser.add_argument("--spacing", type=float, default=2.3, help="seconds between trials' posts appearing")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    mono0, wall0 = time.monotonic(), datetime.now(UTC)
    first = mono0 + 3.0  # the first post appears after the daemon's first poll
    trials = []
    for n in range(args.trials):
        appear = first + n * args.spacing
        trials.append(Trial(n, appear, appear + rng.uniform(1.0, 5.0), post_text(n, rng)))
    platform = Platform(trials, mono0, wall0)
    sink = Sink(trials)

    folder = Path(tempfile.mkdtemp(prefix="latency-"))
    (folder / "config.toml").write_text(CONFIG.format(urgent=URGENT, base=platform.base, every=f"{args.every:g}", smtp=sink.port), encoding="utf-8")
    extra = {} if args.deliver_every is None else {"deliver_every": args.deliver_every}
    policy_ = HttpPolicy()
    daemon = Daemon(folder / "config.toml", http=PoliteHttp(new_client(policy_), policy_), **extra)
    app = daemon.start()
    deliver_every = daemon.deliver_every
    deadline = trials[-1].cross + 3 * args.every + 2 * deliver_every + 10
    try:
        while time.monotonic() < deadline and any(t.accepted is None for t in trials):
            time.sleep(0.2)
        with app.read_sessions() as session:
            rows = session.execute(
                select(PostRow.author, NoticeRow.created_at)
                .join(TicketPostRow, TicketPostRow.post_id == PostRow.id)
                .join(NoticeRow, NoticeRow.ticket_id == TicketPostRow.ticket_id)
                .where(NoticeRow.severity == "urgent")
            ).all()
    finally:
        daemon.stop()
        sink.controller.stop()
        platform.server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
    for author, created in rows:
        t = trials[int(author.removeprefix("trial"))]
        mono = mono0 + (created - wall0).total_seconds()
        t.detected = mono if t.detected is None else min(t.detected, mono)

    done = [t for t in trials if t.accepted is not None]
    lat = [t.accepted - t.cross for t in done]  # type: ignore[operator]
    detect = [t.detected - t.cross for t in done if t.detected is not None]
    deliver = [t.accepted - t.detected for t in done if t.detected is not None]  # type: ignore[operator]
    target = args.every + 2.0
    print(f"{args.trials} trials, source every {args.every:g} s, Daemon deliver_every {deliver_every:g} s, trials {args.spacing:g} s apart; "
          f"{len(done)} urgent emails accepted ({len(sink.subjects)} emails in all)")
    if not lat:
        print("no urgent email arrived")
        return
    for name, xs in (("crossing -> email", lat), ("  detect (-> urgent notice)", detect), ("  deliver (notice -> email)", deliver)):
        if xs:
            print(f"  {name:28s} p50 {percentile(xs, 50):5.2f} s  p99 {percentile(xs, 99):5.2f} s  mean {statistics.fmean(xs):5.2f} s  max {max(xs):5.2f} s")
    p99 = percentile(lat, 99)
    print(f"  target p99 <= poll interval + 2 s = {target:g} s: {'met' if p99 <= target else f'MISSED by {p99 - target:.2f} s'}")
    print(f"  ratio to the baseline (poll interval {args.every:g} s): p50 {percentile(lat, 50) / args.every:.2f}  p99 {p99 / args.every:.2f}")
    if len(done) < len(trials):
        print(f"  missing: trials {[t.n for t in trials if t.accepted is None]}")


if __name__ == "__main__":
    main()
