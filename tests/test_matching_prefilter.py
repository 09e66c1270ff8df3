"""The Aho-Corasick prefilter in front of the matcher changes nothing but speed: a post
gives the same mentions (brands, keywords, crisis terms, denied terms) with it as when
every phrase of every brand is checked on the segmented text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.matching import Matcher
from monitor.detect.query import parse

# Pieces chosen to collide: brand names inside longer words (小米粥, acmeville), spaced,
# full-width and Traditional forms, negations, HTML, phrases with spaces.
PIECES = [
    "艾克美", "艾 克 美", "艾克美小区", "小米", "小米粥", "粥", "烫伤", "燙傷", "不是", "没有", "漏水", "保温杯", "水杯", "记者", "315",
    "Acme", "ACME", "ａｃｍｅ", "acmeville", "hot water", "hot", "water", "no", "injury", "defect", " ", "  ", "，", ",", "<p>", "</p>",
    "&amp;", "-", "·", "的", "了", "杯", "x",
]
WORDS = ["艾克美", "艾克美小区", "小米", "Acme", "acme杯", "hot water", "水杯", "保温杯", "烫伤", "燙傷", "漏水", "injury", "defect", "315", "记者", "粥", "x"]
QUERIES = [
    None,
    "(艾克美 OR Acme) AND (保温杯 OR 水杯) NOT 小区",
    '"hot water" NEAR/2 acme',
    "NOT 小米粥",  # holds without any of its terms: the prefilter must not drop it
    "艾克美 OR NOT 水杯",
    "小米 NEAR/1 (漏水 OR 烫伤)",
]

texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@st.composite
def configs(draw):
    brands = []
    for i in range(draw(st.integers(1, 3))):
        keywords = tuple(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4, unique=True)))
        exclude = tuple(draw(st.lists(st.sampled_from(WORDS), max_size=2, unique=True)))
        query = draw(st.sampled_from(QUERIES))
        brands.append(BrandConfig(f"b{i}", keywords, exclude, parse(query) if query else None))
    categories = [
        CategoryConfig("safety", Severity.urgent, tuple(draw(st.lists(st.sampled_from(WORDS), max_size=4, unique=True)))),
        CategoryConfig("quality", Severity.normal, tuple(draw(st.lists(st.sampled_from(WORDS), max_size=4, unique=True)))),
    ]
    return brands, categories


@given(configs(), st.lists(texts, min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_prefiltered_matcher_gives_the_full_paths_result(tokenizers, config, posts):
    brands, categories = config
    fast = Matcher(brands, categories, tokenizers.new())
    full = Matcher(brands, categories, tokenizers.new(), prefilter=False)
    for text in posts:
        assert fast.match(text) == full.match(text), text


@given(configs(), st.lists(texts, min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_a_stream_drops_only_posts_that_cannot_be_mentions(tokenizers, config, posts):
    """``may_mention`` is what a firehose source asks before handing a post over: a post it
    refuses must be one the full matcher finds no brand in."""
    brands, categories = config
    fast = Matcher(brands, categories, tokenizers.new())
    full = Matcher(brands, categories, tokenizers.new(), prefilter=False)
    for text in posts:
        if not fast.may_mention(text):
            assert full.match(text) == [], text
        if full.match(text):
            assert fast.may_mention(text), text


def test_may_mention_answers_for_a_keyword_in_any_form(tokenizers):
    matcher = Matcher([BrandConfig("acme", ("艾克美", "Acme"), ())], [], tokenizers.new())
    assert matcher.may_mention("我的艾 克 美杯子") and matcher.may_mention("ＡＣＭＥ rocks") and matcher.may_mention("艾克美小区停电")
    assert not matcher.may_mention("a post about cats") and not matcher.may_mention("")


@pytest.mark.parametrize(
    "text",
    ["早上喝了一碗小米粥", "艾 克 美 的杯子烫伤人", "Acme cup: no injury at all", "hot  water from acme", "<p>ＡＣＭＥ</p>水杯", "nothing here", "hot\twater", "acme 杯"],
)
def test_examples_agree(tokenizers, text):
    brands = [
        BrandConfig("艾克美", ("艾克美", "Acme"), ("艾克美小区",)),
        BrandConfig("小米", ("小米",)),
        BrandConfig("q", (), (), parse('"hot water" NEAR/2 acme')),
        BrandConfig("hw", ("hot water", "acme杯")),
    ]
    categories = [CategoryConfig("safety", Severity.urgent, ("烫伤", "injury"))]
    fast = Matcher(brands, categories, tokenizers.new())
    full = Matcher(brands, categories, tokenizers.new(), prefilter=False)
    assert fast.match(text) == full.match(text)


def test_a_post_naming_no_brand_is_not_segmented(tokenizers):
    matcher = Matcher([BrandConfig("艾克美", ("艾克美",))], [CategoryConfig("safety", Severity.urgent, ("烫伤",))], tokenizers.new())
    calls = []
    matcher._tokens = lambda text: calls.append(text) or []  # type: ignore[method-assign]
    assert matcher.match("隔壁家的水壶起火烫伤了人") == []
    assert calls == []


def test_a_deferred_tokenizer_waits_for_jiebas_dictionary_only_when_a_post_needs_it(tokenizers):
    import threading

    from monitor.detect.matching import TokenizerFactory

    release = threading.Event()

    class Slow(TokenizerFactory):
        def base(self):
            assert release.wait(10)
            return tokenizers.base()

    brands = [BrandConfig("艾克美", ("艾克美", "Acme"), ("艾克美小区",))]
    categories = [CategoryConfig("safety", Severity.urgent, ("烫伤", "injury"))]
    deferred = Matcher(brands, categories, Slow().deferred())  # returns at once: nothing loaded yet
    assert deferred.match("隔壁家的水壶起火烫伤了人") == []  # no brand: answered without the dictionary
    release.set()
    eager = Matcher(brands, categories, tokenizers.new())
    for text in ["孩子用艾克美保温杯被烫伤了", "艾克美小区停水", "Acme cup: no injury", "艾 克 美 的杯子烫伤人"]:
        assert deferred.match(text) == eager.match(text)


def test_a_preloaded_factory_hands_out_working_tokenizers():
    from monitor.detect.matching import TokenizerFactory

    factory = TokenizerFactory(background=True)
    tokenizer = factory.deferred()
    tokenizer.add_word("艾克美", freq=10**6)
    assert "艾克美" in list(tokenizer.cut("艾克美保温杯", HMM=False))
    assert "艾克美" not in factory.new().FREQ or factory.base().FREQ.get("艾克美", 0) < 10**6  # the base is never touched
