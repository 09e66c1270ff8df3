"""Replay a candidate config over stored history: which tickets it would have raised and
how that differs from the live config, sending nothing."""

from __future__ import annotations

from datetime import timedelta

from conftest import BASE_CONFIG, mastodon_source, status, write_config

from monitor.config import load_config
from monitor.keys import category_of
from monitor.storage.models import MessageRow
from monitor.tuning.replay import replay
from sources import source_kinds

TIMELINE = "/api/v1/timelines/tag/acme"


def test_a_candidate_lexicon_shows_what_it_would_raise_and_what_it_would_drop(tmp_path, loopback, make_app, clock, tokenizers):
    app = make_app(write_config(tmp_path, mastodon_source(loopback.base)))
    start = clock.now
    loopback.json(TIMELINE, [status("1", "艾克美杯子漏水", created=start), status("2", "记者采访了艾克美的门店", created=start)])
    app.poll("masto")
    clock.advance(minutes=10)
    loopback.json(TIMELINE, [
        status("1", "艾克美杯子漏水", created=start), status("2", "记者采访了艾克美的门店", created=start),
        status("3", "艾克美杯盖掉漆了", created=clock.now),
    ])
    app.poll("masto")
    candidate_text = BASE_CONFIG.replace('terms = ["记者", "曝光", "315"]', 'terms = ["央视"]') + '\n[crisis.appearance]\nseverity = "normal"\nterms = ["掉漆"]\n'
    (tmp_path / "cand").mkdir()
    candidate = load_config(write_config(tmp_path / "cand", base=candidate_text), source_kinds())
    with app.sessions() as session:
        sent_before = session.query(MessageRow).count()
        # an issue key is the category and the first post of the complaint: the same live and in the replay
        diffs = {(category_of(d.issue), d.change): d for d in replay(session, candidate, start - timedelta(minutes=1), clock.now, tokenizers)}
        assert session.query(MessageRow).count() == sent_before  # nothing sent, nothing stored
    assert set(diffs) == {("quality", "same"), ("media", "gone"), ("appearance", "new")}
    assert diffs[("media", "gone")].live.severity == "urgent"
    assert diffs[("appearance", "new")].candidate.title.startswith("艾克美杯盖掉漆")
