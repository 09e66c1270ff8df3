"""Ingest throughput: posts per second through match, score and store, on one core,
for a 20-term and a 2,000-term keyword list, and through our Matcher alone (nothing
stored), against a bare matching baseline (one compiled regex alternation over
normalised text, no storage) measured in the same run.

    .venv/bin/python bench/ingest.py [--posts 2000]

Figures are ratios to the baseline, because machines are noisy; absolute numbers are
printed too.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.app import App
from monitor.config import load_config
from monitor.detect.matching import TokenizerFactory
from monitor.detect.textnorm import normalize
from monitor.storage.db import make_engine, migrate
from sources import Engagement, PoliteHttp, Post, source_kinds

WORDS_ZH = "保温杯 孩子 今天 客服 质量 快递 朋友 推荐 颜值 价格 活动 新品 门店 味道 包装 售后 体验 水杯 早餐 周末".split()
WORDS_EN = "cup thermos today service quality delivery friend price store taste package weekend bottle morning".split()


def keywords(n: int, rng: random.Random) -> list[str]:
    base = ["艾克美", "Acme"]
    extra = [f"品牌{i}号" if i % 2 else f"brand{i}x" for i in range(n - len(base))]
    return base + extra


def posts(n: int, rng: random.Random) -> list[Post]:
    out = []
    now = datetime(2026, 11, 22, tzinfo=UTC)
    for i in range(n):
        words = rng.choices(WORDS_ZH, k=12) + rng.choices(WORDS_EN, k=4)
        if i % 10 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(["艾克美", "Acme"]))
        if i % 40 == 0:
            words.append(rng.choice(["烫伤", "漏水", "injury"]))
        rng.shuffle(words)
        out.append(Post("bench", str(i), f"https://bench.test/{i}", "".join(words), created_at=now - timedelta(minutes=5), engagement=Engagement(likes=i % 7)))
    return out


CONFIG = """
[monitor]
database = "sqlite:///bench.db"
[[brands]]
name = "艾克美"
keywords = {keywords}
[crisis.safety]
severity = "urgent"
terms = ["烫伤", "injury"]
[crisis.quality]
severity = "normal"
terms = ["漏水"]
[[alerts.routes]]
name = "pr"
to = ["pr@example.com"]
"""


def run(n_terms: int, batch: list[Post], tokenizers: TokenizerFactory) -> tuple[float, float]:
    rng = random.Random(n_terms)
    terms = keywords(n_terms, rng)
    # baseline: normalise and search one alternation of every keyword, nothing stored
    pattern = re.compile("|".join(re.escape(normalize(t)) for t in sorted(terms, key=len, reverse=True)))
    started = time.process_time()
    hits = sum(1 for post in batch if pattern.search(normalize(post.text)))
    baseline = len(batch) / (time.process_time() - started)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(CONFIG.format(keywords=repr(terms).replace("'", '"')), encoding="utf-8")
        config = load_config(path, source_kinds())
        engine = make_engine(config.monitor.database)
        migrate(engine)
        app = App(config, engine=engine, http=PoliteHttp(None), kinds=source_kinds(), tokenizers=tokenizers)  # type: ignore[arg-type]
        matcher = app._parts.pipeline.matcher  # "matching alone": our matcher, nothing stored
        matcher.match("艾克美")  # its tokenizer is deferred: copy the dictionary in before the timing
        started = time.process_time()
        matched = sum(1 for post in batch if matcher.match(post.text))
        alone = len(batch) / (time.process_time() - started)
        started = time.process_time()
        report = app._parts.pipeline.ingest("bench", batch)
        ours = len(batch) / (time.process_time() - started)
        engine.dispose()
    print(f"{n_terms:>5} terms: pipeline {ours:8.0f} posts/s (CPU), matcher alone {alone:8.0f} posts/s, baseline {baseline:9.0f} posts/s; "
          f"ratio pipeline {ours / baseline:.3f}, matcher {alone / baseline:.3f}; mentions {report.mentions} (matcher {matched}, baseline hits {hits})")
    return ours, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(1)
    batch = posts(args.posts, rng)
    tokenizers = TokenizerFactory()
    tokenizers.new()  # load jieba's dictionary outside the timings
    for n_terms in (20, 2000):
        run(n_terms, batch, tokenizers)


if __name__ == "__main__":
    main()
