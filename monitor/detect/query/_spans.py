"""NEAR's arithmetic on occurrences (spans of tokens and units): which pairs are near
enough, and which stretches a NEAR itself occupies, in O(n log n). Apart from the tree
because this is the one part of evaluation whose cost was ever a problem (issue 14, item
5), and ``tests/test_query_near.py`` checks it against the definition, brute force."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


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
