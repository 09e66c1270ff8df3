"""Mention storms against each brand's own normal: one setting for a brand mentioned twice
a day and one mentioned two thousand times."""

from __future__ import annotations

import math
import random
from datetime import timedelta

from conftest import BASE_CONFIG, write_config
from sqlalchemy import insert, select

from monitor.detect.storms import find_storms, judge
from monitor.storage.models import MentionRow, PostRow, TicketRow

BRANDS = BASE_CONFIG.replace('''[[brands]]
name = "艾克美"''', '''[[brands]]
name = "Beta"
keywords = ["Beta"]

[[brands]]
name = "艾克美"''')


def seed(app, brand, times, source="masto"):
    """Mentions of ``brand`` seen at ``times`` (bulk, as a busy brand's history would be)."""
    with app.sessions() as s:
        start = (s.scalar(select(PostRow.id).order_by(PostRow.id.desc()).limit(1)) or 0) + 1
        s.execute(insert(PostRow), [
            {"id": start + i, "platform": "t", "platform_id": f"{brand}-{start + i}", "source": source, "ref": "", "url": f"https://t.test/{start + i}",
             "author": "a", "title": "", "text": f"{brand} post {i}", "created_at": at, "first_seen_at": at, "last_seen_at": at, "matched": True}
            for i, at in enumerate(times)
        ])
        s.execute(insert(MentionRow), [
            {"post_id": start + i, "brand": brand, "categories": [], "terms": {}, "issue_key": f"dup:{start + i}", "fingerprint": "0" * 16, "seen_at": at}
            for i, at in enumerate(times)
        ])
        s.commit()


def daily(now, days, per_day, rng):
    """``per_day`` mentions a day with a daily rhythm (busy evenings, quiet nights)."""
    times = []
    for d in range(days, 0, -1):
        for _ in range(per_day):
            hour = min(23.99, max(0.0, rng.gauss(14, 5)))
            times.append(now - timedelta(days=d) + timedelta(hours=hour - 14))
    return [t for t in times if t < now - timedelta(hours=1)]


def test_judge_uses_the_larger_of_robust_and_poisson_spread():
    stormy, baseline, threshold = judge(3, [0] * 14, 2 / 24, 4.0)
    assert stormy and baseline == 0 and math.isclose(threshold, 4 * math.sqrt(2 / 24))
    assert not judge(2, [0] * 14, 2 / 24, 4.0)[0]  # fewer than three is never a storm
    stormy, baseline, _ = judge(120, [80, 90, 85, 88, 82, 95, 79], 83.0, 4.0)
    assert not stormy and baseline == 85  # within the busy brand's own noise
    assert judge(300, [80, 90, 85, 88, 82, 95, 79], 83.0, 4.0)[0]


def test_a_storm_is_found_for_a_quiet_brand_and_a_busy_one_with_the_same_config(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path, base=BRANDS))
    rng = random.Random(7)
    now = clock.now
    seed(app, "艾克美", daily(now, 14, 2, rng))            # 2 a day
    seed(app, "Beta", daily(now, 14, 2000, rng))          # 2,000 a day
    scoring = app.config.scoring
    with app.sessions() as s:  # an ordinary hour: no storm for either
        seed(app, "艾克美", [now - timedelta(minutes=20)])
        seed(app, "Beta", [now - timedelta(minutes=m / 2) for m in range(120)])  # about the usual hourly count
        assert find_storms(s, "艾克美", now, scoring.storm_window, scoring.storm_baseline, scoring.storm_sensitivity) == []
        assert find_storms(s, "Beta", now, scoring.storm_window, scoring.storm_baseline, scoring.storm_sensitivity) == []
    seed(app, "艾克美", [now - timedelta(minutes=m) for m in (5, 10, 15, 30)])   # 5 in an hour
    seed(app, "Beta", [now - timedelta(seconds=5 * k) for k in range(700)])      # a few times the usual
    with app.sessions() as s:
        quiet = find_storms(s, "艾克美", now, scoring.storm_window, scoring.storm_baseline, scoring.storm_sensitivity)
        busy = find_storms(s, "Beta", now, scoring.storm_window, scoring.storm_baseline, scoring.storm_sensitivity)
    assert [(st.scope, st.count) for st in quiet][:1] == [("all", 5)]
    assert busy and busy[0].scope == "all" and busy[0].count >= 700 and busy[0].baseline > 50


def test_a_storm_raises_one_important_ticket_with_its_top_posts_and_its_numbers(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path))
    rng = random.Random(3)
    now = clock.now
    seed(app, "艾克美", daily(now, 10, 2, rng))
    seed(app, "艾克美", [now - timedelta(minutes=m) for m in range(0, 60, 5)])  # 12 in the last hour
    assert app.remind().storms == 1
    assert app.remind().storms == 0  # one ticket per storm
    with app.sessions() as s:
        [ticket] = s.scalars(select(TicketRow)).all()
        assert ticket.severity == "important" and ticket.issue_key == "storm:all"
        assert len(ticket.posts) == 10  # its top posts
        [reason] = ticket.reasons
    assert reason.startswith("mention storm: 12 mentions in 1h vs baseline") and "→ important" in reason


def test_a_new_install_has_no_normal_yet_and_sees_no_storm(tmp_path, make_app, clock):
    app = make_app(write_config(tmp_path))
    seed(app, "艾克美", [clock.now - timedelta(minutes=m) for m in range(30)])
    assert app.remind().storms == 0
