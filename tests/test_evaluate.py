"""The labelled detection set: the shipped config must find the crises and stay quiet
about the rest (the CI log prints these numbers: `monitor evaluate`)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli.commands import cli
from monitor.config import load_config
from monitor.tuning.evaluate import evaluate, load_scenarios
from sources import source_kinds

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "eval" / "scenarios.jsonl"


def test_the_shipped_config_meets_precision_and_recall_on_the_labelled_set(tokenizers):
    scores = evaluate(load_config(ROOT / "config.toml", source_kinds()), load_scenarios(SCENARIOS), tokenizers)
    misses = [(o.scenario.name, o.severity) for o in scores.outcomes if not o.correct]
    assert scores.precision >= 0.9 and scores.recall >= 0.95, misses
    assert len(scores.outcomes) >= 25


def test_the_evaluate_command_prints_the_numbers_and_refuses_a_broken_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["-c", str(ROOT / "config.toml"), "evaluate", str(SCENARIOS)])
    assert result.exit_code == 0, result.output
    assert "scenarios: precision" in result.output and "recall" in result.output
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"name": "x"}\n', encoding="utf-8")
    bad = runner.invoke(cli, ["-c", str(ROOT / "config.toml"), "evaluate", str(broken)])
    assert bad.exit_code == 2 and "broken.jsonl:1" in bad.output


def test_every_hot_list_scenario_is_right(tokenizers):
    """The hot-list scenarios (real rank trajectories from the archives, issue 16) one by
    one: a miss among them must not hide inside the overall precision and recall."""
    scenarios = [s for s in load_scenarios(SCENARIOS) if any(p.get("list") for p in s.posts)]
    scores = evaluate(load_config(ROOT / "config.toml", source_kinds()), scenarios, tokenizers)
    assert len(scenarios) >= 5 and [(o.scenario.name, o.severity) for o in scores.outcomes if not o.correct] == []
