"""How often "climbing fast" (快速上升) would be said on a real hot list (issue 16, item 2).

    .venv/bin/python bench/hotlist_climb.py [--data ../shared/fixtures/real] [--window 1h]

Data: ``hotlists/weibo_signal_tracker/derived_heat_timeseries_30d.csv.gz`` (derived from the
git history of arandomguyhere/weibo-daily-hot-search, MIT; provenance in SOURCES.md): 724
snapshots of 微博热搜 from 2026-07-24 to 08-23, every 12 min to a few hours (median 47 min),
about 51 topics each with Weibo's heat (``num``). A topic's rank is its place by heat in its
snapshot. Every topic on a hot list is trending by definition; the thresholds should pick
out the steepest few, not the list's ordinary churn.

For every reading with a baseline, the shipped rule (``Sighting.climbing_fast``) is asked
whether it would speak, for the shipped thresholds and a few others. The baseline is built
as the pipeline builds it: the reading in force when the window opened (a snapshot's reading
holds until the next one, as a stored reading holds until rank or heat change, but at most
one more window across the archive's gaps), else the
first reading within the window. Printed: the share of readings and of topics it speaks
for, and how many of those readings were in the top 10 (already urgent by rank).
"""

from __future__ import annotations

import argparse
import csv
import gzip
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from monitor.config import ScoringConfig
from monitor.detect.scoring import Baseline, Sighting
from monitor.durations import parse_duration

Reading = tuple[datetime, int, int]


def series(path: Path) -> dict[str, list[Reading]]:
    """Each topic's readings (time, rank by heat in its snapshot, heat), oldest first."""
    snapshots: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            snapshots[row["snapshot_time"]].append((row["topic"], int(row["count"])))
    found: dict[str, list[Reading]] = defaultdict(list)
    for at in sorted(snapshots, key=datetime.fromisoformat):
        for rank, (topic, heat) in enumerate(sorted(snapshots[at], key=lambda t: -t[1]), 1):
            found[topic].append((datetime.fromisoformat(at), rank, heat))
    return found


def sightings(topics: dict[str, list[Reading]], window: timedelta) -> list[tuple[str, Sighting]]:
    """Every reading that has a baseline (see the module docstring), as the pipeline would
    see it."""
    seen = []
    for topic, readings in topics.items():
        for i, (at, rank, heat) in enumerate(readings):
            start = at - window
            # across the archive's gaps (snapshots are up to a few hours apart, a daemon polls
            # every few minutes) a reading is taken to hold for at most one more window
            held = next(((t, r, h) for t, r, h in reversed(readings[:i]) if start - window <= t <= start), None)
            first = next(((t, r, h) for t, r, h in readings[:i] if t >= start), None)
            if held is not None:
                since = Baseline(held[1], held[2], window)
            elif first is not None:
                since = Baseline(first[1], first[2], at - first[0])
            else:
                continue
            seen.append((topic, Sighting("微博热搜", rank, heat, since=since)))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real")
    parser.add_argument("--window", default="1h")
    args = parser.parse_args()
    window = parse_duration(args.window)
    topics = series(args.data / "hotlists" / "weibo_signal_tracker" / "derived_heat_timeseries_30d.csv.gz")
    seen = sightings(topics, window)
    names = {topic for topic, _ in seen}
    print(f"{sum(map(len, topics.values()))} readings of {len(topics)} topics; {len(seen)} readings of {len(names)} topics have a baseline within {args.window}")
    print("| places | heat % | readings said | topics said | of those readings in the top 10 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    shipped = ScoringConfig()
    for ranks, growth in ((shipped.hotlist_climb_ranks, shipped.hotlist_heat_growth), (15, 100), (20, 100), (20, 200), (25, 300), (30, 300), (25, 0), (0, 200)):
        scoring = replace(shipped, hotlist_climb_window=window, hotlist_climb_ranks=ranks, hotlist_heat_growth=growth)
        said = [(topic, s) for topic, s in seen if s.climbing_fast(scoring)]
        top = sum(s.rank <= 10 for _, s in said)
        mark = " (shipped)" if (ranks, growth) == (shipped.hotlist_climb_ranks, shipped.hotlist_heat_growth) else ""
        print(
            f"| {ranks or 'off'} | {growth or 'off'}{mark} | {len(said) / len(seen):.1%} | {len({t for t, _ in said}) / len(names):.1%} | {top / max(len(said), 1):.0%} |"
        )


if __name__ == "__main__":
    main()
