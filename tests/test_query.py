"""The boolean query language: the issue's example on the real tokenizer, NEAR distances in
words and Chinese characters, phrases, precedence, error columns, and properties (round
trip, truth tables, no crash on any input)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import BrandConfig
from monitor.detect.matching import Matcher, TokenizerFactory
from monitor.detect.query import (
    MAX_DEPTH,
    MAX_NEAR,
    And,
    Near,
    Not,
    Or,
    Query,
    QuerySyntaxError,
    Term,
    Token,
    jieba_tokenize,
    matches,
    parse,
)

Tokenize = Callable[[str], list[Token]]
ISSUE_QUERY = "(艾克美 OR Acme) AND (保温杯 OR 水杯) NOT 小区"

_SIMPLE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]|[^\W_\u3400-\u4dbf\u4e00-\u9fff]+|\S")


def simple_tokenize(text: str) -> list[Token]:
    """A tokenizer with no dictionary: each Chinese character, each run of letters and
    digits, each other symbol a token."""
    return [Token(m.group(), m.start(), m.end()) for m in _SIMPLE.finditer(text)]


def jieba_for(tokenizers: TokenizerFactory, *queries: Query) -> Tokenize:
    """A fresh project tokenizer prepared as the matcher prepares its own: the queries'
    terms added to jieba's dictionary by a Matcher (its rule, not a copy of it)."""
    tokenizer = tokenizers.new()
    words = sorted(set().union(*(q.terms() for q in queries)))
    Matcher([BrandConfig("query", tuple(words))], [], tokenizer)
    return jieba_tokenize(tokenizer)


def T(text: str) -> Term:
    return Term(text)


# -- the issue's example on the project tokenizer ------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("艾克美保温杯漏水了", True),
        ("Acme 水杯", True),
        ("<p>ＡＣＭＥ水杯坏了</p>", True),  # HTML, full width and case folded like the matcher
        ("艾克美小区保温杯", False),  # NOT 小区
        ("艾克美手机", False),  # no cup
        ("保温杯漏水", False),  # no brand
        ("Acmeville 水杯", False),  # acme inside a longer word
    ],
)
def test_issue_example(tokenizers, text, expected):
    query = parse(ISSUE_QUERY)
    assert matches(query, text, jieba_for(tokenizers, query)) is expected


def test_matches_takes_query_text_and_raw_jieba_triples(tokenizers):
    query = parse(ISSUE_QUERY)
    tokenizer = tokenizers.new()
    Matcher([BrandConfig("query", tuple(query.terms()))], [], tokenizer)
    # jieba's own (word, start, end) triples, whitespace tokens included, are tokens too
    assert matches(ISSUE_QUERY, "Acme 水杯", lambda s: list(tokenizer.tokenize(s, HMM=False)))


def test_terms():
    assert parse(ISSUE_QUERY).terms() == {"艾克美", "Acme", "保温杯", "水杯", "小区"}
    assert parse('"hot water" NEAR/2 (a OR b) AND NOT "hot water"').terms() == {"hot water", "a", "b"}


# -- NEAR: words for Latin text, characters for Chinese ------------------------------------


@pytest.mark.parametrize("tokenizer", ["simple", "jieba"])
@pytest.mark.parametrize(
    "query, text, expected",
    [
        ("acme NEAR/3 cup", "acme is a great cup", True),  # 3 words between
        ("acme NEAR/3 cup", "cup is a great acme", True),  # either order
        ("acme NEAR/3 cup", "acme is a really great cup", False),  # 4
        ("acme NEAR/3 cup", "acme is not a very great cup", False),  # 5
        ("acme NEAR/3 cup", "Acme, the cup!", True),  # punctuation counts nothing
        ("acme NEAR/0 cup", "acme cup", True),
        ("acme NEAR/0 cup", "acme red cup", False),
        ("艾克美 NEAR/3 漏水", "艾克美杯子又漏水", True),  # 杯子又: 3 characters between
        ("艾克美 NEAR/3 漏水", "漏水的就是艾克美", True),  # 的就是: 3, the other way round
        ("艾克美 NEAR/3 漏水", "艾克美的保温杯又漏水", False),  # 的保温杯又: 5
        ("艾克美 NEAR/3 漏水", "艾克美保温杯又漏水", False),  # 保温杯又: 4
        ("acme NEAR/2 漏水", "acme杯子漏水", True),  # mixed: a word and characters
        ("acme NEAR/2 漏水", "acme 新杯子漏水", False),
        ("acme NEAR/3 acme", "acme", False),  # one occurrence never pairs with itself
        ("acme NEAR/3 acme", "acme and acme", True),
        ('(艾克美 OR acme) NEAR/1 ("hot water" OR 烫伤)', "ACME hot water", True),
        ('(艾克美 OR acme) NEAR/1 ("hot water" OR 烫伤)', "艾克美把我烫伤了", False),  # 把我: 2
        ('(艾克美 OR acme) NEAR/2 ("hot water" OR 烫伤)', "艾克美把我烫伤了", True),
        ("acme NEAR/1 cup NEAR/1 leak", "acme cup leak", True),  # a NEAR's stretch is acme..cup
        ("acme NEAR/1 cup NEAR/1 leak", "leak x y acme cup", False),
    ],
)
def test_near(tokenizers, tokenizer, query, text, expected):
    q = parse(query)
    tokenize = simple_tokenize if tokenizer == "simple" else jieba_for(tokenizers, q)
    assert matches(q, text, tokenize) is expected


def test_near_counts_a_word_jieba_cuts_in_two_as_one(tokenizers):
    q = parse("café NEAR/1 acme")
    tokenize = jieba_for(tokenizers, q)
    assert [t.text for t in tokenize("café x acme")][:2] == ["caf", "é"]  # jieba's cut
    assert matches(q, "Café x Acme", tokenize)
    assert not matches(q, "café x y acme", tokenize)
    assert not matches("caf", "café", tokenize)  # and a term never ends inside a word


# -- terms and phrases ---------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", ["simple", "jieba"])
@pytest.mark.parametrize(
    "query, text, expected",
    [
        ('"hot water"', "the HOT  water burned", True),
        ('"hot water"', "hot, water", False),
        ('"hot water"', "water hot", False),
        ('"hot water"', "hotwater", False),
        ('"艾克美 保温杯"', "艾克美保温杯", True),  # Chinese is written without spaces
        ('"艾克美 保温杯"', "艾克美 保温杯", True),
        ('"艾克美 保温杯"', "艾克美的保温杯", False),
        ("“艾克美 保温杯”", "艾克美保温杯", True),  # Chinese quotes
        ('"AND"', "this AND that", True),  # a quoted operator is a word
        ("cats and dogs", "dogs and cats", True),  # lower-case and is a word, ANDed
        ("cats and dogs", "dogs or cats", False),
        ("ACME", "acme", True),
    ],
)
def test_terms_and_phrases(tokenizers, tokenizer, query, text, expected):
    q = parse(query)
    tokenize = simple_tokenize if tokenizer == "simple" else jieba_for(tokenizers, q)
    assert matches(q, text, tokenize) is expected


def test_lowercase_operators_and_quoted_phrases_are_terms():
    assert parse("cats and dogs") == And((T("cats"), T("and"), T("dogs")))
    assert parse("a near/3 b") == And((T("a"), T("near/3"), T("b")))
    assert parse('"a  AND b"') == T("a AND b")
    assert parse('"acme"') == parse("acme")
    assert str(parse('"AND" "hot water" "NEAR/2" "(x)"')) == '"AND" AND "hot water" AND "NEAR/2" AND "(x)"'


# -- precedence and parentheses ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tree, canonical",
    [
        ("a OR b AND c", Or((T("a"), And((T("b"), T("c"))))), "a OR b AND c"),
        ("(a OR b) AND c", And((Or((T("a"), T("b"))), T("c"))), "(a OR b) AND c"),
        ("a b OR c", Or((And((T("a"), T("b"))), T("c"))), "a AND b OR c"),  # implicit AND
        ("a AND b NEAR/2 c", And((T("a"), Near(T("b"), T("c"), 2))), "a AND b NEAR/2 c"),
        ("a NOT b", And((T("a"), Not(T("b")))), "a AND NOT b"),
        ("a OR b NOT c", Or((T("a"), And((T("b"), Not(T("c")))))), "a OR b AND NOT c"),
        ("(a OR b) NOT c", And((Or((T("a"), T("b"))), Not(T("c")))), "(a OR b) AND NOT c"),
        ("NOT a b", And((Not(T("a")), T("b"))), "NOT a AND b"),
        ("NOT (a OR b)", Not(Or((T("a"), T("b")))), "NOT (a OR b)"),
        ("a AND NOT NOT b", And((T("a"), Not(Not(T("b"))))), "a AND NOT NOT b"),
        ("a NEAR/1 b NEAR/2 c", Near(Near(T("a"), T("b"), 1), T("c"), 2), "a NEAR/1 b NEAR/2 c"),
        ("a NEAR/1 (b NEAR/2 c)", Near(T("a"), Near(T("b"), T("c"), 2), 1), "a NEAR/1 (b NEAR/2 c)"),
        ("(a OR b) NEAR/05 c", Near(Or((T("a"), T("b"))), T("c"), 5), "(a OR b) NEAR/5 c"),
        ("a AND (b AND c)", And((T("a"), T("b"), T("c"))), "a AND b AND c"),  # flat
        ("((a))", T("a"), "a"),
        ("（艾克美 ＯＲ Acme） ＡＮＤ 水杯", And((Or((T("艾克美"), T("Acme"))), T("水杯"))), "(艾克美 OR Acme) AND 水杯"),
        (ISSUE_QUERY, And((Or((T("艾克美"), T("Acme"))), Or((T("保温杯"), T("水杯"))), Not(T("小区")))), "(艾克美 OR Acme) AND (保温杯 OR 水杯) AND NOT 小区"),
    ],
)
def test_precedence(text, tree, canonical):
    assert parse(text) == tree
    assert str(tree) == canonical
    assert parse(canonical) == tree


@pytest.mark.parametrize(
    "query, text, expected",
    [
        ("a OR b AND c", "a", True),
        ("(a OR b) AND c", "a", False),
        ("a OR b NOT c", "a c", True),  # a OR (b AND NOT c)
        ("(a OR b) NOT c", "a c", False),
        ("NOT a", "b", True),
        ("NOT a", "a b", False),
    ],
)
def test_precedence_in_evaluation(query, text, expected):
    assert matches(query, text, simple_tokenize) is expected


# -- syntax errors: the message and the column ---------------------------------------------


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("", "empty query", 1),
        ("   ", "empty query", 1),
        ("(a OR b", 'expected ")"', 8),
        ("(艾克美 OR Acme) AND (保温杯 OR 水杯", 'expected ")"', 29),
        ('a AND "hot water', "unbalanced quote", 7),
        ('"a" "b" "c', "unbalanced quote", 9),
        ('a ""', "empty phrase", 3),
        ("AND a", "operator AND with nothing on its left", 1),
        ("(OR a)", "operator OR with nothing on its left", 2),
        ("NEAR/2 a", "operator NEAR/2 with nothing on its left", 1),
        ("a AND OR b", "expected a term after AND, found OR", 7),
        ("a NOT AND b", "expected a term after NOT, found AND", 7),
        ("a AND )", 'expected a term after AND, found ")"', 7),
        ("a OR", "expected a term after OR", 5),
        ("NOT", "expected a term after NOT", 4),
        ("a NEAR/3", "expected a term after NEAR/3", 9),
        ("(", 'expected a term after "("', 2),
        ("a NEAR b", "NEAR needs a number (write NEAR/3)", 3),
        ("a NEAR/ b", "NEAR needs a number (write NEAR/3)", 3),
        ("a NEAR/x b", "NEAR needs a number (write NEAR/3)", 3),
        ("a NEAR/-1 b", "NEAR needs a number (write NEAR/3)", 3),
        ("a NEAR/1001 b", "NEAR distance is at most 1000 (wider than a long post: write AND)", 3),
        ("a NEAR/" + "9" * 5000 + " b", "NEAR distance is at most 1000 (wider than a long post: write AND)", 3),  # no int() of 5,000 digits
        ("()", "empty parentheses", 2),
        ("a ( ) b", "empty parentheses", 5),
        ("a)", 'unmatched ")"', 2),
        (") a", 'unmatched ")"', 1),
        ("(a) b)", 'unmatched ")"', 6),
        ("(a AND b) NEAR/3 c", "NEAR joins terms, phrases and OR groups, not AND", 4),
        ("(a b) NEAR/3 c", "NEAR joins terms, phrases and OR groups, not an implicit AND", 4),
        ("a NEAR/3 NOT b", "NEAR joins terms, phrases and OR groups, not NOT", 10),
        ("a NOT b NEAR/2 c", "NEAR joins terms, phrases and OR groups, not NOT", 3),
        ("c NEAR/2 (a OR b AND x)", "NEAR joins terms, phrases and OR groups, not AND", 18),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "query nested too deeply", MAX_DEPTH + 1),
        ("NOT " * (MAX_DEPTH + 1) + "a", "query nested too deeply", 4 * MAX_DEPTH + 1),
    ],
)
def test_syntax_errors(text, message, column):
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert str(caught.value) == f"{message} at column {column}"


def test_a_long_near_chain_is_an_error_not_a_crash():
    text = " NEAR/1 ".join(["a"] * (MAX_DEPTH + 5))
    with pytest.raises(QuerySyntaxError, match="nested too deeply"):
        parse(text)


def test_nodes_refuse_what_would_not_print_back():
    with pytest.raises(ValueError):
        Near(And((T("a"), T("b"))), T("c"), 1)
    with pytest.raises(ValueError):
        Near(T("a"), T("b"), MAX_NEAR + 1)
    assert parse(f"a NEAR/{MAX_NEAR} b") == Near(T("a"), T("b"), MAX_NEAR)
    with pytest.raises(ValueError):
        And((T("a"),))
    with pytest.raises(ValueError):
        Or((Or((T("a"), T("b"))), T("c")))
    with pytest.raises(ValueError):
        Term("two  spaces")
    with pytest.raises(ValueError):
        Term('say "hi"')
    assert And.of(T("a"), And.of(T("b"), T("c"))) == And((T("a"), T("b"), T("c")))
    assert Or.of(T("a")) == T("a")


# -- properties ----------------------------------------------------------------------------

_WORDS = ["acme", "Acme", "艾克美", "保温杯", "AND", "or", "near/3", "NEAR/2", "(x)", "a b", "ＯＲ", "x)y", "NOT"]
_term_texts = st.one_of(
    st.sampled_from(_WORDS),
    st.text(st.characters(blacklist_characters='"＂“”', blacklist_categories=("Cs",)), min_size=1, max_size=8)
    .map(lambda s: " ".join(s.split()))
    .filter(bool),
)
_terms = _term_texts.map(Term)
_spannable = st.recursive(
    _terms,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: Or.of(*ps)),
        st.builds(Near, inner, inner, st.integers(0, 12)),
    ),
    max_leaves=5,
)
_queries = st.recursive(
    st.one_of(_terms, _spannable),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(lambda ps: And.of(*ps)),
        st.lists(inner, min_size=2, max_size=4).map(lambda ps: Or.of(*ps)),
        inner.map(Not),
    ),
    max_leaves=12,
)


@given(_queries)
@settings(max_examples=400, deadline=None)
def test_canonical_form_parses_back(query):
    assert parse(str(query)) == query


VOCAB = ["acme", "cup", "leak", "hot water", "水杯", "漏水", "艾克美"]
_boolean = st.recursive(
    st.sampled_from(VOCAB).map(Term),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: And.of(*ps)),
        st.lists(inner, min_size=2, max_size=3).map(lambda ps: Or.of(*ps)),
        inner.map(Not),
    ),
    max_leaves=10,
)


def truth(query: Query, present: set[str]) -> bool:
    """The query's value by its definition, on the set of terms the text holds."""
    if isinstance(query, Term):
        return query.text in present
    if isinstance(query, Not):
        return not truth(query.operand, present)
    if isinstance(query, And):
        return all(truth(p, present) for p in query.parts)
    assert isinstance(query, Or)
    return any(truth(p, present) for p in query.parts)


@pytest.fixture(scope="module")
def vocab_jieba(tokenizers) -> Tokenize:
    return jieba_for(tokenizers, *(Term(w) for w in VOCAB))


@pytest.mark.parametrize("tokenizer", ["simple", "jieba"])
@given(query=_boolean, words=st.lists(st.sampled_from(VOCAB), unique=True), shout=st.booleans(), data=st.data())
@settings(max_examples=300, deadline=None)
def test_evaluation_is_the_truth_table(vocab_jieba, tokenizer, query, words, shout, data):
    tokenize = simple_tokenize if tokenizer == "simple" else vocab_jieba
    filler = data.draw(st.lists(st.sampled_from(["the", "的", "了", "zz"]), max_size=3))
    pieces = [w.upper() if shout else w for w in words] + filler
    text = " , ".join(data.draw(st.permutations(pieces)))
    assert matches(query, text, tokenize) is truth(query, set(words))
    assert query.evaluate(tokenize(text.lower())) is truth(query, set(words))


_FRAGMENTS = ["a", "艾克美", " ", "(", ")", "（", "）", '"', "“", "AND", "OR", "NOT", "NEAR/", "NEAR/2", "NEAR", "3", "x", "\u3000"]


@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(_FRAGMENTS), max_size=25).map("".join)))
@settings(max_examples=1000, deadline=None)
def test_parser_raises_only_syntax_errors(text):
    try:
        query = parse(text)
    except QuerySyntaxError as e:
        assert 1 <= e.column <= len(text) + 1
        assert e.message
    else:
        assert parse(str(query)) == query
        query.evaluate(simple_tokenize(text))
