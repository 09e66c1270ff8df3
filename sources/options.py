"""Settings a source kind declares, as data: one table feeds validation and the docs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sources.fields import is_web_url

OptionType = Literal["str", "url", "int", "list"]


@dataclass(frozen=True, slots=True)
class Option:
    type: OptionType
    help: str
    required: bool = False
    default: Any = None
    minimum: int | None = None


def validate_options(spec: Mapping[str, Option], raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``raw`` against ``spec``: (values with defaults filled in, [(key, problem)])."""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key in raw:
        if key not in spec:
            known = ", ".join(sorted(spec)) or "none"
            problems.append((key, f"unknown key for this kind (known: {known})"))
    for key, option in spec.items():
        if key not in raw:
            if option.required:
                problems.append((key, "is required"))
            else:
                values[key] = option.default
            continue
        value = raw[key]
        problem = _check(option, value)
        if problem:
            problems.append((key, problem))
        else:
            values[key] = value.rstrip("/") if option.type == "url" else value
    return values, problems


def _check(option: Option, value: Any) -> str | None:
    if option.type in ("str", "url"):
        if not isinstance(value, str) or not value.strip():
            return f"{value!r} is not a non-empty string"
        if option.type == "url" and not is_web_url(value):
            return f"{value!r} is not an http(s) URL"
    elif option.type == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{value!r} is not a whole number"
        if option.minimum is not None and value < option.minimum:
            return f"{value} is below the minimum {option.minimum}"
    elif option.type == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"{value!r} is not a list of non-empty strings"
    return None
