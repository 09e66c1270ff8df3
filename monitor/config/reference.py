"""Every config key as Markdown, read from the models: ``docs/configuration-reference.md``.

    python -m monitor.config.reference > docs/configuration-reference.md

tests/test_config_reference.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import time, timedelta
from enum import Enum
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from monitor.config.fields import Section, Shown
from monitor.config.load import ConfigFile
from monitor.durations import format_duration
from sources import Source, source_kinds

PLACEHOLDER = {"crisis": "<category>", "playbooks": "<category>", "chat": "<name>"}

INTRO = """\
# Configuration reference

<!-- Generated from the models in monitor/config/ by
     python -m monitor.config.reference > docs/configuration-reference.md
     Do not edit by hand: tests/test_config_reference.py compares the two. -->

Every key `config.toml` accepts, table by table. Durations are strings like `"90s"`,
`"2m"`, `"12h"`, `"7d"`. Unknown keys are errors. Secrets come from the environment,
never from the file: a key ending in `_env` names an environment variable.
`monitor -c config.toml check` reports every problem, one line each, naming the key
with 0-based indexes (`sources[0].every`).
"""


def _inner(annotation: Any) -> tuple[str, Any]:
    """("one" | "array" | "tables", the type inside) for a field's annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _inner(next(a for a in typing.get_args(annotation) if a is not type(None)))
    if origin is typing.Annotated:
        return _inner(typing.get_args(annotation)[0])
    if origin is tuple:
        return "array", typing.get_args(annotation)[0]
    if origin is dict:
        return "tables", typing.get_args(annotation)[1]
    return "one", annotation


def _section(annotation: Any) -> tuple[str, type[Section]] | None:
    shape, inner = _inner(annotation)
    if isinstance(inner, type) and issubclass(inner, Section):
        return shape, inner
    return None


def _shown(info: FieldInfo) -> str:
    found = [m for m in info.metadata if isinstance(m, Shown)]
    annotation: Any = info.annotation
    while not found and annotation is not None:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Annotated:
            found = [m for m in args[1:] if isinstance(m, Shown)]
            annotation = args[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in args if a is not type(None))
        else:
            annotation = None
    if found:
        return found[0].name
    section = _section(info.annotation)
    if section:
        return {"one": "table", "array": "array of tables", "tables": "tables"}[section[0]]
    return "string"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return f'"{format_duration(value)}"'
    if isinstance(value, time):
        return f'"{value.strftime("%H:%M")}"'
    if isinstance(value, Enum):
        return f'"{value.name}"'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (tuple, list, frozenset, set)):
        items = sorted(value, key=lambda v: getattr(v, "value", v)) if isinstance(value, (frozenset, set)) else value
        return "[" + ", ".join(_value(v) for v in items) + "]"
    return str(value)


def _key(value: Any) -> str:
    return value.name if isinstance(value, Enum) else str(value)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None or _section(info.annotation):
        return ""
    if info.default is PydanticUndefined:
        return "required"
    if info.default is None:
        return "–"
    return f"`{_value(info.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def tables(model: type[Section] = ConfigFile, prefix: str = "", array: bool = False) -> Iterator[tuple[str, type[Section]]]:
    """(heading, model) for every table, the file itself first (heading "")."""
    yield (f"[[{prefix}]]" if array else f"[{prefix}]") if prefix else "", model
    for name, info in model.model_fields.items():
        key = info.alias or name
        section = _section(info.annotation)
        if section is None:
            continue
        shape, inner = section
        path = f"{prefix}.{key}" if prefix else key
        if shape == "tables":
            path += "." + PLACEHOLDER.get(key, "<name>")
        yield from tables(inner, path, shape == "array")


def _rows(model: type[Section]) -> list[str]:
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        rows.append(f"| `{key}` | {_cell(_shown(info))} | {_cell(_default(info))} | {_cell(info.description or '')} |")
    return rows


def _kind_rows(kind: type[Source]) -> list[str]:
    rows = ["| option | type | default | description |", "| --- | --- | --- | --- |"]
    for key, option in sorted(kind.options.items()):
        default = "required" if option.required else ("–" if option.default is None else f"`{_value(option.default)}`")
        shown = option.type + (f" (at least {option.minimum})" if option.minimum is not None else "")
        rows.append(f"| `{key}` | {shown} | {_cell(default)} | {_cell(option.help)} |")
    return rows


def builtin_kinds() -> dict[str, type[Source]]:
    """The source kinds this package ships (a plug-in's kinds document themselves)."""
    return {name: cls for name, cls in sorted(source_kinds().items()) if cls.__module__.startswith("sources.")}


def render() -> str:
    parts = [INTRO]
    for heading, model in tables():
        title = f"`{heading}`" if heading else "The file's tables"
        parts.append(f"## {title}\n")
        doc = (model.__doc__ or "").strip().splitlines()
        if heading and doc and not doc[0].startswith("A table of config.toml"):
            parts.append(doc[0] + "\n")
        parts.append("\n".join(_rows(model)) + "\n")
        if heading == "[[sources]]":
            for name, kind in builtin_kinds().items():
                parts.append(f"### `kind = \"{name}\"`\n")
                parts.append("\n".join(_kind_rows(kind)) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
