"""Agreement files: known keys only, sane numbers, defaults for what is left out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from detente.errors import AgreementError
from detente.interop import load_agreement, parse_agreement
from detente.interop.agreement import BUFFERS, MINIMA, SWITCHES, TACTICAL
from detente.model import Agreement

DATA = Path(__file__).resolve().parent.parent / "data"


def test_empty_file_gives_the_defaults():
    assert parse_agreement("", "a.toml") == Agreement()
    assert parse_agreement("# nothing agreed yet\n", "a.toml") == Agreement()


def test_every_key_overrides_its_default():
    text = """
        horizontal_m = 5556
        vertical_m = 609.6
        ground_buffer_m = 500
        time_buffer_s = 300.5
        include_own = true
    """
    agreement = parse_agreement(text, "a.toml")
    assert agreement == Agreement(5556.0, 609.6, 500.0, 300.5, True)
    assert type(agreement.horizontal_m) is float


def test_known_keys_are_exactly_the_agreement_fields():
    names = {f.name for f in dataclasses.fields(Agreement)}
    assert set(MINIMA) | set(BUFFERS) | set(SWITCHES) | set(TACTICAL) == names


def test_one_key_leaves_the_others_at_their_defaults():
    agreement = parse_agreement("vertical_m = 150", "a.toml")
    assert agreement == dataclasses.replace(Agreement(), vertical_m=150.0)


def test_unknown_key_is_named_with_the_known_ones():
    with pytest.raises(AgreementError) as caught:
        parse_agreement("horizontal_nm = 5", "a.toml")
    error = caught.value
    assert (error.source, error.key) == ("a.toml", "horizontal_nm")
    assert str(error).startswith("a.toml: horizontal_nm: unknown key")
    for name in (*MINIMA, *BUFFERS, *SWITCHES):
        assert name in error.reason


def test_a_table_is_an_unknown_key():
    with pytest.raises(AgreementError) as caught:
        parse_agreement("[rules]\nhorizontal_m = 5", "a.toml")
    assert caught.value.key == "rules"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("horizontal_m = 0", "horizontal_m", "greater than 0"),
        ("vertical_m = -1.5", "vertical_m", "greater than 0"),
        ("horizontal_m = inf", "horizontal_m", "finite"),
        ("vertical_m = nan", "vertical_m", "finite"),
        ("ground_buffer_m = -0.1", "ground_buffer_m", "0 or more"),
        ("time_buffer_s = -inf", "time_buffer_s", "finite"),
        ("time_buffer_s = '5 min'", "time_buffer_s", "must be a number"),
        ("horizontal_m = true", "horizontal_m", "must be a number"),
        ("vertical_m = [300]", "vertical_m", "must be a number"),
        ("include_own = 1", "include_own", "true or false"),
        ("include_own = 'yes'", "include_own", "true or false"),
    ],
)
def test_bad_values(text, key, reason):
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text, "a.toml")
    assert (caught.value.source, caught.value.key) == ("a.toml", key)
    assert reason in caught.value.reason


def test_buffers_may_be_zero():
    agreement = parse_agreement("ground_buffer_m = 0\ntime_buffer_s = 0.0", "a.toml")
    assert (agreement.ground_buffer_m, agreement.time_buffer_s) == (0.0, 0.0)


def test_malformed_toml_says_where():
    with pytest.raises(AgreementError) as caught:
        parse_agreement("horizontal_m = 5556\nvertical_m = = 3\n", "a.toml")
    assert caught.value.key is None
    assert "not valid TOML" in caught.value.reason
    assert "line 2" in caught.value.reason


def test_interuss_agreement_file():
    agreement = load_agreement(DATA / "interuss" / "agreement.toml")
    assert agreement.horizontal_m == agreement.vertical_m == 0.001
    assert agreement.include_own is Agreement().include_own


def test_file_problems(tmp_path):
    (tmp_path / "latin1.toml").write_bytes(b"# r\xe9gles\nhorizontal_m = 5556\n")
    cases = {
        tmp_path / "missing.toml": "no such file",
        tmp_path: "is a directory",
        tmp_path / "latin1.toml": "not UTF-8",
    }
    for path, reason in cases.items():
        with pytest.raises(AgreementError) as caught:
            load_agreement(path)
        assert caught.value.source == str(path)
        assert reason in caught.value.reason


def test_load_accepts_a_string_path(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text("time_buffer_s = 120\n", encoding="utf-8")
    assert load_agreement(str(path)).time_buffer_s == 120.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("horizontal_m", 1e9),
        ("vertical_m", 40000),
        ("time_buffer_s", 1e7),
        ("notice_margin_s", 1e6),
    ],
)
def test_absurd_values_are_refused(key: str, value: float) -> None:
    with pytest.raises(AgreementError, match=rf"{key}: must be at most"):
        parse_agreement(f"{key} = {value}", "rules.toml")


def test_alert_times_must_be_ordered():
    with pytest.raises(AgreementError) as caught:
        parse_agreement("warning_s = 200\ncaution_s = 100", "a.toml")
    assert "warning_s <= caution_s <= advisory_s" in str(caught.value)


def test_live_track_settings_must_be_positive():
    with pytest.raises(AgreementError) as caught:
        parse_agreement("lookahead_s = 0", "a.toml")
    assert "lookahead_s" in str(caught.value)
