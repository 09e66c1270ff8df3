"""Boolean queries in the language PR staff already use in the commercial listening suites,
so a brand can say exactly what counts as a mention:

    query = '(艾克美 OR Acme) AND (保温杯 OR 水杯) NOT 小区'

Pure: no I/O, no database, no tokenizer of its own. The caller normalises a post with
``monitor.detect.textnorm.normalize`` and cuts it with the matcher's jieba tokenizer (once
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

Layout
------
One job per module, the public names here: ``_limits`` (the bounds and the error),
``_lexer`` (characters to lexemes), ``_parser`` (lexemes to a tree, columns in its
errors), ``_tree`` (the immutable nodes, printing, evaluation by node), ``_document`` (a
post's tokens as units, term occurrences), ``_spans`` (NEAR's pairing of occurrences),
``_tokens`` (jieba's tokens, and ``matches`` in one call).
"""

from monitor.detect.query._limits import MAX_DEPTH, MAX_NEAR, QuerySyntaxError
from monitor.detect.query._parser import parse
from monitor.detect.query._tokens import Token, jieba_tokenize, matches
from monitor.detect.query._tree import And, Near, Not, Or, Query, Term

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
