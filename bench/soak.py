"""Soak: many sources on loopback feeds that keep producing a trickle of posts, the real
Daemon for a long run, resident memory and database size sampled every minute; also how
soon after ``Daemon.start()`` the first poll has completed ("ready to poll").

    /work/venv/bin/python bench/soak.py [--sources 200] [--minutes 30] [--every 1m] [--post-every 300]
    /work/venv/bin/python bench/soak.py --minutes 0.5 --sample-every 30 --profile-start   # start-up only

The feeds are served from a child process forked before the monitor is imported, so
the memory and CPU figures are the daemon's own, not the fake platform's. Most sources
are RSS feeds (ETag + 304, bodies change only when a post appears); one in ten is a
Mastodon-like tag timeline whose counters keep growing, so tracked posts are re-read and
engagement snapshots are written. About one post in ten mentions the brand, one in
fifty also carries a crisis term. The baseline is the RSS right after ``start()``
returns; the growth reported is from minute 2 (caches warm, first backlog stored; set
another with ``--warm-up``, e.g. past the first alert chart, which loads Pillow) to
the end. Mail goes to .eml files in a temporary outbox.
"""

from __future__ import annotations

import time

T_SCRIPT = time.perf_counter()  # before the heavy imports: "start" as an operator sees it

import argparse  # noqa: E402
import cProfile  # noqa: E402
import ctypes  # noqa: E402
import ctypes.util  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import tracemalloc  # noqa: E402
from email.utils import formatdate  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

WORDS = "保温杯 孩子 今天 质量 快递 朋友 推荐 颜值 价格 活动 新品 门店 味道 包装 体验 水杯 早餐 周末 天气 地铁 咖啡 电影 cup coffee weekend city train".split()
CRISIS = ["烫伤", "起火", "记者", "injury"]
ITEMS = 20  # a feed lists its newest 20 posts


def post_text(n: int, k: int) -> str:
    """Post k of feed n: deterministic, ~10% mention the brand, ~2% also a crisis term."""
    rng = random.Random(n * 1_000_003 + k)
    words = rng.choices(WORDS, k=10)
    roll = rng.random()
    if roll < 0.10:
        words.insert(rng.randrange(len(words)), "艾克美")
    if roll < 0.02:
        words.append(rng.choice(CRISIS))
    elif roll > 0.97:
        words.append(rng.choice(CRISIS))  # a crisis word with no brand: must not alert
    return f"{n}-{k} " + "".join(words)


class Feeds:
    """Post k of feed n appears at ``epoch + phase(n) + (k - 20) * period`` (posts 0-19 are
    the backlog found on the first poll); a status gains a like a minute, a reblog every
    five. Only the clock and the arguments decide what is served, so nothing is shared
    with the daemon's process."""

    def __init__(self, epoch: float, period: float) -> None:
        self.epoch, self.period = epoch, period

    def latest(self, n: int, now: float) -> int:
        phase = (n * 7919) % max(1, int(self.period))
        return int((now - self.epoch - phase) // self.period) + ITEMS  # the first 20 are history

    def born(self, n: int, k: int) -> float:
        return self.epoch + (n * 7919) % max(1, int(self.period)) + (k - ITEMS) * self.period

    def rss(self, n: int, now: float) -> tuple[bytes, str]:
        top = self.latest(n, now)
        items = "".join(
            f"<item><title>{post_text(n, k)}</title><link>http://127.0.0.1/{n}/{k}</link><guid>http://127.0.0.1/{n}/{k}</guid>"
            f"<pubDate>{formatdate(self.born(n, k), usegmt=True)}</pubDate></item>"
            for k in range(top, max(-1, top - ITEMS), -1)
        )
        body = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>{items}</channel></rss>'
        return body.encode(), f'"{n}-{top}"'

    def status(self, n: int, k: int, now: float) -> dict[str, Any]:
        age = max(0.0, now - self.born(n, k))
        iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.born(n, k)))
        return {
            "id": f"{n}x{k}", "uri": f"http://127.0.0.1/users/u{n}/statuses/{k}", "url": f"http://127.0.0.1/@u{n}/{k}",
            "created_at": iso, "content": f"<p>{post_text(n, k)}</p>", "spoiler_text": "",
            "account": {"acct": f"u{n}", "username": f"u{n}"},
            "reblogs_count": int(age // 300), "replies_count": int(age // 600), "favourites_count": int(age // 60),
        }

    def timeline(self, n: int, now: float) -> bytes:
        top = self.latest(n, now)
        return json.dumps([self.status(n, k, now) for k in range(top, max(-1, top - ITEMS), -1)]).encode()


def serve(feeds: Feeds, port: multiprocessing.Queue[int]) -> None:
    """The child process: feeds on 127.0.0.1, port sent back through the queue."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            now = time.time()
            path = self.path.split("?", 1)[0]
            etag = None
            if path.endswith(".xml"):
                body, etag = feeds.rss(int(path.strip("/").split(".")[0]), now)
                kind = "application/rss+xml"
            elif path.startswith("/api/v1/timelines/tag/"):
                body, kind = feeds.timeline(int(path.rsplit("/", 1)[-1].lstrip("t")), now), "application/json"
            elif path.startswith("/api/v1/statuses/"):
                n, k = path.rsplit("/", 1)[-1].split("x")
                body, kind = json.dumps(feeds.status(int(n), int(k), now)).encode(), "application/json"
            else:
                body, kind = b"not found", "text/plain"
            if etag is not None and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if kind != "text/plain" else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if etag is not None:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.put(server.server_address[1])
    server.serve_forever()


def rss_mb() -> float:
    """Resident memory of this process (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


ROOT = str(Path(__file__).resolve().parents[1]) + "/"  # the checkout this script runs from


def short(filename: str) -> str:
    """A file name relative to the project, site-packages or the standard library."""
    for root in ("site-packages/", ROOT, "/lib/python3."):
        if root in filename:
            return filename.split(root, 1)[1].split("/", 1)[1] if root == "/lib/python3." else filename.split(root, 1)[1]
    return filename


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


LIVE_SQLITE: dict[int, Any] = {}
"""The DBAPI connections SQLAlchemy's pools hold open, by id (filled by ``track_sqlite``)."""


def track_sqlite() -> None:
    """Note every SQLite connection any pool opens and closes, to read its memory."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    event.listen(Pool, "connect", lambda dbapi, _record: LIVE_SQLITE.__setitem__(id(dbapi), dbapi))
    event.listen(Pool, "close", lambda dbapi, _record: LIVE_SQLITE.pop(id(dbapi), None))
    event.listen(Pool, "close_detached", lambda dbapi: LIVE_SQLITE.pop(id(dbapi), None))


def sqlite_detail() -> str:
    """Open connections and their SQLite memory: page cache, prepared statements (each
    connection caches 128), schema. Reads the ``sqlite3*`` out of CPython's connection
    object (its first field), so on another interpreter it prints nothing."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        totals = [0, 0, 0]
        for conn in list(LIVE_SQLITE.values()):
            handle = ctypes.c_void_p.from_address(id(conn) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
            if not handle:
                continue
            for i, op in enumerate((1, 3, 2)):  # SQLITE_DBSTATUS_CACHE_USED, _STMT_USED, _SCHEMA_USED
                current, high = ctypes.c_int(), ctypes.c_int()
                if lib.sqlite3_db_status(ctypes.c_void_p(handle), op, ctypes.byref(current), ctypes.byref(high), 0) == 0:
                    totals[i] += current.value
        return f"{len(LIVE_SQLITE)} conns: cache {totals[0] / 1e6:.1f}, stmts {totals[1] / 1e6:.1f}, schema {totals[2] / 1e6:.1f} MB"
    except (OSError, AttributeError, ValueError):
        return ""


def native_mb() -> tuple[float, float, float]:
    """Where resident memory sits natively, in MB: bytes glibc's malloc has handed out and
    not had back (all arenas, mmapped blocks included), bytes free inside its arenas (held,
    not returned to the system), and what SQLite's allocator holds (page caches, schema,
    prepared statements of every connection). NaN where the library is not there."""
    used = free = sqlite = float("nan")
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        used, free = (info.uordblks + info.hblkhd) / 1e6, info.fordblks / 1e6
    except (OSError, AttributeError):
        pass
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")  # the copy _sqlite3 already loaded
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        sqlite = lib.sqlite3_memory_used() / 1e6
    except (OSError, AttributeError):
        pass
    return used, free, sqlite


def db_mb(path: Path) -> float:
    """The SQLite database with its WAL and shared-memory files, in MB."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()) / 1e6


CONFIG = """
[monitor]
database = "sqlite:///soak.db"
outbox = "outbox"
[[brands]]
name = "艾克美"
keywords = ["艾克美"]
[crisis.safety]
severity = "urgent"
terms = ["烫伤", "起火", "injury"]
[crisis.media]
severity = "urgent"
terms = ["记者"]
[[alerts.routes]]
name = "pr"
to = ["pr@example.com"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", default="1m", help="each source's poll interval")
    parser.add_argument("--post-every", type=float, default=300.0, help="seconds between new posts on one feed")
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples")
    parser.add_argument("--profile-start", action="store_true", help="run Daemon.start() under cProfile and print its top costs")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace allocations: top growth from the warm-up to the end (slow)")
    parser.add_argument("--warm-up", type=float, default=2.0, help="minutes before growth is counted (and the first tracemalloc snapshot taken)")
    args = parser.parse_args()

    # fork the platform now, while this process has no threads and no heavy modules
    feeds = Feeds(time.time(), args.post_every)
    queue: multiprocessing.Queue[int] = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=serve, args=(feeds, queue), daemon=True)
    child.start()
    base = f"http://127.0.0.1:{queue.get(timeout=10)}"

    t_import = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import logging

    from sqlalchemy import func, select

    from monitor.daemon import Daemon
    from monitor.storage.models import MessageRow, PostRow, SnapshotRow, TicketRow
    from sources import HttpPolicy, PoliteHttp, new_client

    import_s = time.perf_counter() - t_import
    track_sqlite()
    problems: dict[str, int] = {}

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            problems[record.levelname] = problems.get(record.levelname, 0) + 1

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(Count(logging.WARNING))

    class TimedDaemon(Daemon):
        """The real Daemon; only counts polls and notes when the first one completed."""

        first_poll: float | None = None
        polls = 0
        _lock = threading.Lock()

        def _poll(self, name: str) -> None:
            super()._poll(name)
            with self._lock:
                self.polls += 1
                if self.first_poll is None:
                    self.first_poll = time.perf_counter()

    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    sources = []
    for n in range(args.sources):
        if n % 10 == 9:
            sources.append(f'[[sources]]\nname = "m{n}"\nkind = "mastodon"\ninstance = "{base}"\ntag = "t{n}"\nevery = "{args.every}"\n')
        else:
            sources.append(f'[[sources]]\nname = "f{n}"\nkind = "rss"\nurl = "{base}/{n}.xml"\nevery = "{args.every}"\n')
    (folder / "config.toml").write_text(CONFIG + "".join(sources), encoding="utf-8")
    # one loopback host stands in for 200 platforms: lift the per-host cap to the pool size
    policy = HttpPolicy(per_host=16)
    daemon = TimedDaemon(folder / "config.toml", http=PoliteHttp(new_client(policy), policy))

    profiler = cProfile.Profile() if args.profile_start else None
    t_start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    app = daemon.start()
    started_s = time.perf_counter() - t_start
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"monitor/(daemon|app|db|matching)\.py|jieba/__init__.py.*initialize|alembic/command.py.*upgrade", 10)
    baseline = rss_mb()
    if args.tracemalloc:
        tracemalloc.start(8)
    early: tracemalloc.Snapshot | None = None
    early_at = float("nan")
    while daemon.first_poll is None and time.perf_counter() - t_start < 60:
        time.sleep(0.01)
    ready_s = (daemon.first_poll or float("nan")) - t_start
    print(f"soak: {args.sources} sources ({args.sources // 10} mastodon), every {args.every}, a new post per feed every {args.post_every:g} s, {args.minutes:g} min")
    print(f"start: import monitor {import_s:.2f} s; Daemon.start() returned after {started_s:.2f} s; "
          f"first poll completed {ready_s:.2f} s after start() (target <= 2 s); "
          f"script start -> first poll {daemon.first_poll - T_SCRIPT if daemon.first_poll else float('nan'):.2f} s")
    print(f"baseline RSS right after start(): {baseline:.1f} MB")
    print(f"{'min':>5} {'RSS MB':>8} {'xbase':>6} {'DB MB':>7} {'posts':>7} {'snaps':>7} {'tickets':>7} {'msgs':>5} {'polls':>7} {'+polls':>6} {'CPU s/min':>9}"
          f" {'malloc':>7} {'free':>6} {'sqlite':>6} {'py MB':>6}")

    series: list[tuple[float, float, float]] = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    polls0 = daemon.polls
    end = t0 + args.minutes * 60
    sample = 0
    while True:
        sample += 1
        target = t0 + sample * args.sample_every
        if target > end + 1e-6:
            break
        time.sleep(max(0.0, target - time.perf_counter()))
        cpu = time.process_time()
        with app.read_sessions() as session:
            counts = [session.scalar(select(func.count()).select_from(m)) or 0 for m in (PostRow, SnapshotRow, TicketRow, MessageRow)]
        minute = (time.perf_counter() - t0) / 60
        rss, size = rss_mb(), db_mb(folder / "soak.db")
        series.append((minute, rss, size))
        if args.tracemalloc and early is None and minute >= args.warm_up - 1e-6:
            early, early_at = tracemalloc.take_snapshot(), minute
        per_min = (cpu - cpu0) * 60 / args.sample_every
        cpu0 = cpu
        used, free, sqlite = native_mb()
        traced = tracemalloc.get_traced_memory()[0] / 1e6 if tracemalloc.is_tracing() else float("nan")
        print(f"{minute:5.1f} {rss:8.1f} {rss / baseline:6.2f} {size:7.2f} {counts[0]:7d} {counts[1]:7d} {counts[2]:7d} {counts[3]:5d} {daemon.polls:7d} {daemon.polls - polls0:6d} {per_min:9.2f}"
              f" {used:7.1f} {free:6.1f} {sqlite:6.1f} {traced:6.1f}  {sqlite_detail()}", flush=True)
        polls0 = daemon.polls
    late = tracemalloc.take_snapshot() if early is not None else None
    daemon.stop()
    child.terminate()
    shutil.rmtree(folder, ignore_errors=True)

    after = [s for s in series if s[0] >= args.warm_up - 1e-6]
    if len(after) >= 2:
        (m0, r0, d0), (m1, r1, d1) = after[0], after[-1]
        hours = (m1 - m0) / 60
        print(f"growth minute {m0:.1f} -> {m1:.1f}: RSS {r0:.1f} -> {r1:.1f} MB ({r1 - r0:+.1f} MB, {(r1 - r0) / hours:+.1f} MB/h); "
              f"DB {d0:.2f} -> {d1:.2f} MB ({(d1 - d0) / hours:+.2f} MB/h)")
    peak = max(s[1] for s in series) if series else float("nan")
    print(f"peak RSS {peak:.1f} MB (target <= 200 MB); ratio end/baseline {series[-1][1] / baseline if series else float('nan'):.2f}")
    print(f"log records at WARNING or above: {problems or 'none'}")
    if early is not None and late is not None:
        print(f"tracemalloc: where Python-allocated memory grew from minute {early_at:.1f} to the end (top 12: the innermost frame in this project, and the allocation site)")
        for stat in late.compare_to(early, "traceback")[:12]:
            ours = [f for f in stat.traceback if f.filename.startswith(ROOT) and "/site-packages/" not in f.filename]  # frames run oldest first
            where, site = (ours or list(stat.traceback))[-1], stat.traceback[-1]
            print(f"  {stat.size_diff / 1e6:+7.2f} MB {stat.count_diff:+8d} blocks  {short(where.filename)}:{where.lineno}  (allocated at {short(site.filename)}:{site.lineno})")
        by_ours: dict[str, list[int]] = {}
        for stat in late.compare_to(early, "traceback"):
            ours = [f for f in stat.traceback if f.filename.startswith(ROOT) and "/site-packages/" not in f.filename]
            key = f"{short(ours[-1].filename)}:{ours[-1].lineno}" if ours else "(no frame in this project)"
            entry = by_ours.setdefault(key, [0, 0])
            entry[0] += stat.size_diff
            entry[1] += stat.count_diff
        print("tracemalloc: the same growth summed by the innermost frame in this project (top 12)")
        for key, (size, count) in sorted(by_ours.items(), key=lambda kv: -kv[1][0])[:12]:
            print(f"  {size / 1e6:+7.2f} MB {count:+8d} blocks  {key}")
        print(f"tracemalloc: traced total {sum(s.size for s in early.statistics('filename')) / 1e6:.1f} MB at minute {early_at:.1f}, "
              f"{sum(s.size for s in late.statistics('filename')) / 1e6:.1f} MB at the end")


if __name__ == "__main__":
    main()
