"""The [web] table: defaults, checks, and the secret key read like a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from reminder.config.credentials import resolve_secret
from reminder.config.effective import effective_document
from reminder.config.loading import load_config
from reminder.errors import ConfigError


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_defaults_listen_on_loopback_only(tmp_path: Path) -> None:
    config = load_config(None, {"XDG_DATA_HOME": str(tmp_path)})
    assert config.web.enabled is False
    assert config.web.host_and_port == ("127.0.0.1", 8080)
    assert config.web.base_url == "http://127.0.0.1:8080"
    assert config.web.trusted_proxies == ()
    assert config.web.auth == "password"
    assert not config.web.secure
    assert not config.web.secret_key.is_set


def test_https_base_url_makes_the_cookie_secure(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[web]\nbase_url = "https://r.example.edu/"\n')
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    assert config.web.secure
    assert config.web.base_url == "https://r.example.edu"


def test_every_bad_key_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        '[web]\nlisten = "8080"\nauth = "ldap"\ntrusted_proxies = ["10.0.0.0/8", "proxy"]\n'
        'secret_key_env = "A"\nsecret_key_file = "key"\nbase_url = "ftp://x"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    text = "\n".join(caught.value.problems)
    assert "at 'web.listen': '8080' is not HOST:PORT" in text
    assert "at 'web.auth': must be one of 'password', 'proxy', got 'ldap'" in text
    assert "at 'web.trusted_proxies[1]': 'proxy' is not an IP address" in text
    assert "secret_key one way only, not secret_key_file and secret_key_env" in text
    assert "at 'web.base_url': 'ftp://x' is not an http:// or https:// URL" in text


def test_secret_key_from_the_environment_is_redacted_in_check(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[web]\nsecret_key_env = "WEB_KEY"\n')
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    assert resolve_secret(config.web.secret_key, "web", {"WEB_KEY": "k" * 40}) == "k" * 40
    assert effective_document(config)["web"]["secret_key_env"] == "WEB_KEY"
    with pytest.raises(ConfigError, match=r"web\.secret_key_env: environment variable WEB_KEY"):
        resolve_secret(config.web.secret_key, "web", {})


def test_inline_secret_key_in_a_readable_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[web]\nsecret_key = "s3cret"\n', mode=0o644)
    with pytest.raises(ConfigError, match=r"at 'web\.secret_key': a secret key in a file"):
        load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    path.chmod(0o600)
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    assert effective_document(config)["web"]["secret_key"] != "s3cret"


def test_secret_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    import stat

    from reminder.web.secret_key import KEY_FILE, web_secret_key

    config = load_config(None, {"XDG_DATA_HOME": str(tmp_path)})
    first = web_secret_key(config)
    path = config.state_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert web_secret_key(config) == first
    path.write_text("short\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no usable key"):
        web_secret_key(config)


def test_a_configured_secret_key_wins_and_must_be_long(tmp_path: Path) -> None:
    from reminder.web.secret_key import web_secret_key

    key_file = write(tmp_path / "key", "x" * 40 + "\n")
    path = write(tmp_path / "c.toml", f'[web]\nsecret_key_file = "{key_file}"\n')
    config = load_config(str(path), {"XDG_DATA_HOME": str(tmp_path)})
    assert web_secret_key(config) == "x" * 40
    key_file.write_text("too short", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        web_secret_key(config)
