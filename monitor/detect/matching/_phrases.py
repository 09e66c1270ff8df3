"""A configured phrase in the form matching uses, and the compiled brand and category
entries: the shapes the matcher builds and the prefilter and the negation check read.
Apart so those three depend on it and not on each other."""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerts import Severity
from monitor.detect.query import Query


@dataclass(frozen=True, slots=True)
class _Phrase:
    """A configured phrase compiled once: its tokens (Chinese) or its word-boundary pattern
    (the rest), and ``original`` as configured, which a ``Mention`` reports."""

    original: str
    tokens: tuple[str, ...] | None  # set for Chinese phrases
    pattern: re.Pattern[str] | None  # set for the rest


_BrandEntry = tuple[str, list[_Phrase], list[_Phrase], "Query | None"]
_CategoryEntry = tuple[str, Severity, list[_Phrase]]
