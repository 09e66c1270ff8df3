"""Pollers for public platforms. Each yields plain ``Post`` records and knows nothing of
brands, scores or storage. New kinds plug in through the ``monitor.sources`` entry point group."""

from .base import Source, SourceContext
from .errors import BodyTooLarge, Gone, ParseError, RateLimited, ResponseError, SourceError, TransportError
from .http import BackingOff, Fetched, HttpPolicy, PoliteHttp, new_client
from .options import Option, validate_options
from .post import Engagement, Post
from .registry import GROUP, source_kinds
from .text import html_to_text

__all__ = [
    "GROUP",
    "BackingOff",
    "BodyTooLarge",
    "Engagement",
    "Fetched",
    "Gone",
    "HttpPolicy",
    "Option",
    "ParseError",
    "PoliteHttp",
    "Post",
    "RateLimited",
    "ResponseError",
    "Source",
    "SourceContext",
    "SourceError",
    "TransportError",
    "html_to_text",
    "new_client",
    "source_kinds",
    "validate_options",
]
