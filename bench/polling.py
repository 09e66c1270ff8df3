"""Polling rounds of many feeds on a loopback server that answers each request after
50 ms: wall time and CPU through the real App (polite client, parse, match, store), on
the daemon's thread-pool model, against a sequential fetch-and-parse loop (httpx +
feedparser, nothing stored) measured in the same run; and the issue's target cases,
including rss2email as a peer on the same feeds.

    .venv/bin/python bench/polling.py [--feeds 200] [--workers 16] [--baseline-sample N] [--profile]
    .venv/bin/python bench/polling.py --targets [--baseline-sample 100] [--no-peer]

The rss2email peer is not a dependency of the daemon: install it into the same virtualenv
with ``.venv/bin/pip install -e '.[bench]'`` (it puts ``r2e`` beside that Python). Without
it, ``--targets`` says so in one line and skips the peer.

Without ``--targets``: one cold round of ``--feeds`` feeds (every entry new, stored).
With ``--targets``: a round of 500 changed feeds (one new entry each, after a cold
round), 100 unchanged feeds (a second round: 304 to a conditional GET, and again with
the server sending no ETag so only the body hash can tell), 100 feeds x 20 new entries
fetched, parsed and stored, and ``r2e run --no-send`` (rss2email, sequential by design)
over the same 100 feeds, first with 2,000 new entries, then unchanged.

The feed server runs in a child process (forked before any thread exists), so CPU is
the poller's own. A sequential loop of 1,000 x 50 ms takes over 50 s: with
``--baseline-sample N`` the baseline times N feeds and extrapolates, and says so.
Each feed has 20 items with a title and a ~300-character description; about one in ten
mentions the brand, one in forty also a crisis term. ``--profile`` times each stage alone
(fetch, parse, match, ingest of new and of known posts, an unchanged poll), then runs a
round once more, sequentially under cProfile, and prints where the CPU goes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser
import httpx

LATENCY = 0.05
ITEMS = 20
EPOCH = 1_795_000_000  # November 2026
WORDS = "保温杯 孩子 今天 质量 快递 朋友 推荐 颜值 价格 活动 新品 门店 味道 包装 体验 水杯 早餐 周末 天气 地铁 咖啡 cup coffee weekend city".split()


def item(n: int, i: int) -> str:
    """Item i of feed n, the same every time it is served."""
    rng = random.Random(n * 1_000_003 + i)
    title = "".join(rng.choices(WORDS, k=6))
    if i % 10 == n % 10:
        title = "艾克美" + title + ("漏水" if i % 40 == n % 40 else "")
    desc = "".join(rng.choices(WORDS, k=40))
    return (
        f"<item><title>{n}-{i} {title}</title><link>https://feeds.test/{n}/{i}</link><guid>https://feeds.test/{n}/{i}</guid>"
        f"<pubDate>{formatdate(EPOCH + i * 60, usegmt=True)}</pubDate><description>&lt;p&gt;{desc}&lt;/p&gt;</description></item>"
    )


def feed(n: int, gen: int) -> bytes:
    """Feed n at generation ``gen``: items gen .. gen+19, newest first."""
    items = "".join(item(n, i) for i in range(gen + ITEMS - 1, gen - 1, -1))
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title><link>https://feeds.test/{n}</link>{items}</channel></rss>'.encode()


def serve(port: Any, gen: Any, etags: Any) -> None:
    """The child process: every feed at the shared generation, 50 ms per answer, an ETag
    (and 304 to a matching If-None-Match) while ``etags`` is set."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:
            time.sleep(LATENCY)  # the simulated network and server time
            n, g = int(self.path.strip("/").split(".")[0]), gen.value
            tag = f'"{n}-{g}"'
            if etags.value and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = feed(n, g)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            if etags.value:
                self.send_header("ETag", tag)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default 5 drops SYNs when 16 workers connect at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


class Platform:
    """The loopback feed server in a child process, with its generation and ETag switch."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.gen, self.etags = ctx.Value("i", 0), ctx.Value("b", 1)
        queue = ctx.Queue()
        self.process = ctx.Process(target=serve, args=(queue, self.gen, self.etags), daemon=True)
        self.process.start()
        self.base = f"http://127.0.0.1:{queue.get(timeout=10)}"

    def urls(self, count: int, first: int = 0) -> list[str]:
        return [f"{self.base}/{n}.xml" for n in range(first, first + count)]


def baseline(urls: list[str], sample: int | None) -> tuple[float, float, str]:
    """Sequential httpx + feedparser over the feeds (or a sample, extrapolated): wall, CPU."""
    timed = urls if not sample or sample >= len(urls) else urls[:: max(1, len(urls) // sample)][:sample]
    wall, cpu = time.perf_counter(), time.process_time()
    with httpx.Client() as client:
        entries = sum(len(feedparser.parse(client.get(url).content).entries) for url in timed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scale = len(urls) / len(timed)
    note = f"{entries} entries" if scale == 1 else f"{len(timed)} feeds timed, x{scale:g} extrapolated"
    return wall * scale, cpu * scale, note


class Ours:
    """The real App on a fresh SQLite file, polled the way the daemon's source pool does."""

    def __init__(self, folder: Path, urls: list[str], workers: int) -> None:
        from monitor.app import App
        from monitor.config import load_config
        from monitor.storage.db import make_engine, migrate
        from sources import HttpPolicy, PoliteHttp, new_client, source_kinds

        path = folder / "config.toml"
        sources = "".join(f'[[sources]]\nname = "f{n}"\nkind = "rss"\nurl = "{url}"\nevery = "5m"\n' for n, url in enumerate(urls))
        path.write_text(
            '[monitor]\ndatabase = "sqlite:///bench.db"\n[[brands]]\nname = "艾克美"\nkeywords = ["艾克美"]\n'
            '[crisis.quality]\nseverity = "normal"\nterms = ["漏水"]\n' + sources,
            encoding="utf-8",
        )
        config = load_config(path, source_kinds())
        self.engine = make_engine(config.monitor.database)
        migrate(self.engine)
        policy = HttpPolicy(per_host=workers)  # one loopback host stands in for many
        self.client = new_client(policy)
        self.app = App(config, engine=self.engine, http=PoliteHttp(self.client, policy), kinds=source_kinds())
        self.workers = workers

    def round(self) -> tuple[float, float, int, int]:
        """One round of every source: wall, CPU, posts seen, posts newly stored."""
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(self.workers) as pool:
            reports = list(pool.map(self.app.poll, list(self.app.sources)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        failed = sum(1 for r in reports if r is None)
        if failed:
            print(f"  !! {failed} source(s) failed this round")
        return wall, cpu, sum(r.posts for r in reports if r), sum(r.new_posts for r in reports if r)

    def profile(self, top: int) -> None:
        """The same round once more, in this thread, under cProfile (one thread: a clean CPU picture)."""
        profiler = cProfile.Profile()
        profiler.enable()
        for name in list(self.app.sources):
            self.app.poll(name)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)

    def stages(self, platform: Platform) -> None:
        """CPU per stage, timed one at a time in this thread without a profiler (cProfile
        inflates Python-heavy code several times over), in milliseconds."""

        def ms(fn: Any, times: int = 1) -> float:
            started = time.process_time()
            for _ in range(times):
                fn()
            return (time.process_time() - started) / times * 1000

        names = list(self.app.sources)[:20]
        source, pipeline = self.app.sources[names[0]], self.app._parts.pipeline
        body = feed(0, platform.gen.value)
        posts = source.fetch()
        source.commit()
        with httpx.Client() as client:
            client.get(platform.urls(1)[0])
            http = ms(lambda: [client.get(u) for u in platform.urls(20)]) / 20
        figures = {
            "httpx.Client.get, one request": http,
            f"feedparser.parse, one {len(body) // 1000} kB {ITEMS}-item feed": ms(lambda: feedparser.parse(body), 20),
            "RssSource.fetch, one changed feed (get + parse + Posts)": ms(lambda: [self.app.sources[n].fetch() for n in names[1:11]]) / 10,
            "Matcher.match, one post": ms(lambda: [pipeline.matcher.match(p.text) for p in posts], 10) / len(posts),
            "Pipeline.ingest, one known unchanged post": ms(lambda: pipeline.ingest(names[0], posts), 10) / len(posts),
        }
        for name in names:
            self.app.poll(name)  # now every one is unchanged
        figures["App.poll of an unchanged feed (304), whole"] = ms(lambda: [self.app.poll(n) for n in names], 3) / len(names)
        platform.gen.value += ITEMS
        fresh = source.fetch()
        figures["Pipeline.ingest, one new post"] = ms(lambda: pipeline.ingest(names[0], fresh)) / len(fresh)
        print("  CPU per stage (ms, one thread, no profiler):")
        for label, value in figures.items():
            print(f"    {label:<52s} {value:7.2f}")

    def close(self) -> None:
        self.app.close()
        self.client.close()
        self.engine.dispose()


def line(label: str, wall: float, cpu: float, extra: str = "") -> None:
    print(f"  {label:<52s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  {extra}")


def ratio(label: str, ours: tuple[float, float], base: tuple[float, float]) -> None:
    print(f"  ratio {label}: wall {ours[0] / base[0]:.3f}  cpu {ours[1] / base[1]:.3f}")


def verdict(wall: float, target: float) -> str:
    return f"target <= {target:g} s: " + ("met" if wall <= target else f"MISSED by {wall - target:.2f} s ({wall / target:.1f}x)")


def one_round(platform: Platform, feeds: int, workers: int, sample: int | None, profile: bool) -> None:
    """The original benchmark: one cold round of ``feeds`` feeds against the sequential loop."""
    urls = platform.urls(feeds)
    base = baseline(urls, sample)
    with tempfile.TemporaryDirectory() as folder:
        ours = Ours(Path(folder), urls, workers)
        wall, cpu, seen, stored = ours.round()
        print(f"{feeds} feeds x {ITEMS} items, {LATENCY * 1000:.0f} ms per request")
        line("baseline (sequential fetch + parse)", base[0], base[1], f"({base[2]})")
        line(f"monitor ({workers} workers, fetch + parse + match + store)", wall, cpu, f"({stored} posts stored)")
        ratio("monitor/baseline", (wall, cpu), base[:2])
        if profile:
            platform.gen.value += 1
            ours.stages(platform)
            platform.gen.value += 1
            ours.profile(25)
        ours.close()


def r2e(urls: list[str], folder: Path, exe: Path | None = None) -> dict[str, tuple[float, float]] | None:
    """rss2email over the feeds: startup alone (``r2e list``), a first ``run --no-send`` (every
    entry new), a second (unchanged). Wall and children's CPU of each subprocess; None, with
    a line saying why, when rss2email is not installed beside this Python or will not start."""
    exe = exe or Path(sys.executable).with_name("r2e")
    if not exe.is_file():
        print(f"  skipped / 跳过: rss2email is not installed ({exe} not found); to compare with it: "
              f"{Path(sys.executable).with_name('pip')} install -e '.[bench]'")
        return None
    env = {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"), "XDG_DATA_HOME": str(folder / "data")}
    common = [str(exe), "-c", str(folder / "r2e.cfg"), "-d", str(folder / "r2e.json")]
    try:
        made = subprocess.run([*common, "new", "pr@example.com"], env=env, capture_output=True, text=True)
    except OSError as exc:  # not executable, a broken interpreter line …
        print(f"  skipped / 跳过: {exe} does not start ({exc})")
        return None
    if made.returncode != 0:
        print(f"  skipped / 跳过: {exe} new exited {made.returncode}: {' '.join(made.stderr.split())[-300:]}")
        return None
    with open(folder / "r2e.cfg", "a", encoding="utf-8") as cfg:
        cfg.write("".join(f"\n[feed.f{n}]\nurl = {url}\n" for n, url in enumerate(urls)))
    (folder / "r2e.json").write_text(json.dumps({"version": 2, "feeds": [{"name": f"f{n}", "etag": None, "modified": None, "seen": {}} for n in range(len(urls))]}))
    out = {}
    for label, args in (("startup", ["list"]), ("new", ["run", "--no-send"]), ("unchanged", ["run", "--no-send"])):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        done = subprocess.run([*common, *args], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or "ERROR" in done.stderr:
            print(f"  !! r2e {' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
        out[label] = (wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    seen = sum(len(f["seen"]) for f in json.loads((folder / "r2e.json").read_text())["feeds"])
    print(f"  (rss2email remembered {seen} entries)")
    return out


def targets(platform: Platform, workers: int, sample: int | None, peer: bool, profile: bool) -> None:
    """The issue's targets, each case on a fresh database and its own feeds."""
    print(f"targets: {ITEMS} items per feed, {LATENCY * 1000:.0f} ms per request, {workers} workers")

    print("\n500 changed feeds (after a cold round, one new entry in each)")
    urls = platform.urls(500, first=0)
    base = baseline(urls, sample)
    with tempfile.TemporaryDirectory() as folder:
        ours = Ours(Path(folder), urls, workers)
        cold = ours.round()
        platform.gen.value += 1
        warm = ours.round()
        platform.gen.value -= 1
        line("baseline (sequential fetch + parse)", base[0], base[1], f"({base[2]})")
        line("monitor, cold round (every entry new)", cold[0], cold[1], f"({cold[3]} stored) {verdict(cold[0], 2.0)}")
        line("monitor, changed round (1 new entry per feed)", warm[0], warm[1], f"({warm[3]} stored) {verdict(warm[0], 2.0)}")
        ratio("changed/baseline", warm[:2], base[:2])
        if profile:
            platform.gen.value += 2
            print("  profile of a changed round, sequential, cProfile:")
            ours.profile(20)
            platform.gen.value -= 2
        ours.close()

    print("\n100 feeds x 20 new entries, then the same 100 unchanged")
    urls = platform.urls(100, first=1000)
    base = baseline(urls, None)
    with tempfile.TemporaryDirectory() as folder:
        ours = Ours(Path(folder), urls, workers)
        new = ours.round()
        same = ours.round()
        platform.etags.value = 0
        no_etag = ours.round()
        platform.etags.value = 1
        line("baseline (sequential fetch + parse)", base[0], base[1], f"({base[2]})")
        line("monitor, 100 x 20 new entries fetched, parsed, stored", new[0], new[1], f"({new[3]} stored) {verdict(new[0], 1.0)}")
        line("monitor, 100 unchanged (304 to conditional GET)", same[0], same[1], verdict(same[0], 0.5))
        line("monitor, 100 unchanged (no ETag: same body hash)", no_etag[0], no_etag[1], verdict(no_etag[0], 0.5))
        ratio("new/baseline", new[:2], base[:2])
        ratio("unchanged (304)/baseline", same[:2], base[:2])
        ours.close()

    if not peer:
        return
    print("\nrss2email (r2e run --no-send, own config and data) on the same 100 feeds")
    with tempfile.TemporaryDirectory() as folder:
        theirs = r2e(urls, Path(folder))
    if theirs is None:
        return
    line("rss2email startup alone (r2e list)", *theirs["startup"])
    line("rss2email, 2,000 new entries", *theirs["new"])
    line("rss2email, unchanged (it sends If-None-Match too)", *theirs["unchanged"])
    for label, mine in (("new", new), ("unchanged", same)):
        wall, start = theirs[label][0], theirs["startup"][0]
        print(f"  ratio monitor/rss2email, {label}: wall {mine[0] / wall:.3f} (rss2email takes {wall / mine[0]:.1f}x our time, "
              f"{(wall - start) / mine[0]:.1f}x without its {start:.2f} s startup)  cpu {mine[1] / theirs[label][1]:.3f}")
    print(f"  target 100 unchanged >= 10x faster than rss2email: {'met' if theirs['unchanged'][0] >= 10 * same[0] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16, help="the daemon's source pool size")
    parser.add_argument("--baseline-sample", type=int, default=None, metavar="N", help="time N feeds of the baseline and extrapolate")
    parser.add_argument("--targets", action="store_true", help="run the issue's target cases instead of one round")
    parser.add_argument("--no-peer", action="store_true", help="with --targets: skip rss2email")
    parser.add_argument("--profile", action="store_true", help="also profile a round (sequential, cProfile)")
    args = parser.parse_args()
    platform = Platform()  # forked first: this process has no threads yet
    try:
        if args.targets:
            targets(platform, args.workers, args.baseline_sample, not args.no_peer, args.profile)
        else:
            one_round(platform, args.feeds, args.workers, args.baseline_sample, args.profile)
    finally:
        platform.process.terminate()


if __name__ == "__main__":
    main()
