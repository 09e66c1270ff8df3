"""The tokens a query is evaluated over, and ``matches`` in one call. Apart because the
language is pure and owns no tokenizer: the caller brings jieba (a matcher's own, whose
dictionary holds the query's terms) or any callable giving ``Token``s."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from monitor.detect.query._parser import parse
from monitor.detect.query._tree import Query
from monitor.detect.textnorm import normalize


class Token(NamedTuple):
    """A token of normalised text and its character offsets in that text. A plain tuple,
    so the ``(word, start, end)`` triples jieba's ``Tokenizer.tokenize`` yields are
    tokens as they are. The offsets tell the evaluator which tokens abut (caf|é is one
    word, not two) and let callers highlight what matched."""

    text: str
    start: int
    end: int


class _JiebaLike(Protocol):
    def tokenize(self, unicode_sentence: str, mode: str = ..., HMM: bool = ...) -> Iterable[tuple[str, int, int]]: ...


def jieba_tokenize(tokenizer: _JiebaLike) -> Callable[[str], list[Token]]:
    """The tokens the matcher works on: jieba without HMM (so unknown runs split into known
    words, not guessed new ones), whitespace dropped. Pass a matcher's own tokenizer, whose
    dictionary holds the query's terms."""

    def tokenize(text: str) -> list[Token]:
        return [Token(w, s, e) for w, s, e in tokenizer.tokenize(text, HMM=False) if w.strip()]

    return tokenize


def matches(query: Query | str, text: str, tokenize: Callable[[str], Iterable[tuple[str, int, int]]]) -> bool:
    """Whether ``text`` (a post, HTML or plain) satisfies ``query``: the text is normalised
    as the matcher does, then cut by ``tokenize`` (``jieba_tokenize(tokenizer)``, or any
    callable giving Tokens of the text it is passed)."""
    q = parse(query) if isinstance(query, str) else query
    return q.evaluate(tokenize(normalize(text)))
