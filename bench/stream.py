"""The firehose on one core (issue 19, item 4): the daemon's Jetstream source fed
recorded-shape frames by a loopback WebSocket server at increasing rates, against the
floor (the same frames received and ``json.loads``-ed, nothing else) in the same run.

    .venv/bin/python bench/stream.py             # ~5 min: 1,000 to 20,000 events/s, 20 s a step
    .venv/bin/python bench/stream.py --quick     # a smoke test, ~30 s

Three processes, each pinned to a core with ``os.sched_setaffinity`` (on a machine with
two cores or more): the server on the second core; on the first, one consumer at a time.

* The floor: a WebSocket client opened as the source opens it (the same library, frame
  cap, queue and no compression) that ``json.loads`` each frame and reads its ``time_us``.
* The daemon: an ``App`` built as ``monitor run`` builds it, from the ingest bench's config
  (2,000 brand keywords: "Acme", "艾克美" and 1,998 that name nothing here, plus crisis
  terms) with one ``kind = "jetstream"`` source pointed at the server. Its reader thread
  runs the real ``wanted`` prefilter on every post; posts that name a brand are followed
  and their likes and reposts counted; every ``--every`` seconds (30, as the shipped
  config has it) and at the end of each step the poll loop drains the source: fetch →
  match, score, store in SQLite → commit (the checkpoint saved). So the figures are the
  whole daemon's, drain included.

The two take turns at each rate (the floor, then the daemon), so both meet the same
machine. A rate is *sustained* when the lag stayed under 5 s (lag: now minus the
``time_us`` of the last event read, sampled ten times a second, as ``monitor sources``
shows it) and the consumer read at least 95 % of the frames due. A consumer that fails a
rate is not tried at higher ones. Per step: events read per second, the largest lag,
process CPU seconds (user + system of the whole consumer process: its reader, the
WebSocket library's thread and the drain) per 1,000 events, the daemon's as a ratio to
the floor's at the same rate, the drain's part, and the daemon's RSS at the start and
end of the step. The server's CPU is printed too: a server near 100 % is the limit, not
the consumer. ``--only daemon --rates 5000,5000,5000,5000,5000,5000 --seconds 60`` holds
one rate for six minutes: memory, and the drain as the followed posts pile up.

Frames (``--data``, default ``../shared/fixtures/real``, provenance in its SOURCES.md):
the real Jetstream frames of ``streams/bluesky_jetstream_events`` (likes, reposts with
and without ``via``, a post with images) as envelopes, with post records from
``bluesky/bskyr_searchPosts_*`` (48 real records: facets, replies, quotes, link cards,
images) and the real Japanese post. The mix is the network's: posts to likes from
``streams/bluesky_keegan/stream_summary.csv`` (58 s of the real firehose), reposts per
like from ``engagement_summary.csv``, the Japanese share from ``stream_sample.csv``.
Every frame gets a fresh DID and record key; ``--match`` of the posts (default 1 %) get
"Acme" inserted in their text; half the likes, reposts, replies and quotes point at a
post of the replay (so brand posts get engagement the daemon counts), the rest at posts
from before it. ``--frames`` templates are built once and cycled, each cycle with other
DIDs, so no event repeats; a post of the replay is liked within its cycle or up to
``SPREAD`` cycles later (10 minutes at 5,000/s), so each poll hands over new brand posts
and new counts of older ones. Each frame is stamped with the time it is due.

The default share of brand posts is the heavy end (at 5,000 events a second, 1 % is 11
brand posts a second): each one is matched, scored and stored, and so is each followed
post whose counts changed since the last poll.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
POST, LIKE, REPOST = "app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.feed.repost"
MAX_LAG = 5.0
"""Seconds of lag a sustained rate stays under (the issue's figure)."""
MIN_READ = 0.95
"""Share of the frames due that a sustained rate reads within the step."""
RECENT = 0.5
"""Share of likes, reposts, replies and quotes that point at a post of the replay."""
RING = 2000
"""Posts of a cycle of templates those may point at (the most recent ones)..."""
SPREAD = 150
"""...in the same cycle half the time, else in one of the ``SPREAD`` cycles before (10
minutes at 5,000 events a second with 20,000 templates): engagement comes for a while
after a post, so each poll hands over counters of posts followed since earlier polls."""
TIME_MARK = b"1999999999999999"
"""A frame template's ``time_us``, replaced by the time it is due when sent."""
CYCLE_MARK = "@CY@"
"""The last four characters of every DID in a template, replaced by the cycle number."""
BACK_MARK = "@CB@"
"""Instead of ``CYCLE_MARK`` in a post a frame points at from an earlier cycle."""
TID = "234567abcdefghijklmnopqrstuvwxyz"
REPLY = "@@"
"""Prefix of a child's answer lines on its stdout (anything else there is ignored)."""


# -- the frames -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """The real frames and records, and the shares of each kind of event."""

    likes: list[dict[str, Any]]
    reposts: list[dict[str, Any]]
    post: dict[str, Any]
    """The real Jetstream post frame (Japanese, with images): the envelope of every post."""
    records: list[dict[str, Any]]
    """Real post records (searchPosts), besides the Jetstream post's own."""
    post_share: float
    repost_share: float
    japanese: float


def load_mix(data: Path) -> Mix:
    streams = data / "streams"
    frames = [json.loads(line) for line in (streams / "bluesky_jetstream_events/jetstream_real_events_extracted.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    by = {c: [f for f in frames if f.get("commit", {}).get("collection") == c and f["commit"].get("operation") == "create"] for c in (POST, LIKE, REPOST)}
    records = [p["record"] for name in sorted((data / "bluesky").glob("bskyr_searchPosts_*.json")) for p in json.loads(name.read_text(encoding="utf-8"))["posts"]]
    with open(streams / "bluesky_keegan/stream_summary.csv", encoding="utf-8") as f:
        per_second = list(csv.DictReader(f))
    likes = sum(int(r[LIKE]) for r in per_second)
    posts = sum(int(r[POST]) for r in per_second)
    with open(streams / "bluesky_keegan/engagement_summary.csv", encoding="utf-8") as f:
        engagement = list(csv.DictReader(f))
    reposts = likes * sum(int(r["repost_count"]) for r in engagement) / sum(int(r["like_count"]) for r in engagement)
    with open(streams / "bluesky_keegan/stream_sample.csv", encoding="utf-8") as f:
        langs = [r["lang"] for r in csv.DictReader(f)]
    total = likes + posts + reposts
    return Mix(by[LIKE], by[REPOST], by[POST][0], records, posts / total, reposts / total, sum(lang.startswith("ja") for lang in langs) / len(langs))


class _Maker:
    """Fresh identifiers and the ring of recent post URIs, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ring: deque[str] = deque(maxlen=RING)

    def did(self) -> str:
        return "did:plc:" + "".join(self.rng.choices(TID, k=20)) + CYCLE_MARK

    def rkey(self) -> str:
        return self.rng.choice(TID[:16]) + "".join(self.rng.choices(TID, k=12))

    def old_post(self) -> str:
        return f"at://{self.did()}/{POST}/{self.rkey()}"

    def subject(self) -> str:
        """A post of the replay (half the time, when there is one) or an older one."""
        if self.ring and self.rng.random() < RECENT:
            uri = self.rng.choice(self.ring)
            return uri if self.rng.random() < 0.5 else uri.replace(CYCLE_MARK, BACK_MARK)
        return self.old_post()


Template = tuple[bytes, int]
"""A frame with its markers, and how many cycles back the posts it points at with
``BACK_MARK`` are."""


def fill(template: Template, cycle: int, time_us: int) -> bytes:
    """The frame to send: its cycle, the earlier cycle it points at, its time."""
    data, back = template
    return data.replace(b"@CY@", b"%04x" % (cycle % 65536)).replace(b"@CB@", b"%04x" % ((cycle - back) % 65536)).replace(TIME_MARK, b"%d" % time_us)


def build_frames(mix: Mix, count: int, match: float, rng: random.Random, created: datetime) -> list[Template]:
    """``count`` frame templates in the real mix (see the module docstring)."""
    maker = _Maker(rng)
    stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = []
    for _ in range(count):
        draw = rng.random()
        if draw < mix.post_share:
            frame = copy.deepcopy(mix.post)
            record = frame["commit"]["record"] if rng.random() < mix.japanese else copy.deepcopy(rng.choice(mix.records))
            if rng.random() < match:
                words = str(record.get("text", "")).split(" ")
                words.insert(rng.randrange(len(words) + 1), "Acme")
                record["text"] = " ".join(words)
            if isinstance(record.get("reply"), dict):
                parent = maker.subject()
                record["reply"] = {"root": {"cid": frame["commit"]["cid"], "uri": parent}, "parent": {"cid": frame["commit"]["cid"], "uri": parent}}
            embed = record.get("embed")
            if isinstance(embed, dict) and isinstance(embed.get("record"), dict) and "uri" in embed["record"]:
                embed["record"]["uri"] = maker.subject()
            frame["commit"]["record"] = record
        else:
            frame = copy.deepcopy(rng.choice(mix.likes if draw < 1 - mix.repost_share else mix.reposts))
            record = frame["commit"]["record"]
            record["subject"]["uri"] = maker.subject()
            if "via" in record:
                record["via"]["uri"] = f"at://{maker.did()}/{REPOST}/{maker.rkey()}"
        did, rkey = maker.did(), maker.rkey()
        frame["did"], frame["time_us"] = did, int(TIME_MARK)
        frame["commit"]["rkey"] = rkey
        frame["commit"]["record"]["createdAt"] = stamp
        if frame["commit"]["collection"] == POST:
            maker.ring.append(f"at://{did}/{POST}/{rkey}")
        out.append((json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode(), rng.randint(1, SPREAD)))
    return out


# -- the children's side ----------------------------------------------------------------------


def _pin(cpu: int) -> str:
    """Pin this process (before it starts any thread, so every thread inherits it)."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return "not pinned (one core)"
    os.sched_setaffinity(0, {cpu})
    return f"core {cpu}"


def _answer(**fields: Any) -> None:
    sys.stdout.write(REPLY + json.dumps(fields) + "\n")
    sys.stdout.flush()


def _commands(stdin: TextIO, wait: float) -> str | None:
    """The next command line, or None when none came within ``wait`` seconds."""
    ready, _, _ = select.select([stdin], [], [], wait)
    if not ready:
        return None
    line = stdin.readline()
    return line.strip() if line else "quit"


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _waited() -> float:
    """Seconds this process's threads spent runnable but waiting for their core (the
    run-queue delay of /proc/<pid>/task/*/schedstat): the share other processes took."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile, or no schedstat
            continue
    return total / 1e9


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Replay:
    """The loopback Jetstream: sends the templates, in order and cycled, to the connection
    whose ``who`` query parameter is the one ``go`` named, at the rate named, each frame
    stamped with the time it is due (so a consumer that falls behind shows lag, wherever
    the frames wait: in the server, the sockets or the client's queue)."""

    def __init__(self, frames: list[Template]) -> None:
        self.frames = frames
        self.sent = 0
        self._state: tuple[int, str, float, float, int] = (0, "", 0.0, 0.0, 0)  # epoch, who, rate, start (monotonic), start (µs)
        self._closing = threading.Event()
        self.port = 0

    def go(self, who: str, rate: float) -> None:
        self._state = (self._state[0] + 1, who, rate, time.monotonic(), time.time_ns() // 1000)

    def start(self) -> Replay:
        from websockets.sync.server import serve

        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()

    def _handle(self, conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        who = parse_qs(urlsplit(conn.request.path).query).get("who", [""])[0]
        frames, n = self.frames, len(self.frames)
        index = 0  # frames sent on this connection: picks the template and its cycle
        epoch, done = -1, 0
        try:
            while not self._closing.is_set():
                state = self._state
                if state[1] != who or state[2] <= 0:
                    time.sleep(0.005)
                    continue
                if state[0] != epoch:
                    epoch, done = state[0], 0
                rate, start_us = state[2], state[4]
                due = int((time.monotonic() - state[3]) * rate)
                if due <= done:
                    time.sleep(0.001)
                    continue
                for k in range(done, min(due, done + 2000)):
                    conn.send(fill(frames[index % n], index // n, start_us + int(k * 1_000_000 / rate)), text=True)
                    index += 1
                    done += 1
                    self.sent += 1
        except ConnectionClosed:
            return


def server_role(args: argparse.Namespace) -> None:
    pinned = _pin(1)
    frames = build_frames(load_mix(args.data), args.frames, args.match, random.Random(19), datetime.now(UTC))
    replay = Replay(frames).start()
    _answer(port=replay.port, frames=len(frames), bytes=sum(len(data) for data, _ in frames), pinned=pinned)
    while True:
        line = _commands(sys.stdin, 1.0)
        if line is None:
            continue
        words = line.split()
        if words[0] == "go":
            replay.go(words[1], float(words[2]))
        elif words[0] == "pause":
            replay.go("", 0)
        _answer(cpu=_cpu(), sent=replay.sent)
        if words[0] == "quit":
            replay.stop()
            return


class Consumer:
    """One consumer's bookkeeping for a step: lag sampled ten times a second, CPU,
    events and RSS at its start and end. A subclass reads the frames."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.max_lag = 0.0
        self.at_start: dict[str, float] = {}

    def events(self) -> int:
        raise NotImplementedError

    def last_event_at(self) -> float | None:
        raise NotImplementedError

    def extra(self) -> dict[str, float]:
        return {}

    def tick(self) -> None:
        """Called about ten times a second between commands."""
        last = self.last_event_at()
        self.max_lag = max(self.max_lag, time.time() - max(last or 0.0, self.t0))

    def drain(self) -> None:
        """End of a step: hand over what is buffered (the daemon polls)."""

    def figures(self) -> dict[str, float]:
        return {"cpu": _cpu(), "events": self.events(), "rss": _rss_mb(), "time": time.time(), "load": os.getloadavg()[0], "waited": _waited(), **self.extra()}

    def serve(self) -> None:
        _answer(ready=True, **self.figures())
        while True:
            line = _commands(sys.stdin, 0.1)
            self.tick()
            if line is None:
                continue
            if line == "start":
                self.t0, self.max_lag = time.time(), 0.0
                self.at_start = self.figures()
                _answer(**self.at_start)
            elif line == "end":
                self.tick()
                self.drain()
                _answer(max_lag=self.max_lag, start=self.at_start, end=self.figures())
            elif line == "events":
                _answer(events=self.events())
            elif line == "quit":
                self.close()
                _answer(bye=True)
                return

    def close(self) -> None:
        pass


class Floor(Consumer):
    """Receive and ``json.loads``, nothing else: the cost no consumer can go under."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._events = 0
        self._last: float | None = None
        self._stop = threading.Event()
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()
        if not self._open.wait(30):
            raise TimeoutError(f"could not connect to {url}")

    def _read(self, url: str) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        from sources.jetstream import MAX_FRAME, READ_TICK

        with connect(url, max_size=MAX_FRAME, compression=None, max_queue=64, proxy=None) as ws:  # as the source connects
            self._open.set()
            while not self._stop.is_set():
                try:
                    frame = ws.recv(timeout=READ_TICK, decode=False)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                event = json.loads(frame)
                self._events += 1
                self._last = event["time_us"] / 1_000_000

    def events(self) -> int:
        return self._events

    def last_event_at(self) -> float | None:
        return self._last

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Daemon(Consumer):
    """The daemon: an App with one jetstream source, drained every ``every`` seconds."""

    def __init__(self, url: str, every: float, folder: Path) -> None:
        super().__init__()
        from bench.ingest import CONFIG, keywords
        from monitor.app import App
        from monitor.config import load_config
        from monitor.storage.db import make_engine, migrate
        from sources import PoliteHttp, source_kinds
        from sources.jetstream import JetstreamSource

        terms = keywords(2000, random.Random(2000))
        config_path = folder / "config.toml"
        config_path.write_text(
            CONFIG.format(keywords=json.dumps(terms, ensure_ascii=False)).replace("sqlite:///bench.db", f"sqlite:///{folder / 'bench.db'}")
            + f'\n[[sources]]\nname = "bsky"\nkind = "jetstream"\nurl = "{url}"\nevery = "{every:g}s"\n',
            encoding="utf-8",
        )
        config = load_config(config_path, source_kinds())
        engine = make_engine(config.monitor.database)
        migrate(engine)
        self.app = App(config, engine=engine, http=PoliteHttp(None), kinds=source_kinds())  # type: ignore[arg-type]
        source = self.app.sources["bsky"]
        assert isinstance(source, JetstreamSource)
        self.source = source
        self.every = every
        self.polls = 0
        self.drain_cpu = 0.0
        self.handed = 0
        self.mentions = 0
        self._poll()  # the first poll connects
        self.next_poll = time.monotonic() + every

    def _poll(self) -> None:
        started = time.thread_time()
        report = self.app.poll("bsky")
        self.drain_cpu += time.thread_time() - started
        self.polls += 1
        self.handed += getattr(report, "posts", 0)
        self.mentions += getattr(report, "mentions", 0)

    def tick(self) -> None:
        super().tick()
        if time.monotonic() >= self.next_poll:
            self._poll()
            super().tick()  # a long poll stalls the reader: count the lag it left
            self.next_poll = time.monotonic() + self.every

    def drain(self) -> None:
        self._poll()
        self.next_poll = time.monotonic() + self.every

    def events(self) -> int:
        return self.source.status().events

    def last_event_at(self) -> float | None:
        status = self.source.status()
        return None if status.lag_seconds is None else time.time() - status.lag_seconds

    def extra(self) -> dict[str, float]:
        status = self.source.status()
        return {"drain_cpu": self.drain_cpu, "polls": self.polls, "handed": self.handed, "mentions": self.mentions, "dropped": status.dropped, "reconnects": status.reconnects}

    def close(self) -> None:
        self.app.close()


def consumer_role(args: argparse.Namespace) -> None:
    pinned = _pin(0)
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as folder:
        consumer: Consumer = Floor(args.url) if args.role == "floor" else Daemon(args.url, args.every, Path(folder))
        sys.stderr.write(f"{args.role}: {pinned}\n")
        consumer.serve()


# -- the controller ---------------------------------------------------------------------------


class Child:
    """A role of this script in its own process, asked one line at a time."""

    def __init__(self, role: str, *args: str) -> None:
        self.role = role
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--role", role, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.first = self.read(120)

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"the {self.role} did not answer within {timeout:.0f}s")
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the {self.role} exited ({self.proc.wait()})")
            if line.startswith(REPLY):
                answer: dict[str, Any] = json.loads(line[len(REPLY):])
                return answer

    def ask(self, command: str, timeout: float = 60) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("quit", timeout=15)
            except (OSError, RuntimeError, TimeoutError):
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass(frozen=True)
class Step:
    rate: float
    who: str
    seconds: float
    """From the server told to go to its pause: the frames due are rate × seconds."""
    events: int
    max_lag: float
    cpu: float
    server_cpu: float
    sent: int
    rss: tuple[float, float]
    load: float
    """The machine's load average (1 min) at the step's end: other work on the two cores."""
    waited: float
    """Seconds the consumer's threads waited for their core while runnable."""
    drain_cpu: float = 0.0
    handed: int = 0
    mentions: int = 0
    dropped: int = 0

    @property
    def read_rate(self) -> float:
        return self.events / self.seconds

    @property
    def sustained(self) -> bool:
        return self.max_lag < MAX_LAG and self.events >= MIN_READ * self.rate * self.seconds

    @property
    def cpu_per_k(self) -> float:
        """CPU seconds per 1,000 events."""
        return 1000 * self.cpu / max(1, self.events)

    @property
    def per_core(self) -> float:
        """Events per CPU second: the rate one core would take had it nothing else to do."""
        return self.events / max(1e-9, self.cpu)


def step(server: Child, consumer: Child, rate: float, seconds: float) -> Step:
    start = consumer.ask("start")
    before = server.ask(f"go {consumer.role} {rate:g}")
    went = time.monotonic()
    time.sleep(seconds)
    after = server.ask("pause")
    paused = time.monotonic()
    answer = consumer.ask("end", timeout=120)  # the lag as of now; then the daemon's last drain of the step
    end = answer["end"]
    settle(consumer)
    return Step(
        rate=rate, who=consumer.role, seconds=paused - went, events=end["events"] - start["events"], max_lag=answer["max_lag"],
        cpu=end["cpu"] - start["cpu"], server_cpu=(after["cpu"] - before["cpu"]) / seconds, sent=after["sent"] - before["sent"], rss=(start["rss"], end["rss"]),
        load=end["load"], waited=end["waited"] - start["waited"],
        drain_cpu=end.get("drain_cpu", 0.0) - start.get("drain_cpu", 0.0), handed=end.get("handed", 0) - start.get("handed", 0),
        mentions=end.get("mentions", 0) - start.get("mentions", 0), dropped=end.get("dropped", 0) - start.get("dropped", 0),
    )


def settle(consumer: Child, limit: float = 30.0) -> None:
    """Wait (bounded) until the consumer has read what was still on its way, so it does not
    eat into the other consumer's step."""
    deadline = time.monotonic() + limit
    seen = consumer.ask("events")["events"]
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = consumer.ask("events")["events"]
        if now == seen:
            return
        seen = now


def show(s: Step, floor: Step | None) -> str:
    daemon = s.who == "daemon"
    ratio = f"{s.cpu_per_k / floor.cpu_per_k:6.2f}" if floor is not None and daemon else "     –"
    drain = f"{1e6 * s.drain_cpu / max(1, s.events):6.1f}" if daemon else "     –"
    rss = f"{s.rss[0]:6.1f} → {s.rss[1]:6.1f}" if daemon else " " * 15
    handed = f"{s.handed:6d} {s.mentions:6d}" if daemon else " " * 13
    return (f"{s.rate:7,.0f} {s.who:>6} {s.read_rate:7,.0f} {s.max_lag:6.2f} {1000 * s.cpu_per_k:7.1f} {ratio} {drain} {s.per_core:8,.0f}  {rss}  {handed} "
            f"{100 * s.server_cpu:5.0f}% {s.load:5.1f} {100 * s.waited / s.seconds:5.0f}%  {'yes' if s.sustained else 'NO'}")


HEADER = ("                   read    max     CPU        drain  events per   daemon RSS MB   posts handed   server  load  core\n"
          "   rate    who     /s   lag s  ms/1k ×floor  ms/1k  CPU second    start → end    over mentions   CPU   avg waited  sustained\n"
          "------- ------ ------- ------ ------- ------ ------ --------  ---------------  ------ ------ ------ ----- ------  ---------")


def run(args: argparse.Namespace) -> list[Step]:
    server = Child("server", "--data", str(args.data), "--frames", str(args.frames), "--match", str(args.match))
    url = f"ws://127.0.0.1:{server.first['port']}/subscribe"
    children = [server]
    steps: list[Step] = []
    try:
        floor = Child("floor", "--url", url + "?who=floor")
        children.append(floor)
        daemon = Child("daemon", "--url", url + "?who=daemon", "--every", str(args.every))
        children.append(daemon)
        print(f"{server.first['frames']:,} frame templates ({server.first['bytes'] / server.first['frames']:.0f} bytes on average), "
              f"{args.match:.1%} of posts name a brand; server {server.first['pinned']}; daemon polls every {args.every:g}s; "
              f"{args.seconds:g}s a step; daemon RSS after start {daemon.first['rss']:.1f} MB\n")
        for consumer in (c for c in (floor, daemon) if args.only in (None, c.role)):  # the first seconds load what is loaded once (jieba, the prefilter)
            step(server, consumer, args.rates[0], args.warm_up)
        print(HEADER)
        alive = {who: c for who, c in (("floor", floor), ("daemon", daemon)) if args.only in (None, who)}
        for rate in args.rates:
            floor_step = None
            for who in ("floor", "daemon"):
                consumer = alive.get(who)
                if consumer is None:
                    continue
                s = step(server, consumer, rate, args.seconds)
                steps.append(s)
                floor_step = s if who == "floor" else floor_step
                print(show(s, floor_step), flush=True)
                if not s.sustained:
                    alive.pop(who)
            if not alive:
                break
    finally:
        for child in reversed(children):
            child.close()
    summary(steps, args)
    return steps


def summary(steps: Sequence[Step], args: argparse.Namespace) -> None:
    def best(who: str) -> float:
        return max((s.rate for s in steps if s.who == who and s.sustained), default=0.0)

    ran = [who for who in ("daemon", "floor") if any(s.who == who for s in steps)]
    print(f"\nhighest rate sustained (lag < {MAX_LAG:g}s, ≥ {MIN_READ:.0%} read): {', '.join(f'{who} {best(who):,.0f}/s' for who in ran)} (target: 5,000/s on one core)")
    pairs = [(f, d) for f in steps for d in steps if f.who == "floor" and d.who == "daemon" and f.rate == d.rate and d.sustained]
    for f, d in pairs:
        print(f"  at {d.rate:,.0f}/s: daemon {1000 * d.cpu_per_k:.1f} ms CPU per 1,000 events = {d.cpu_per_k / f.cpu_per_k:.2f}× the floor's {1000 * f.cpu_per_k:.1f} ms "
              f"(drain {1e6 * d.drain_cpu / max(1, d.events):.1f} ms of it); one core busy {d.cpu / d.seconds:.0%} (floor {f.cpu / f.seconds:.0%})")
    for who in ("daemon", "floor"):
        mine = [s for s in steps if s.who == who and s.rate >= 2500]
        if mine:
            print(f"  {who}: {statistics.median(s.per_core for s in mine):,.0f} events per CPU second (median of the steps at 2,500/s and up): "
                  f"what one idle core would take; run-queue wait of its threads, summed: {statistics.median(s.waited / s.seconds for s in mine):.0%} of the step")
    daemon = [s for s in steps if s.who == "daemon"]
    if daemon:
        print(f"  daemon RSS: {daemon[0].rss[0]:.1f} MB at the first step's start, {daemon[-1].rss[1]:.1f} MB at the last step's end; "
              f"per step {', '.join(f'{s.rss[1] - s.rss[0]:+.1f}' for s in daemon)} MB; changed posts dropped: {sum(s.dropped for s in daemon)}")


def options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/fixtures/real", help="the fixtures/real folder")
    parser.add_argument("--rates", type=lambda s: [float(r) for r in s.split(",")], default=None, help="events per second, comma-separated, increasing")
    parser.add_argument("--seconds", type=float, default=None, help="seconds a step (default 20, --quick 4)")
    parser.add_argument("--every", type=float, default=None, help="seconds between the daemon's polls (default 30 as in the shipped config, --quick 2)")
    parser.add_argument("--match", type=float, default=0.01, help="share of posts that name a brand (default 0.01)")
    parser.add_argument("--frames", type=int, default=None, help="frame templates built and cycled (default 20,000, --quick 5,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: two short steps")
    parser.add_argument("--only", choices=("floor", "daemon"), help="run one consumer (to profile it: py-spy record -p <its pid>)")
    parser.add_argument("--role", choices=("server", "floor", "daemon"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.rates = args.rates or ([1000, 5000] if args.quick else [1000, 2500, 5000, 7500, 10000, 15000, 20000])
    args.seconds = args.seconds or (4 if args.quick else 20)
    args.every = args.every or (2 if args.quick else 30)
    args.frames = args.frames or (5000 if args.quick else 20000)
    args.warm_up = min(3.0, args.seconds)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = options(argv)
    if args.role == "server":
        server_role(args)
        return 0
    if args.role in ("floor", "daemon"):
        consumer_role(args)
        return 0
    if not (args.data / "streams/bluesky_jetstream_events").is_dir():
        print(f"skipped: no Jetstream frames under {args.data} (pass --data)")
        return 0
    print(f"bench/stream.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
