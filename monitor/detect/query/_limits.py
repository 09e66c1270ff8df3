"""What the query language refuses, and how it says so: the bounds that keep a hostile or
broken config from crashing the parser or the evaluator, and the one error a caller catches
(with the column ``monitor check`` points at)."""

from __future__ import annotations

from monitor.errors import MonitorError

MAX_DEPTH = 50
"""Deepest nesting accepted. Real queries nest a few levels; the limit keeps a hostile or
broken config from hitting Python's recursion limit in the parser or the evaluator."""

MAX_NEAR = 1000
"""Widest NEAR distance accepted, in units (words or Chinese characters): more than a long
post holds, where NEAR means no more than AND. The bound keeps a typo of thousands of
digits a syntax error rather than an integer Python refuses to read."""


class QuerySyntaxError(MonitorError, ValueError):
    """A query that cannot be parsed; ``column`` is 1-based, counted in characters."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message, column)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} at column {self.column}"


class _TooDeep(ValueError):
    """A node built past ``MAX_DEPTH``; the parser turns it into a ``QuerySyntaxError``
    with the column of the operator that built it."""
