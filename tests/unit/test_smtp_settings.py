"""SMTP settings that would leak the password or cannot both hold stop start-up, with the
setting's name; implicit TLS defaults to its own port; a CA file that does not load stops
start-up too (workers.runtime builds the SMTP configuration once per process)."""

import pytest

from ordertrack.settings import Settings
from workers.runtime import smtp_config


@pytest.fixture
def env(monkeypatch):
    names = ("SMTP_SSL", "SMTP_STARTTLS", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_PORT")
    for name in (*names, "SMTP_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMTP_HOST", "smtp.example.com")
    return monkeypatch


def test_a_login_without_tls_stops_start_up_rather_than_send_the_password_in_clear(env):
    env.setenv("SMTP_USERNAME", "shop")

    with pytest.raises(ValueError, match=r"SMTP_USERNAME .* in clear"):
        Settings.from_env()


def test_implicit_tls_and_starttls_together_stop_start_up(env):
    env.setenv("SMTP_SSL", "true")
    env.setenv("SMTP_STARTTLS", "true")

    with pytest.raises(ValueError, match=r"SMTP_SSL .* SMTP_STARTTLS"):
        Settings.from_env()


@pytest.mark.parametrize("name", ["SMTP_USERNAME", "SMTP_PASSWORD"])
def test_a_login_smtplib_cannot_send_stops_start_up_rather_than_fail_every_email(env, name):
    """smtplib encodes AUTH as ASCII: a password with an "ä" fails each login with a
    UnicodeEncodeError, and each email with it (found by LOG-1, tests/faults)."""
    env.setenv("SMTP_STARTTLS", "true")
    env.setenv("SMTP_USERNAME", "shop")
    env.setenv("SMTP_PASSWORD", "s3cret")
    env.setenv(name, "pässword")

    with pytest.raises(ValueError, match=rf"{name} has characters outside ASCII"):
        Settings.from_env()


def test_implicit_tls_uses_port_465_unless_told_otherwise(env):
    env.setenv("SMTP_SSL", "true")
    env.setenv("SMTP_USERNAME", "shop")
    assert Settings.from_env().smtp_port == 465

    env.setenv("SMTP_PORT", "2465")
    assert Settings.from_env().smtp_port == 2465


def test_the_server_certificate_is_verified_unless_switched_off(env):
    env.setenv("SMTP_STARTTLS", "true")
    config = smtp_config(Settings.from_env())
    assert (config.starttls, config.tls_verify) == (True, True)

    env.setenv("SMTP_TLS_VERIFY", "false")
    assert smtp_config(Settings.from_env()).tls_verify is False


def test_a_ca_file_that_does_not_load_stops_start_up_naming_it(tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    not_pem = tmp_path / "not-a-certificate.pem"
    not_pem.write_text("hello")

    for path in (missing, not_pem):
        settings = Settings(
            smtp_host="smtp.example.com", smtp_starttls=True, smtp_ca_file=str(path)
        )
        with pytest.raises(ValueError, match="SMTP_CA_FILE"):
            smtp_config(settings)
