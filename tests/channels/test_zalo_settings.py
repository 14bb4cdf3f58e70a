"""Zalo's settings: on only with an app id; a bad value stops with one line naming it."""

from __future__ import annotations

import pytest

from bot.config import Settings, load_settings


def test_zalo_is_on_only_when_the_app_id_is_set():
    assert not Settings(_env_file=None).zalo_enabled
    on = Settings(_env_file=None, zalo_app_id="123")
    assert on.zalo_enabled and on.zalo_webhook_path == "/zalo" and on.zalo_api_url == "https://openapi.zalo.me"


@pytest.mark.parametrize("name, value, expects", [
    ("zalo_webhook_path", "zalo", "a path starting with /"),
    ("zalo_rate", "0", "at most 100"),
    ("zalo_api_url", "openapi.zalo.me", "a valid value"),
])
def test_a_bad_zalo_setting_is_one_clear_line(monkeypatch, capsys, name, value, expects):
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    monkeypatch.setenv(name.upper(), value)
    with pytest.raises(SystemExit) as stop:
        load_settings(_env_file=None)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name.upper() in lines[0] and expects in lines[0], lines
