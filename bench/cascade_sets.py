"""The real cascades the forecast bench replays, read set by set from ``fixtures/real/cascades/``.

Each set is one source written by others (provenance in ``fixtures/real/SOURCES.md`` and, for
the sets derived by ``bench/data/derive_cascades.py``, in ``bench/data/cascades/PROVENANCE.md``).
A set whose files are absent is left out with a line saying so, so the bench runs on
whatever part of the data a machine has. ``FORECAST_SETS=weibo-casflow,twitter-smh`` picks
sets by name (for a run on one platform, or a quicker one).

Why sets and not one list: the sources differ in what they hold (a day of Weibo reposts,
Weibo rumours and non-rumours with their comments, 100 tweets that all went viral, small
#auspol cascades), so a figure over all of them is read beside the count of each.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

Times = tuple[float, ...]
"""Seconds after the post's creation of each counted event, sorted."""

MAX_EVENTS_FILE = 64 * 1024 * 1024
"""Bytes of an unpacked events file read at most: the largest set (CED) unpacks to 40 MB."""


@dataclass(frozen=True, slots=True)
class CascadeSet:
    name: str
    what: str
    cascades: list[tuple[str, Times]]
    """(cascade name, event times) in source order."""


def read_events(path: Path) -> list[tuple[str, Times]]:
    """An ``events.csv.gz`` (``cascade,seconds``, one row per event): the cascades in order of
    first appearance, each one's times sorted. A malformed row names its line."""
    with gzip.open(path, "rb") as f:
        raw = f.read(MAX_EVENTS_FILE + 1)
    if len(raw) > MAX_EVENTS_FILE:
        raise ValueError(f"{path}: more than {MAX_EVENTS_FILE:,} bytes unpacked")
    rows = csv.reader(io.StringIO(raw.decode("utf-8")))
    if next(rows, None) != ["cascade", "seconds"]:
        raise ValueError(f"{path}: the header is not 'cascade,seconds'")
    times: dict[str, list[float]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != 2 or not row[0]:
            raise ValueError(f"{path}:{line}: expected 'cascade,seconds', got {row!r}")
        try:
            seconds = float(row[1])
        except ValueError:
            raise ValueError(f"{path}:{line}: seconds {row[1]!r} is not a number") from None
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"{path}:{line}: seconds {row[1]!r} is not a time after the post")
        times.setdefault(row[0], []).append(seconds)
    return [(name, tuple(sorted(got))) for name, got in times.items()]


def _column(path: Path, column: str, scale: float = 1.0) -> list[float]:
    with path.open(newline="") as f:
        return [float(row[column]) * scale for row in csv.DictReader(f)]


def _seismic(data: Path) -> Iterator[tuple[str, Times]]:
    rows = _column(data / "cascades/twitter_seismic/tweet_derived.csv", "relative_time_second")
    yield "seismic-tweet", tuple(sorted(rows[1:]))  # row 0 is the tweet itself


def _smh(data: Path) -> Iterator[tuple[str, Times]]:
    paths = sorted((data / "cascades/twitter_smh_casin").glob("SMH-cascade-*.csv"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not paths:
        raise FileNotFoundError(data / "cascades/twitter_smh_casin")
    for path in paths:
        yield path.stem, tuple(sorted(_column(path, "time")[1:]))  # row 0 is the root tweet itself


def _bluesky(data: Path) -> Iterator[tuple[str, Times]]:
    yield "bluesky-likes", tuple(sorted(_column(data / "streams/bluesky_keegan/case_study_likes.csv", "hours_since_post", 3600)))


def _derived(folder: str, prefix: str, min_events: int = 0, every: int = 1) -> Callable[[Path], Iterator[tuple[str, Times]]]:
    """A derived set: its cascades of at least ``min_events`` events, and of those every
    ``every``-th in file order (a sample by position, so it is the same on every machine)."""

    def read(data: Path) -> Iterator[tuple[str, Times]]:
        kept = [(name, times) for name, times in read_events(data / "cascades" / folder / "events.csv.gz") if len(times) >= min_events]
        for name, times in kept[::every]:
            yield f"{prefix}:{name}", times

    return read


AUSPOL_MIN = 50
"""The #auspol cascades the bench reads: 1,642 of the 3,333 have no retweet at all and most
others a handful; one of fewer than 20 (a fifth of the shipped ``velocity_urgent``, where
the early rules start to speak) can never be flagged at the shipped threshold, and each
cascade replayed for 48 h costs about a second. 50 keeps 13 (20 would keep 64)."""

CED_EVERY = 25
"""The CED Weibo cascades the bench reads: every 25th of the 3,387 in file order (136; the
file is sorted by folder and name, so non-rumours and rumours alike). All of them would
take the bench past an hour; 25 (first 20) was chosen for the run time, not the figures."""

SETS: dict[str, tuple[str, Callable[[Path], Iterator[tuple[str, Times]]]]] = {
    "twitter-seismic": ("the SEISMIC example tweet's retweets", _seismic),
    "twitter-smh": ("SMH Twitter retweet cascades (Cas.In)", _smh),
    "bluesky-likes": ("one Bluesky post's likes", _bluesky),
    "weibo-casflow": ("Sina Weibo repost cascades of 1 June 2016 (DeepHawkes sample, via CasFlow)", _derived("weibo_casflow", "weibo")),
    "twitter-tideh": ("tweets of > 2,000 retweets from the SEISMIC set (via TiDeH)", _derived("twitter_tideh", "tideh")),
    "weibo-ced": (f"Sina Weibo reposts and comments of 2010–2017 rumours and non-rumours (CED), every {CED_EVERY}th", _derived("weibo_ced", "ced", every=CED_EVERY)),
    "twitter-auspol": (f"#auspol retweet cascades of ≥ {AUSPOL_MIN} retweets (via evently)", _derived("twitter_auspol", "auspol", AUSPOL_MIN)),
}
"""In load order: the first three are the bench's original 22 cascades, in their old order,
so the calibration folds (alternate cascades in load order) keep them where they were."""


def load_sets(data: Path, only: str | None = None) -> list[CascadeSet]:
    """The sets under ``data`` (a ``fixtures/real`` folder), those named in ``only`` (comma
    separated; default ``$FORECAST_SETS``, else all); a missing one is skipped with a line."""
    wanted = only if only is not None else os.environ.get("FORECAST_SETS", "")
    names = [n.strip() for n in wanted.split(",") if n.strip()] or list(SETS)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown cascade set(s) {', '.join(unknown)}; known: {', '.join(SETS)}")
    out = []
    for name in names:
        what, read = SETS[name]
        try:
            cascades = list(read(data))
        except FileNotFoundError as e:
            print(f"cascade set {name}: skipped, {e.filename or e} is not there")
            continue
        out.append(CascadeSet(name, what, cascades))
    return out


def gains_within(times: Times, window: float, amount: int) -> bool:
    """Do ``amount`` events fall within some ``window`` seconds (the line a poller can at best see crossed)?"""
    return any(times[i + amount - 1] - times[i] <= window for i in range(len(times) - amount + 1))


def describe(sets: list[CascadeSet], window: float, amount: int) -> None:
    """One line per set: cascades, events, and how many ever gain ``amount`` within ``window``."""
    print(f"| set | what | cascades | events | gain {amount} within {window / 60:.0f} min |")
    print("| --- | --- | ---: | ---: | ---: |")
    for s in sets:
        crossing = sum(gains_within(t, window, amount) for _, t in s.cascades)
        print(f"| {s.name} | {s.what} | {len(s.cascades)} | {sum(len(t) for _, t in s.cascades):,} | {crossing} |")
    print()
