"""A third-party source kind, installed as a distribution with an entry point, is found
and polled like the built-in ones (the example of docs/writing-a-source-kind.md, verbatim)."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

from monitor.tickets.actions import list_tickets
from sources import source_kinds
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]
# the README and docs/*.md, wherever the example lives
README = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _readme_block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", README, re.S)
    assert match, f"README.md and docs/*.md have no block after <!-- {marker} -->"
    return match.group(1)


def test_readme_plugin_example_installs_and_polls(tmp_path, monkeypatch, make_app):
    site = tmp_path / "site"
    (site / "acme_board").mkdir(parents=True)
    (site / "acme_board" / "__init__.py").write_text(_readme_block("plugin-module"), encoding="utf-8")
    dist = site / "acme_board-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-board\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(_readme_block("plugin-entry-points"), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))

    assert "acme-board" in source_kinds()

    config = write_config(tmp_path, textwrap.dedent(_readme_block("plugin-config")))
    app = make_app(config)
    report = app.poll("complaints-board")
    assert report is not None and report.mentions == 1
    with app.sessions() as s:
        [ticket] = list_tickets(s)
    assert ticket.severity == "urgent" and ticket.categories == ["safety"]
    sys.modules.pop("acme_board", None)
