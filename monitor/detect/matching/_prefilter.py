"""The prefilter: one Aho-Corasick pass over a post for every configured phrase, so a post
that names no brand (most of them) is dismissed without jieba and without a regex per
phrase. Apart from the matcher because it is an optimisation that must never change an
answer (tests/test_matching_prefilter.py compares it with matching everything)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import ahocorasick

from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.matching._phrases import _BrandEntry, _CategoryEntry, _Phrase
from monitor.detect.query import And, Near, Not, Or, Query, Term
from monitor.detect.textnorm import normalize


class _Prefilter:
    """One Aho-Corasick pass over a post for every configured phrase, before any jieba.

    A phrase can only match where its characters, whitespace left out, appear in the
    normalised text with its whitespace left out: a keyword spans consecutive tokens
    (whitespace tokens dropped) or a ``\\s+``-joined pattern, a query term is spelled by
    consecutive tokens. So a phrase whose squeezed form is absent is known not to match,
    and ``narrow`` hands ``Matcher.match`` only the brands that can match and, in them,
    only the phrases that can: the same result as checking them all, without segmenting
    a post that names no brand (most of them) and without a regex per phrase per post.
    """

    def __init__(
        self, brands: list[BrandConfig], categories: list[CategoryConfig], compiled: Callable[[], tuple[list[_BrandEntry], list[_CategoryEntry]]]
    ) -> None:
        self._automaton = ahocorasick.Automaton()
        self._ids: dict[str, int] = {}
        self._compiled = compiled  # the matcher's phrases, in the order of the configs given here
        # per brand: the needles any of which it needs (None: its query can hold with none)
        self._brand_needles: list[frozenset[int] | None] = []
        for brand in brands:
            if brand.query is None:
                self._brand_needles.append(frozenset(self._id(p) for p in brand.keywords))
            elif _needs_a_term(brand.query):
                self._brand_needles.append(frozenset(self._id(t) for t in brand.query.terms()))
            else:
                self._brand_needles.append(None)
        self._open = any(needles is None for needles in self._brand_needles)
        self._brand_ids: frozenset[int] = frozenset().union(*(n for n in self._brand_needles if n is not None))
        # per brand (category): needle -> positions of its keywords, excludes (terms), to pick them in config order
        self._keywords = [self._index(b.keywords) for b in brands]
        self._excludes = [self._index(b.exclude) for b in brands]
        self._terms = [self._index(c.terms) for c in categories]
        if self._ids:
            self._automaton.make_automaton()

    def _index(self, phrases: Iterable[str]) -> dict[int, list[int]]:
        """Positions as ``Matcher._compile`` lists them: phrases empty once normalised are left out."""
        where: dict[int, list[int]] = {}
        position = 0
        for phrase in phrases:
            if not normalize(phrase).strip():
                continue
            where.setdefault(self._id(phrase), []).append(position)
            position += 1
        return where

    def _id(self, phrase: str) -> int:
        needle = _squeeze(normalize(phrase))
        if not needle:
            return -1  # never found: such a phrase compiles to nothing and matches nothing
        found = self._ids.get(needle)
        if found is None:
            found = self._ids[needle] = len(self._ids)
            self._automaton.add_word(needle, found)
        return found

    def any_brand(self, norm: str) -> bool:
        """Whether any brand can match ``norm``: ``narrow``'s first step alone."""
        if self._open:
            return True
        if not self._brand_ids:
            return False
        brand_ids = self._brand_ids
        return any(needle in brand_ids for _, needle in self._automaton.iter(_squeeze(norm)))

    def narrow(self, norm: str) -> tuple[list[_BrandEntry], list[_CategoryEntry], bool]:
        """The brands (with their keywords and excludes) and the crisis terms that can match
        ``norm``, and whether any of them needs the text's tokens (a Chinese phrase or a query)."""
        present = {v for _, v in self._automaton.iter(_squeeze(norm))} if self._ids else set()
        candidates = [i for i, needles in enumerate(self._brand_needles) if needles is None or not needles.isdisjoint(present)]
        if not candidates:
            return [], [], False
        all_brands, all_categories = self._compiled()
        brands = []
        for i in candidates:
            name, keywords, excludes, query = all_brands[i]
            brands.append((name, _pick(keywords, self._keywords[i], present), _pick(excludes, self._excludes[i], present), query))
        categories = [(name, sev, _pick(terms, self._terms[i], present)) for i, (name, sev, terms) in enumerate(all_categories)]
        segment = any(q is not None for *_, q in brands) or any(
            p.tokens is not None for _, kw, ex, _ in brands for p in (*kw, *ex)
        ) or any(p.tokens is not None for _, _, terms in categories for p in terms)
        return brands, categories, segment


def _pick(phrases: list[_Phrase], where: dict[int, list[int]], present: set[int]) -> list[_Phrase]:
    """The phrases whose needle is present, in their configured order."""
    if len(where) <= len(present):
        positions = [i for needle, at in where.items() if needle in present for i in at]
    else:
        positions = [i for needle in present for i in where.get(needle, ())]
    return [phrases[i] for i in sorted(positions)]


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _needs_a_term(query: Query) -> bool:
    """Whether the query can only hold when at least one of its terms occurs ("NOT x" can
    hold with none: such a brand skips the prefilter)."""
    if isinstance(query, (Term, Near)):
        return True
    if isinstance(query, Not):
        return False
    if isinstance(query, And):
        return any(_needs_a_term(q) for q in query._children())
    if isinstance(query, Or):
        return all(_needs_a_term(q) for q in query._children())
    return False  # an unknown node: be safe
