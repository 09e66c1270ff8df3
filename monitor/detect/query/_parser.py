"""Lexemes to a tree: recursive descent over the grammar in the package docstring, with
precedence NOT > NEAR > AND > OR and every error a ``QuerySyntaxError`` carrying the
column of its cause. Apart from the tree so the error reporting (which operator took a
NEAR operand's positions away, nesting limits) stays out of evaluation."""

from __future__ import annotations

from collections.abc import Callable

from monitor.detect.query._lexer import _lex, _Lexeme
from monitor.detect.query._limits import MAX_DEPTH, QuerySyntaxError, _TooDeep
from monitor.detect.query._tree import And, Near, Not, Or, Query, Term

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

