"""The syntax tree: immutable Term, Not, And, Or and Near nodes that compare structurally,
print to the canonical form, and evaluate themselves over a ``_Doc``. Apart from the
parser so a tree can be built, printed and evaluated without ever being parsed (the
matcher's prefilter and the tests do)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from monitor.detect.query._document import _Doc
from monitor.detect.query._lexer import _QUOTES, _STOP, _operator
from monitor.detect.query._limits import MAX_DEPTH, MAX_NEAR, _TooDeep
from monitor.detect.query._spans import _near, _Span
from monitor.detect.textnorm import normalize


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

