"""The matcher: which brands a post mentions (keywords or query, excludes) and which
crisis terms it carries, as ``Mention``s. It composes the others: phrases cut by its own
tokenizer, the prefilter first, the negation check on each crisis term."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.matching._negation import _Doc, _Found
from monitor.detect.matching._phrases import _BrandEntry, _CategoryEntry, _Phrase
from monitor.detect.matching._prefilter import _Prefilter
from monitor.detect.query import Token, jieba_tokenize
from monitor.detect.textnorm import has_cjk, normalize

if TYPE_CHECKING:
    import jieba

_WORD_FREQ = 10**6  # beats any frequency in jieba's own dictionary
# A word boundary for non-Chinese phrases: Chinese characters count as a boundary
# (央视315晚会 contains "315"; "acme杯子" contains "acme"), letters and digits do not.
_ALNUM = r"[0-9a-z_\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]"


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
    def __init__(
        self, brands: Sequence[BrandConfig], categories: Sequence[CategoryConfig], tokenizer: jieba.Tokenizer, *, prefilter: bool = True
    ) -> None:
        self._tokenizer = tokenizer
        self._query_tokens = jieba_tokenize(tokenizer)
        for phrase in _all_phrases(brands, categories):
            norm = normalize(phrase).strip()
            if has_cjk(norm) and not any(ch.isspace() for ch in norm):
                tokenizer.add_word(norm, freq=_WORD_FREQ)
        order = sorted(range(len(categories)), key=lambda i: (-categories[i].severity, i))
        self._config = (list(brands), [categories[i] for i in order])
        self._compiled: tuple[list[_BrandEntry], list[_CategoryEntry]] | None = None
        self._compile_lock = threading.Lock()
        self._prefilter = _Prefilter(*self._config, self._parts) if prefilter else None
        if tokenizer.initialized:
            self._parts()  # a ready tokenizer: compile now; a deferred one when a post first needs it

    def _parts(self) -> tuple[list[_BrandEntry], list[_CategoryEntry]]:
        """The phrases compiled (Chinese ones cut by the tokenizer, which waits for jieba's dictionary)."""
        compiled = self._compiled
        if compiled is None:
            with self._compile_lock:
                compiled = self._compiled
                if compiled is None:
                    brands, categories = self._config
                    compiled = (
                        [(b.name, self._compile(b.keywords), self._compile(b.exclude), b.query) for b in brands],
                        [(c.name, c.severity, self._compile(c.terms)) for c in categories],
                    )
                    self._compiled = compiled
        return compiled

    @property
    def _brands(self) -> list[_BrandEntry]:
        return self._parts()[0]

    @property
    def _categories(self) -> list[_CategoryEntry]:
        return self._parts()[1]

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
        brands, categories, segment = (self._brands, self._categories, True) if self._prefilter is None else self._prefilter.narrow(norm)
        if not brands:
            return []  # no brand word anywhere in the text: most posts, and no jieba for them
        doc = _Doc(norm, self._tokens(norm) if segment and has_cjk(norm) else [])
        mentions = []
        query_tokens: list[Token] | None = None
        for name, keywords, excludes, query in brands:
            hits = [p.original for p in keywords if doc.contains(p)]
            if query is not None:
                query_tokens = query_tokens if query_tokens is not None else self._query_tokens(norm)
                if not query.evaluate(query_tokens):
                    continue
                hits = hits or [f"query: {query}"]
            if not hits or any(doc.contains(p) for p in excludes):
                continue
            terms, negated = [], []
            for cat_name, _severity, cat_terms in categories:
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

    def may_mention(self, text: str) -> bool:
        """Whether the text can mention a brand at all; False only when no brand's keyword
        occurs in it (the prefilter's one pass: no jieba, no regex). What a stream source
        asks of every post of a network's firehose before handing it over (``SourceContext.wanted``)."""
        if self._prefilter is None:
            return True
        return self._prefilter.any_brand(normalize(text))

    def severity_of(self, category: str) -> Severity | None:
        return next((sev for name, sev, _ in self._categories if name == category), None)

    def words(self, text: str) -> list[str]:
        """The text's words in normal form, segmented as matching sees them (keywords and
        crisis terms whole): what issue clustering compares."""
        norm = normalize(text)
        return self._tokens(norm) if has_cjk(norm) else [w for w in re.split(r"\s+", norm) if w]


def _all_phrases(brands: Sequence[BrandConfig], categories: Sequence[CategoryConfig]) -> Iterable[str]:
    for brand in brands:
        yield from brand.keywords
        yield from brand.exclude
        if brand.query is not None:
            yield from brand.query.terms()
    for category in categories:
        yield from category.terms
