"""NEAR without comparing every pair (issue 14, item 5): the fast evaluation against a
brute-force reference on small random token lists, and a worst case timed against a
linear baseline measured in the same test."""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.detect.query import And, Near, Not, Or, Query, Term, Token, parse
from monitor.detect.query._document import _Doc
from monitor.detect.query._spans import _Span

WORDS = ["a", "b", "杯", "!", "é"]
TERMS = ["a", "b", "a b", "b a", "a 杯", "杯", "!", "é"]


def brute_spans(node: Query, doc: _Doc) -> list[_Span]:
    """The definition, word for word: every pair of different occurrences at most n units
    apart; a NEAR's occurrences are its pairs' stretches, those no other stretch contains."""
    if isinstance(node, Term):
        return doc.occurrences(node._pieces)
    if isinstance(node, Or):
        return sorted({s for p in node.parts for s in brute_spans(p, doc)})
    assert isinstance(node, Near)
    stretches = {
        _Span(min(a.first, b.first), max(a.last, b.last), min(a.start, b.start), max(a.end, b.end))
        for a in brute_spans(node.left, doc)
        for b in brute_spans(node.right, doc)
        if a != b and max(b.start - a.end, a.start - b.end, 0) <= node.distance
    }
    return sorted(s for s in stretches if not any(o != s and o.first <= s.first and s.last <= o.last for o in stretches))


def brute_eval(node: Query, doc: _Doc) -> bool:
    if isinstance(node, And):
        return all(brute_eval(p, doc) for p in node.parts)
    if isinstance(node, Not):
        return not brute_eval(node.operand, doc)
    if isinstance(node, Or) and not node.spannable:
        return any(brute_eval(p, doc) for p in node.parts)
    return bool(brute_spans(node, doc))


def _tokens(pieces: list[tuple[str, str]]) -> list[Token]:
    out, at = [], 0
    for word, gap in pieces:
        at += len(gap)
        out.append(Token(word, at, at + len(word)))
        at += len(word)
    return out


_token_lists = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(["", " ", "  "])), max_size=14).map(_tokens)
_spannable: st.SearchStrategy[Query] = st.recursive(
    st.sampled_from(TERMS).map(Term),
    lambda inner: st.one_of(
        st.tuples(inner, inner, st.integers(0, 4)).map(lambda t: Near(*t)),
        st.lists(inner, min_size=2, max_size=3).map(lambda parts: Or.of(*parts)),
    ),
    max_leaves=6,
)
_queries = st.one_of(
    _spannable,
    st.tuples(_spannable, _spannable).map(lambda t: And.of(t[0], Not(t[1]))),
    st.tuples(_spannable, _spannable).map(lambda t: Or.of(t[0], And.of(t[0], t[1]))),
)


@given(query=_queries, tokens=_token_lists)
@example(query=parse('(a OR "a b") NEAR/0 (b OR "a b")'), tokens=_tokens([("a", ""), ("b", " ")]))
@example(query=parse("(a NEAR/5 b) NEAR/0 (a NEAR/5 b)"), tokens=_tokens([("a", ""), ("杯", " "), ("a", " "), ("b", " ")]))
@settings(max_examples=2000, deadline=None)
def test_near_agrees_with_the_brute_force_definition(query: Query, tokens: list[Token]) -> None:
    doc = _Doc(tokens)
    if query.spannable:
        assert query._spans(_Doc(tokens)) == brute_spans(query, doc)
    assert query.evaluate(tokens) == brute_eval(query, doc)


def test_self_pairs_need_two_occurrences_and_nested_stretches_still_pair() -> None:
    toks = _tokens([("a", ""), ("a", " "), ("b", " ")])
    assert parse("a NEAR/3 a").evaluate(toks)
    assert not parse("b NEAR/3 b").evaluate(toks)
    # "a b", the widest on both sides, pairs with the a (or the b) inside it
    assert parse('(a OR "a b") NEAR/0 (b OR "a b")').evaluate(toks)
    assert not parse('"a a b" NEAR/0 "a a b"').evaluate(toks)
    # a NEAR's stretches: the widest, so a chain measures from the far end
    chain = parse("a NEAR/5 b NEAR/0 x")
    assert chain.evaluate(_tokens([("x", ""), ("a", " "), ("a", " "), ("b", " ")]))


def _best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def test_near_is_not_quadratic_on_a_long_post_full_of_both_terms() -> None:
    words = ["acme", "cup"] * 10_000  # 20,000 tokens, every one a term of the query
    tokens = _tokens([(w, " ") for w in words])
    baseline = _best_of(3, lambda: parse("acme OR cup").evaluate(tokens))  # linear: one pass, two lookups
    for text in (
        "acme NEAR/5 cup",
        "acme NEAR/1000 cup",
        "(acme OR cup) NEAR/1000 (acme OR cup)",
        "acme NEAR/1000 cup NEAR/1000 acme NEAR/1000 cup",
        '(acme NEAR/3 cup) NEAR/1000 ("cup acme" NEAR/1000 acme) AND NOT nothing',
    ):
        query = parse(text)
        assert query.evaluate(tokens)
        took = _best_of(3, lambda q=query: q.evaluate(tokens))
        # comparing every pair is 10,000 × 10,000: thousands of times the baseline
        assert took < 25 * baseline, f"{text}: {took / baseline:.1f}× the linear baseline"
