"""The matcher and the scorer: examples a PR team would check, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig, ScoringConfig
from monitor.detect.fingerprint import same_issue
from monitor.detect.matching import Matcher
from monitor.detect.scoring import Evidence, Reading, assess, velocity

BRANDS = [BrandConfig("艾克美", ("艾克美", "Acme"), ("艾克美小区",)), BrandConfig("小米", ("小米",), ())]
CATEGORIES = [
    CategoryConfig("quality", Severity.normal, ("漏水", "defect")),
    CategoryConfig("safety", Severity.urgent, ("烫伤", "过敏", "allergic reaction")),
    CategoryConfig("media", Severity.urgent, ("315", "记者")),
]


@pytest.fixture(scope="module")
def matcher(tokenizers):
    return Matcher(BRANDS, CATEGORIES, tokenizers.new())


@pytest.mark.parametrize(
    "text, brands, categories",
    [
        ("孩子用艾克美保温杯被烫伤了", ["艾克美"], ["safety"]),
        ("<p>艾克美杯子<b>漏水</b>还<i>烫伤</i>人</p>", ["艾克美"], ["safety", "quality"]),  # most severe first
        ("ACME cup: ALLERGIC   REACTION after one use", ["艾克美"], ["safety"]),
        ("ＡＣＭＥ杯子漏水", ["艾克美"], ["quality"]),  # full-width folded
        ("央视315晚会曝光艾克美", ["艾克美"], ["media"]),
        ("Acme's new thermos", ["艾克美"], []),
        ("Acmeville has a defect", [], []),  # inside a longer word
        ("艾克美小区停水，有人烫伤", [], []),  # excluded
        ("小米粥真好喝", [], []),  # 小米 inside 小米粥 is not the brand
        ("小米手机漏水", ["小米"], ["quality"]),
        ("隔壁家的水壶起火烫伤了人", [], []),  # crisis words, no brand
    ],
)
def test_examples(matcher, text, brands, categories):
    found = matcher.match(text)
    assert [m.brand for m in found] == brands
    if found:
        assert list(found[0].categories) == categories


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_matcher_never_raises(matcher, text):
    matcher.match(text)


@given(st.text(alphabet=st.sampled_from("艾克美小区烫伤 Acme315<>&;/p"), max_size=60))
@settings(max_examples=200, deadline=None)
def test_a_mention_always_has_a_keyword_and_no_exclude(matcher, text):
    for mention in matcher.match(text):
        assert mention.keywords


T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


def test_velocity_examples():
    created = T0 - timedelta(minutes=5)
    # created inside the window: everything it has was gained within it
    assert velocity([Reading(T0, 120)], created, T0, WINDOW) == 120
    # a reading older than the window is the baseline
    readings = [Reading(T0 - timedelta(hours=1), 1000), Reading(T0 - timedelta(minutes=40), 1010), Reading(T0, 1090)]
    assert velocity(readings, T0 - timedelta(days=1), T0, WINDOW) == 80
    # an old post seen for the first time: growth we did not see is not counted
    assert velocity([Reading(T0, 5000)], T0 - timedelta(days=2), T0, WINDOW) == 0
    assert velocity([], None, T0, WINDOW) == 0


readings_strategy = st.lists(st.tuples(st.integers(0, 7200), st.integers(0, 10_000)), min_size=1, max_size=20)


@given(readings_strategy, st.integers(0, 100_000))
def test_flat_series_scores_zero(points, level):
    readings = [Reading(T0 - timedelta(seconds=s), level) for s, _ in points]
    assert velocity(readings, T0 - timedelta(days=3), T0, WINDOW) == 0


@given(readings_strategy, st.integers(1, 10_000))
def test_more_engagement_never_lowers_velocity(points, extra):
    readings = sorted((Reading(T0 - timedelta(seconds=s), v) for s, v in points), key=lambda r: r.at)
    created = T0 - timedelta(minutes=10)
    base = velocity(readings, created, T0, WINDOW)
    more = readings[:-1] + [Reading(readings[-1].at, readings[-1].total + extra)]
    assert velocity(more, created, T0, WINDOW) >= base


def test_assess_takes_the_highest_rule_and_names_each():
    scoring = ScoringConfig()
    verdict = assess(Evidence([("quality", Severity.normal, ["漏水"])], velocity=120, volume=6), scoring)
    assert verdict.severity is Severity.urgent
    assert verdict.reasons == (
        "crisis terms 漏水 (quality) → normal",
        "engagement velocity +120 in 30m (≥ 100) → urgent",
        "same-issue volume 6 mentions in 24h (≥ 5) → important",
    )
    assert assess(Evidence([], velocity=49, volume=4), scoring).severity is None


def test_near_duplicates():
    a = "艾克美保温杯用了两天盖子就关不严，客服也不回消息"
    assert same_issue(a, "转发：" + a + " https://t.example/abc @某人")
    assert not same_issue(a, "艾克美新品发布会今天在上海举行，现场很热闹")
    assert not same_issue("艾克美", "艾克美保温杯用了两天盖子就关不严")


@given(st.text(max_size=80), st.text(max_size=80))
def test_same_issue_is_symmetric(a, b):
    assert same_issue(a, b) == same_issue(b, a)


SHIPPED = Path(__file__).resolve().parents[1] / "config.toml"


@pytest.fixture(scope="module")
def shipped_matcher(tokenizers):
    from monitor.config import load_config
    from sources import source_kinds

    config = load_config(SHIPPED, source_kinds())
    return Matcher(config.brands, config.crisis, tokenizers.new()), {c.name: c.severity for c in config.crisis}


@pytest.mark.parametrize(
    "text",
    [
        "Acme press release: new colours",
        "I recall buying an Acme mug years ago",
        "Acme burn rate is fine, says CFO",
        "艾克美新品发布会，媒体报道很多",
        "艾克美保温杯 315 元，贵不贵",
        "Sue from Acme said hi",
        "艾克美保温杯保温效果好，倒出来的水很烫",
    ],
)
def test_shipped_lexicon_does_not_page_management_for_everyday_words(shipped_matcher, text):
    matcher, severity = shipped_matcher
    [mention] = matcher.match(text)
    assert [c for c in mention.categories if severity[c] is Severity.urgent] == []


@pytest.mark.parametrize(
    "text, category",
    [
        ("艾克美保温杯把孩子的手烫红了", "safety"),
        ("用了艾克美的杯子，孩子被烫到了", "safety"),
        ("Acme thermos scalded my son", "safety"),
        ("央视315晚会曝光艾克美", "media"),
        ("已经向市场监管局投诉艾克美", "regulator"),
        ("Filing a class action against Acme", "legal"),
        ("Acme issued a product recall", "regulator"),
    ],
)
def test_shipped_lexicon_catches_crises(shipped_matcher, text, category):
    matcher, _ = shipped_matcher
    [mention] = matcher.match(text)
    assert category in mention.categories
