"""Is a crisis term asserted, or only denied ("不是烫伤", "no injury") or quoted (网传“烫伤”
系谣言)? A term that is never asserted raises nothing. The post is prepared once (``_Doc``)
for every phrase look-up, plain (``contains``) or with this judgement (``find``). Apart
from the matcher because the cue words and the quotation rules are tuned on their own
(tests/test_quotation.py, tests/test_matching.py)."""

from __future__ import annotations

import enum
import re

from monitor.detect.matching._phrases import _Phrase


class _Found(enum.Enum):
    no = 0
    yes = 1
    negated = 2


NEGATION_ZH = frozenset({"不是", "没有", "并非", "并没有", "不会", "没", "无", "未", "不", "非", "别", "并未", "从未", "毫无"})
NEGATION_EN = frozenset({"no", "not", "never", "without", "isn't", "wasn't", "aren't", "weren't", "didn't", "don't", "doesn't", "nothing", "none"})
NEGATION_REACH = 3
"""A cue negates a term up to this many words (Chinese: tokens) before it: 并没有被烫伤."""
_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_QUOTE_CHARS = frozenset('“”"「」『』‘’')
_QUOTED = re.compile(r'[“"「『‘]([^“”"「」『』‘’\n]{1,40})[”"」』’]')
"""Text in quotation marks (Chinese “”, 「」, 『』, ‘’ and ASCII double quotes; the ASCII
apostrophe is left out: it is mostly "don't")."""
QUOTE_SLACK_ZH = 4
QUOTE_SLACK_EN = 10
"""Characters besides the term itself that quotation marks may hold for the term to count
as quoted (被烫伤, "serious injury"): a quoted sentence is someone's words, not a denial."""


class _Doc:
    """A text prepared once for many phrase look-ups."""

    def __init__(self, norm: str, tokens: list[str]) -> None:
        self.norm = norm
        self.tokens = tokens
        self.token_set = set(tokens)

    def contains(self, phrase: _Phrase) -> bool:
        if phrase.pattern is not None:
            return phrase.pattern.search(self.norm) is not None
        return bool(self._token_hits(phrase.tokens or ()))

    def _token_hits(self, seq: tuple[str, ...]) -> list[int]:
        if not seq or seq[0] not in self.token_set:
            return []
        n = len(seq)
        return [i for i, tok in enumerate(self.tokens) if tok == seq[0] and tuple(self.tokens[i : i + n]) == seq]

    def find(self, phrase: _Phrase) -> _Found:
        """Whether a crisis term is there, and whether every occurrence is negated or only
        quoted: a term that is only ever denied ("不是烫伤", "no injury") or held at arm's
        length in quotation marks (网传“烫伤”系谣言, reports of "injury") is not evidence of a crisis."""
        if phrase.pattern is not None:
            spans = [m.span() for m in phrase.pattern.finditer(self.norm)]
            if not spans:
                return _Found.no
            denied = all(
                any(w in NEGATION_EN for w in _EN_WORD.findall(self.norm[max(0, s - 60) : s])[-NEGATION_REACH:]) or self._quoted(s, e, QUOTE_SLACK_EN)
                for s, e in spans
            )
        else:
            hits = self._token_hits(phrase.tokens or ())
            if not hits:
                return _Found.no
            n = len(phrase.tokens or ())
            denied = all(
                any(t in NEGATION_ZH for t in self.tokens[max(0, i - NEGATION_REACH) : i]) or self._quoted(*self._char_span(i, n), QUOTE_SLACK_ZH)
                for i in hits
            )
        return _Found.negated if denied else _Found.yes

    def _char_span(self, index: int, count: int) -> tuple[int, int]:
        """Where tokens ``index`` … ``index + count`` lie in the text (tokens are the text's
        pieces in order, whitespace left out)."""
        if not hasattr(self, "_offsets"):
            offsets, pos = [], 0
            for token in self.tokens:
                pos = self.norm.find(token, pos)
                offsets.append(pos)
                pos += len(token)
            self._offsets = offsets
        start = self._offsets[index]
        last = index + count - 1
        return start, self._offsets[last] + len(self.tokens[last])

    def _quoted(self, start: int, end: int, slack: int) -> bool:
        """Whether [start, end) is inside quotation marks that hold little else: the term
        itself put in quotes, as denials and reports do."""
        if start < 0 or not _QUOTE_CHARS.intersection(self.norm):
            return False
        if not hasattr(self, "_quotes"):
            self._quotes = [m.span(1) for m in _QUOTED.finditer(self.norm)]
        return any(a <= start and end <= b and (b - a) - (end - start) <= slack for a, b in self._quotes)
