"""One complaint, one ticket: within a brand's crisis category, posts are grouped by what
they say (reworded, reposted, in any order), and different complaints stay apart."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.detect.clusters import Candidate, content_words, similarity
from monitor.keys import category_issue, category_of
from monitor.tickets.actions import list_tickets, ticket_summary
from tests.conftest import BASE_CONFIG, mastodon_source, status, write_config

TIMELINE = "/api/v1/timelines/tag/acme"

SCALD = [
    "艾克美儿童保温杯盖子突然弹开，我家孩子的手被烫伤了，起了好几个水泡，杭州银泰店买的",
    "我女儿用艾克美保温杯喝水，杯盖弹开把手烫伤了，满手水泡！杭州银泰买的",
    "杭州银泰买的艾克美儿童保温杯，盖子弹开烫伤孩子的手，水泡到现在没消",
    "转发//@小明妈妈: 艾克美儿童保温杯盖子突然弹开，我家孩子的手被烫伤了，起了好几个水泡",
    "艾克美的儿童保温杯太危险了，盖子自己弹开，孩子手烫伤起水泡",
    "孩子手上的水泡就是艾克美保温杯烫伤的，盖子一碰就弹开",
    "又一个被艾克美保温杯烫伤的孩子，盖子弹开，水泡一大片 #艾克美保温杯# https://t.cn/A6x",
    "//@杭州生活圈: 转发：我女儿用艾克美保温杯喝水，杯盖弹开把手烫伤了，满手水泡！",
    "@艾克美官方 你们的儿童保温杯盖子弹开把孩子烫伤了，给个说法",
    "艾克美保溫杯彈蓋燙傷兒童，家長們注意！杭州",  # Traditional Chinese
]

SCALD_EN = [
    "Acme kids thermos lid popped open and my daughter's hand got scalded, blisters everywhere.",
    "My daughter scalded her hand when the lid of her Acme kids thermos popped open. Blisters!",
    "RT @jane: Acme kids thermos lid popped open and my daughter's hand got scalded, blisters everywhere.",
    "Acme thermos for kids: the lid pops open by itself, scalded my girl's hand",
]


def tickets(app):
    with app.sessions() as s:
        return [ticket_summary(t) for t in list_tickets(s)]


def post_one_by_one(app, loopback, clock, texts, first_id):
    posts = []
    for i, text in enumerate(texts):
        posts.append(status(str(first_id + i), text, created=clock.now, who=f"user{first_id + i}"))
        loopback.json(TIMELINE, posts)
        app.poll("masto")
        clock.advance(minutes=40)


def test_ten_reworded_or_reposted_versions_of_one_complaint_make_one_ticket(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), base=BASE_CONFIG.replace('"injury"]', '"injury", "scalded"]')))
    post_one_by_one(app, loopback, clock, SCALD, 100)
    [ticket] = tickets(app)
    assert ticket["post_count"] == 10
    assert ticket["severity"] == "urgent" and ticket["categories"] == ["safety"]
    assert category_of(ticket["issue"]) == "safety"

    # told in English, the same complaint is one more issue (words are compared, not meanings),
    # and its rewordings and retweets join it
    post_one_by_one(app, loopback, clock, SCALD_EN, 200)
    english = [t for t in tickets(app) if t["id"] != ticket["id"]]
    assert len(english) == 1 and english[0]["post_count"] == 4


def test_two_different_complaints_about_the_same_brand_and_category_on_one_day_make_two_tickets(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base), '\n[crisis.fire]\nseverity = "urgent"\nterms = ["起火", "着火"]\n'))
    scald = "艾克美儿童保温杯盖子突然弹开，我家孩子的手被烫伤了，起了好几个水泡"
    kettle = "艾克美电水壶把手太烫，用了一周就把我的手烫伤了，设计有问题"
    leak_cup = "艾克美保温杯漏水，杯盖密封圈完全不行，包里的书全湿了"
    leak_cooker = "艾克美电饭煲漏水，底座都湿了，用了不到一个月"
    post_one_by_one(app, loopback, clock, [scald, leak_cup, kettle, leak_cooker, scald.replace("我家孩子", "我儿子")], 300)
    found = sorted((t["categories"][0], t["post_count"], t["title"][:8]) for t in tickets(app))
    assert found == [
        ("quality", 1, "艾克美保温杯漏水"),
        ("quality", 1, "艾克美电饭煲漏水"),
        ("safety", 1, "艾克美电水壶把手"),
        ("safety", 2, "艾克美儿童保温杯"),
    ]
    assert len({t["issue"] for t in tickets(app)}) == 4


def test_the_same_problem_told_briefly_by_several_customers_is_one_batch_complaint(tmp_path, loopback, make_app, clock):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    post_one_by_one(app, loopback, clock, ["艾克美水杯漏水", "艾克美的杯子底部漏水了", "又是艾克美，漏水漏了一桌子", "艾克美保温壶漏水严重", "艾克美漏水问题谁来管"], 400)
    [ticket] = tickets(app)
    assert ticket["post_count"] == 5 and ticket["severity"] == "important"


def test_an_issue_key_comes_from_the_first_post_so_a_replay_finds_the_same_issue():
    assert category_issue("safety", "weibo", "123") == category_issue("safety", "weibo", "123")
    assert category_issue("safety", "weibo", "123") != category_issue("safety", "weibo", "124")
    assert category_of(category_issue("safety", "weibo", "123")) == "safety"
    assert category_of("cat:quality") == "quality"  # a key from before issues were clustered
    assert category_of("dup:00ff") is None


def test_content_words_leave_out_the_brand_stop_words_and_links():
    words = content_words(["艾克美", "的", "保温杯", "，", "https://t.cn/x", "@小明", "烫伤", "了", "Scalded,"], ["艾克美"])
    assert words == ["保温杯", "烫伤", "scald"]


_words = st.lists(st.sampled_from(["保温杯", "烫伤", "盖子", "弹开", "水泡", "电水壶", "起火", "漏水", "lid", "scald", "孩子", "手"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(_words, _words, st.frozensets(st.sampled_from(["烫伤", "漏水"])), st.frozensets(st.sampled_from(["烫伤", "漏水"])))
def test_similarity_is_symmetric_and_bounded(a, b, terms_a, terms_b):
    text_a, text_b = "，".join(a), "，".join(b)
    one = similarity(text_a, a, terms_a, Candidate("x", text_b, b, terms_b))
    two = similarity(text_b, b, terms_b, Candidate("y", text_a, a, terms_a))
    assert one == two and 0.0 <= one <= 1.0
