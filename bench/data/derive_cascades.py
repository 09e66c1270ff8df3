"""Derive the forecast bench's extra cascade sets from the public repositories that hold them.

    python3 bench/data/derive_cascades.py --mirrors /work/.mirror --out OUT

Each set becomes ``OUT/cascades/<name>/events.csv.gz``: one row per counted event,
``cascade,seconds`` (the cascade's id in its source, seconds after the post was created),
rows in source order of cascades and sorted by time within one. The post itself is not an
event (a repost counter starts at 0). Nothing is sampled: every cascade of each source file
is kept, so the bench decides what it reads. Why a derived file and not the source: the
sources are an R binary (needs PyPI ``rdata``), a hundred files, and a DeepHawkes-format
text whose per-event paths carry user ids the bench has no use for; one flat format keeps
the bench's reader to a few lines.

Sources (repository @ commit, path, licence; see bench/data/cascades/PROVENANCE.md):

* ``weibo_casflow``: Xovee/casflow @ 10950aeb, ``dataset/sample/dataset.txt`` (MIT): 30 Sina
  Weibo repost cascades of 1 June 2016, a sample of the DeepHawkes Weibo set (Cao et al.,
  CIKM 2017). Line format ``id<TAB>user<TAB>published<TAB>count<TAB>paths``, each path
  ``root/…/user:seconds``; the first path is the post itself (``root:0``).
* ``twitter_tideh``: NII-Kobayashi/TiDeH @ 23bc22f8, ``data/training/RT{1..100}.txt`` (MIT):
  100 tweets with more than 2,000 retweets from the SEISMIC data set (Zhao et al., KDD
  2015). First line ``<retweets> <start day>``, then ``<seconds> <followers>``, the first of
  which is the tweet itself.
* ``twitter_auspol``: behavioral-ds/evently @ d3e6a693, ``data/auspol.rda`` (CC BY-NC 4.0):
  3,333 retweet cascades of tweets tagged #auspol; an R list of data frames
  ``time, magnitude, user`` whose first row (time 0) is the tweet itself.
* ``weibo_ced``: thunlp/Chinese_Rumor_Dataset @ c1178d8c, ``CED_Dataset/`` (no licence
  stated; cite Song et al. 2018): 3,387 Weibo posts with their reposts and comments, each
  dated to the second in Beijing time.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

Cascade = tuple[str, list[float]]

SOURCES = {
    "weibo_casflow": ("Xovee+casflow/repo", "10950aeb0fb71588aa0ab72cf48dc02fd929fb14"),
    "twitter_tideh": ("NII-Kobayashi+TiDeH/repo", "23bc22f83925d06149933d715127d17819a62012"),
    "twitter_auspol": ("behavioral-ds+evently/repo", "d3e6a6935e6721208d98cd7cd6ce492d34a0833c"),
    "weibo_ced": ("thunlp+Chinese_Rumor_Dataset/repo", "c1178d8cfd4c245c296889a51fc252b17c9037c5"),
}


def show(git_dir: Path, commit: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(git_dir), "show", f"{commit}:{path}"], check=True, capture_output=True).stdout


def listing(git_dir: Path, commit: str, folder: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(git_dir), "ls-tree", "--name-only", f"{commit}:{folder}"], check=True, capture_output=True, text=True).stdout
    return out.split()


def weibo_casflow(git_dir: Path, commit: str) -> Iterator[Cascade]:
    for line in show(git_dir, commit, "dataset/sample/dataset.txt").decode().splitlines():
        if not line.strip():
            continue
        cascade_id, _user, _published, count, paths = line.split("\t")
        entries = paths.split()
        times = sorted(float(entry.rsplit(":", 1)[1]) for entry in entries[1:])  # entries[0] is the post itself
        assert len(times) + 1 == int(count), (cascade_id, len(times), count)
        yield cascade_id, times


def twitter_tideh(git_dir: Path, commit: str) -> Iterator[Cascade]:
    names = [n for n in listing(git_dir, commit, "data/training") if n.startswith("RT") and n.endswith(".txt")]
    for name in sorted(names, key=lambda n: int(n[2:-4])):
        lines = show(git_dir, commit, f"data/training/{name}").decode().split("\n")
        declared = int(lines[0].split()[0])
        rows = [float(line.split()[0]) for line in lines[1:] if line.strip()]
        assert rows[0] == 0, name  # the tweet itself
        times = sorted(rows[1:])
        assert len(times) == declared, (name, len(times), declared)
        yield name[:-4], times


def twitter_auspol(git_dir: Path, commit: str) -> Iterator[Cascade]:
    import rdata  # PyPI rdata: only this set needs it

    with tempfile.NamedTemporaryFile(suffix=".rda") as f:
        f.write(show(git_dir, commit, "data/auspol.rda"))
        f.flush()
        frames = rdata.conversion.convert(rdata.parser.parse_file(f.name))["auspol"]
    for index, frame in enumerate(frames, start=1):
        rows = [float(t) for t in frame["time"]]
        assert rows[0] == 0, index  # the tweet itself
        yield str(index), sorted(rows[1:])


BEIJING = timezone(timedelta(hours=8))
"""CED's repost dates are Beijing wall-clock times (with it, the median first repost lands a
minute after its post; a wrong zone would put it 8 hours off)."""


def _posted(value: object) -> float:
    """A CED post's ``time``: unix seconds, as a number or a string, or Weibo's API form
    ``Sat Jun 29 12:40:09 +0800 2013`` (87 of 3,387 posts)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except ValueError:
        return datetime.strptime(str(value), "%a %b %d %H:%M:%S %z %Y").timestamp()


def weibo_ced(git_dir: Path, commit: str) -> Iterator[Cascade]:
    """Every post of CED_Dataset with its reposts and comments (the data set does not tell
    them apart). Events dated in another form (``01月22日 17:09``: no year, whole minutes;
    74 of 1.28 million) or before their post (2) are dropped, and counted on stderr."""
    folders = ("CED_Dataset/rumor-repost", "CED_Dataset/non-rumor-repost")
    names = sorted(f"{folder}/{n}" for folder in folders for n in listing(git_dir, commit, folder) if n.endswith(".json") and not n.startswith("."))
    undated = early = 0
    with subprocess.Popen(["git", "-C", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as batch:
        assert batch.stdin is not None and batch.stdout is not None

        def cat(path: str) -> bytes:
            assert batch.stdin is not None and batch.stdout is not None
            batch.stdin.write(f"{commit}:{path}\n".encode())
            batch.stdin.flush()
            size = int(batch.stdout.readline().split()[2])
            body = batch.stdout.read(size)
            batch.stdout.readline()
            return body

        for path in names:
            stem = path.rsplit("/", 1)[1]
            posted = _posted(json.loads(cat(f"CED_Dataset/original-microblog/{stem}"))["time"])
            times = []
            for event in json.loads(cat(path)):
                try:
                    at = datetime.strptime(event["date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp() - posted
                except ValueError:
                    undated += 1
                    continue
                if at < 0:
                    early += 1
                    continue
                times.append(at)
            yield stem[: -len(".json")], sorted(times)
        batch.stdin.close()
    print(f"weibo_ced: dropped {undated} events dated in another form, {early} dated before their post", file=sys.stderr)


READERS = {"weibo_casflow": weibo_casflow, "twitter_tideh": twitter_tideh, "twitter_auspol": twitter_auspol, "weibo_ced": weibo_ced}


def seconds(value: float) -> str:
    """Whole seconds as integers; finer times to the millisecond (what the sources resolve)."""
    return str(int(value)) if value == int(value) else f"{value:.3f}".rstrip("0")


def write(path: Path, cascades: Iterator[Cascade]) -> tuple[int, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["cascade", "seconds"])
    n_cascades = n_events = 0
    for cascade_id, times in cascades:
        n_cascades += 1
        n_events += len(times)
        out.writerows((cascade_id, seconds(t)) for t in times)
    # mtime 0: the same input gives the same bytes
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buffer.getvalue().encode())
    return n_cascades, n_events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"), help="folder of the fetched repositories' git directories")
    parser.add_argument("--out", type=Path, required=True, help="the fixtures/real folder to write cascades/<name>/ under")
    args = parser.parse_args()
    for name, (repo, commit) in SOURCES.items():
        target = args.out / "cascades" / name / "events.csv.gz"
        n_cascades, n_events = write(target, READERS[name](args.mirrors / repo, commit))
        print(f"{name}: {n_cascades} cascades, {n_events} events -> {target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
