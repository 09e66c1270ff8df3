"""One polling round of many feeds on a loopback server that answers each request after
50 ms: wall time and CPU through the real App (polite client, parse, match, store), on
the daemon's thread-pool model, against a sequential fetch-and-parse loop (httpx +
feedparser, nothing stored) measured in the same run.

    .venv/bin/python bench/polling.py [--feeds 200] [--workers 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser  # noqa: E402
import httpx  # noqa: E402

from monitor.app import App  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.db import make_engine, migrate  # noqa: E402
from sources import HttpPolicy, PoliteHttp, new_client, source_kinds  # noqa: E402

LATENCY = 0.05


def feed(n: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {n} item {i}: 艾克美保温杯{'漏水' if i == 0 else '不错'}</title>"
        f"<link>https://feeds.test/{n}/{i}</link><guid>https://feeds.test/{n}/{i}</guid>"
        f"<pubDate>Sun, 22 Nov 2026 08:{i:02d}:00 GMT</pubDate><description>第 {i} 条</description></item>"
        for i in range(20)
    )
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>{items}</channel></rss>'.encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(LATENCY)  # the simulated network and server time
        body = feed(int(self.path.strip("/").split(".")[0]))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16, help="the daemon's source pool size")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/{n}.xml" for n in range(args.feeds)]

    wall, cpu = time.perf_counter(), time.process_time()
    with httpx.Client() as client:
        entries = sum(len(feedparser.parse(client.get(url).content).entries) for url in urls)
    base_wall, base_cpu = time.perf_counter() - wall, time.process_time() - cpu

    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.toml"
        sources = "".join(f'[[sources]]\nname = "f{n}"\nkind = "rss"\nurl = "{url}"\nevery = "5m"\n' for n, url in enumerate(urls))
        config_path.write_text(
            '[monitor]\ndatabase = "sqlite:///bench.db"\n[[brands]]\nname = "艾克美"\nkeywords = ["艾克美"]\n'
            '[crisis.quality]\nseverity = "normal"\nterms = ["漏水"]\n' + sources,
            encoding="utf-8",
        )
        config = load_config(config_path, source_kinds())
        engine = make_engine(config.monitor.database)
        migrate(engine)
        policy = HttpPolicy(per_host=args.workers)  # one loopback host stands in for many
        client = new_client(policy)
        app = App(config, engine=engine, http=PoliteHttp(client, policy), kinds=source_kinds())
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(args.workers) as pool:
            reports = list(pool.map(app.poll, list(app.sources)))
        ours_wall, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu
        client.close()
        engine.dispose()
    server.shutdown()

    stored = sum(r.new_posts for r in reports if r)
    print(f"{args.feeds} feeds x 20 items, {LATENCY * 1000:.0f} ms per request")
    print(f"  baseline (sequential fetch + parse): wall {base_wall:6.2f} s  cpu {base_cpu:6.2f} s  ({entries} entries)")
    print(f"  monitor ({args.workers} workers, fetch + parse + match + store): wall {ours_wall:6.2f} s  cpu {ours_cpu:6.2f} s  ({stored} posts stored)")
    print(f"  ratio monitor/baseline: wall {ours_wall / base_wall:.2f}  cpu {ours_cpu / base_cpu:.2f}")


if __name__ == "__main__":
    main()
