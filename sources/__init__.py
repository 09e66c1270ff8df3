"""Pollers for public platforms. Each yields plain ``Post`` records and knows nothing of
brands, scores or storage. New kinds plug in through the ``monitor.sources`` entry point group."""

from sources.base import Source, SourceContext
from sources.errors import BodyTooLarge, Gone, ParseError, RateLimited, ResponseError, SourceError, TransportError
from sources.http import BackingOff, Fetched, HttpPolicy, PoliteHttp, new_client
from sources.options import Option, validate_options
from sources.post import Engagement, Post
from sources.registry import GROUP, source_kinds
from sources.text import html_to_text

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
