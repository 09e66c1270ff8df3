"""``monitor evaluate``: precision, recall and detection delay of the current config on a
labelled set of scenarios."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Fail, load
from .evaluate import evaluate, load_scenarios


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
