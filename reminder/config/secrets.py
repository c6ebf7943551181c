"""Where a password comes from: the four keys [database] and [smtp] share."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from reminder.config.fields import ConfigPath, NonEmpty, Table, setting

#: The keys of a password source, as written flat in [database] and [smtp].
SECRET_KEYS = ("password", "password_file", "password_credential", "password_env")


class SecretRef(Table):
    """Where a password comes from; reading it is credentials.resolve_secret's job.

    In the file these are keys of the table that holds them (`[smtp] password_file`);
    `inline` is a password written in the config file itself, accepted only when the
    file is not readable by other users.
    """

    inline: str | None = setting(
        None,
        "The password itself: refused unless this file is unreadable to others (chmod o-r).",
        example="...",
        alias="password",
    )
    file: ConfigPath | None = setting(
        None,
        "A file holding just the password.",
        example="/etc/reminder/password",
        alias="password_file",
    )
    credential: NonEmpty | None = setting(
        None,
        "The name of a systemd credential (LoadCredential=) holding the password.",
        example="password",
        alias="password_credential",
    )
    env: NonEmpty | None = setting(
        None,
        "An environment variable holding the password.",
        example="REMINDER_PASSWORD",
        alias="password_env",
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        sources = (self.inline, self.file, self.credential, self.env)
        given = [key for key, value in zip(SECRET_KEYS, sources, strict=True) if value is not None]
        if len(given) > 1:
            raise ValueError(f"give the password one way only, not {' and '.join(given)}")
        return self

    @property
    def is_set(self) -> bool:
        """Return True when any source is configured."""
        return any(v is not None for v in (self.inline, self.file, self.credential, self.env))


def gather_password(data: Any) -> Any:
    """Return a table's raw keys with its flat password keys moved into `password`."""
    if not isinstance(data, dict) or not any(key in data for key in SECRET_KEYS):
        return data
    if isinstance(data.get("password"), SecretRef):  # built in Python, not read from a file
        return data
    rest = {key: value for key, value in data.items() if key not in SECRET_KEYS}
    return {**rest, "password": {key: data[key] for key in SECRET_KEYS if key in data}}
