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
import marshal
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ahocorasick

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.query import And, Near, Not, Or, Query, Term, Token, jieba_tokenize
from monitor.detect.textnorm import has_cjk, normalize

if TYPE_CHECKING:
    import jieba

_WORD_FREQ = 10**6  # beats any frequency in jieba's own dictionary
# A word boundary for non-Chinese phrases: Chinese characters count as a boundary
# (央视315晚会 contains "315"; "acme杯子" contains "acme"), letters and digits do not.
_ALNUM = r"[0-9a-z_\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]"


class TokenizerFactory:
    """Loads jieba's 350k-word dictionary once (about a second) and hands out independent
    tokenizers (copies of it, ~15 ms), so a config reload never mutates one in use.

    ``preload()`` loads it on a background thread (jieba itself is imported there too), so
    a daemon can start polling meanwhile; ``deferred()`` hands out a tokenizer at once that
    waits for the dictionary only when it first cuts text, and a ``Matcher`` built on one
    compiles its phrases only when a post first gets past its prefilter."""

    def __init__(self, *, background: bool = False) -> None:
        self._base: jieba.Tokenizer | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._started = False
        if background:
            self.preload()

    def preload(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="jieba-dictionary", daemon=True).start()

    def _load(self) -> None:
        try:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            base = jieba.Tokenizer()
            _load_cache(base)
            if not base.initialized:
                base.initialize()  # builds the dictionary and writes jieba's cache
            self._base = base
        except BaseException as exc:  # handed to whoever waits for it
            self._error = exc
        finally:
            self._loaded.set()

    def base(self) -> jieba.Tokenizer:
        """jieba's dictionary, loaded (in this thread, unless a preload is under way)."""
        with self._lock:
            load_here = not self._started
            self._started = True
        if load_here:
            self._load()
        self._loaded.wait()
        if self._base is None:
            raise RuntimeError(f"jieba's dictionary could not be loaded: {self._error}") from self._error
        return self._base

    def new(self) -> jieba.Tokenizer:
        import jieba

        base = self.base()
        tokenizer = jieba.Tokenizer()
        tokenizer.FREQ = dict(base.FREQ)
        tokenizer.total = base.total
        tokenizer.initialized = True
        return tokenizer

    def deferred(self) -> jieba.Tokenizer:
        """A tokenizer returned at once: ``add_word`` is recorded, and the dictionary is
        copied in (waiting for a preload if need be) when it first has text to cut."""
        return _deferred_class()(self)


def _load_cache(tokenizer: jieba.Tokenizer) -> None:
    """What ``jieba.Tokenizer.initialize`` reads from its cache for the default dictionary,
    read in one go: jieba's ``marshal.load`` on the open file takes 0.8 s where reading
    the 9 MB first and then ``marshal.loads`` takes 0.2 s (both hold the GIL throughout).
    Leaves the tokenizer uninitialised when there is no usable cache."""
    import jieba

    if tokenizer.dictionary != jieba.DEFAULT_DICT or tokenizer.cache_file:
        return
    cache = os.path.join(tokenizer.tmp_dir or tempfile.gettempdir(), "jieba.cache")
    try:
        with open(cache, "rb") as f:
            freq, total = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return
    if isinstance(freq, dict) and freq and total:
        tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True


def _deferred_class() -> type:
    global _Deferred
    if _Deferred is None:
        import jieba

        class Deferred(jieba.Tokenizer):
            initialized: bool

            def __init__(self, factory: TokenizerFactory) -> None:
                super().__init__()
                self._factory = factory
                self._pending: list[tuple[str, int]] = []

            def add_word(self, word: str, freq: int | None = None, tag: str | None = None) -> None:
                if freq is not None and tag is None and not self.initialized:
                    with self.lock:
                        if not self.initialized:
                            self._pending.append((word, int(freq)))
                            return
                super().add_word(word, freq, tag)

            def initialize(self, dictionary: str | None = None) -> None:
                with self.lock:
                    if self.initialized:
                        return
                    base = self._factory.base()
                    freq, total = dict(base.FREQ), base.total
                    for word, count in self._pending:  # jieba's add_word, for the words recorded
                        freq[word] = count
                        total += count
                        for end in range(1, len(word)):
                            freq.setdefault(word[:end], 0)
                    self._pending = []
                    self.FREQ, self.total = freq, total
                    self.initialized = True

        _Deferred = Deferred
    return _Deferred


_Deferred: type | None = None


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

    def severity_of(self, category: str) -> Severity | None:
        return next((sev for name, sev, _ in self._categories if name == category), None)

    def words(self, text: str) -> list[str]:
        """The text's words in normal form, segmented as matching sees them (keywords and
        crisis terms whole): what issue clustering compares."""
        norm = normalize(text)
        return self._tokens(norm) if has_cjk(norm) else [w for w in re.split(r"\s+", norm) if w]


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


_BrandEntry = tuple[str, list[_Phrase], list[_Phrase], "Query | None"]
_CategoryEntry = tuple[str, Severity, list[_Phrase]]


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


def _all_phrases(brands: Sequence[BrandConfig], categories: Sequence[CategoryConfig]) -> Iterable[str]:
    for brand in brands:
        yield from brand.keywords
        yield from brand.exclude
        if brand.query is not None:
            yield from brand.query.terms()
    for category in categories:
        yield from category.terms
