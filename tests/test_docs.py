"""The docs cannot drift: every config key, source option and CLI command is documented in
README.md or docs/*.md."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import click

from monitor.cli.commands import cli
from monitor.config.reference import tables
from sources import source_kinds

ROOT = Path(__file__).resolve().parents[1]
# what a reader has: the README and the reference it points to
README = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _documented(key: str) -> bool:
    # a key (`every`) or a table heading that ends in it (`[[alerts.routes]]`)
    return re.search(rf"`(\[+([\w.]*\.)?)?{re.escape(key)}(\]+)?`", README) is not None


def test_every_config_key_is_documented():
    # the keys come from the models that check config.toml (docs/configuration-reference.md is
    # generated from them), not from a hand-kept list
    keys = {key for _, model in tables() for key in model.keys()}
    for kind in source_kinds().values():
        keys.update(kind.options)
    missing = sorted(k for k in keys if not _documented(k))
    assert missing == []


def test_every_key_in_the_shipped_config_is_documented():
    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    seen: set[str] = set()

    def walk(value, top=False):
        if isinstance(value, dict):
            for k, v in value.items():
                if not (top and k == "crisis"):
                    seen.add(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for section, value in shipped.items():
        if section == "people":  # its keys are people's names, not settings
            seen.add(section)
            continue
        if section == "crisis":
            for cat in value.values():
                walk(cat)
        else:
            walk(value)
    seen -= {"urgent", "important", "normal"}
    assert sorted(k for k in seen if not _documented(k)) == []


def test_every_cli_command_is_documented():
    def commands(group: click.Group, prefix: str = "monitor"):
        for name, cmd in group.commands.items():
            yield f"{prefix} {name}"
            if isinstance(cmd, click.Group):
                yield from commands(cmd, f"{prefix} {name}")

    for command in commands(cli):
        words = command.split()
        assert re.search(r"monitor( -c config\.toml)? " + re.escape(" ".join(words[1:])), README), command
