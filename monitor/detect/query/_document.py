"""A post as the evaluator sees it: its tokens, each token's position in units (words or
Chinese characters, the units NEAR counts), and where a term is spelled by whole tokens.
Built once per post, so every node of a query reads the same positions."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.detect.query._spans import _Span
from monitor.detect.textnorm import has_cjk


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

