"""Boolean queries in the language PR staff already use in the commercial listening suites,
so a brand can say exactly what counts as a mention:

    query = '(艾克美 OR Acme) AND (保温杯 OR 水杯) NOT 小区'

Pure: no I/O, no database, no tokenizer of its own. The caller normalises a post with
``monitor.textnorm.normalize`` and cuts it with the matcher's jieba tokenizer (once
``Query.terms()`` are in its dictionary, so they segment whole); ``matches()`` does both.

Grammar
-------
::

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*        adjacent operands are ANDed: 艾克美 保温杯
    near    := not ("NEAR/n" not)*         NEAR's operands: terms, phrases, OR groups, NEARs
    not     := unary ("NOT" unary)*        "a NOT b" means a AND NOT b
    unary   := "NOT" unary | primary       "NOT a" on its own, or after AND / OR / "("
    primary := word | "phrase" | "(" or ")"

- Precedence NOT > NEAR > AND > OR; binary operators are left-associative, so
  ``a OR b NOT c`` is ``a OR (b AND NOT c)``: write parentheses when in doubt.
- Operators are upper case (full-width ＡＮＤ counts: Chinese input methods produce it),
  and must stand apart from the words around them. ``and``, ``Near/3`` and 艾克美AND水杯
  are plain words; quote an upper-case word to search for it: ``"AND"``.
- A word runs up to a space, a parenthesis or a quote; ``（）`` and ``“”`` work like
  ``()`` and ``""``. A quoted phrase may hold spaces and operators, with no escapes.
- Adjacent operands are ANDed (``艾克美 保温杯`` = ``艾克美 AND 保温杯``), as in every
  search box; to search for the words side by side write a phrase ``"艾克美 保温杯"``
  or ``艾克美 NEAR/0 保温杯``.
- Syntax errors raise ``QuerySyntaxError`` with the 1-based column (in characters, not
  bytes) of the offending character, so ``monitor check`` can point at it.

Matching
--------
A term (or phrase) is normalised like the text and matches a run of whole consecutive
tokens that spell it, its spaces falling between tokens: 艾克美 matches 艾克美|保温杯
but not the single token 艾克美小区, "acme" does not match "acmeville", and
"hot water" matches "Hot  Water" but not "hot, water". This is the matcher's whole-word
rule.

NEAR distance is counted in the units the issue names, "words or Chinese characters":
each Chinese character is one unit, each run of other letters and digits is one unit
(one word, even when jieba cuts café into caf|é), punctuation and spaces count nothing.
``a NEAR/n b`` holds when some occurrence of a and some occurrence of b have at most n
units between them, in either order: ``NEAR/0`` is adjacent, 艾克美的新保温杯 has 艾克美
and 保温杯 2 apart, "acme is a great cup" has acme and cup 3 apart. Overlapping
occurrences are 0 apart; an occurrence never pairs with itself, so ``acme NEAR/3 acme``
needs two of them. A NEAR's own occurrences are the stretches from the first to the last
unit of its pairs, the widest ones (a stretch inside another is not one of its own), and
are what a chain ``a NEAR/2 b NEAR/5 c`` measures from: the widest reach furthest, so
this changes no answer except where a NEAR is paired with an equal one (``(a NEAR/5 b)
NEAR/0 (a NEAR/5 b)`` needs two stretches side by side, not one inside the other).
Evaluation takes O(n log n) in the post's length, chains and OR groups included.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Protocol

from monitor.detect.textnorm import has_cjk, normalize

__all__ = [
    "MAX_DEPTH",
    "MAX_NEAR",
    "And",
    "Near",
    "Not",
    "Or",
    "Query",
    "QuerySyntaxError",
    "Term",
    "Token",
    "jieba_tokenize",
    "matches",
    "parse",
]

MAX_DEPTH = 50
"""Deepest nesting accepted. Real queries nest a few levels; the limit keeps a hostile or
broken config from hitting Python's recursion limit in the parser or the evaluator."""

MAX_NEAR = 1000
"""Widest NEAR distance accepted, in units (words or Chinese characters): more than a long
post holds, where NEAR means no more than AND. The bound keeps a typo of thousands of
digits a syntax error rather than an integer Python refuses to read."""

_QUOTES = frozenset('"＂“”')
_OPEN = frozenset("(（")
_CLOSE = frozenset(")）")
_STOP = _QUOTES | _OPEN | _CLOSE


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; ``column`` is 1-based, counted in characters."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message, column)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} at column {self.column}"


class Token(NamedTuple):
    """A token of normalised text and its character offsets in that text. A plain tuple,
    so the ``(word, start, end)`` triples jieba's ``Tokenizer.tokenize`` yields are
    tokens as they are. The offsets tell the evaluator which tokens abut (caf|é is one
    word, not two) and let callers highlight what matched."""

    text: str
    start: int
    end: int


class _TooDeep(ValueError):
    pass


# -- the syntax tree ---------------------------------------------------------------------


class Query:
    """A parsed query: an immutable tree of Term, Not, And, Or and Near nodes.

    Nodes compare structurally and every node that can be built prints (``str``) to the
    canonical form, which parses back to an equal node: And and Or are kept flat (use
    ``And.of`` / ``Or.of`` to combine), ``a NOT b`` is stored as ``a AND NOT b``.
    """

    __slots__ = ()
    _rank: ClassVar[int]  # binding strength, for printing the fewest parentheses
    depth: int
    spannable: bool
    """Whether the node has positions, so can be an operand of NEAR: terms, phrases, NEARs
    and OR groups of those. An AND or a NOT has none (where would "NOT a" be?)."""

    def terms(self) -> set[str]:
        """Every term and phrase as written, for the matcher to add to jieba's dictionary
        (after normalising, as it does with keywords) so they segment whole."""
        found: set[str] = set()
        stack: list[Query] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, Term):
                found.add(node.text)
            else:
                stack.extend(node._children())
        return found

    def evaluate(self, tokens: Iterable[tuple[str, int, int]]) -> bool:
        """Whether the tokens of a normalised text satisfy the query. Tokens are Token or
        ``(text, start, end)`` triples in text order; whitespace tokens are ignored."""
        return self._eval(_Doc(tokens))

    def __str__(self) -> str:
        return self._format()

    def _children(self) -> tuple[Query, ...]:
        raise NotImplementedError

    def _eval(self, doc: _Doc) -> bool:
        raise NotImplementedError

    def _spans(self, doc: _Doc) -> list[_Span]:
        raise NotImplementedError

    def _format(self) -> str:
        raise NotImplementedError

    def _wrap(self, min_rank: int) -> str:
        text = self._format()
        return f"({text})" if self._rank < min_rank else text


def _set_depth(node: Query, children: Iterable[Query], spannable: bool) -> None:
    depth = 1 + max((c.depth for c in children), default=0)
    if depth > MAX_DEPTH:
        raise _TooDeep(f"query nested deeper than {MAX_DEPTH}")
    object.__setattr__(node, "depth", depth)
    object.__setattr__(node, "spannable", spannable)


@dataclass(frozen=True, slots=True)
class Term(Query):
    """A word or a phrase. ``text`` is as written (whitespace collapsed); matching uses its
    normalised form, so Acme, ACME and ＡＣＭＥ match alike."""

    text: str
    depth: int = field(init=False, repr=False, compare=False)
    spannable: bool = field(init=False, repr=False, compare=False)
    _pieces: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _rank: ClassVar[int] = 5

    def __post_init__(self) -> None:
        if not self.text or self.text != " ".join(self.text.split()):
            raise ValueError(f"a term is non-empty with single spaces: {self.text!r}")
        if any(ch in _QUOTES for ch in self.text):
            raise ValueError(f"a term cannot hold a quote: {self.text!r}")
        _set_depth(self, (), True)
        object.__setattr__(self, "_pieces", tuple(normalize(self.text).split()))

    def _children(self) -> tuple[Query, ...]:
        return ()

    def _eval(self, doc: _Doc) -> bool:
        return bool(doc.occurrences(self._pieces))

    def _spans(self, doc: _Doc) -> list[_Span]:
        return doc.occurrences(self._pieces)

    def _format(self) -> str:
        bare = not any(ch.isspace() or ch in _STOP for ch in self.text) and _operator(self.text) is None
        return self.text if bare else f'"{self.text}"'


@dataclass(frozen=True, slots=True)
class Not(Query):
    operand: Query
    depth: int = field(init=False, repr=False, compare=False)
    spannable: bool = field(init=False, repr=False, compare=False)
    _rank: ClassVar[int] = 4

    def __post_init__(self) -> None:
        _set_depth(self, (self.operand,), False)

    def _children(self) -> tuple[Query, ...]:
        return (self.operand,)

    def _eval(self, doc: _Doc) -> bool:
        return not self.operand._eval(doc)

    def _format(self) -> str:
        return "NOT " + self.operand._wrap(4)


@dataclass(frozen=True, slots=True)
class And(Query):
    parts: tuple[Query, ...]
    depth: int = field(init=False, repr=False, compare=False)
    spannable: bool = field(init=False, repr=False, compare=False)
    _rank: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if len(self.parts) < 2 or any(isinstance(p, And) for p in self.parts):
            raise ValueError("And takes two or more parts, none an And: use And.of")
        _set_depth(self, self.parts, False)

    @classmethod
    def of(cls, *parts: Query) -> Query:
        """The conjunction, flattened (a AND (b AND c) is a AND b AND c); one part is itself."""
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, And) else (p,)))
        if not flat:
            raise ValueError("And.of needs a part")
        return flat[0] if len(flat) == 1 else cls(flat)

    def _children(self) -> tuple[Query, ...]:
        return self.parts

    def _eval(self, doc: _Doc) -> bool:
        return all(p._eval(doc) for p in self.parts)

    def _format(self) -> str:
        return " AND ".join(p._wrap(3) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Or(Query):
    parts: tuple[Query, ...]
    depth: int = field(init=False, repr=False, compare=False)
    spannable: bool = field(init=False, repr=False, compare=False)
    _rank: ClassVar[int] = 1

    def __post_init__(self) -> None:
        if len(self.parts) < 2 or any(isinstance(p, Or) for p in self.parts):
            raise ValueError("Or takes two or more parts, none an Or: use Or.of")
        _set_depth(self, self.parts, all(p.spannable for p in self.parts))

    @classmethod
    def of(cls, *parts: Query) -> Query:
        """The disjunction, flattened; one part is itself."""
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, Or) else (p,)))
        if not flat:
            raise ValueError("Or.of needs a part")
        return flat[0] if len(flat) == 1 else cls(flat)

    def _children(self) -> tuple[Query, ...]:
        return self.parts

    def _eval(self, doc: _Doc) -> bool:
        return any(p._eval(doc) for p in self.parts)

    def _spans(self, doc: _Doc) -> list[_Span]:
        return sorted({s for p in self.parts for s in p._spans(doc)})

    def _format(self) -> str:
        return " OR ".join(p._wrap(2) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Near(Query):
    """Some occurrence of ``left`` within ``distance`` units of some occurrence of ``right``
    (units: see the module docstring)."""

    left: Query
    right: Query
    distance: int
    depth: int = field(init=False, repr=False, compare=False)
    spannable: bool = field(init=False, repr=False, compare=False)
    _rank: ClassVar[int] = 3

    def __post_init__(self) -> None:
        if not (self.left.spannable and self.right.spannable):
            raise ValueError("NEAR joins terms, phrases, OR groups of them and NEARs")
        if isinstance(self.distance, bool) or not isinstance(self.distance, int) or not 0 <= self.distance <= MAX_NEAR:
            raise ValueError(f"NEAR distance is a whole number from 0 to {MAX_NEAR}: {self.distance!r}")
        _set_depth(self, (self.left, self.right), True)

    def _children(self) -> tuple[Query, ...]:
        return (self.left, self.right)

    def _eval(self, doc: _Doc) -> bool:
        return bool(self._spans(doc))

    def _spans(self, doc: _Doc) -> list[_Span]:
        return _near(self.left._spans(doc), self.right._spans(doc), self.distance)

    def _format(self) -> str:
        return f"{self.left._wrap(3)} NEAR/{self.distance} {self.right._wrap(4)}"


# -- evaluation --------------------------------------------------------------------------


class _Span(NamedTuple):
    """An occurrence: tokens first..last (identity), units [start, end) (distance)."""

    first: int
    last: int
    start: int
    end: int


def _widest(spans: Iterable[_Span]) -> list[_Span]:
    """The spans no other span contains (in tokens), in text order. Sorted so, both their
    first and their last tokens rise, and so do their units (unit positions never fall
    from one token to the next)."""
    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.first, -s.last)):
        if not out or span.last > out[-1].last:
            out.append(span)
    return out


def _holding_another(spans: Iterable[_Span]) -> set[_Span]:
    """The spans that contain another span of ``spans`` (in tokens)."""
    held: set[_Span] = set()
    rightmost_first = -1
    for span in sorted(set(spans), key=lambda s: (s.last, -s.first)):
        if span.first <= rightmost_first:
            held.add(span)  # an earlier span (ending no later, starting no earlier) is inside
        rightmost_first = max(rightmost_first, span.first)
    return held


def _reach(xs: list[_Span], ys: list[_Span], distance: int, out: list[_Span]) -> None:
    """For each x of ``xs``, the widest pair it makes with a y of ``ys`` that starts no
    earlier than x: the last y that starts within reach after x ends. Both lists are
    ``_widest``, so starts rise along each and that y only moves right as x does."""
    hi = 0
    for x in xs:
        while hi < len(ys) and ys[hi].start <= x.end + distance:
            hi += 1
        if hi:
            y = ys[hi - 1]  # starting no earlier than x, it cannot end too far before x
            if y != x and y.first >= x.first:
                out.append(_Span(x.first, max(x.last, y.last), x.start, max(x.end, y.end)))


def _near(lefts: list[_Span], rights: list[_Span], distance: int) -> list[_Span]:
    """The widest stretches of the pairs (a, b), a of ``lefts`` and b of ``rights``, a ≠ b,
    at most ``distance`` units apart: in O(n log n), where comparing every pair was
    quadratic (8.75 s for ``acme NEAR/5 cup`` on one 20,000-character post) and a chain
    cubic.

    A pair of wider spans is nearer and its stretch wider, so only the widest spans of each
    side matter, and of the pairs an x makes with ys starting no earlier than it, only the
    one with the last y in reach. The exception is a pair of one span with itself, which
    does not count: when the same widest span f is on both sides, a narrower span inside f
    on either side pairs with f (0 apart) and makes the stretch f."""
    wide_left, wide_right = _widest(lefts), _widest(rights)
    found: list[_Span] = []
    _reach(wide_left, wide_right, distance, found)
    _reach(wide_right, wide_left, distance, found)
    both = set(wide_left) & set(wide_right)
    if both:
        holding = _holding_another(lefts) | _holding_another(rights)
        found.extend(both & holding)
    return _widest(found)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not has_cjk(ch)


class _Doc:
    """The tokens of one text with their unit positions, and term occurrences cached, so a
    query naming a term twice looks it up once."""

    def __init__(self, tokens: Iterable[tuple[str, int, int]]) -> None:
        self.texts: list[str] = []
        self.starts: list[int] = []  # unit span of each token
        self.ends: list[int] = []
        self.joined: list[bool] = []  # continues the previous token's word (caf|é)
        self._cache: dict[tuple[str, ...], list[_Span]] = {}
        units = 0
        prev_end: int | None = None
        in_word = False
        for text, start, end in tokens:
            text = text.strip()
            if not text:
                continue
            joins = prev_end == start and in_word and _is_word_char(text[0])
            in_word = joins
            first: int | None = units - 1 if joins else None
            for ch in text:
                if has_cjk(ch):
                    units += 1
                    in_word = False
                elif ch.isalnum():
                    if not in_word:
                        units += 1
                        in_word = True
                else:
                    in_word = False
                    continue
                if first is None:
                    first = units - 1
            self.texts.append(text)
            self.starts.append(units if first is None else first)
            self.ends.append(units)
            self.joined.append(joins)
            prev_end = end

    def occurrences(self, pieces: tuple[str, ...]) -> list[_Span]:
        """Where the term whose normalised words are ``pieces`` is spelled by whole tokens."""
        cached = self._cache.get(pieces)
        if cached is not None:
            return cached
        target = "".join(pieces)
        cuts: set[int] = set()
        offset = 0
        for piece in pieces[:-1]:
            offset += len(piece)
            cuts.add(offset)
        found: list[_Span] = []
        n = len(self.texts)
        for i in range(n if target else 0):
            if self.joined[i]:
                continue  # starts inside a word
            offset, j = 0, i
            while j < n and target.startswith(self.texts[j], offset):
                if offset in cuts and self.joined[j]:
                    break  # the term has a space here, the text runs on
                offset += len(self.texts[j])
                if offset == len(target):
                    ends_inside_word = j + 1 < n and self.joined[j + 1]
                    if not ends_inside_word and all(self._cut_at(i, j, c) for c in cuts):
                        found.append(_Span(i, j, self.starts[i], self.ends[j]))
                    break
                j += 1
        self._cache[pieces] = found
        return found

    def _cut_at(self, i: int, j: int, cut: int) -> bool:
        """Whether tokens i..j have a boundary ``cut`` characters in."""
        offset = 0
        for k in range(i, j):
            offset += len(self.texts[k])
            if offset >= cut:
                return offset == cut
        return False


# -- parsing -----------------------------------------------------------------------------


class _Lexeme(NamedTuple):
    kind: str  # "term", "(", ")", "AND", "OR", "NOT", "NEAR", "end"
    text: str
    column: int
    distance: int = 0

    def describe(self) -> str:
        if self.kind == "NEAR":
            return f"NEAR/{self.distance}"
        if self.kind in ("(", ")"):
            return f'"{self.kind}"'
        return self.kind


def _operator(word: str) -> str | None:
    """The operator a word spells (AND, OR, NOT, NEAR), full-width forms included."""
    folded = unicodedata.normalize("NFKC", word)
    if folded in ("AND", "OR", "NOT"):
        return folded
    if folded == "NEAR" or folded.startswith("NEAR/"):
        return "NEAR"
    return None


def _lex(text: str) -> list[_Lexeme]:
    out: list[_Lexeme] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _OPEN or ch in _CLOSE:
            out.append(_Lexeme("(" if ch in _OPEN else ")", ch, i + 1))
            i += 1
        elif ch in _QUOTES:
            j = next((k for k in range(i + 1, n) if text[k] in _QUOTES), -1)
            if j < 0:
                raise QuerySyntaxError("unbalanced quote", i + 1)
            phrase = " ".join(text[i + 1 : j].split())
            if not phrase:
                raise QuerySyntaxError("empty phrase", i + 1)
            out.append(_Lexeme("term", phrase, i + 1))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _STOP:
                j += 1
            word = text[i:j]
            op = _operator(word)
            if op == "NEAR":
                digits = unicodedata.normalize("NFKC", word)[5:]
                if not (digits.isascii() and digits.isdigit()):
                    raise QuerySyntaxError("NEAR needs a number (write NEAR/3)", i + 1)
                significant = digits.lstrip("0") or "0"
                if len(significant) > len(str(MAX_NEAR)) or int(significant) > MAX_NEAR:
                    raise QuerySyntaxError(f"NEAR distance is at most {MAX_NEAR} (wider than a long post: write AND)", i + 1)
                out.append(_Lexeme("NEAR", word, i + 1, int(significant)))
            else:
                out.append(_Lexeme(op or "term", word, i + 1))
            i = j
    out.append(_Lexeme("end", "", n + 1))
    return out


_Why = tuple[str, int]  # why a node cannot be a NEAR operand: (operator, its column)


class _Parser:
    """Recursive descent, one method per precedence level. Each returns the node and, if
    it has no positions, which operator (and where) took them away, so a NEAR around it
    can point at the culprit."""

    def __init__(self, text: str) -> None:
        self.lexemes = _lex(text)
        self.i = 0
        self.nesting = 0

    def peek(self) -> _Lexeme:
        return self.lexemes[self.i]

    def advance(self) -> _Lexeme:
        lexeme = self.lexemes[self.i]
        self.i += 1
        return lexeme

    def parse(self) -> Query:
        if self.peek().kind == "end":
            raise QuerySyntaxError("empty query", 1)
        node, _ = self.or_(None)
        extra = self.peek()
        if extra.kind != "end":  # the levels stop only at ")" or the end
            raise QuerySyntaxError('unmatched ")"', extra.column)
        return node

    def or_(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        node, why = self.and_(after)
        while self.peek().kind == "OR":
            op = self.advance()
            right, right_why = self.and_(op)
            node = _build(lambda: Or.of(node, right), op.column)  # noqa: B023 - _build calls it at once
            why = why or right_why
        return node, why

    def and_(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        node, why = self.near(after)
        while self.peek().kind in ("AND", "term", "("):
            if self.peek().kind == "AND":
                lexeme = self.advance()
                op: _Lexeme | None = lexeme
                column, what = lexeme.column, "AND"
            else:
                op = None
                column, what = self.peek().column, "an implicit AND"
            right, _ = self.near(op)
            node = _build(lambda: And.of(node, right), column)  # noqa: B023 - _build calls it at once
            why = why or (what, column)
        return node, why

    def near(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        node, why = self.not_(after)
        while self.peek().kind == "NEAR":
            op = self.advance()
            right, right_why = self.not_(op)
            for culprit in (why, right_why):
                if culprit:
                    raise QuerySyntaxError(f"NEAR joins terms, phrases and OR groups, not {culprit[0]}", culprit[1])
            node = _build(lambda: Near(node, right, op.distance), op.column)  # noqa: B023 - _build calls it at once
        return node, why

    def not_(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        node, why = self.unary(after)
        while self.peek().kind == "NOT":
            op = self.advance()
            right, _ = self.unary(op)
            node = _build(lambda: And.of(node, Not(right)), op.column)  # noqa: B023 - _build calls it at once
            why = why or ("NOT", op.column)
        return node, why

    def unary(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        if self.peek().kind != "NOT":
            return self.primary(after)
        op = self.advance()
        with _Nesting(self, op):
            operand, _ = self.unary(op)
        return _build(lambda: Not(operand), op.column), ("NOT", op.column)

    def primary(self, after: _Lexeme | None) -> tuple[Query, _Why | None]:
        lexeme = self.peek()
        if lexeme.kind == "term":
            self.advance()
            return Term(lexeme.text), None
        if lexeme.kind == "(":
            self.advance()
            if self.peek().kind == ")":
                raise QuerySyntaxError("empty parentheses", self.peek().column)
            with _Nesting(self, lexeme):
                node, why = self.or_(lexeme)
            close = self.peek()
            if close.kind != ")":
                raise QuerySyntaxError('expected ")"', close.column)
            self.advance()
            return node, why
        # an operand was due and something else came
        if lexeme.kind == "end":
            if after is None:
                raise QuerySyntaxError("empty query", lexeme.column)
            raise QuerySyntaxError(f"expected a term after {after.describe()}", lexeme.column)
        if after is None and lexeme.kind == ")":
            raise QuerySyntaxError('unmatched ")"', lexeme.column)
        if after is None or after.kind == "(":
            if lexeme.kind == ")":
                raise QuerySyntaxError("empty parentheses", lexeme.column)
            raise QuerySyntaxError(f"operator {lexeme.describe()} with nothing on its left", lexeme.column)
        raise QuerySyntaxError(f"expected a term after {after.describe()}, found {lexeme.describe()}", lexeme.column)


class _Nesting:
    """Counts open parentheses and NOTs: deeper than MAX_DEPTH is an error, not a crash."""

    def __init__(self, parser: _Parser, lexeme: _Lexeme) -> None:
        self.parser = parser
        self.lexeme = lexeme

    def __enter__(self) -> None:
        self.parser.nesting += 1
        if self.parser.nesting > MAX_DEPTH:
            raise QuerySyntaxError("query nested too deeply", self.lexeme.column)

    def __exit__(self, *exc: object) -> None:
        self.parser.nesting -= 1


def _build(make: Callable[[], Query], column: int) -> Query:
    try:
        return make()
    except _TooDeep:
        raise QuerySyntaxError("query nested too deeply", column) from None


def parse(text: str) -> Query:
    """The query ``text`` spells; ``QuerySyntaxError`` (and nothing else) if it spells none."""
    return _Parser(text).parse()


# -- convenience -------------------------------------------------------------------------


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
