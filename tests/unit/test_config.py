"""Settings: where state goes, and what offline commands need."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpt64640_cds.config import ConfigError, Settings, default_data_dir

ROOT = Path(__file__).resolve().parents[2]


def test_the_embedded_database_lives_in_the_data_directory_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"CDS_AUTH": "off"})
    assert settings.state_dir == ROOT / "var"  # run from the checkout
    assert settings.store_url == "sqlite:///" + str(ROOT / "var" / "cpt64640.sqlite3")
    moved = Settings.from_env({"CDS_AUTH": "off", "CDS_DATA_DIR": str(tmp_path / "state")})
    assert moved.store_url == "sqlite:///" + str(tmp_path / "state" / "cpt64640.sqlite3")
    given = Settings.from_env({"CDS_AUTH": "off", "DATABASE_URL": "postgresql://db/cds"})
    assert given.store_url == "postgresql://db/cds"


def test_outside_a_checkout_state_goes_to_the_users_state_folder(tmp_path, monkeypatch):
    import cpt64640_cds.config as config

    monkeypatch.setattr(config, "__file__", str(tmp_path / "site-packages" / "cpt64640_cds" / "config.py"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "cpt64640"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "state" / "cpt64640"


def test_serving_needs_client_authentication_settings_offline_commands_do_not():
    with pytest.raises(ConfigError, match="CDS_TRUSTED_ISSUERS"):
        Settings.from_env({})
    assert Settings.from_env({}, serving=False).auth == "required"
    with pytest.raises(ConfigError, match="CDS_RETENTION_DAYS"):
        Settings.from_env({"CDS_RETENTION_DAYS": "0"}, serving=False)


def test_the_playground_fhir_url_is_an_http_url_or_empty():
    assert Settings.from_env({"CDS_AUTH": "off"}).playground_fhir_url == ""
    given = Settings.from_env({"CDS_AUTH": "off", "CDS_PLAYGROUND_FHIR_URL": "http://127.0.0.1:8090"})
    assert given.playground_fhir_url == "http://127.0.0.1:8090"
    for wrong in ("127.0.0.1:8090", "ftp://fhir.example.org", "http://"):
        with pytest.raises(ConfigError, match="CDS_PLAYGROUND_FHIR_URL"):
            Settings.from_env({"CDS_AUTH": "off", "CDS_PLAYGROUND_FHIR_URL": wrong})
