"""The forecast bench's cascade sets: the derived ``events.csv.gz`` reads back as the source's
cascades, and a damaged file says which line is wrong instead of skewing the figures."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.cascade_sets import SETS, gains_within, load_sets, read_events

REAL = Path(__file__).resolve().parents[1].parent / "shared/fixtures/real"


def _write(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    return path


def test_the_weibo_sample_reads_back_as_its_thirty_cascades() -> None:
    path = REAL / "cascades/weibo_casflow/events.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} is not there (see bench/data/cascades/PROVENANCE.md)")
    cascades = read_events(path)
    # Xovee/casflow dataset/sample/dataset.txt: 30 lines, their declared counts less the posts themselves
    assert len(cascades) == 30 and sum(len(t) for _, t in cascades) == 7117
    assert cascades[0][0] == "14709" and len(cascades[0][1]) == 22 and cascades[0][1][:3] == (481, 501, 653)
    assert all(list(t) == sorted(t) for _, t in cascades)
    assert sum(gains_within(t, 1800, 100) for _, t in cascades) == 6


def test_a_missing_set_is_skipped_with_a_line_and_the_others_still_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "cascades/weibo_casflow"
    folder.mkdir(parents=True)
    _write(folder / "events.csv.gz", "cascade,seconds\n7,30\n7,12\n8,5\n")
    [got] = load_sets(tmp_path, "weibo-casflow,twitter-tideh")
    assert got.name == "weibo-casflow" and got.cascades == [("weibo:7", (12.0, 30.0)), ("weibo:8", (5.0,))]
    [line] = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("cascade set twitter-tideh: skipped") and "twitter_tideh/events.csv.gz" in line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("time,id\n1,2\n", "header"),
        ("cascade,seconds\n1,5\n1\n", ":3: expected"),
        ("cascade,seconds\n1,five\n", ":2: seconds 'five' is not a number"),
        ("cascade,seconds\n1,-3\n", ":2: seconds '-3' is not a time after the post"),
        ("cascade,seconds\n1,nan\n", ":2: seconds 'nan'"),
        ("cascade,seconds\n1,inf\n", ":2: seconds 'inf'"),
    ],
)
def test_a_damaged_events_file_names_the_line(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        read_events(_write(tmp_path / "events.csv.gz", text))


def test_an_unknown_set_name_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown cascade set.*weibo-casflow"):
        load_sets(tmp_path, "weibo")
    assert list(SETS)[:3] == ["twitter-seismic", "twitter-smh", "bluesky-likes"]  # the original 22 first: the calibration folds keep them


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.from_regex(r"[0-9a-z]{1,6}", fullmatch=True), st.lists(st.integers(0, 10**7), min_size=1, max_size=20), max_size=8))
def test_any_cascades_written_as_rows_read_back_sorted_and_in_first_seen_order(tmp_path_factory: pytest.TempPathFactory, cascades: dict[str, list[int]]) -> None:
    rows = "".join(f"{name},{t}\n" for name, times in cascades.items() for t in times)
    path = _write(tmp_path_factory.mktemp("events") / "events.csv.gz", "cascade,seconds\n" + rows)
    assert read_events(path) == [(name, tuple(float(t) for t in sorted(times))) for name, times in cascades.items()]


def test_gains_within_counts_events_in_any_window_not_only_from_the_post() -> None:
    late_burst = (10.0, 5000.0, 5100.0, 5200.0)
    assert gains_within(late_burst, 200, 3) and not gains_within(late_burst, 199, 3) and not gains_within(late_burst[:2], 10**6, 3)
