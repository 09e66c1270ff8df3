"""The value types config.toml is written in, each with the one-line message a user sees.

A section is a pydantic model (``Section``) whose fields use these types. Every check
raises ``fail(message)``; ``Section`` turns pydantic's own errors (a missing key, an
unknown key) into the same wording, so ``load.py`` only has to put the key in front:
``sources[1].every: "soon" is not a duration``.

Each type carries a ``Shown`` marker: the name ``reference.py`` prints in the type column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from email.utils import parseaddr
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, ValidationInfo, WrapValidator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from alerts import Severity
from alerts.ratelimit import RateLimit
from monitor.durations import parse_duration

EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
SEVERITY_NAMES = ", ".join(Severity.__members__)  # normal, important, urgent
Loc = tuple[str | int, ...]


def fail(message: str) -> PydanticCustomError:
    """The error to raise from a check: ``message`` is shown after the key, as it is."""
    return PydanticCustomError("config", "{message}", {"message": message})


class Problems:
    """Several problems found by one check, each at its own key below the field."""

    def __init__(self) -> None:
        self.found: list[InitErrorDetails] = []

    def add(self, loc: Loc, message: str, value: Any = None) -> None:
        self.found.append(InitErrorDetails(type=fail(message), loc=loc, input=value))

    def extend(self, exc: ValidationError) -> None:
        self.found.extend(_detail(error) for error in exc.errors())

    def raise_any(self, title: str = "config") -> None:
        if self.found:
            raise ValidationError.from_exception_data(title, self.found)


@dataclass(frozen=True, slots=True)
class Shown:
    """How the reference names a type: ``duration``, ``list of strings``, ..."""

    name: str


@dataclass(frozen=True, slots=True)
class Missing:
    """The message when a required key is left out, where "is required" says too little."""

    message: str


class Section(BaseModel):
    """A table of config.toml: unknown keys are errors, and pydantic's wording becomes ours."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, arbitrary_types_allowed=True)

    @classmethod
    def keys(cls) -> list[str]:
        return sorted(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def check_raw(cls, table: dict[str, Any], info: ValidationInfo) -> list[tuple[Loc, str]]:
        """Problems between keys, found in the table as written: unlike a model validator,
        this runs even when a key has a problem of its own, so one run lists them all."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _our_words(cls, data: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
        problems = Problems()
        try:
            result = handler(data)
        except ValidationError as exc:
            result = None
            for error in exc.errors():
                here = len(error["loc"]) == 1
                if here and error["type"] == "extra_forbidden":
                    problems.add(error["loc"], f"unknown key (expected one of: {', '.join(cls.keys())})")
                elif here and error["type"] == "missing":
                    problems.add(error["loc"], _missing(cls, str(error["loc"][0])))
                else:
                    problems.found.append(_detail(error))
        if isinstance(data, dict):
            for loc, message in cls.check_raw(data, info):
                problems.add(loc, message)
        problems.raise_any(cls.__name__)
        return result


def given_texts(table: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings as written, or () when it is missing or not one (for ``check_raw``)."""
    try:
        return texts(table[key]) if key in table else ()
    except PydanticCustomError:
        return ()


def given_text(table: dict[str, Any], key: str) -> str | None:
    """A string as written, or None when it is missing, empty or not one (for ``check_raw``)."""
    try:
        return text(table[key]) if key in table else None
    except PydanticCustomError:
        return None


def _detail(error: Any) -> InitErrorDetails:
    kind: Any = fail(error["msg"]) if error["type"] == "config" else error["type"]
    detail = InitErrorDetails(type=kind, loc=error["loc"], input=error.get("input"))
    if error.get("ctx") and error["type"] != "config":
        detail["ctx"] = error["ctx"]
    return detail


def _missing(cls: type[Section], key: str) -> str:
    for name, info in cls.model_fields.items():
        if (info.alias or name) == key:
            return next((m.message for m in info.metadata if isinstance(m, Missing)), "is required")
    return "is required"


def context(info: ValidationInfo, name: str) -> Any:
    """What ``load.py`` passes down: the installed source kinds, category and brand names."""
    return (info.context or {}).get(name)


# --- scalars --------------------------------------------------------------------------------


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{value!r} is not a non-empty string")
    return value.strip()


def texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f"{value!r} is not a list of non-empty strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


def filled(value: Any) -> tuple[str, ...]:
    found = texts(value)
    if not found:
        raise fail("must not be empty")
    return found


def whole(minimum: int = 0, maximum: int | None = None, too_big: str = "") -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"{value!r} is not a whole number")
        if value < minimum:
            raise fail(f"{value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise fail(f"{value} {too_big}")
        return value

    return check


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise fail(f"{value!r} is not a number of 0 or more")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{value!r} is not true or false")
    return value


def duration(*, allow_zero: bool = False) -> Callable[[Any], timedelta]:
    def check(value: Any) -> timedelta:
        try:
            return parse_duration(value, allow_zero=allow_zero)
        except ValueError as exc:
            raise fail(str(exc)) from None

    return check


def severity_of(value: Any) -> Severity:
    try:
        return Severity.parse(value)
    except (ValueError, TypeError):
        raise fail(f"{value!r} is not a severity ({SEVERITY_NAMES})") from None


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise fail(f"{value!r} is not a time of day (like \"09:00\")") from None


def _rate(value: Any) -> RateLimit:
    try:
        return RateLimit.parse(text(value))
    except ValueError as exc:
        raise fail(str(exc)) from None


def _address(value: Any) -> str:
    address = text(value)
    if not EMAIL.match(parseaddr(address)[1]):
        raise fail(f"{address!r} is not an email address")
    return address


def _addresses(value: Any) -> tuple[str, ...]:
    found = texts(value)
    problems = Problems()
    for j, address in enumerate(found):
        if not EMAIL.match(parseaddr(address)[1]):
            problems.add((j,), f"{address!r} is not an email address", address)
    problems.raise_any()
    return found


def _env_name(value: Any) -> str:
    """The name of an environment variable that must be set (a secret's value is never shown)."""
    name = text(value)
    if name not in os.environ:
        raise fail(f"environment variable {name} is not set")
    return name


def env_problem(name: str, holds: str = "") -> str | None:
    """What is wrong with the secret in environment variable ``name``, if anything: unset
    or empty, or holding what no header or address can carry (its value is never shown)."""
    value = os.environ.get(name)
    if not value:
        return f"environment variable {name} is not set" + (f" (it holds the {holds})" if holds else "")
    if not (value.isascii() and value.isprintable()):
        return f"environment variable {name} holds a line break, a control or a non-ASCII character (its value is not shown)"
    return None


def one_of(names: Iterable[str], what: str) -> Callable[[Any], str]:
    allowed = tuple(names)

    def check(value: Any) -> str:
        name = text(value)
        if name not in allowed:
            raise fail(f"{name!r} is not {what}")
        return name

    return check


def named_in(context_key: str, what: str) -> Callable[[Any, ValidationInfo], tuple[str, ...]]:
    """A list of names each of which must be one the file defines elsewhere (a category, a chat receiver)."""

    def check(value: Any, info: ValidationInfo) -> tuple[str, ...]:
        names = texts(value)
        known = context(info, context_key) or set()
        problems = Problems()
        for j, name in enumerate(names):
            if name not in known:
                problems.add((j,), f"{name!r} is not {what}", name)
        problems.raise_any()
        return names

    return check


def per_severity(default: Mapping[Severity, timedelta], *, table_only: bool = False, replace: bool = False) -> Callable[[Any], dict[Severity, timedelta]]:
    """A duration for every severity, or a table of them (``{ urgent = "0s", normal = "5m" }``).
    A table adds to ``default``, or replaces it where ``replace``."""

    def check(value: Any) -> dict[Severity, timedelta]:
        allow_zero = not table_only  # [tickets] sla and remind_after: tables of durations longer than zero
        if not isinstance(value, dict):
            if table_only:
                raise fail("must be a table")
            one = duration(allow_zero=True)(value)
            return {sev: one for sev in Severity}
        result = {} if replace else dict(default)
        problems = Problems()
        for sev_name, item in value.items():
            if sev_name not in Severity.__members__:
                problems.add((sev_name,), f"unknown key (expected one of: {', '.join(sorted(Severity.__members__))})", item)
                continue
            try:
                result[Severity[sev_name]] = duration(allow_zero=allow_zero)(item)
            except PydanticCustomError as exc:
                problems.add((sev_name,), exc.message(), item)
        problems.raise_any()
        return result

    return check


Text = Annotated[str, PlainValidator(text), Shown("string")]
Texts = Annotated[tuple[str, ...], PlainValidator(texts), Shown("list of strings")]
FilledTexts = Annotated[tuple[str, ...], PlainValidator(filled), Shown("list of strings")]
Number = Annotated[float, PlainValidator(_number), Shown("number")]
Flag = Annotated[bool, PlainValidator(_flag), Shown("true/false")]
Duration = Annotated[timedelta, PlainValidator(duration()), Shown("duration")]
Delay = Annotated[timedelta, PlainValidator(duration(allow_zero=True)), Shown("duration (0s allowed)")]
SeverityName = Annotated[Severity, PlainValidator(severity_of), Shown("severity")]
ClockTime = Annotated[time, PlainValidator(_clock), Shown("time of day")]
Rate = Annotated[RateLimit, PlainValidator(_rate), Shown("rate (like \"20/m\")")]
Address = Annotated[str, PlainValidator(_address), Shown("email address")]
Addresses = Annotated[tuple[str, ...], PlainValidator(_addresses), Shown("list of email addresses")]
EnvName = Annotated[str, PlainValidator(_env_name), Shown("environment variable name")]


def unique(names: list[str], what: str) -> None:
    """Names in an array of tables are unique: the second ``[i].name`` of one is the problem."""
    problems = Problems()
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.add((i, "name"), f"{what} {name!r} is defined twice", name)
        seen.add(name)
    problems.raise_any()


def also(check: Callable[[Any, ValidationInfo], list[tuple[Loc, str]]]) -> WrapValidator:
    """A check of the raw value that runs even when the value has problems of its own
    (steps in order, a default owner): its problems are added to theirs."""

    def run(value: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
        problems = Problems()
        try:
            result = handler(value)
        except ValidationError as exc:
            problems.extend(exc)
            result = None
        for loc, message in check(value, info):
            problems.add(loc, message)
        problems.raise_any()
        return result

    return WrapValidator(run)
