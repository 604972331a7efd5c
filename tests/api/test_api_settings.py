"""One settings object for ``api serve``: a flag wins, then its ``SWARMTRUST_*`` variable, then the default;
durations are seconds, converted to the ledger's milliseconds in one place."""

from __future__ import annotations

import pytest

from swarmtrust.api.settings import ApiSettings, SettingsError


def test_a_flag_wins_over_the_environment_which_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ApiSettings.from_flags(challenge_window=None).challenge_window == 600.0
    monkeypatch.setenv("SWARMTRUST_CHALLENGE_WINDOW", "120")
    monkeypatch.setenv("SWARMTRUST_CORS_ORIGINS", '["https://a.example"]')
    from_env = ApiSettings.from_flags(challenge_window=None, cors_origins=[])
    assert (from_env.challenge_window, from_env.cors_origins) == (120.0, ["https://a.example"])
    flagged = ApiSettings.from_flags(challenge_window=5.0, cors_origins=["https://b.example"])
    assert (flagged.challenge_window, flagged.cors_origins) == (5.0, ["https://b.example"])


def test_durations_are_seconds_and_the_ledger_gets_milliseconds() -> None:
    settings = ApiSettings.from_flags(challenge_window=1.5, assignment_ttl=0.25)
    assert (settings.challenge_window_ms, settings.assignment_ttl_ms) == (1500, 250)


def test_a_bad_value_in_the_environment_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMTRUST_SETTLE_INTERVAL", "soon")
    with pytest.raises(SettingsError, match="settle_interval \\(SWARMTRUST_SETTLE_INTERVAL\\)"):
        ApiSettings.from_flags()
