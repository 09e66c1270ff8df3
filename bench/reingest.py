"""Re-ingesting followed posts whose only change is their counters: CPU per post with
scoring's reads done for the whole batch (``BatchReads``, as shipped) against the same
batches scored one post at a time (``batch_reads = False``, the reference), measured in
the same run, turn about, on the same database.

    .venv/bin/python bench/reingest.py [--posts 500] [--rounds 12]

A stream's drain hands over every followed post liked or reposted since the last poll;
polled sources re-read their tracked posts the same way. Here ``--posts`` brand posts
(the ingest bench's texts and its 2,000-keyword config, so several tickets are open and
the posts join them) are stored once, then re-ingested ``--rounds`` times with one more
like each, the rounds alternating between the two ways of reading; the figure is the
median CPU per post of each way, and their ratio. Each round adds a reading to every
post, so later rounds read longer curves, as a drain does as the day goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import CONFIG, keywords, posts
from monitor.app import App
from monitor.config import load_config
from monitor.storage.db import make_engine, migrate
from sources import Engagement, PoliteHttp, Post, source_kinds


def run(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(
            CONFIG.format(keywords=repr(keywords(2000, random.Random(2000))).replace("'", '"')).replace("sqlite:///bench.db", f"sqlite:///{folder}/bench.db"), encoding="utf-8"
        )
        config = load_config(path, source_kinds())
        engine = make_engine(config.monitor.database)
        migrate(engine)
        now = datetime.now(UTC)
        app = App(config, engine=engine, http=PoliteHttp(None), kinds=source_kinds(), clock=lambda: now)  # type: ignore[arg-type]
        pipeline = app._parts.pipeline
        batch: list[Post] = []
        for post in posts(n * 20, random.Random(1)):
            if len(batch) < n and pipeline.matcher.match(post.text):
                batch.append(dataclasses.replace(post, created_at=now - timedelta(minutes=5)))
        started = time.process_time()
        first = pipeline.ingest("bench", batch)
        new_ms = 1000 * (time.process_time() - started) / len(batch)
        figures: dict[bool, list[float]] = {False: [], True: []}
        for r in range(rounds):
            now += timedelta(minutes=1)
            pipeline.batch_reads = r % 2 == 1
            again = [dataclasses.replace(p, engagement=Engagement(likes=(p.engagement.likes or 0) + r + 1)) for p in batch]
            started = time.process_time()
            report = pipeline.ingest("bench", again)
            figures[pipeline.batch_reads].append(1000 * (time.process_time() - started) / len(batch))
            assert report.mentions == len(batch)
        engine.dispose()
    one, batched = statistics.median(figures[False]), statistics.median(figures[True])
    print(f"{n:>6} posts a batch, {len(first.tickets)} tickets: re-ingest {one:6.2f} ms CPU a post one by one, {batched:6.2f} ms batched "
          f"(ratio {batched / one:.2f}, {one / batched:.1f}x faster); storing and scoring a new post {new_ms:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=lambda s: [int(x) for x in s.split(",")], default=[100, 500, 1000], help="posts a batch, comma-separated")
    parser.add_argument("--rounds", type=int, default=12, help="re-ingests of each batch, alternating the two ways")
    args = parser.parse_args()
    print(f"bench/reingest.py, Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for n in args.posts:
        run(n, args.rounds)


if __name__ == "__main__":
    main()
