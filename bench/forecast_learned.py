"""The learned early warning (issue 17, ``monitor/detect/early.py``): does it keep the pace
rule's warned crossings and lead with fewer false flags, on cascades it was not fitted on?

    .venv/bin/python bench/forecast_learned.py --data ../shared/fixtures/real         # 301 cascades; ~8 min
    .venv/bin/python bench/forecast_learned.py --data ../shared/fixtures/real --fit   # … and print the MODEL and forecast_chance to ship

At every poll where the early rules can speak (as ``assess`` gates them:
``MIN_SHARE · velocity_urgent ≤ velocity < velocity_important``) the shipped
:func:`monitor.detect.early.features` are taken and labelled "the post gains
``velocity_urgent`` within ``velocity_window`` from here". One logistic regression (IRLS, a
little ridge) is fitted on the polls of all three lines (100, 50, 20) together: the
features are ratios to the line, so one fit serves them all, as it must in the daemon.

It warns when the chance reaches a cut (``forecast_chance``) picked on the training
cascades alone, at the shipped line: the highest cut that, at every lead of 0, 5, … 25
minutes, warns of as many crossings at least that far ahead as the pace rule
(``keeps``). "Leads at least as early" is read as these counts, not as a median: the
median lead moves in 5-minute steps with one crossing, and a rule warning of more
crossings, the extra ones late, shows a lower median even where it warns of more
crossings at every lead.

Two splits, each fitted on one part and scored (``bench.forecast.replay``) on the other:

* **fold**: alternate cascades (``bench.forecast.fold_of``), both ways round: new posts from
  the same platforms;
* **platform**: fitted on the Weibo sets, scored on the Twitter and Bluesky ones, and the
  other way round: a platform the model has never seen.

The forecast's bounds use the shipped ``CALIBRATION`` (0.63, fitted on all 301 cascades;
the folds' own fits are 0.62 and 0.63). Crossings are counted per poll phase (5 per
cascade), so the 745 crossings at 100 are about 150 cascades.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.forecast import EPOCH, PHASES, TRIGGER_HEADER, Cascade, Decide, Trigger, arguments, at_threshold, cascades_from, early, fold_of, polls, replay, trigger_row
from monitor.config import ScoringConfig
from monitor.detect import early as warning
from monitor.detect import forecast as fc
from monitor.detect.scoring import MIN_SHARE, Outlook, Reading, project, velocity

RIDGE = 1e-2
LINES = (100, 50, 20)

Key = tuple[int, datetime, int]
"""(cascade index, its first poll's time — the phase —, number of readings seen): one poll."""
Crossing = tuple[int, datetime]
"""(cascade index, phase): one replayed crossing."""


@dataclass
class Poll:
    index: int
    line: int
    features: list[float]
    label: bool
    """Does the post gain the line within the window from here?"""
    pace: bool
    shipped: bool
    crossing: Crossing | None
    """The crossing that follows within the window, if one does."""
    minutes_to_crossing: float


@dataclass
class Table:
    polls: dict[Key, Poll] = field(default_factory=dict)


def weibo(cascade: Cascade) -> bool:
    return cascade.name.startswith(("weibo:", "ced:"))


def gathered(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig) -> dict[int, Table]:
    """Every poll in each line's early band, with its features and what followed. The
    forecast is fitted once per poll and shared by the lines; the walk is ``replay``'s
    (polls up to the crossing)."""
    window, until = scoring.velocity_window, scoring.track_for.total_seconds()
    ahead = fc.window_ahead(window)
    tables = {u: Table() for u in LINES}
    steps = int(window.total_seconds() // every) + 2
    for index, cascade in enumerate(cascades):
        for k in range(PHASES):
            readings = polls(cascade, every * (k + 1) / PHASES, every, until)
            start = readings[0].at
            vs = [velocity(readings[max(0, i + 1 - steps) : i + 1], EPOCH, r.at, window) for i, r in enumerate(readings)]
            crossed = {u: next((readings[i].at for i, v in enumerate(vs) if v >= u), None) for u in LINES}
            for i, reading in enumerate(readings):
                v, now = vs[i], reading.at
                open_ = [u for u in LINES if _before(crossed[u], now)]
                if not open_:
                    break  # replay stops at the crossing
                todo = [u for u in open_ if MIN_SHARE * u <= v < at_threshold(scoring, u).velocity_important]
                if not todo:
                    continue
                seen = readings[: i + 1]
                made = fc.forecasts(seen, EPOCH, now, ahead, confidence=scoring.forecast_confidence)
                projection = project(seen, now, window)
                for u in todo:
                    got = fc.outlook_of(seen, EPOCH, now, window, u, made)
                    assert got is not None
                    crossing = crossed[u]
                    label = crossing is not None and crossing - window <= now
                    scoring_u = at_threshold(scoring, u)
                    tables[u].polls[(index, start, i + 1)] = Poll(
                        index,
                        u,
                        warning.features(seen, EPOCH, now, window, u, v, projection, got),
                        label,
                        pace=early(seen, now, v, scoring_u, None),
                        shipped=early(seen, now, v, scoring_u, _fixed(got)),
                        crossing=(index, start) if label else None,
                        minutes_to_crossing=(crossing - now).total_seconds() / 60 if crossing is not None and label else 0.0,
                    )
    return tables


def _before(crossing: datetime | None, now: datetime) -> bool:
    return crossing is None or now < crossing


def _fixed(got: Outlook) -> Callable[[], Outlook | None]:
    return lambda: got


# --- the regression --------------------------------------------------------------------------


def fit(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, rounds: int = 50) -> tuple[float, np.ndarray]:
    """(intercept, weights) in raw units, by iteratively reweighted least squares on
    standardised features with the intercept unpenalised."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    a = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(a.shape[1])
    penalty = np.eye(a.shape[1]) * ridge * len(x)
    penalty[0, 0] = 0.0
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-np.clip(a @ w, -30, 30)))
        s = np.maximum(p * (1 - p), 1e-9)
        step = np.linalg.solve(a.T @ (a * s[:, None]) + penalty, a.T @ (y - p) - penalty @ w)
        w = w + step
        if np.max(np.abs(step)) < 1e-8:
            break
    raw = w[1:] / scale
    return float(w[0] - raw @ mean), raw


def chances(x: np.ndarray, intercept: float, weights: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(intercept + x @ weights, -30, 30)))


# --- picking the cut ----------------------------------------------------------------------------


def leads(table: Table, keys: Sequence[Key], flagged: Callable[[Key], bool]) -> dict[Crossing, float]:
    """Each crossing among ``keys``' polls warned of: minutes from its first flag in the
    window before it (``replay``'s lead)."""
    out: dict[Crossing, float] = {}
    for key in keys:
        poll = table.polls[key]
        if poll.crossing is not None and flagged(key):
            out[poll.crossing] = max(out.get(poll.crossing, 0.0), poll.minutes_to_crossing)
    return out


LEADS = (0, 5, 10, 15, 20, 25)
"""Minutes ahead at which warned crossings are counted for "leads at least as early"."""
CUTS = tuple(k / 100 for k in range(99, 0, -1))
"""The chances a cut is picked from (``forecast_chance`` is set in hundredths)."""


def keeps(rule: dict[Crossing, float], pace: dict[Crossing, float]) -> bool:
    """Issue 17's bar for warnings, read as counts so a 5-minute poll's quantised median
    cannot decide it: at every lead of :data:`LEADS` (0 is "warned at all"), as many
    crossings warned at least that far ahead as the pace rule."""
    return all(sum(m >= lead for m in rule.values()) >= sum(m >= lead for m in pace.values()) for lead in LEADS)


def cut_keeping(table: Table, keys: Sequence[Key], score: Callable[[Key], float]) -> float | None:
    """The highest cut of :data:`CUTS` that :func:`keeps` the pace rule's warnings on
    ``keys`` (the training polls at the shipped line); None when none does, or when the
    pace rule warns of no crossing there. The highest, since every lower cut adds false
    flags."""
    pace = leads(table, keys, _pace_of(table))
    if not pace:
        return None  # nothing to keep: any cut would do, and the highest would warn of nothing
    crossing_polls = [k for k in keys if table.polls[k].crossing is not None]
    for cut in CUTS:
        if keeps(leads(table, crossing_polls, _reaching(score, cut)), pace):
            return cut
    return None


# --- scoring with replay -------------------------------------------------------------------------


def decide_by(table: Table, flag: Callable[[Key, Poll], bool]) -> Decide:
    """A rule for ``replay`` from the table: outside the early band nothing is raised."""

    def decide(index: int, seen: Sequence[Reading], now: datetime, v: int) -> bool:
        key = (index, seen[0].at, len(seen))
        poll = table.polls.get(key)
        return poll is not None and flag(key, poll)

    return decide


def part(cascades: Sequence[Cascade], chosen: set[int], decide: Decide) -> tuple[list[Cascade], Decide]:
    """The cascades of ``chosen`` and ``decide`` with their indices mapped back."""
    order = sorted(chosen)
    return [cascades[i] for i in order], lambda index, seen, now, v: decide(order[index], seen, now, v)


@dataclass
class Split:
    name: str
    parts: list[set[int]]
    """Each part is scored by the model fitted on the others."""


def splits(cascades: Sequence[Cascade]) -> list[Split]:
    every = range(len(cascades))
    return [
        Split("fold (alternate cascades)", [{i for i in every if fold_of(i) == f} for f in (0, 1)]),
        Split("platform (Weibo ↔ Twitter and Bluesky)", [{i for i in every if weibo(cascades[i])}, {i for i in every if not weibo(cascades[i])}]),
    ]


def held_out(cascades: Sequence[Cascade], every: float, scoring: ScoringConfig, tables: dict[int, Table], split: Split) -> None:
    """Fit on all parts but one, pick the cut there (at the shipped line), score that one;
    each rule's rows summed over the parts."""
    shipped = scoring.velocity_urgent
    rows: dict[str, dict[int, Trigger]] = {}
    notes = []
    for held in split.parts:
        train = {u: [k for k, p in tables[u].polls.items() if p.index not in held] for u in LINES}
        x = np.array([tables[u].polls[k].features for u in LINES for k in train[u]])
        y = np.array([tables[u].polls[k].label for u in LINES for k in train[u]], dtype=float)
        if not len(x) or y.min() == y.max():
            notes.append(f"a part of {len(held)} cascades: nothing to fit on without it, skipped")
            continue
        score = scores(tables, *fit(x, y))
        cut = cut_keeping(tables[shipped], train[shipped], _of_line(score, shipped))
        notes.append(f"part of {len(held)} cascades held out: cut {cut} picked on the other {len(cascades) - len(held)}")
        for u in LINES:
            table = tables[u]
            rules: dict[str, Callable[[Key, Poll], bool]] = {"pace rule": lambda k, p: p.pace, "forecast interval rule": lambda k, p: p.shipped}
            if cut is not None:
                rules["learned chance ≥ cut (held out)"] = _by_key(_at_least(score, u, cut))
            for label, flag in rules.items():
                cs, decide = part(cascades, held, decide_by(table, flag))
                merge(rows.setdefault(label, {}).setdefault(u, Trigger()), replay(cs, every, at_threshold(scoring, u), decide))
    print(f"Held out, split by {split.name}\n")
    print(TRIGGER_HEADER)
    for u in LINES:
        for label, by_line in rows.items():
            print(trigger_row(u, label, by_line[u]))
    print()
    for u in LINES:
        for label, by_line in rows.items():
            print(f"velocity_urgent {u}, {label}: crossings warned at least " + ", ".join(f"{lead} min ahead {sum(m >= lead for m in by_line[u].leads)}" for lead in LEADS[1:]))
    for note in notes:
        print(note)
    print()


def scores(tables: dict[int, Table], intercept: float, weights: np.ndarray) -> dict[tuple[int, Key], float]:
    """The chance at every poll of every line."""
    every_poll = [(u, k) for u in LINES for k in tables[u].polls]
    got = chances(np.array([tables[u].polls[k].features for u, k in every_poll]), intercept, weights)
    return dict(zip(every_poll, got.tolist(), strict=True))


def _reaching(score: Callable[[Key], float], cut: float) -> Callable[[Key], bool]:
    return lambda k: score(k) >= cut


def _of_line(score: dict[tuple[int, Key], float], line: int) -> Callable[[Key], float]:
    return lambda k: score[(line, k)]


def _pace_of(table: Table) -> Callable[[Key], bool]:
    return lambda k: table.polls[k].pace


def _at_least(score: dict[tuple[int, Key], float], line: int, cut: float) -> Callable[[Key], bool]:
    return lambda k: score[(line, k)] >= cut


def _by_key(flag: Callable[[Key], bool]) -> Callable[[Key, Poll], bool]:
    return lambda k, p: flag(k)


def merge(into: Trigger, other: Trigger) -> None:
    into.flagged_true += other.flagged_true
    into.flagged_false += other.flagged_false
    into.crossings += other.crossings
    into.warned += other.warned
    into.leads.extend(other.leads)
    into.flag_polls += other.flag_polls
    into.flag_polls_true += other.flag_polls_true


TRADE_OFF = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7)


def fit_all(tables: dict[int, Table], scoring: ScoringConfig) -> None:
    """The model to ship: fitted on every poll, the cut picked on them all, printed as the
    literal ``monitor/detect/early.py`` holds and the ``forecast_chance`` to ship; then what
    other cuts would give (in-sample, counted from the polls as ``replay`` counts them)."""
    every_poll = [(u, k) for u in LINES for k in tables[u].polls]
    x = np.array([tables[u].polls[k].features for u, k in every_poll])
    y = np.array([tables[u].polls[k].label for u, k in every_poll], dtype=float)
    intercept, weights = fit(x, y)
    score = scores(tables, intercept, weights)
    shipped = scoring.velocity_urgent
    cut = cut_keeping(tables[shipped], list(tables[shipped].polls), _of_line(score, shipped))
    print(f"Fitted on all {len(x):,} polls ({int(y.sum()):,} followed by a crossing):\n")
    print("MODEL = Model(")
    print(f"    intercept={intercept:.4f},")
    print(f"    weights=({', '.join(f'{w:.4f}' for w in weights)}),")
    print(")")
    for name, w in zip(warning.FEATURES, weights, strict=True):
        print(f"#   {name}: {w:+.3f}")
    print(f"forecast_chance = {cut}   # the highest cut keeping the pace rule's warnings at every lead, at velocity_urgent {shipped}\n")
    print("In-sample, what each cut gives (crossings warned / cascades flagged falsely / warned ≥ 15 min ahead):\n")
    print("| velocity_urgent | pace rule | " + " | ".join(f"chance ≥ {c}" for c in TRADE_OFF) + " |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in TRADE_OFF) + " |")
    for u in LINES:
        table, keys = tables[u], list(tables[u].polls)
        cells = [counted(table, keys, _pace_of(table))] + [counted(table, keys, _at_least(score, u, c)) for c in TRADE_OFF]
        print(f"| {u} | " + " | ".join(cells) + " |")


def counted(table: Table, keys: Sequence[Key], flagged: Callable[[Key], bool]) -> str:
    """"warned / false / ahead" from the polls: a poll phase flagged with no crossing after
    any of its flags is a false flag, as in ``replay``."""
    warned = leads(table, keys, flagged)
    sequences: dict[Crossing, bool] = {}
    for k in keys:
        if flagged(k):
            poll = table.polls[k]
            sequences[(poll.index, k[1])] = sequences.get((poll.index, k[1]), False) or poll.crossing is not None
    false = sum(not crossed for crossed in sequences.values())
    return f"{len(warned)} / {false} / {sum(m >= 15 for m in warned.values())}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = arguments(__doc__ or "")
    parser.add_argument("--fit", action="store_true", help="also fit on all cascades and print the MODEL literal to ship")
    args = parser.parse_args(argv)
    cascades = cascades_from(args.data)
    if cascades is None:
        return 0
    scoring = ScoringConfig()
    tables = gathered(cascades, args.every, scoring)
    for split in splits(cascades):
        held_out(cascades, args.every, scoring, tables, split)
    if args.fit:
        fit_all(tables, scoring)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
