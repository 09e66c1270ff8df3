"""config.toml validation as `monitor check` shows it, durations, and path resolution.

Contract (DESIGN.md): `monitor -c config.toml check` exits 0, or exits 2 with one line per
problem naming the key with 0-based indexes (``sources[1].every: "soon" is not a duration``),
never a traceback; a TOML syntax error names the line; secrets never come from the file.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.cli.commands import cli
from monitor.config import ConfigError, load_config
from monitor.durations import parse_duration
from sources import source_kinds

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "config.toml"

# Small, valid building blocks; each bad-config case below breaks exactly one thing.
BRAND = """
[[brands]]
name = "Acme"
keywords = ["Acme"]
"""
RSS = """
[[sources]]
name = "feed{n}"
kind = "rss"
url = "https://example.org/feed{n}.xml"
every = "5m"
"""
CRISIS = """
[crisis.safety]
severity = "urgent"
terms = ["burn"]
"""
ROUTE = """
[[alerts.routes]]
name = "pr"
to = ["pr@example.com"]
min_severity = "normal"
"""
EMAIL = """
[alerts.email]
host = "smtp.example.com"
from = "Brand monitor <monitor@example.com>"
"""


def rss(n: int) -> str:
    return RSS.format(n=n)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def check(path: Path) -> Result:
    return CliRunner().invoke(cli, ["-c", str(path), "check"])


def assert_clean_failure(result: Result) -> list[str]:
    """Exit 2, no traceback; return the non-empty stderr lines."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.strip()]


def problem_line(lines: list[str], key: str) -> str:
    """The one line that starts with ``key: ``."""
    matching = [line for line in lines if line.startswith(f"{key}: ")]
    assert len(matching) == 1, f"no single line for {key!r} in {lines!r}"
    return matching[0]


# ---------------------------------------------------------------------------------------
# The shipped config and a valid baseline


def test_shipped_config_passes_check() -> None:
    assert SHIPPED_CONFIG.is_file()
    result = check(SHIPPED_CONFIG)
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    # the one warning a newcomer sees: the console's secret belongs in the environment
    assert [line for line in result.stderr.splitlines() if "MONITOR_WEB_SECRET" not in line] == []


def test_baseline_used_by_the_cases_below_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, BRAND + CRISIS + rss(0) + rss(1) + EMAIL + ROUTE)
    result = check(path)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------------------
# One problem per config: exit 2, one line naming the key with 0-based indexes

BAD_CONFIGS = {
    "bad source every": (
        BRAND + rss(0) + rss(1).replace('every = "5m"', 'every = "soon"'),
        "sources[1].every",
        '"soon" is not a duration',
    ),
    "every not a string": (
        BRAND + rss(0).replace('every = "5m"', "every = 5"),
        "sources[0].every",
        "is not a duration",
    ),
    "bad velocity_window": (
        BRAND + '[scoring]\nvelocity_window = "soon"\n',
        "scoring.velocity_window",
        '"soon" is not a duration',
    ),
    "zero velocity_window": (
        BRAND + '[scoring]\nvelocity_window = "0s"\n',
        "scoring.velocity_window",
        "longer than zero",
    ),
    "unknown top-level key": ('colour = "red"\n' + BRAND, "colour", "unknown key"),
    "unknown key in [monitor]": (
        '[monitor]\ntimezone = "UTC"\ncolour = "red"\n' + BRAND,
        "monitor.colour",
        "unknown key",
    ),
    "unknown key in [[brands]]": (
        BRAND + '[[brands]]\nname = "Other"\nkeywords = ["Other"]\ncolour = "red"\n',
        "brands[1].colour",
        "unknown key",
    ),
    "rss source with a mastodon key": (
        BRAND + rss(0) + rss(1) + 'tag = "acme"\n',
        "sources[1].tag",
        "unknown key for this kind",
    ),
    "unknown key in [[alerts.routes]]": (
        BRAND + ROUTE + 'colour = "red"\n',
        "alerts.routes[0].colour",
        "unknown key",
    ),
    "unknown source kind": (
        BRAND + '[[sources]]\nname = "x"\nkind = "twitter"\nevery = "5m"\n',
        "sources[0].kind",
        "'twitter' is not an installed source kind",
    ),
    "brand without keywords": ('[[brands]]\nname = "Acme"\n', "brands[0].keywords", "is required"),
    "rss without url": (
        BRAND + '[[sources]]\nname = "x"\nkind = "rss"\nevery = "5m"\n',
        "sources[0].url",
        "is required",
    ),
    "mastodon without tag": (
        BRAND + '[[sources]]\nname = "x"\nkind = "mastodon"\ninstance = "https://mastodon.social"\nevery = "2m"\n',
        "sources[0].tag",
        "is required",
    ),
    "bad crisis severity": (
        BRAND + CRISIS.replace('"urgent"', '"critical"'),
        "crisis.safety.severity",
        "'critical' is not a severity",
    ),
    "bad route min_severity": (
        BRAND + ROUTE.replace('min_severity = "normal"', 'min_severity = "high"'),
        "alerts.routes[0].min_severity",
        "'high' is not a severity",
    ),
    "bad route address": (
        BRAND + ROUTE.replace('to = ["pr@example.com"]', 'to = ["pr@example.com", "not-an-address"]'),
        "alerts.routes[0].to[1]",
        "'not-an-address' is not an email address",
    ),
    "bad email from": (
        BRAND + EMAIL.replace("Brand monitor <monitor@example.com>", "monitor at example"),
        "alerts.email.from",
        "is not an email address",
    ),
    "bad time zone": ('[monitor]\ntimezone = "Mars/Olympus_Mons"\n' + BRAND, "monitor.timezone", "is not a known time zone"),
    "route names unknown category": (
        BRAND + CRISIS + ROUTE + 'categories = ["safety", "weather"]\n',
        "alerts.routes[0].categories[1]",
        "'weather' is not a [crisis.*] category",
    ),
    "unknown forecast rule": (
        BRAND + '[scoring]\nforecast_rule = "neural"\n',
        "scoring.forecast_rule",
        "'neural' is not one of learned, interval",
    ),
    "forecast chance out of range": (
        BRAND + "[scoring]\nforecast_chance = 1.5\n",
        "scoring.forecast_chance",
        "1.5 is not between 0 and 1",
    ),
    "velocity_urgent below velocity_important": (
        BRAND + "[scoring]\nvelocity_important = 80\nvelocity_urgent = 40\n",
        "scoring.velocity_urgent",
        "is below velocity_important",
    ),
}


@pytest.mark.parametrize(("text", "key", "message"), BAD_CONFIGS.values(), ids=list(BAD_CONFIGS))
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    lines = assert_clean_failure(check(write(tmp_path, text)))
    line = problem_line(lines, key)
    assert message in line
    # exactly this one problem, plus the closing summary line
    assert len(lines) == 2, lines
    assert "1 problem(s)" in lines[-1]


def test_password_in_file_is_refused_without_echoing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hunter2-Very-Secret-Value"
    monkeypatch.setenv("MONITOR_TEST_SMTP_PASSWORD", "x")
    text = BRAND + EMAIL + f'username = "monitor@example.com"\npassword_env = "MONITOR_TEST_SMTP_PASSWORD"\npassword = "{secret}"\n'
    result = check(write(tmp_path, text))
    lines = assert_clean_failure(result)
    line = problem_line(lines, "alerts.email.password")
    assert "password_env" in line
    assert secret not in result.output
    assert secret not in result.stdout
    assert secret not in result.stderr


def test_password_alone_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "s3cr3t-only-here"
    result = check(write(tmp_path, BRAND + EMAIL + f'password = "{secret}"\n'))
    lines = assert_clean_failure(result)
    assert "password_env" in problem_line(lines, "alerts.email.password")
    assert secret not in result.output


def test_password_env_naming_an_unset_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_TEST_UNSET_VARIABLE", raising=False)
    text = BRAND + EMAIL + 'username = "monitor@example.com"\npassword_env = "MONITOR_TEST_UNSET_VARIABLE"\n'
    lines = assert_clean_failure(check(write(tmp_path, text)))
    assert "MONITOR_TEST_UNSET_VARIABLE" in problem_line(lines, "alerts.email.password_env")


def test_password_env_naming_a_set_variable_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_TEST_SET_VARIABLE", "the-password")
    text = BRAND + EMAIL + 'username = "monitor@example.com"\npassword_env = "MONITOR_TEST_SET_VARIABLE"\n'
    result = check(write(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert "the-password" not in result.output


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = '[monitor]\ntimezone = "UTC"\ndatabase = "sqlite:///x.db\n' + BRAND
    result = check(write(tmp_path, text))
    lines = assert_clean_failure(result)
    assert any("TOML" in line and "line 3" in line for line in lines), lines


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    result = check(missing)
    lines = assert_clean_failure(result)
    assert any(str(missing) in line and "no such file" in line for line in lines), lines


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    lines = assert_clean_failure(check(tmp_path / "config.toml"))
    assert len(lines) == 1, lines


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    text = (
        'colour = "red"\n'
        '[monitor]\ntimezone = "Mars/Olympus_Mons"\n'
        + '[[brands]]\nname = "Acme"\n'
        + CRISIS.replace('"urgent"', '"critical"')
        + '[scoring]\nvelocity_window = "soon"\n'
        + rss(0)
        + rss(1).replace('every = "5m"', 'every = "later"')
        + ROUTE.replace('to = ["pr@example.com"]', 'to = ["pr@example.com", "nobody"]')
    )
    lines = assert_clean_failure(check(write(tmp_path, text)))
    keys = [
        "colour",
        "monitor.timezone",
        "brands[0].keywords",
        "crisis.safety.severity",
        "scoring.velocity_window",
        "sources[1].every",
        "alerts.routes[0].to[1]",
    ]
    for key in keys:
        problem_line(lines, key)
    assert len(lines) == len(keys) + 1, lines
    assert f"{len(keys)} problem(s)" in lines[-1]


# Production bugs: these configs crash `check` with a traceback instead of exit 2.


def test_huge_duration_is_a_config_problem_not_a_crash(tmp_path: Path) -> None:
    text = BRAND + rss(0).replace('every = "5m"', 'every = "99999999999d"')
    lines = assert_clean_failure(check(write(tmp_path, text)))
    problem_line(lines, "sources[0].every")


def test_time_zone_naming_a_region_folder(tmp_path: Path) -> None:
    lines = assert_clean_failure(check(write(tmp_path, '[monitor]\ntimezone = "Asia"\n' + BRAND)))
    problem_line(lines, "monitor.timezone")


def test_duration_that_rounds_to_zero_is_refused(tmp_path: Path) -> None:
    text = BRAND + '[scoring]\nvelocity_window = "0.0000001s"\n'
    lines = assert_clean_failure(check(write(tmp_path, text)))
    problem_line(lines, "scoring.velocity_window")


# ---------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("2m", timedelta(minutes=2)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("value", ["soon", "", "   ", "0s", "0m0s", "-5m", "5", "m", "5 minutes", "1.h", 5, 5.0, None, True, ["5m"]])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value)  # a message fit to show a user


def test_parse_duration_message_quotes_the_value() -> None:
    with pytest.raises(ValueError, match=r'^"soon" is not a duration'):
        parse_duration("soon")


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text())
def test_parse_duration_only_raises_value_error_on_any_text(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert isinstance(result, timedelta)
    assert result > timedelta(0)


DURATION_SHAPED = st.from_regex(r"\A(?:[0-9]{1,20}(?:\.[0-9]{1,3})?(?:ms|s|m|h|d|w)){1,3}\Z", fullmatch=True)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(DURATION_SHAPED)
@example("9999999999d")
def test_parse_duration_only_raises_value_error_on_duration_shaped_text(text: str) -> None:
    try:
        result = parse_duration(text)
    except ValueError:
        return
    assert result >= timedelta(0)


# ---------------------------------------------------------------------------------------
# Paths relative to the config file


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "etc" / "monitor"
    config_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write(config_dir, '[monitor]\ndatabase = "sqlite:///data/monitor.db"\noutbox = "mail"\n' + BRAND)
    monkeypatch.chdir(elsewhere)

    config = load_config(path, source_kinds())

    assert config.monitor.database == "sqlite:///" + str((config_dir / "data" / "monitor.db").resolve())
    assert config.monitor.outbox == config_dir.resolve() / "mail"
    # also when the config is named by a path relative to the working directory
    config = load_config(Path("..") / "etc" / "monitor" / "config.toml", source_kinds())
    assert config.monitor.database == "sqlite:///" + str((config_dir / "data" / "monitor.db").resolve())


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/monitor/monitor.db", "postgresql+psycopg://u@db/monitor"],
)
def test_other_database_urls_are_left_alone(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[monitor]\ndatabase = "{url}"\n' + BRAND)
    assert load_config(path, source_kinds()).monitor.database == url


@pytest.mark.parametrize(
    "url, says",
    [
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://", "in-memory"),
        ("postgresql://u:hunter2@db/monitor", "PGPASSWORD"),
        ("postgresql://u@db:abc/monitor", "not a database URL"),
        ("nonsense", "not a database URL"),
    ],
)
def test_database_urls_that_cannot_work_are_refused(tmp_path: Path, url: str, says: str) -> None:
    path = write(tmp_path, f'[monitor]\ndatabase = "{url}"\n' + BRAND)
    with pytest.raises(ConfigError) as err:
        load_config(path, source_kinds())
    [problem] = err.value.problems
    assert problem.startswith("monitor.database: ") and says in problem
    assert "hunter2" not in problem


def test_durations_beyond_ten_years_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[scoring]\ntrack_for = "800000d"\n' + BRAND)
    with pytest.raises(ConfigError) as err:
        load_config(path, source_kinds())
    assert err.value.problems == ['scoring.track_for: "800000d" is longer than ten years']


def test_check_warns_about_a_config_that_can_never_alert(tmp_path: Path) -> None:
    path = write(tmp_path, BRAND)
    result = CliRunner().invoke(cli, ["-c", str(path), "check"])
    assert result.exit_code == 0
    assert "alerts.routes: none configured" in result.output
    assert "sources: none configured" in result.output


# ---------------------------------------------------------------------------------------
# What the daemon cannot run with, check refuses (issue 13, item 6)


@pytest.mark.parametrize("brands", ["", "brands = []\n"])
def test_a_config_without_brands_is_an_error(tmp_path: Path, brands: str) -> None:
    lines = assert_clean_failure(check(write(tmp_path, brands + CRISIS + rss(0) + ROUTE)))
    assert "brands: none configured" in problem_line(lines, "brands")
    assert len(lines) == 2, lines


def test_a_near_distance_of_thousands_of_digits_is_one_line_naming_the_key(tmp_path: Path) -> None:
    query = "acme NEAR/" + "9" * 5000 + " cup"
    lines = assert_clean_failure(check(write(tmp_path, f'[[brands]]\nname = "Acme"\nquery = "{query}"\n')))
    line = problem_line(lines, "brands[0].query")
    assert "NEAR distance is at most 1000" in line and len(line) < 400
    assert len(lines) == 2, lines


@pytest.mark.parametrize("parameter", ["password", "PASSWORD", "sslpassword", "PassWord"])
def test_a_password_in_the_database_urls_query_is_refused_without_echoing_it(tmp_path: Path, parameter: str) -> None:
    path = write(tmp_path, f'[monitor]\ndatabase = "postgresql+psycopg://u@db/monitor?{parameter}=hunter2"\n' + BRAND)
    lines = assert_clean_failure(check(path))
    assert parameter in problem_line(lines, "monitor.database")
    assert "hunter2" not in "\n".join(lines)


def test_a_passfile_names_a_file_and_is_not_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '[monitor]\ndatabase = "postgresql+psycopg://u@db/monitor?passfile=/etc/monitor/pgpass"\n' + BRAND)
    assert load_config(path, source_kinds()).monitor.database.endswith("passfile=/etc/monitor/pgpass")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:hunter2@db/monitor?Password=hunter2&sslmode=require", "postgresql+psycopg://u:***@db/monitor?Password=***&sslmode=require"),
        ("postgresql+psycopg://u@db/monitor?sslpassword=hunter2&pwd=hunter2", "postgresql+psycopg://u@db/monitor?pwd=***&sslpassword=***"),
        ("sqlite:////var/lib/monitor/monitor.db", "sqlite:////var/lib/monitor/monitor.db"),
        ("postgresql://u:hunter2@db:abc/monitor?password=hunter2&a=1", "postgresql://u:***@db:abc/monitor?password=***&a=1"),
    ],
)
def test_a_database_url_is_printed_without_its_password_or_query_secrets(url: str, shown: str) -> None:
    from monitor.storage.db import make_url_safe

    assert make_url_safe(url) == shown
    assert "hunter2" not in make_url_safe(url)


def test_a_database_that_cannot_be_reached_is_named_without_query_secrets() -> None:
    from monitor.storage.db import DatabaseError, make_engine, migrate
    from tests.conftest import free_port

    pytest.importorskip("psycopg")
    engine = make_engine(f"postgresql+psycopg://monitor@127.0.0.1:{free_port()}/monitor?password=hunter2&connect_timeout=3")
    try:
        with pytest.raises(DatabaseError) as err:
            migrate(engine)
    finally:
        engine.dispose()
    assert "password=***" in str(err.value) and "hunter2" not in str(err.value)


# ---------------------------------------------------------------------------------------
# A password that would cross the network in clear (issue 14, item 14)

LOGIN = 'username = "monitor@example.com"\npassword_env = "MONITOR_TEST_SMTP_PASSWORD"\n'


@pytest.mark.parametrize(
    ("transport", "warned"),
    [
        ("starttls = false\n", True),
        ("starttls = false\nport = 465\n", True),  # 465 without ssl = true is still plain text: the code does not guess TLS from the port
        ("starttls = false\nssl = true\nport = 465\n", False),  # implicit TLS
        ("", False),  # starttls defaults to true
    ],
    ids=["plain", "465-without-ssl", "implicit-tls", "starttls"],
)
def test_check_warns_when_the_smtp_password_would_be_sent_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: str, warned: bool
) -> None:
    monkeypatch.setenv("MONITOR_TEST_SMTP_PASSWORD", "not-shown")
    result = check(write(tmp_path, BRAND + CRISIS + rss(0) + ROUTE + EMAIL + LOGIN + transport))
    assert result.exit_code == 0, result.output  # a warning, like the others: the config is valid
    lines = [line for line in result.stderr.splitlines() if "alerts.email.starttls" in line]
    if warned:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("warning / 注意: alerts.email.starttls: ")
        assert "unencrypted" in lines[0] and "明文" in lines[0]
        assert "not-shown" not in result.output
    else:
        assert lines == []


def test_no_clear_text_warning_without_a_login(tmp_path: Path) -> None:
    result = check(write(tmp_path, BRAND + CRISIS + rss(0) + ROUTE + EMAIL + "starttls = false\n"))
    assert result.exit_code == 0, result.output
    assert "alerts.email.starttls" not in result.stderr
