"""Characters to lexemes: words, phrases, parentheses and the upper-case operators (full
width included). Apart from the parser so the printer (``Term`` quoting a word that would
read as an operator) asks the same question the lexer does."""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from monitor.detect.query._limits import MAX_NEAR, QuerySyntaxError

_QUOTES = frozenset('"＂“”')
_OPEN = frozenset("(（")
_CLOSE = frozenset(")）")
_STOP = _QUOTES | _OPEN | _CLOSE


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

