"""Quotation marks hold a crisis term at arm's length: 网传“烫伤”系谣言 and reports of
"injury" deny or report the word, they do not claim it, so like a negation it raises nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.matching import Matcher


@pytest.fixture(scope="module")
def matcher(tokenizers):
    brands = [BrandConfig("艾克美", ("艾克美", "Acme"), ())]
    crisis = [CategoryConfig("safety", Severity.urgent, ("烫伤", "过敏", "injury")), CategoryConfig("media", Severity.urgent, ("记者",))]
    return Matcher(brands, crisis, tokenizers.new())


def found(matcher, text):
    return {(m.categories, m.negated) for m in matcher.match(text)}


@pytest.mark.parametrize("text, denied", [
    ("网传艾克美保温杯“烫伤”儿童系谣言", ("烫伤",)),
    ("网传艾克美保温杯“被烫伤”系谣言", ("烫伤",)),
    ("艾克美「过敏」事件澄清：检测合格", ("过敏",)),
    ("艾克美『烫伤』一事纯属造谣", ("烫伤",)),
    ('Acme says reports of "injury" are false', ("injury",)),
    ("Acme: the ‘injury’ story was made up", ("injury",)),
])
def test_a_quoted_crisis_term_raises_nothing(matcher, text, denied):
    assert found(matcher, text) == {((), denied)}


@pytest.mark.parametrize("text, categories", [
    ("艾克美保温杯烫伤了孩子，有人说“烫伤”是假的？是真的", ("safety",)),  # also said plainly
    ("孩子哭着说“妈妈我被艾克美的杯子烫伤了好疼”", ("safety",)),  # a quoted sentence is someone's words
    ('Acme bottle caused an injury, the "injury" is real', ("safety",)),
    ("记者调查艾克美“烫伤”传闻", ("media",)),  # the quote takes back the term, not the journalist
])
def test_a_term_said_plainly_or_inside_a_quoted_sentence_still_counts(matcher, text, categories):
    [(found_categories, _)] = found(matcher, text)
    assert found_categories == categories


_filler = st.text(alphabet="的了是杯子好用今天网友说澄清谣言,。 ", max_size=12)


@settings(max_examples=150, deadline=None)
@given(_filler, _filler, st.sampled_from(["烫伤", "过敏"]), st.sampled_from(["“”", "「」", "『』", '""']))
def test_a_term_only_ever_in_quotation_marks_is_never_a_crisis(matcher, before, after, term, marks):
    text = f"艾克美{before}{marks[0]}{term}{marks[1]}{after}"
    for categories, denied in found(matcher, text):
        assert categories == () and denied == (term,)


@settings(max_examples=150, deadline=None)
@given(_filler, _filler, st.sampled_from(["烫伤", "过敏"]))
def test_quoting_never_makes_a_post_more_alarming(matcher, before, after, term):
    plain = found(matcher, f"艾克美{before}{term}{after}")
    quoted = found(matcher, f"艾克美{before}“{term}”{after}")
    assert {c for c, _ in quoted} <= {c for c, _ in plain} | {()}
