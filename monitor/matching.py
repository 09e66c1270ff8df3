"""Is this post a mention of a brand, and which crisis terms does it carry?

Whole words only. Chinese has no spaces, so it is segmented with jieba, with every
configured keyword, exclude and term added to the tokenizer's dictionary (with a high
frequency, so 艾克美 and 烫伤 segment whole); a Chinese phrase matches when its tokens
appear consecutively. Phrases without Chinese match case-insensitively on word
boundaries. Each matcher owns its tokenizer: jieba's global one is never touched.
"""

from __future__ import annotations

import enum
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jieba

from alerts import Severity

from .config import BrandConfig, CategoryConfig
from .query import Token, jieba_tokenize
from .textnorm import has_cjk, normalize

jieba.setLogLevel(logging.WARNING)

_WORD_FREQ = 10**6  # beats any frequency in jieba's own dictionary
# A word boundary for non-Chinese phrases: Chinese characters count as a boundary
# (央视315晚会 contains "315"; "acme杯子" contains "acme"), letters and digits do not.
_ALNUM = r"[0-9a-z_\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]"


class TokenizerFactory:
    """Loads jieba's 350k-word dictionary once (about a second) and hands out independent
    tokenizers (copies of it, ~15 ms), so a config reload never mutates one in use."""

    def __init__(self) -> None:
        self._base: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    def new(self) -> jieba.Tokenizer:
        with self._lock:
            if self._base is None:
                base = jieba.Tokenizer()
                base.initialize()
                self._base = base
            base = self._base
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = dict(base.FREQ)
        tokenizer.total = base.total
        tokenizer.initialized = True
        return tokenizer


@dataclass(frozen=True, slots=True)
class _Phrase:
    original: str
    tokens: tuple[str, ...] | None  # set for Chinese phrases
    pattern: re.Pattern[str] | None  # set for the rest


@dataclass(frozen=True, slots=True)
class Mention:
    brand: str
    keywords: tuple[str, ...]
    terms: tuple[tuple[str, tuple[str, ...]], ...]
    """(category, terms found) for each crisis category found, most severe first
    (config order breaks ties)."""

    negated: tuple[str, ...] = ()
    """Crisis terms found only under a negation ("不是烫伤", "no injury"): they raise nothing."""

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)


class Matcher:
    def __init__(self, brands: Sequence[BrandConfig], categories: Sequence[CategoryConfig], tokenizer: jieba.Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._query_tokens = jieba_tokenize(tokenizer)
        for phrase in _all_phrases(brands, categories):
            norm = normalize(phrase).strip()
            if has_cjk(norm) and not any(ch.isspace() for ch in norm):
                tokenizer.add_word(norm, freq=_WORD_FREQ)
        self._brands = [(b.name, self._compile(b.keywords), self._compile(b.exclude), b.query) for b in brands]
        order = sorted(range(len(categories)), key=lambda i: (-categories[i].severity, i))
        self._categories = [(categories[i].name, categories[i].severity, self._compile(categories[i].terms)) for i in order]

    def _compile(self, phrases: Iterable[str]) -> list[_Phrase]:
        compiled = []
        for phrase in phrases:
            norm = normalize(phrase).strip()
            if not norm:
                continue
            if has_cjk(norm):
                compiled.append(_Phrase(phrase, tuple(self._tokens(norm)), None))
            else:
                body = r"\s+".join(map(re.escape, norm.split()))
                pattern = re.compile(rf"(?<!{_ALNUM}){body}(?!{_ALNUM})")
                compiled.append(_Phrase(phrase, None, pattern))
        return compiled

    def _tokens(self, text: str) -> list[str]:
        return [t for t in (tok.strip() for tok in self._tokenizer.cut(text, HMM=False)) if t]

    def match(self, text: str) -> list[Mention]:
        """Every brand the text mentions (none excluded), with the crisis terms it carries."""
        norm = normalize(text)
        doc = _Doc(norm, self._tokens(norm) if has_cjk(norm) else [])
        mentions = []
        query_tokens: list[Token] | None = None
        for name, keywords, excludes, query in self._brands:
            hits = [p.original for p in keywords if doc.contains(p)]
            if query is not None:
                query_tokens = query_tokens if query_tokens is not None else self._query_tokens(norm)
                if not query.evaluate(query_tokens):
                    continue
                hits = hits or [f"query: {query}"]
            if not hits or any(doc.contains(p) for p in excludes):
                continue
            terms, negated = [], []
            for cat_name, _severity, cat_terms in self._categories:
                found = []
                for phrase in cat_terms:
                    state = doc.find(phrase)
                    if state is _Found.yes:
                        found.append(phrase.original)
                    elif state is _Found.negated:
                        negated.append(phrase.original)
                if found:
                    terms.append((cat_name, tuple(found)))
            mentions.append(Mention(name, tuple(hits), tuple(terms), tuple(negated)))
        return mentions

    def severity_of(self, category: str) -> Severity | None:
        return next((sev for name, sev, _ in self._categories if name == category), None)


class _Found(enum.Enum):
    no = 0
    yes = 1
    negated = 2


NEGATION_ZH = frozenset({"不是", "没有", "并非", "并没有", "不会", "没", "无", "未", "不", "非", "别", "并未", "从未", "毫无"})
NEGATION_EN = frozenset({"no", "not", "never", "without", "isn't", "wasn't", "aren't", "weren't", "didn't", "don't", "doesn't", "nothing", "none"})
NEGATION_REACH = 3
"""A cue negates a term up to this many words (Chinese: tokens) before it: 并没有被烫伤."""
_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


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
        """Whether a crisis term is there, and whether every occurrence is negated: a term
        that is only ever denied ("不是烫伤", "no injury") is not evidence of a crisis."""
        if phrase.pattern is not None:
            starts = [m.start() for m in phrase.pattern.finditer(self.norm)]
            if not starts:
                return _Found.no
            denied = all(any(w in NEGATION_EN for w in _EN_WORD.findall(self.norm[max(0, s - 60) : s])[-NEGATION_REACH:]) for s in starts)
        else:
            hits = self._token_hits(phrase.tokens or ())
            if not hits:
                return _Found.no
            denied = all(any(t in NEGATION_ZH for t in self.tokens[max(0, i - NEGATION_REACH) : i]) for i in hits)
        return _Found.negated if denied else _Found.yes


def _all_phrases(brands: Sequence[BrandConfig], categories: Sequence[CategoryConfig]) -> Iterable[str]:
    for brand in brands:
        yield from brand.keywords
        yield from brand.exclude
        if brand.query is not None:
            yield from brand.query.terms()
    for category in categories:
        yield from category.terms
