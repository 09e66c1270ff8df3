"""docs/configuration-reference.md cannot drift from the models that check config.toml.

(a) The committed file is exactly what ``python -m monitor.config.reference`` prints.
(b) Every key the models accept appears in it, under its table: found by walking the
    models here, independently of the renderer, so a renderer that skipped a table or a
    key would fail this even when (a) passes.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

from monitor.config import ConfigFile
from monitor.config.fields import Section
from monitor.config.reference import builtin_kinds, render

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "configuration-reference.md"
REGENERATE = "python -m monitor.config.reference > docs/configuration-reference.md"


def model_keys(model: type[Section] = ConfigFile, table: str = "") -> set[tuple[str, str]]:
    """(table heading, key) for every key a model accepts, following nested tables."""
    found = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        found.add((table, key))
        annotation = info.annotation
        shape = "["
        for _ in range(4):  # unwrap Optional / Annotated / tuple[...] / dict[str, ...]
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            if origin is typing.Annotated:
                annotation = args[0]
            elif origin in (typing.Union, __import__("types").UnionType):
                annotation = next(a for a in args if a is not type(None))
            elif origin is tuple:
                annotation, shape = args[0], "[["
            elif origin is dict:
                annotation, shape = args[1], "[<>"
        if isinstance(annotation, type) and issubclass(annotation, Section):
            inner = table.strip("[]") + "." + key if table else key
            if shape == "[<>":
                heading = f"[{inner}.<{'category' if key in ('crisis', 'playbooks') else 'name'}>]"
            else:
                heading = f"{shape}{inner}{shape.replace('[', ']')}"
            found |= model_keys(annotation, heading)
    return found


def documented(text: str) -> set[tuple[str, str]]:
    """(heading, key) for every table row of the reference; kinds' options under ``kind = "x"``."""
    rows = set()
    heading = ""
    for line in text.splitlines():
        title = re.match(r"^##+ `(.*)`$", line)
        if title:
            heading = title[1]
        elif line.startswith("## "):
            heading = ""
        row = re.match(r"^\| `([^`]+)` \|", line)
        if row:
            rows.add((heading, row[1]))
    return rows


def test_committed_reference_is_what_the_models_generate() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), f"regenerate it: {REGENERATE}"


def test_every_key_the_models_accept_is_in_the_reference() -> None:
    rows = documented(REFERENCE.read_text(encoding="utf-8"))
    keys = model_keys()
    for kind, cls in builtin_kinds().items():
        keys |= {(f'kind = "{kind}"', option) for option in cls.options}
    assert len(keys) > 120  # the walk found the tables, not just the top level
    assert sorted(keys - rows) == []


def test_a_key_left_out_of_the_reference_is_noticed() -> None:
    text = render().replace("| `storm_window` |", "| storm_window |")
    assert model_keys() - documented(text) == {("[scoring]", "storm_window")}
