"""Settings a source kind declares, as data: one table feeds validation and the docs.

A kind writes ``options = {"url": Option("url", "the feed's address", required=True)}``
(the plug-in API, unchanged). ``options_model`` turns that table into a pydantic model,
the way ``monitor.config`` declares config.toml's tables, and ``validate_options`` checks
a source's keys through it. This package depends on pydantic, never on ``monitor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, create_model
from pydantic_core import PydanticCustomError

from sources.fields import is_web_url

OptionType = Literal["str", "url", "int", "list", "bool"]


@dataclass(frozen=True, slots=True)
class Option:
    type: OptionType
    help: str
    required: bool = False
    default: Any = None
    minimum: int | None = None


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def options_model(spec: Mapping[str, Option]) -> type[BaseModel]:
    """A model with one field per option: its check, its default (or required), its help as
    the description. Fields are named by position and aliased by key, so an option may be
    called anything (``json``, ``copy``) without meeting a pydantic attribute."""
    fields: dict[str, Any] = {}
    for i, (key, option) in enumerate(spec.items()):
        default: Any = ... if option.required else option.default
        fields[f"o{i}"] = (Annotated[Any, PlainValidator(_checker(option))], Field(default, alias=key, description=option.help))
    return create_model("Options", __base__=_Options, **fields)


def validate_options(spec: Mapping[str, Option], raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``raw`` against ``spec``: (values with defaults filled in, [(key, problem)])."""
    model = options_model(spec)
    try:
        checked = model.model_validate(dict(raw))
    except ValidationError as exc:
        known = ", ".join(sorted(spec)) or "none"
        unknown, others = [], []
        for error in exc.errors():
            key = str(error["loc"][0])
            if error["type"] == "extra_forbidden":
                unknown.append((key, f"unknown key for this kind (known: {known})"))
            else:
                others.append((key, "is required" if error["type"] == "missing" else error["msg"]))
        wrong = {key for key, _ in others}
        values = {
            key: _checker(option)(raw[key]) if key in raw else option.default
            for key, option in spec.items()
            if key not in wrong and (key in raw or not option.required)
        }
        return values, unknown + others
    return checked.model_dump(by_alias=True), []


def _checker(option: Option) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        problem = _check(option, value)
        if problem:
            raise PydanticCustomError("option", "{message}", {"message": problem})
        return value.rstrip("/") if option.type == "url" else value

    return check


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
    elif option.type == "bool":
        if not isinstance(value, bool):
            return f"{value!r} is not true or false"
    elif option.type == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"{value!r} is not a list of non-empty strings"
    return None
