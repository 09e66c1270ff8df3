"""Errors a source raises. Foreign errors (httpx, feedparser, json) never escape raw.

    SourceError                 anything that made a poll fail
    ├── TransportError          network, timeout, 5xx: worth retrying soon
    │   └── RateLimited         429/503 with Retry-After: retry after that time
    └── ResponseError           the server answered but the answer is unusable
        ├── Gone                404/410: the thing asked for is not there (deleted post)
        ├── BodyTooLarge        over the configured size cap
        └── ParseError          not a feed / not JSON / wrong shape
"""

from __future__ import annotations


class SourceError(Exception):
    """A poll failed. ``retryable`` says whether trying again soon makes sense."""

    retryable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransportError(SourceError):
    retryable = True


class RateLimited(TransportError):
    pass


class ResponseError(SourceError):
    retryable = False


class Gone(ResponseError):
    """A definite "no such thing": the only answer that ends tracking of a post."""


class BodyTooLarge(ResponseError):
    pass


class ParseError(ResponseError):
    pass
