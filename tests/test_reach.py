"""Author reach: a verified media or government account, or a very big one, posting a
crisis term about the brand is itself a signal, one severity step up, named in the reasons."""

from __future__ import annotations

import pytest

from alerts import Severity
from monitor.config import ConfigError, ScoringConfig, load_config
from monitor.detect.scoring import Author, Evidence, assess
from monitor.tickets.actions import list_tickets, ticket_summary
from sources import source_kinds
from tests.conftest import BASE_CONFIG, write_config
from tests.test_reposts import mblog, serve, weibo_source

QUALITY = [("quality", Severity.normal, ["漏水"])]
SCORING = ScoringConfig()


def verdict(author: Author | None, categories=QUALITY, velocity: int = 0):
    return assess(Evidence(categories=categories, velocity=velocity, volume=1, author=author), SCORING)


def test_a_media_or_government_account_or_a_big_one_raises_a_crisis_term_one_step():
    media = verdict(Author("人民日报", "media", 1_200_000))
    assert media.severity is Severity.important
    assert "author 人民日报 (media, 1,200,000 followers) posting a crisis term" in media.reasons[-1]
    assert verdict(Author("市场监管", "government")).severity is Severity.important
    assert verdict(Author("大V", "verified", 3_000_000)).severity is Severity.important
    urgent = verdict(Author("央视新闻", "media"), categories=[("safety", Severity.urgent, ["烫伤"])])
    assert urgent.severity is Severity.urgent  # the top is the top


@pytest.mark.parametrize("author", [None, Author("路人"), Author("小V", "verified", 5_000), Author("某企业", "enterprise", 999_999)])
def test_an_ordinary_author_changes_nothing(author):
    assert verdict(author).severity is Severity.normal and len(verdict(author).reasons) == 1


def test_reach_alone_without_a_crisis_term_raises_nothing():
    assert verdict(Author("人民日报", "media", 1_200_000), categories=[]).severity is None
    # … and it does not lift a ticket raised by velocity alone
    assert verdict(Author("人民日报", "media"), categories=[], velocity=60).severity is Severity.important


def test_reach_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, base=BASE_CONFIG.replace('track_for = "48h"', 'track_for = "48h"\nreach_kinds = ["press"]\nreach_followers = -3')), source_kinds())
    text = str(err.value)
    assert "scoring.reach_kinds" in text and "'press'" in text and "scoring.reach_followers" in text
    off = load_config(write_config(tmp_path, base=BASE_CONFIG.replace('track_for = "48h"', 'track_for = "48h"\nreach_kinds = []\nreach_followers = 0')), source_kinds())
    assert (off.scoring.reach_kinds, off.scoring.reach_followers) == ((), 0)
    assert verdict(Author("人民日报", "media", 9_000_000)).severity is Severity.important
    assert assess(Evidence(QUALITY, 0, 1, author=Author("人民日报", "media", 9_000_000)), off.scoring).severity is Severity.normal


def test_a_media_account_on_weibo_posting_a_complaint_raises_the_ticket_and_says_who(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, weibo_source(loopback.base)))
    ordinary = mblog("1", "艾克美保温杯漏水，杯盖密封圈完全不行", clock.now, who="顾客A")
    press = mblog("2", "网友反映艾克美电饭煲漏水，底座都湿了", clock.now, who="都市快报")
    press["user"] |= {"verified": True, "verified_type": 3, "followers_count": "120万"}
    serve(loopback, [ordinary, press])
    app.poll("wb")
    with app.sessions() as s:
        found = {t["title"][:6]: t for t in map(ticket_summary, list_tickets(s))}
    assert found["艾克美保温杯"]["severity"] == "normal"
    assert found["网友反映艾克"]["severity"] == "important"  # quality (normal), one step up
    assert any("author 都市快报 (media, 1,200,000 followers)" in r for r in found["网友反映艾克"]["reasons"])
