"""Chinese as people write it: Traditional or Simplified, brand names spaced out to dodge
a search, crisis words that are denied, and brand names inside longer words."""

from __future__ import annotations

from datetime import UTC

import pytest
from conftest import mastodon_source, status, write_config
from sqlalchemy import select

from alerts import Severity
from monitor.config import BrandConfig, CategoryConfig
from monitor.detect.matching import Matcher
from monitor.detect.textnorm import normalize
from monitor.storage.models import MentionRow, TicketRow

TIMELINE = "/api/v1/timelines/tag/acme"


@pytest.fixture(scope="module")
def matcher(tokenizers):
    brands = [BrandConfig("艾克美", ("艾克美", "Acme"), ("艾克美小区",)), BrandConfig("小米", ("小米",))]
    crisis = [CategoryConfig("safety", Severity.urgent, ("烫伤", "过敏", "injury")), CategoryConfig("media", Severity.urgent, ("记者",))]
    return Matcher(brands, crisis, tokenizers.new())


def found(matcher, text):
    return {(m.brand, m.categories, m.negated) for m in matcher.match(text)}


@pytest.mark.parametrize("text", ["艾克美保溫杯把孩子燙傷了", "艾克美保温杯把孩子烫伤了", "ＡＣＭＥ杯子燙傷", "艾 克 美 的杯子烫伤人", "艾-克-美杯子烫伤", "艾*克*美 杯子 烫伤", "艾·克·美烫伤"])
def test_traditional_full_width_and_spaced_out_forms_match_the_same_lexicon(matcher, text):
    assert found(matcher, text) == {("艾克美", ("safety",), ())}


def test_clause_punctuation_is_not_taken_for_an_evasion(matcher):
    assert normalize("艾克美，小区门口") == "艾克美,小区门口"
    assert found(matcher, "艾克美，小区门口有人烫伤") == {("艾克美", ("safety",), ())}  # not the excluded 艾克美小区
    assert found(matcher, "艾克美小区门口有人烫伤") == set()


@pytest.mark.parametrize(
    "text, negated",
    [("艾克美保温杯不是烫伤，只是有点热", ("烫伤",)), ("艾克美杯子并没有被烫伤", ("烫伤",)), ("Acme cup: no injury at all", ("injury",)), ("艾克美没有过敏", ("过敏",))],
)
def test_denied_crisis_terms_count_for_nothing(matcher, text, negated):
    assert found(matcher, text) == {("艾克美", (), negated)}


def test_a_term_denied_once_and_stated_once_still_counts(matcher):
    assert found(matcher, "艾克美没有过敏，但是烫伤了，记者也来了") == {("艾克美", ("safety", "media"), ("过敏",))}
    assert found(matcher, "不小心把艾克美烫伤了") == {("艾克美", ("safety",), ())}  # 不小心 is not a denial


def test_a_brand_inside_a_longer_word_is_not_a_mention(matcher):
    assert found(matcher, "早上喝了一碗小米粥") == set()
    assert found(matcher, "小米手机发热烫伤") == {("小米", ("safety",), ())}


def test_a_traditional_complaint_joins_the_ticket_of_its_simplified_twin(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "孩子被艾克美保温杯烫伤了"), status("2", "孩子被艾克美保溫杯燙傷了，太可怕")])
    app.poll("masto")
    with app.sessions() as s:
        tickets = s.scalars(select(TicketRow)).all()
        assert [(t.severity, len(t.posts)) for t in tickets] == [("urgent", 2)]


def test_negated_crisis_terms_raise_nothing_on_their_own(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "澄清：艾克美保温杯不是烫伤，只是有点热"), status("2", "Acme cup: no injury, just a scratch")])
    app.poll("masto")
    with app.sessions() as s:
        assert s.scalars(select(TicketRow)).all() == []
        assert len(s.scalars(select(MentionRow)).all()) == 2  # still mentions, counted


QUERY_BRAND = """
[[brands]]
name = "保温杯线"
query = '(艾克美 OR Acme) AND (保温杯 OR 水杯) NOT 小区'
"""


def test_a_brand_query_decides_what_is_a_mention(tmp_path, loopback, make_app):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), QUERY_BRAND))
    loopback.json(TIMELINE, [
        status("1", "艾克美保溫杯把孩子燙傷了"),  # Traditional, matches the query
        status("2", "艾克美小区的保温杯店"),       # NOT 小区
        status("3", "艾克美手机发热"),            # no cup
    ])
    app.poll("masto")
    with app.sessions() as s:
        cup = sorted(m.post.text[:6] for m in s.scalars(select(MentionRow).where(MentionRow.brand == "保温杯线")))
    assert cup == ["艾克美保溫杯"]


def test_a_query_syntax_error_is_reported_by_check_with_its_column(tmp_path):
    from click.testing import CliRunner

    from monitor.cli.commands import cli

    path = write_config(tmp_path, '\n[[brands]]\nname = "x"\nquery = "(艾克美 OR Acme AND 水杯"\n')
    result = CliRunner().invoke(cli, ["-c", str(path), "check"])
    assert result.exit_code == 2
    assert 'brands[1].query: expected ")" at column 20' in result.output


def test_keywords_test_shows_which_stored_posts_a_candidate_would_match(tmp_path, loopback, make_app):
    import json as jsonlib

    from click.testing import CliRunner

    from monitor.cli.commands import cli
    from monitor.storage.models import PostRow

    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    loopback.json(TIMELINE, [status("1", "艾克美保溫杯燙傷了"), status("2", "艾克美手机不错"), status("3", "保温杯打折")])
    app.poll("masto")
    with app.sessions() as s:  # the CLI looks back from the real clock
        from datetime import datetime

        for post in s.scalars(select(PostRow)):
            post.first_seen_at = datetime.now(UTC)
        s.commit()
    runner = CliRunner()
    path = str(app.config.path)
    result = runner.invoke(cli, ["-c", path, "keywords", "test", "艾克美 AND 保温杯", "--query", "--json"])
    assert result.exit_code == 0, result.output
    [hit] = jsonlib.loads(result.output)
    assert hit["text"].startswith("艾克美保溫杯") and hit["categories"] == ["safety"]
    listed = runner.invoke(cli, ["-c", path, "keywords", "test", "保温杯"])
    assert "2 of 3 posts" in listed.output
    bad = runner.invoke(cli, ["-c", path, "keywords", "test", "(艾克美", "--query"])
    assert bad.exit_code == 2 and "column" in bad.output
