"""[[sources]]: the keys every source has, and its kind's own options.

A kind's options are declared by the kind itself (``Source.options``, ``sources/options.py``),
so ``sources`` never imports ``monitor``; the kinds installed are passed in the validation
context by ``load.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, PlainValidator, PrivateAttr, model_validator
from pydantic import ValidationInfo as Info

from monitor.config.fields import Duration, Problems, Section, Shown, Text, context, env_problem, fail, unique
from monitor.durations import format_duration
from sources import Source, validate_options

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_.~-]{1,100}$")


def _secret_table(what: str, name_ok: re.Pattern[str]) -> Any:
    """``{name = "ENV_VAR"}``: each value the name of a set environment variable."""

    def check(raw: Any) -> dict[str, str]:
        if not isinstance(raw, Mapping):
            raise fail(f"must be a table of {what} = \"ENVIRONMENT_VARIABLE\" (secrets never go in the file)")
        found: dict[str, str] = {}
        problems = Problems()
        for name, env in raw.items():
            if not name_ok.match(str(name)):
                problems.add((name,), f"{str(name)[:60]!r} is not a {what}")
            elif not isinstance(env, str) or not _ENV_NAME.match(env):
                problems.add((name,), "must name an environment variable (like \"ACME_API_TOKEN\"), not hold the secret itself")
            elif env not in os.environ or not (os.environ[env].isascii() and os.environ[env].isprintable()):
                problems.add((name,), env_problem(env) or f"environment variable {env} is not set")
            else:
                found[str(name)] = env
        problems.raise_any()
        return found

    return PlainValidator(check)


def _at_least_a_second(every: timedelta) -> timedelta:
    if every < timedelta(seconds=1):
        raise fail("must be at least 1s")
    return every


class SourceSection(Section):
    """The keys every source has; any other key is an option of its kind (see the kinds below)."""

    model_config = ConfigDict(extra="allow")

    name: Text = Field(description="the source's name in logs, health and the console; unique")
    kind: Text = Field(description="the platform: an installed source kind (rss, mastodon, reddit, …); its options follow")
    every: Annotated[Duration, AfterValidator(_at_least_a_second)] = Field(timedelta(minutes=5), description="how often it is polled (at least 1s)")
    headers_env: Annotated[dict[str, str], _secret_table("header name", _HEADER_NAME), Shown("table of header = ENV_VAR")] = Field(
        {}, description="header name → environment variable holding its value (a token, a cookie)"
    )
    params_env: Annotated[dict[str, str], _secret_table("query parameter name", _PARAM_NAME), Shown("table of parameter = ENV_VAR")] = Field(
        {}, description="query parameter → environment variable holding its value (an RSSHub key)"
    )
    _settings: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        """The kind's options with their defaults filled in."""
        return self._settings

    @model_validator(mode="after")
    def _options(self, info: Info) -> SourceSection:
        kinds: Mapping[str, type[Source]] = context(info, "kinds") or {}
        cls = kinds.get(self.kind)
        problems = Problems()
        if cls is None:
            problems.add(("kind",), f"{self.kind!r} is not an installed source kind (installed: {', '.join(sorted(kinds)) or 'none'})")
            problems.raise_any()
            return self
        settings, found = validate_options(cls.options, dict(self.model_extra or {}))
        if not found:
            found = cls.check(settings)
        if not found and self.every < (floor := cls.minimum_every(settings)):
            found = [("every", f"must be at least {format_duration(floor)} for this {self.kind} source: the platform blocks clients that ask more often")]
        for option, message in found:
            problems.add((option,), message)
        problems.raise_any()
        self._settings = settings
        return self


def source_names(sources: tuple[SourceSection, ...]) -> tuple[SourceSection, ...]:
    unique([s.name for s in sources], "source")
    return sources
