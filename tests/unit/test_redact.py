"""Passwords in database URLs are masked in every form the drivers accept."""

from __future__ import annotations

import pytest

from reminder.config.redact import MASK, redact_url, url_has_password

SECRET = "TopSecret9"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://reminder:TopSecret9@db/reminder",
            f"postgresql://reminder:{MASK}@db/reminder",
        ),
        # Unencoded: a URL parser splits the password at "/" and shows the rest.
        ("postgresql://postgres:Top/Secret9@host/db", f"postgresql://postgres:{MASK}@host/db"),
        ("mysql://root:p@ss:TopSecret9@host/db", f"mysql://root:{MASK}@host/db"),
        (
            "postgresql://127.0.0.1/db?user=postgres&password=TopSecret9",
            f"postgresql://127.0.0.1/db?user=postgres&password={MASK}",
        ),
        ("mysql+pymysql://root@h/db?passwd=TopSecret9&charset=utf8mb4", None),
        ("postgresql://u:TopSecret9@h/db?PASSWORD=TopSecret9", None),
    ],
)
def test_every_password_form_is_masked(url: str, shown: str | None) -> None:
    redacted = redact_url(url)
    assert SECRET not in redacted
    assert "Secret" not in redacted
    assert MASK in redacted
    assert url_has_password(url)
    if shown is not None:
        assert redacted == shown


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/reminder/reminder.sqlite3",
        "postgresql://reminder@db.example.edu/reminder",
        "mysql://root@127.0.0.1:3306/test?charset=utf8mb4",
        "postgresql:///reminder?host=/run/postgresql",
        "not a url",
    ],
)
def test_a_url_without_a_password_is_shown_as_written(url: str) -> None:
    assert redact_url(url) == url
    assert not url_has_password(url)
