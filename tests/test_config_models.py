"""The models that check config.toml and the objects handed to the daemon agree on defaults.

A default lives twice: in the model (what the reference shows, what a left-out key gets)
and in the frozen dataclass (what code and tests that build one directly get). This
keeps the two from drifting apart.
"""

from __future__ import annotations

import dataclasses

import pytest

from monitor.config import ChatConfig, DigestConfig, EmailConfig, MonitorSettings, OwnerRule, ScoringConfig, TicketConfig, WebConfig
from monitor.config.alerts import ChatSection, DigestSection, EmailSection
from monitor.config.fields import Section
from monitor.config.sections import MonitorSection, OwnerSection, ScoringSection, TicketsSection, WebSection

PAIRS = [
    (MonitorSection, MonitorSettings),
    (ScoringSection, ScoringConfig),
    (TicketsSection, TicketConfig),
    (EmailSection, EmailConfig),
    (ChatSection, ChatConfig),
    (DigestSection, DigestConfig),
    (WebSection, WebConfig),
    (OwnerSection, OwnerRule),
]


@pytest.mark.parametrize(("section", "built"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_model_and_dataclass_defaults_agree(section: type[Section], built: type) -> None:
    compared = 0
    for f in dataclasses.fields(built):
        if f.name not in section.model_fields:
            continue
        if f.default is not dataclasses.MISSING:
            expected = f.default
        elif f.default_factory is not dataclasses.MISSING:
            expected = f.default_factory()
        else:
            continue
        assert section.model_fields[f.name].get_default(call_default_factory=True) == expected, f.name
        compared += 1
    assert compared
