"""``monitor evaluate`` and ``monitor replay``: how a config would detect, on labelled
scenarios and on the stored history, before it goes live."""

from __future__ import annotations

import json
from datetime import tzinfo
from pathlib import Path

import click

from monitor.cli.common import Fail, load, open_engine
from monitor.clock import utcnow
from monitor.config import Config
from monitor.durations import parse_duration
from monitor.storage.db import read_session_factory
from monitor.tuning.evaluate import evaluate, load_scenarios
from monitor.tuning.postfile import load_posts
from monitor.tuning.replay import Would, replay, replay_posts


@click.command("evaluate")
@click.argument("scenarios", type=click.Path(exists=True, dir_okay=False), default="tests/eval/scenarios.jsonl")
@click.option("--verbose", "-v", "each", is_flag=True, help="One line per scenario.")
@click.pass_context
def evaluate_command(ctx: click.Context, scenarios: str, each: bool) -> None:
    """Replay labelled scenarios through the pipeline; print precision, recall and delay / 评估检测效果."""
    config = load(ctx)
    try:
        cases = load_scenarios(Path(scenarios))
    except ValueError as exc:
        raise Fail(str(exc), code=2) from None
    scores = evaluate(config, cases)
    for outcome in scores.outcomes:
        if each or not outcome.correct:
            mark = "ok  " if outcome.correct else "MISS"
            got = outcome.severity.name if outcome.severity else "no ticket"
            want = outcome.scenario.expect.name if outcome.scenario.expect else "no ticket"
            click.echo(f"  {mark} {outcome.scenario.name}: expected {want}, got {got}")
    delay = scores.median_delay
    click.echo(
        f"{len(scores.outcomes)} scenarios: precision {scores.precision:.2f}, recall {scores.recall:.2f}, "
        f"median detection delay {delay.total_seconds() / 60:.1f} min" if delay is not None else
        f"{len(scores.outcomes)} scenarios: precision {scores.precision:.2f}, recall {scores.recall:.2f}"
    )


@click.command("replay")
@click.option("--since", "since_text", default="7d", show_default=True, help="How far back to replay.")
@click.option("--all", "show_all", is_flag=True, help="Also list the issues where nothing would change.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per issue.")
@click.option("--posts", "posts_file", type=click.Path(exists=True, dir_okay=False), help="Score the posts of this JSON Lines file instead of the stored ones.")
@click.pass_context
def replay_command(ctx: click.Context, since_text: str, show_all: bool, as_json: bool, posts_file: str | None) -> None:
    """Re-score stored posts with this config (-c candidate.toml) and show which tickets it
    would have raised, and the difference from what was raised; sends nothing / 回放."""
    try:
        span = parse_duration(since_text)
    except ValueError as exc:
        raise Fail(f"--since: {exc} / 时长无效", code=2) from None
    config = load(ctx)
    if posts_file is not None:
        _replay_file(config.monitor.timezone, config, Path(posts_file), as_json)
        return
    engine = open_engine(config)
    until = utcnow()
    try:
        with read_session_factory(engine)() as session:
            diffs = replay(session, config, until - span, until)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([
            {"brand": d.brand, "issue": d.issue, "change": d.change,
             "live": None if d.live is None else {"severity": d.live.severity, "opened_at": d.live.opened_at.isoformat(), "title": d.live.title},
             "candidate": None if d.candidate is None else {"severity": d.candidate.severity, "opened_at": d.candidate.opened_at.isoformat(), "title": d.candidate.title}}
            for d in diffs
        ], ensure_ascii=False, indent=2))
        return
    tz = config.monitor.timezone
    labels = {"new": "+ would raise / 新增", "gone": "- would not raise / 不再触发", "severity": "~ severity / 级别变化", "same": "= same / 相同"}
    changed = [d for d in diffs if d.change != "same"]
    for d in diffs if show_all else changed:
        side = d.candidate or d.live
        assert side is not None
        when = side.opened_at.astimezone(tz).strftime("%m-%d %H:%M")
        sev = f"{d.live.severity if d.live else '–'} → {d.candidate.severity if d.candidate else '–'}"
        click.echo(f"  {labels[d.change]:<28} {when}  {sev:<22} {d.brand}: {side.title}")
    click.echo(f"{len(diffs)} issue(s) in the last {since_text}; {len(changed)} would change / 项变化")


def _replay_file(tz: tzinfo, config: Config, path: Path, as_json: bool) -> None:
    """``replay --posts``: the tickets the config would raise from a file of posts; the live
    database is not opened."""
    try:
        moments = load_posts(path, tz)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Fail(f"{exc} / 帖子文件格式错误", code=2) from None
    would = replay_posts(config, moments)
    if as_json:
        click.echo(json.dumps([_would_json(w) for w in would], ensure_ascii=False, indent=2))
        return
    for w in would:
        when = w.opened_at.astimezone(tz).strftime("%m-%d %H:%M")
        click.echo(f"  + {when}  {w.severity:<9} {w.brand}: {w.title}  ({w.posts} post(s), {w.issue})")
        for reason in w.reasons:
            click.echo(f"        {reason}")
    posts = len({(p.platform, p.id) for seen in moments.values() for _, p in seen})
    click.echo(f"{posts} post(s) from {path.name}: {len(would)} ticket(s) would be raised / 将触发工单")


def _would_json(w: Would) -> dict[str, object]:
    return {"brand": w.brand, "issue": w.issue, "severity": w.severity, "opened_at": w.opened_at.isoformat(), "title": w.title,
            "post_count": w.posts, "reasons": list(w.reasons)}
